import { QuietTimer } from "../util/quiet-timer";
import { realScheduler, type Scheduler } from "../util/scheduler";
import { AudioInputError, type PcmFormat } from "./format";
import { asksToEnd, classify, sessionIdOf, unlabelledBytes, type AudioMessage } from "./input";
import { AudioSession, type SessionChunk, type SessionOptions } from "./session";

export interface AudioInOptions extends SessionOptions {
  /** A session that receives nothing for this long is ended (0: never). */
  idleTimeoutMs: number;
  maxSessions: number;
  /** A whole recording (WAV or compressed file, file path) ends its session once sent. */
  endAfterRecording: boolean;
  /** The format of raw PCM that arrives without format fields (for example from a websocket). */
  rawDefault: PcmFormat | undefined;
  /**
   * Compressed audio arrives in pieces of one recording per session (a MediaRecorder with a
   * timeslice), rather than as whole files.
   */
  compressedStream: boolean;
}

export interface OutgoingChunk extends SessionChunk {
  /** The websocket session of the input, so replies can find their way back to the browser. */
  _session?: unknown;
}

interface Entry {
  session: AudioSession;
  /** Ends the session after the idle timeout without input (absent when there is no timeout). */
  idle: QuietTimer | undefined;
  wsSession: unknown;
}

/** The logic of audio-in: many sessions through one node, each with its own state. */
export class AudioSessions {
  private readonly sessions = new Map<string, Entry>();
  // Every session until its last frame is sent, so that a new session with the same id waits for it.
  private readonly unfinished = new Set<AudioSession>();

  constructor(
    private readonly options: AudioInOptions,
    private readonly emit: (chunk: OutgoingChunk) => void,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Handles one message: resolves when its audio is framed, rejects with an AudioInputError. A chunk
   * of live PCM in a session with nothing queued (nearly every message) is framed at once, and the
   * answer is undefined: no promise per chunk.
   */
  handle(msg: AudioMessage): Promise<void> | undefined {
    try {
      const streaming = this.sessions.get(sessionIdOf(msg));
      if (!streaming?.session.streaming) {
        const classified = classify(msg, this.options.rawDefault);
        const { input } = classified;
        if (input.kind === "pcm" && !input.recording && !classified.end) {
          return this.entry(classified.sessionId, msg._session).session.add(input);
        }
      }
    } catch {
      // Handled again below, where a bad message that asks to end still ends its session.
    }
    return this.handleQueued(msg);
  }

  private async handleQueued(msg: AudioMessage): Promise<void> {
    const streaming = this.sessions.get(sessionIdOf(msg));
    const piece = streaming?.session.streaming ? unlabelledBytes(msg) : undefined;
    if (streaming && piece) {
      this.touch(streaming, msg._session);
      await streaming.session.addStreamPiece(piece);
      if (asksToEnd(msg)) await this.end(streaming.session.id, streaming);
      return;
    }
    let classified;
    try {
      classified = classify(msg, this.options.rawDefault);
    } catch (err) {
      // A bad message still ends its session when it asks to, so nothing waits forever.
      if (asksToEnd(msg)) await this.end(sessionIdOf(msg));
      throw err;
    }
    const { sessionId, input, end } = classified;
    if (input.kind === "none") {
      if (end) await this.end(sessionId);
      return;
    }
    const entry = this.entry(sessionId, msg._session);
    if (input.kind === "compressed" && this.options.compressedStream) {
      await entry.session.addStreamPiece(input.bytes);
      if (end) await this.end(sessionId, entry);
      return;
    }
    const recording = input.kind !== "pcm" || input.recording;
    try {
      await entry.session.add(input);
    } finally {
      if (end || (recording && this.options.endAfterRecording && entry.session.queuedInputs === 0)) {
        await this.end(sessionId, entry);
      }
    }
  }

  /** Ends a session after its queued audio; the last frame carries `end: true`. */
  async end(sessionId: string, entry = this.sessions.get(sessionId)): Promise<void> {
    if (!entry) return;
    if (this.sessions.get(sessionId) === entry) this.sessions.delete(sessionId);
    entry.idle?.stop();
    await entry.session.end();
  }

  /** Stops everything at once (redeploy, shutdown): no timer, decoder or reader is left running. */
  close(): void {
    for (const entry of this.sessions.values()) {
      entry.idle?.stop();
      entry.session.close();
    }
    this.sessions.clear();
    for (const session of this.unfinished) session.close();
    this.unfinished.clear();
  }

  private entry(sessionId: string, wsSession: unknown): Entry {
    let entry = this.sessions.get(sessionId);
    if (!entry) {
      if (this.sessions.size >= this.options.maxSessions) {
        throw new AudioInputError(
          "TOO_MANY_SESSIONS",
          `audio-in already carries ${this.sessions.size} sessions, its limit; end sessions with msg.audio.end or raise the limit`,
        );
      }
      const previous = [...this.unfinished].find((s) => s.id === sessionId);
      const session: AudioSession = new AudioSession(
        sessionId,
        this.options,
        (chunk) =>
          this.emit(created.wsSession === undefined ? chunk : { ...chunk, _session: created.wsSession }),
        this.scheduler,
        previous?.drained,
      );
      const created: Entry = { session, idle: undefined, wsSession };
      if (this.options.idleTimeoutMs > 0) {
        created.idle = new QuietTimer(this.scheduler, this.options.idleTimeoutMs, () => {
          // A session still reading or sending a recording is not idle.
          if (session.busy) created.idle?.touch();
          else void this.end(sessionId, created);
        });
      }
      this.unfinished.add(session);
      void session.drained.then(() => this.unfinished.delete(session));
      entry = created;
      this.sessions.set(sessionId, entry);
    }
    this.touch(entry, wsSession);
    return entry;
  }

  private touch(entry: Entry, wsSession: unknown): void {
    if (wsSession !== undefined) entry.wsSession = wsSession;
    entry.idle?.touch();
  }
}
