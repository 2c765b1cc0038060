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
}

export class ReplayBuffer {
  private frames: Frame[] = [];
  private held = 0;

  /** `maxMs` bounds memory when no final ever arrives (long silence): the oldest audio goes first. */
  constructor(private readonly maxMs: number) {}

  add(frame: Frame): void {
    this.frames.push(frame);
    this.held += frame.durationMs;
    while (this.held > this.maxMs && this.frames.length > 1) {
      const old = this.frames.shift();
      if (old) this.held -= old.durationMs;
    }
  }

  /** Forgets the frames that end at or before `ms`: a final turn covers them. */
  confirm(ms: number): void {
    while (this.frames.length > 0) {
      const first = this.frames[0];
      if (!first || first.startMs + first.durationMs > ms) break;
      this.frames.shift();
      this.held -= first.durationMs;
    }
  }

  /** Hands out every unconfirmed frame, oldest first, and empties the buffer. */
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
