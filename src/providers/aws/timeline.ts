/**
 * Time bookkeeping across reconnects. The service's times restart at 0 on every stream, and a
 * stream may carry replayed audio or keepalive silence that the session never had; these classes
 * map stream times back to session times and keep the audio a new stream has to replay.
 */
import type { RetainedAudio, Slab } from "../retained-audio";

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
  /** The frame could carry speech (see SpeechEnergy): the service owes an answer for it. */
  speech: boolean;
  /** Where `data` lives when the ledger keeps copies (see retained-audio.ts). */
  slab?: Slab | undefined;
}

/** Most intervals of dropped speech remembered; beyond it neighbours merge (the count can only grow). */
const MAX_DROPPED_INTERVALS = 1024;

/**
 * The session's audio that is not yet covered by a delivered final result: what a new stream must
 * replay after a failure. Frames are kept whole, so a replay may start a little before the
 * coverage; results ending before what was already delivered are dropped by the caller.
 */
export class AudioLedger {
  private frames: LedgerFrame[] = [];
  private received = 0;
  /** Speech that left the bounded buffer before a final covered it: [start, end) byte ranges, in order. */
  private dropped: Array<[number, number]> = [];
  // Kept as a running sum: add() and frameAt() run for every chunk of every session.
  private retained = 0;

  constructor(
    readonly bytesPerSecond: number,
    /** Upper bound of retained audio, so a session with no finals for a long time cannot grow without end. */
    private readonly maxRetainedBytes: number,
    /** Keeps a copy of each frame (the caller's chunk is then free); without one the chunk is held. */
    private readonly store?: RetainedAudio,
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

  add(data: Buffer, speech = false): LedgerFrame {
    const kept = this.store?.keep(data);
    const frame = { offset: this.received, data: kept?.bytes ?? data, speech, slab: kept?.slab };
    this.frames.push(frame);
    this.received += data.length;
    this.retained += data.length;
    while (this.retained > this.maxRetainedBytes && this.frames.length > 1) {
      const old = this.frames.shift() as LedgerFrame;
      this.retained -= old.data.length;
      this.store?.release(old.slab);
      if (old.speech) this.noteDropped(old.offset, old.offset + old.data.length);
    }
    return frame;
  }

  private noteDropped(start: number, end: number): void {
    const last = this.dropped.at(-1);
    if (last && last[1] >= start) last[1] = end;
    else this.dropped.push([start, end]);
    if (this.dropped.length > MAX_DROPPED_INTERVALS) {
      // Merging two neighbours overstates what was dropped, never understates it.
      const [a, b] = this.dropped.splice(0, 2);
      if (a && b) this.dropped.unshift([a[0], b[1]]);
    }
  }

  /**
   * Bytes of speech dropped unconfirmed within [from, to) (a replay starting at `to` cannot carry
   * them), and forgets every dropped range before `to`.
   */
  takeDroppedSpeech(from: number, to: number): number {
    let bytes = 0;
    let keep = 0;
    for (const [start, end] of this.dropped) {
      if (start >= to) break;
      bytes += Math.max(0, Math.min(end, to) - Math.max(start, from));
      keep++;
    }
    this.dropped.splice(0, keep);
    return bytes;
  }

  /** The byte offset of audio time `seconds` from this session's first byte, rounded down. */
  bytesAt(seconds: number): number {
    return Math.max(0, Math.floor(seconds * this.bytesPerSecond));
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
    // Dropped speech that a final covered after all was transcribed: not lost.
    while (this.dropped.length > 0 && (this.dropped[0]?.[1] ?? Infinity) <= offset) this.dropped.shift();
    while (this.frames.length > 0) {
      const f = this.frames[0];
      if (f.offset + f.data.length > offset) break;
      this.frames.shift();
      this.retained -= f.data.length;
      this.store?.release(f.slab);
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
