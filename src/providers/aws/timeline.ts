/**
 * Time bookkeeping across reconnects. The service's times restart at 0 on every stream, and a
 * stream may carry replayed audio or keepalive silence that the session never had; these classes
 * map stream times back to session times and keep the audio a new stream has to replay.
 */

interface Piece {
  streamStart: number;
  /** Session time at the start of this piece; null for silence we inserted (not session audio). */
  sessionStart: number | null;
  duration: number;
}

/** Maps times of one provider stream to session times (seconds). */
export class StreamTimeline {
  private readonly pieces: Piece[] = [];
  private end = 0;

  /** Seconds of audio this stream has carried. */
  get duration(): number {
    return this.end;
  }

  /** Records audio sent on the stream: session audio from `sessionStart`, or inserted silence (null). */
  append(duration: number, sessionStart: number | null): void {
    const last = this.pieces.at(-1);
    const contiguous =
      last !== undefined &&
      last.sessionStart !== null &&
      sessionStart !== null &&
      Math.abs(last.sessionStart + last.duration - sessionStart) < 1e-6;
    const bothSilence = last !== undefined && last.sessionStart === null && sessionStart === null;
    if (last && (contiguous || bothSilence)) last.duration += duration;
    else this.pieces.push({ streamStart: this.end, sessionStart, duration });
    this.end += duration;
  }

  /** The session time of a stream time; inside inserted silence, the session time where it was inserted. */
  toSession(t: number): number {
    let lo = 0;
    let hi = this.pieces.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.pieces[mid].streamStart <= t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return this.firstSessionTime();
    const piece = this.pieces[found];
    if (piece.sessionStart !== null) return piece.sessionStart + (t - piece.streamStart);
    return this.sessionTimeBefore(found);
  }

  private firstSessionTime(): number {
    const first = this.pieces.find((p) => p.sessionStart !== null);
    return first?.sessionStart ?? 0;
  }

  private sessionTimeBefore(index: number): number {
    for (let i = index - 1; i >= 0; i--) {
      const p = this.pieces[i];
      if (p.sessionStart !== null) return p.sessionStart + p.duration;
    }
    return this.firstSessionTime();
  }
}

export interface LedgerFrame {
  /** Session byte offset of the first byte. */
  offset: number;
  data: Buffer;
}

/**
 * The session's audio that is not yet covered by a delivered final result: what a new stream must
 * replay after a failure. Frames are kept whole, so a replay may start a little before the
 * coverage; results ending before what was already delivered are dropped by the caller.
 */
export class AudioLedger {
  private frames: LedgerFrame[] = [];
  private received = 0;
  // Kept as a running sum: add() and frameAt() run for every chunk of every session.
  private retained = 0;

  constructor(
    readonly bytesPerSecond: number,
    /** Upper bound of retained audio, so a session with no finals for a long time cannot grow without end. */
    private readonly maxRetainedBytes: number,
  ) {}

  /** Total session bytes received. */
  get receivedBytes(): number {
    return this.received;
  }

  get retainedBytes(): number {
    return this.retained;
  }

  /** Offset of the first retained frame: where a replay starts. */
  get replayFrom(): number {
    return this.frames[0]?.offset ?? this.received;
  }

  add(data: Buffer): LedgerFrame {
    const frame = { offset: this.received, data };
    this.frames.push(frame);
    this.received += data.length;
    this.retained += data.length;
    while (this.retained > this.maxRetainedBytes && this.frames.length > 1) {
      this.retained -= (this.frames.shift() as LedgerFrame).data.length;
    }
    return frame;
  }

  /**
   * Forgets the PCM audio that ends at or before `sessionSeconds` (covered by a delivered final). Only
   * for PCM: bytes of compressed audio are not proportional to time (use `forgetBefore`).
   */
  coverUntil(sessionSeconds: number): void {
    this.forgetBefore(sessionSeconds * this.bytesPerSecond);
  }

  /** Forgets the frames that end at or before byte `offset` (compressed audio once it was sent). */
  forgetBefore(offset: number): void {
    while (this.frames.length > 0) {
      const f = this.frames[0];
      if (f.offset + f.data.length > offset) break;
      this.frames.shift();
      this.retained -= f.data.length;
    }
  }

  /** The first retained frame starting at or after `offset`, if any. */
  frameAt(offset: number): LedgerFrame | undefined {
    const frames = this.frames;
    const last = frames.at(-1);
    if (last === undefined || last.offset < offset) return undefined;
    // Frames are in offset order; a live stream nearly always asks for the newest one.
    let lo = 0;
    let hi = frames.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (frames[mid].offset >= offset) hi = mid;
      else lo = mid + 1;
    }
    return frames[lo];
  }

  seconds(bytes: number): number {
    return bytes / this.bytesPerSecond;
  }
}
