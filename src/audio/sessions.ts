import { settleGuarded } from "../util/guard";
import { QuietTimer } from "../util/quiet-timer";
import { realScheduler, type Scheduler } from "../util/scheduler";
import { AudioInputError, type PcmFormat } from "./format";
import { classifyMessage, type AudioInput, type AudioMessage, type IncomingAudio } from "./input";
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

export type OutgoingChunk = SessionChunk & {
  /** The websocket session of the input, so replies can find their way back to the browser. */
  _session?: unknown;
};

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
    /** Where a failure that no message waits for goes (a session ended by its idle timeout). */
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  /** Sessions open to input. */
  get size(): number {
    return this.sessions.size;
  }

  /** Sessions open, or ended and still sending their last frames: what the session limit counts. */
  get active(): number {
    return this.unfinished.size;
  }

  /**
   * Handles one message: resolves when its audio is framed, rejects with an AudioInputError. A chunk
   * of live PCM in a session with nothing queued (nearly every message) is framed at once, and the
   * answer is undefined: no promise per chunk.
   */
  handle(msg: AudioMessage): Promise<void> | undefined {
    return this.accept(classifyMessage(msg, this.options.rawDefault));
  }

  /** Handles one message, classified where it entered: from here on the message is not read again. */
  accept(incoming: IncomingAudio): Promise<void> | undefined {
    const { sessionId, end, wsSession } = incoming;
    let input = incoming.input;
    if (input.kind === "unlabelled") {
      const open = this.sessions.get(sessionId);
      if (open?.session.streaming) {
        this.touch(open, wsSession);
        return this.streamPiece(open, input.bytes, end);
      }
      input = input.alone;
    }
    switch (input.kind) {
      case "invalid":
        return this.refuse(sessionId, end, input.error);
      case "end":
        return this.end(sessionId);
      case "pcm":
        if (!input.recording && !end) {
          const entry = this.entry(sessionId, wsSession);
          return entry instanceof AudioInputError ? Promise.reject(entry) : entry.session.add(input);
        }
    }
    return this.addQueued(sessionId, end, wsSession, input);
  }

  /** A bad message still ends its session when it asks to, so that nothing waits forever. */
  private async refuse(sessionId: string, end: boolean, error: Error): Promise<void> {
    if (end) await this.end(sessionId);
    throw error;
  }

  /** A recording (WAV, compressed, file), or audio that ends its session: queued behind what is before it. */
  private async addQueued(
    sessionId: string,
    end: boolean,
    wsSession: unknown,
    input: AudioInput,
  ): Promise<void> {
    const entry = this.entry(sessionId, wsSession);
    if (entry instanceof AudioInputError) throw entry;
    if (input.kind === "compressed" && this.options.compressedStream) {
      await this.streamPiece(entry, input.bytes, end);
      return;
    }
    const recording = input.kind !== "pcm" || input.recording;
    let failed = false;
    try {
      await entry.session.add(input);
    } catch (err) {
      failed = !refusedForNow(err);
      throw err;
    } finally {
      // A recording that could not be read ends its session too (with the audio sent so far), so that
      // nothing waits for the rest of it and its slot is freed.
      const recordingDone = recording && (failed || this.options.endAfterRecording);
      if (end || (recordingDone && entry.session.queuedInputs === 0)) await this.end(sessionId, entry);
    }
  }

  /** A piece of a compressed stream; a stream that fails ends its session, as a failed recording does. */
  private async streamPiece(entry: Entry, piece: Buffer, end: boolean): Promise<void> {
    let failed = false;
    try {
      await entry.session.addStreamPiece(piece);
    } catch (err) {
      failed = !refusedForNow(err);
      throw err;
    } finally {
      if (end || (failed && entry.session.queuedInputs === 0)) await this.end(entry.session.id, entry);
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

  /** The session of an id, opened if need be; the refusal when the session limit is reached. */
  private entry(sessionId: string, wsSession: unknown): Entry | AudioInputError {
    let entry = this.sessions.get(sessionId);
    if (!entry) {
      // Sessions that have ended but still send (a recording paced at real time) hold a reader, maybe
      // an ffmpeg, and their frames: they count.
      if (this.unfinished.size >= this.options.maxSessions) {
        return new AudioInputError(
          "TOO_MANY_SESSIONS",
          `audio-in already carries ${this.unfinished.size} sessions (open, or ended and still sending), its limit; ` +
            "end sessions with msg.audio.end, wait for recordings to finish, or raise the limit",
        );
      }
      const previous = [...this.unfinished].find((s) => s.id === sessionId);
      const session: AudioSession = new AudioSession(
        sessionId,
        this.options,
        (chunk: OutgoingChunk) => {
          // The chunk is a new object of this session's: the websocket session goes on it, no copy made.
          if (created.wsSession !== undefined) chunk._session = created.wsSession;
          this.emit(chunk);
        },
        this.scheduler,
        previous?.drained,
      );
      const created: Entry = { session, idle: undefined, wsSession };
      if (this.options.idleTimeoutMs > 0) {
        created.idle = new QuietTimer(this.scheduler, this.options.idleTimeoutMs, () => {
          // A session still reading or sending a recording is not idle.
          if (session.busy) created.idle?.touch();
          else settleGuarded(this.end(sessionId, created), this.onError);
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

/** A refusal that says "not now" (the session is busy), not that the recording is unreadable. */
function refusedForNow(err: unknown): boolean {
  return err instanceof AudioInputError && (err.code === "QUEUE_FULL" || err.code === "TOO_FAR_AHEAD");
}
