import type { RetainedAudio, Slab } from "../retained-audio";

/**
 * The audio a session has sent but that no final turn covers yet. A reconnect opens a new service
 * session whose clock starts at 0, so the client replays this audio first and adds the session time of
 * its first frame to every time the new connection reports.
 */

export interface Frame {
  bytes: Buffer;
  /** Session milliseconds at which the frame starts. */
  startMs: number;
  durationMs: number;
  /** Whether the frame could carry speech (the speech-energy detector): the stall watchdog owes it an answer. */
  speech?: boolean;
  /** When the session received it (clock ms): how far behind live a replay of it is. */
  receivedAt?: number;
  /** Set once the replay buffer holds the bytes in its own storage (a replayed frame keeps it). */
  slab?: Slab | undefined;
}

export class ReplayBuffer {
  private frames: Frame[] = [];
  private held = 0;

  /**
   * `maxMs` bounds memory when no final ever arrives (long silence): the oldest audio goes first.
   * `store` keeps the bytes (see retained-audio.ts); without one the frame's own bytes are held.
   */
  constructor(
    private readonly maxMs: number,
    private readonly store?: RetainedAudio,
  ) {}

  /**
   * Holds a frame that has been sent. Its bytes are copied into the store the first time (the caller's
   * chunk is then free); a replayed frame already lives there. Call after the send: the socket
   * has taken (or copied) the bytes it was given.
   */
  add(frame: Frame): void {
    if (this.store && frame.slab === undefined) {
      const kept = this.store.keep(frame.bytes);
      frame.bytes = kept.bytes;
      frame.slab = kept.slab;
    }
    this.frames.push(frame);
    this.held += frame.durationMs;
    while (this.held > this.maxMs && this.frames.length > 1) {
      const old = this.frames.shift();
      if (old) this.drop(old);
    }
  }

  /** Forgets the frames that end at or before `ms`: a final turn covers them. */
  confirm(ms: number): void {
    while (this.frames.length > 0) {
      const first = this.frames[0];
      if (!first || first.startMs + first.durationMs > ms) break;
      this.frames.shift();
      this.drop(first);
    }
  }

  /** Forgets every frame (nothing is left to replay, or the session has ended). */
  clear(): void {
    for (const f of this.takeAll()) this.store?.release(f.slab);
  }

  private drop(frame: Frame): void {
    this.held -= frame.durationMs;
    this.store?.release(frame.slab);
  }

  /**
   * Hands out every unconfirmed frame, oldest first, and empties the buffer. The frames keep their
   * place in the store: they go again and come back through `add`.
   */
  takeAll(): Frame[] {
    const all = this.frames;
    this.frames = [];
    this.held = 0;
    return all;
  }

  /** Session milliseconds of the oldest frame held, if any. */
  get firstStartMs(): number | undefined {
    return this.frames[0]?.startMs;
  }

  get heldMs(): number {
    return this.held;
  }

  get size(): number {
    return this.frames.length;
  }
}
