import { createHash } from "node:crypto";
import { promises as fs } from "node:fs";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { MAX_SESSION_ID_LENGTH } from "../util/session-id";

/**
 * The audio of each session, kept on disk for the reviewer's player (clicking a word plays it) and
 * deleted after sign-off or expiry. It takes audio-in's output (contract 1: PCM s16le with
 * msg.audio = { sessionId, sampleRate, channels, … }). Bounded per session (`maxSessionSeconds`) and
 * in total (`maxTotalBytes`); audio past a bound is not kept, and the caller is told once per session.
 * File names are a hash of the session id (a session id may be an encounter number).
 */
export interface AudioLimits {
  maxSessionSeconds: number;
  maxTotalBytes: number;
  /** Sessions with audio kept at once (a file and an entry each); audio of one more is not kept. */
  maxSessions?: number;
}

export const DEFAULT_AUDIO_LIMITS: AudioLimits = {
  maxSessionSeconds: 2 * 3600,
  maxTotalBytes: 256 * 1024 * 1024,
};

/** Sessions kept at once when the limits name no number. */
export const DEFAULT_MAX_AUDIO_SESSIONS = 2000;

export interface AudioChunk {
  sessionId: string;
  sampleRate: number;
  channels: number;
  pcm: Buffer;
}

export type AppendOutcome =
  | { kept: true }
  | {
      kept: false;
      reason: "session-limit" | "total-limit" | "format-changed" | "sessions-limit";
      first: boolean;
      droppedBytes: number;
    };

interface Track {
  file: string;
  sampleRate: number;
  channels: number;
  bytes: number;
  /** Set once audio was refused, so the refusal is reported once. */
  refused: boolean;
  droppedBytes: number;
  chain: Promise<void>;
  /** When its first chunk came (ms): audio no document claims is deleted after the retention time. */
  created: number;
}

/** Reads contract 1 (msg.audio + Buffer payload); undefined when the message is not PCM audio. */
export function audioChunkOf(msg: {
  topic?: unknown;
  payload?: unknown;
  audio?: unknown;
}): AudioChunk | undefined {
  const a = msg.audio;
  if (typeof a !== "object" || a === null || !Buffer.isBuffer(msg.payload)) return undefined;
  const o = a as Record<string, unknown>;
  const sessionId =
    typeof o.sessionId === "string" ? o.sessionId : typeof msg.topic === "string" ? msg.topic : undefined;
  const rate = o.sampleRate;
  const channels = o.channels;
  if (!sessionId || sessionId.length > MAX_SESSION_ID_LENGTH) return undefined;
  if (typeof rate !== "number" || !Number.isInteger(rate) || rate < 8000 || rate > 192000) return undefined;
  if (typeof channels !== "number" || !Number.isInteger(channels) || channels < 1 || channels > 8)
    return undefined;
  if (o.encoding !== undefined && o.encoding !== "pcm_s16le") return undefined;
  return { sessionId, sampleRate: rate, channels, pcm: msg.payload };
}

export class AudioStore {
  private readonly tracks = new Map<string, Track>();
  /**
   * Sessions refused before they had a track (the sessions bound was reached), so that each is
   * reported once: as bounded as the tracks, the oldest forgotten first.
   */
  private readonly refusedNew = new Map<string, number>();
  private total = 0;

  constructor(
    readonly dir: string,
    readonly limits: AudioLimits = DEFAULT_AUDIO_LIMITS,
    private readonly onError: (err: Error) => void,
  ) {}

  async init(): Promise<void> {
    // Audio of an earlier run has no record of its format left: it is removed, never served half-known.
    await fs.rm(this.dir, { recursive: true, force: true });
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  get totalBytes(): number {
    return this.total;
  }

  has(sessionId: string): boolean {
    return this.tracks.has(sessionId);
  }

  /** Keeps a chunk, or says why not. Writes are queued per session, in order. */
  append(chunk: AudioChunk, nowMs = Date.now()): AppendOutcome {
    let track = this.tracks.get(chunk.sessionId);
    if (!track) {
      const maxSessions = this.limits.maxSessions ?? DEFAULT_MAX_AUDIO_SESSIONS;
      const full =
        this.tracks.size >= maxSessions
          ? "sessions-limit"
          : this.total + chunk.pcm.length > this.limits.maxTotalBytes
            ? "total-limit"
            : undefined;
      // A session refused from its first chunk gets no track (no entry, no file): a flow sending
      // audio of ever new sessions cannot grow the store past its bounds.
      if (full) return this.refuseNew(chunk, full);
      this.refusedNew.delete(chunk.sessionId);
      track = {
        file: join(
          this.dir,
          `${createHash("sha256").update(chunk.sessionId).digest("hex").slice(0, 40)}.pcm`,
        ),
        sampleRate: chunk.sampleRate,
        channels: chunk.channels,
        bytes: 0,
        refused: false,
        droppedBytes: 0,
        chain: Promise.resolve(),
        created: nowMs,
      };
      this.tracks.set(chunk.sessionId, track);
    }
    const size = chunk.pcm.length;
    const perSession = this.limits.maxSessionSeconds * track.sampleRate * track.channels * 2;
    const reason =
      chunk.sampleRate !== track.sampleRate || chunk.channels !== track.channels
        ? "format-changed"
        : track.bytes + size > perSession
          ? "session-limit"
          : this.total + size > this.limits.maxTotalBytes
            ? "total-limit"
            : undefined;
    if (reason) {
      const first = !track.refused;
      track.refused = true;
      track.droppedBytes += size;
      return { kept: false, reason, first, droppedBytes: track.droppedBytes };
    }
    track.bytes += size;
    this.total += size;
    const data = Buffer.from(chunk.pcm);
    const file = track.file;
    track.chain = track.chain
      .then(() => fs.appendFile(file, data, { mode: 0o600 }))
      .catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    return { kept: true };
  }

  private refuseNew(chunk: AudioChunk, reason: "sessions-limit" | "total-limit"): AppendOutcome {
    const before = this.refusedNew.get(chunk.sessionId);
    const droppedBytes = (before ?? 0) + chunk.pcm.length;
    this.refusedNew.delete(chunk.sessionId);
    const maxSessions = this.limits.maxSessions ?? DEFAULT_MAX_AUDIO_SESSIONS;
    if (this.refusedNew.size >= maxSessions) {
      const oldest = this.refusedNew.keys().next();
      if (!oldest.done) this.refusedNew.delete(oldest.value);
    }
    this.refusedNew.set(chunk.sessionId, droppedBytes);
    return { kept: false, reason, first: before === undefined, droppedBytes };
  }

  /** What the player needs: the format and length, or undefined when the session has no audio. */
  info(sessionId: string): { sampleRate: number; channels: number; bytes: number } | undefined {
    const t = this.tracks.get(sessionId);
    return t && t.bytes > 0 ? { sampleRate: t.sampleRate, channels: t.channels, bytes: t.bytes } : undefined;
  }

  /** Bytes [start, end] (inclusive) of the session's PCM, after every queued write. */
  async read(sessionId: string, start: number, end: number): Promise<Buffer> {
    const t = this.tracks.get(sessionId);
    if (!t) return Buffer.alloc(0);
    await t.chain;
    const handle = await fs.open(t.file, "r");
    try {
      const length = Math.max(0, end - start + 1);
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, start);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  /**
   * A stream of bytes [start, end] (inclusive) of the session's PCM, after every queued write; undefined
   * when the session has no audio. Served piece by piece, so a long recording never sits in memory.
   */
  async stream(sessionId: string, start: number, end: number): Promise<Readable | undefined> {
    const t = this.tracks.get(sessionId);
    if (!t) return undefined;
    await t.chain;
    const handle = await fs.open(t.file, "r");
    return handle.createReadStream({ start, end });
  }

  async remove(sessionId: string): Promise<void> {
    const t = this.tracks.get(sessionId);
    if (!t) return;
    this.tracks.delete(sessionId);
    this.total -= t.bytes;
    await t.chain;
    await fs.rm(t.file, { force: true });
  }

  /** Sessions whose audio started before `ms` (for the expiry sweep). */
  startedBefore(ms: number): string[] {
    const out: string[] = [];
    for (const [id, t] of this.tracks) if (t.created < ms) out.push(id);
    return out;
  }
}

/** The 44-byte header of a PCM s16le WAV file of `dataBytes` bytes. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write("WAVE", 8, "ascii");
  h.write("fmt ", 12, "ascii");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "ascii");
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * One byte range of an HTTP Range header ("bytes=a-b", "bytes=a-", "bytes=-n") against a resource
 * of `size` bytes (RFC 9110 §14.1.2). undefined: no usable Range, serve it whole; "unsatisfiable": 416.
 * Several ranges are answered with the first only (allowed: a server may ignore Range).
 */
export function parseRange(
  header: unknown,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  if (typeof header !== "string") return undefined;
  const m = /^bytes=(\d*)-(\d*)(?:,.*)?$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return undefined;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return "unsatisfiable";
  return { start, end };
}
