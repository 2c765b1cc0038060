import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { fileErrorCode } from "../../util/error-code";

/**
 * An append-only log of records on disk, each written and fsynced before its promise resolves.
 *
 * Record layout: 4 bytes length (UInt32BE) of the payload, 4 bytes CRC-32 of the payload, the payload
 * (UTF-8 JSON of an object, so it starts with `{` and ends with `}`). JSON escapes every byte below
 * 0x20, so no payload holds a plausible length field (its first byte is at most 0x10): a reader that
 * lost its place can find the next record by scanning for a header whose length fits, whose payload
 * is braced and whose CRC matches, without reading any record twice over.
 *
 * What a reader can meet, and what `openJournal` does with it:
 * - a torn tail: a `kill -9` or a power cut during a write leaves the last record short or garbled,
 *   with no whole record after it. That write was never reported done, so it is dropped (the file is
 *   cut back to the last whole record) and its size reported (`tornBytes`).
 * - damage in the middle: bad bytes with whole records after them (a disk or a hand that changed the
 *   file). Records after it were acknowledged to flows, so every one of them is kept: the damaged
 *   spans are copied to a side file (`journal.log.damaged-<time>`, bounded) for inspection, the
 *   journal is rewritten with the whole records only, and the damage is reported (`damage`).
 *
 * Why our own journal: Node 20 has no built-in SQLite and the package keeps its runtime dependencies
 * few; a queue needs only append, fsync and an occasional rewrite, which this gives in ~300 lines.
 */

/** Largest payload of one record (a message plus its metadata). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const HEADER_BYTES = 8;
/** `{"x":0}`-sized at least: a smaller payload is not a record, whatever its CRC says. */
const MIN_PAYLOAD_BYTES = 2;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
export const JOURNAL_FILE = "journal.log";
/** Bytes of damaged spans kept in one side file; beyond, the report says how many were not kept. */
export const MAX_DAMAGE_KEEP_BYTES = 16 * 1024 * 1024;
/** Side files kept per destination at most: a journal damaged again and again cannot fill the disk. */
export const MAX_DAMAGE_FILES = 10;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE, as zlib and PNG): written here because zlib.crc32 needs Node 20.15 / 22.2. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** One record as bytes on disk. Records are JSON objects (the framing relies on the braces). */
export function encodeRecord(value: object): Buffer {
  if (value === null || typeof value !== "object" || Array.isArray(value))
    throw new TypeError("a journal record is a JSON object");
  const payload = Buffer.from(JSON.stringify(value), "utf8");
  if (payload.length > MAX_RECORD_BYTES)
    throw new RangeError(`a journal record may hold ${MAX_RECORD_BYTES} bytes`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

/** A run of bytes that held no readable record, with whole records after it. */
export interface DamagedSpan {
  offset: number;
  bytes: number;
  /** Record starts seen in the span (a header or an opening `{"t":`): at least 1. */
  records: number;
}

export interface DecodedJournal {
  records: unknown[];
  /** Where each whole record lies in the file (to rewrite them without the damage). */
  spans: Array<{ offset: number; bytes: number }>;
  /** Bytes of the file up to the end of its last whole record. */
  validBytes: number;
  /** Bytes after the last whole record that were dropped as a torn write (0 when none). */
  tornBytes: number;
  /** Damaged spans followed by whole records (empty when none). */
  damaged: DamagedSpan[];
}

/** The record at `offset`, when one is whole there: its value and its end. Constant work but the CRC. */
function recordAt(bytes: Buffer, offset: number): { value: unknown; end: number } | undefined {
  if (bytes.length - offset < HEADER_BYTES + MIN_PAYLOAD_BYTES) return undefined;
  const length = bytes.readUInt32BE(offset);
  const end = offset + HEADER_BYTES + length;
  if (length < MIN_PAYLOAD_BYTES || length > MAX_RECORD_BYTES || end > bytes.length) return undefined;
  if (bytes[offset + HEADER_BYTES] !== OPEN_BRACE || bytes[end - 1] !== CLOSE_BRACE) return undefined;
  const payload = bytes.subarray(offset + HEADER_BYTES, end);
  if (crc32(payload) !== bytes.readUInt32BE(offset + 4)) return undefined;
  try {
    const value: unknown = JSON.parse(payload.toString("utf8"));
    return value !== null && typeof value === "object" ? { value, end } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The next offset after `from` where a whole record starts, or undefined. A candidate needs a braced
 * payload right after a plausible length, which bytes inside a JSON payload never give, so the CRC
 * runs at few places (next to record headers) and the scan stays linear in practice.
 */
function nextRecord(bytes: Buffer, from: number): number | undefined {
  for (let at = from; at + HEADER_BYTES + MIN_PAYLOAD_BYTES <= bytes.length; at++) {
    if (bytes[at] > 0x10 || bytes[at + HEADER_BYTES] !== OPEN_BRACE) continue;
    if (recordAt(bytes, at)) return at;
  }
  return undefined;
}

/** How many records a damaged span seems to have held: its `{"t":` openings (at least one). */
function recordsIn(span: Buffer): number {
  const marker = Buffer.from('{"t":');
  let count = 0;
  for (let at = span.indexOf(marker); at >= 0; at = span.indexOf(marker, at + marker.length)) count++;
  return Math.max(1, count);
}

/**
 * Reads the records of a journal's bytes. A bad record with whole records after it is damage: the
 * reader resynchronises on the next whole record and goes on. Bad bytes with none after are a torn
 * tail. Never throws.
 */
export function decodeJournal(bytes: Buffer): DecodedJournal {
  const records: unknown[] = [];
  const spans: DecodedJournal["spans"] = [];
  const damaged: DamagedSpan[] = [];
  let offset = 0;
  let validBytes = 0;
  while (offset < bytes.length) {
    const whole = recordAt(bytes, offset);
    if (whole) {
      records.push(whole.value);
      spans.push({ offset, bytes: whole.end - offset });
      offset = validBytes = whole.end;
      continue;
    }
    const next = nextRecord(bytes, offset + 1);
    if (next === undefined) break;
    damaged.push({ offset, bytes: next - offset, records: recordsIn(bytes.subarray(offset, next)) });
    offset = next;
  }
  return { records, spans, validBytes, tornBytes: bytes.length - validBytes, damaged };
}

/** What `openJournal` found wrong in the middle of the file, and where the damaged bytes were kept. */
export interface JournalDamage {
  /** Damaged spans (each followed by whole records, which were kept). */
  spans: number;
  bytes: number;
  /** Records that could not be read (an estimate from the record openings in the spans; at least 1 each). */
  records: number;
  /** File name (in the destination's directory) holding the damaged bytes; absent when not kept. */
  keptIn?: string;
  /** Damaged bytes not kept (the side file's bound, or too many side files already, or a write error). */
  notKeptBytes: number;
}

/**
 * A journal operation that failed, named and told by its step and the system's code only: the error the
 * file system gives names the file, and the journal's directory is one a flow may have chosen (the
 * config node's Queue directory), so that text stays out of logs and Catch messages.
 */
export class JournalError extends Error {
  override readonly name = "JournalError";
  /** The system's error code (ENOSPC, EIO, EACCES, ...), or "error" when it gave none. */
  readonly code: string;

  constructor(
    readonly step: "open" | "append" | "compaction",
    cause: unknown,
  ) {
    const known = fileErrorCode(cause);
    super(
      step === "compaction"
        ? `the queue journal could not be compacted (${known}): the journal before it is kept and in use`
        : step === "append"
          ? `the queue journal could not be written (${known})`
          : `the queue journal could not be opened (${known})`,
    );
    this.code = known;
  }
}

/** Removes a file that may not be there; never throws (a leftover is overwritten by the next try). */
function removeQuietly(path: string): void {
  try {
    rmSync(path, { force: true });
  } catch {
    // Nothing more to do: the next compaction writes the same name from the start.
  }
}

/** Makes a rename or a new file in `dir` durable (the directory entry itself). */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Some file systems (and Windows) refuse fsync on a directory; the data itself is synced.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Writes `data` to `path` (a new file), fsynced; the file's mode keeps PHI to the owner. A write that
 * failed half-way leaves no file behind.
 */
function writeSynced(path: string, data: Buffer, flag: "w" | "wx"): void {
  const fd = openSync(path, flag, 0o600);
  try {
    let written = 0;
    while (written < data.length) written += writeSync(fd, data, written, data.length - written);
    fsyncSync(fd);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // The write's own error is the one to tell.
    }
    removeQuietly(path);
    throw err;
  }
  closeSync(fd);
}

/**
 * Copies the damaged spans (up to MAX_DAMAGE_KEEP_BYTES) to a new side file beside the journal, so
 * that someone can see what was lost. At most MAX_DAMAGE_FILES side files: past that (or on a write
 * error) nothing is kept, and the report says so.
 */
function keepDamage(
  dir: string,
  bytes: Buffer,
  damaged: readonly DamagedSpan[],
  now: number,
): Pick<JournalDamage, "keptIn" | "notKeptBytes"> {
  const total = damaged.reduce((sum, d) => sum + d.bytes, 0);
  try {
    const existing = readdirSync(dir).filter((f) => f.startsWith(`${JOURNAL_FILE}.damaged-`)).length;
    if (existing >= MAX_DAMAGE_FILES) return { notKeptBytes: total };
    const pieces: Buffer[] = [];
    let kept = 0;
    for (const d of damaged) {
      const take = Math.min(d.bytes, MAX_DAMAGE_KEEP_BYTES - kept);
      if (take <= 0) break;
      pieces.push(bytes.subarray(d.offset, d.offset + take));
      kept += take;
    }
    const name = `${JOURNAL_FILE}.damaged-${now}`;
    writeSynced(join(dir, name), Buffer.concat(pieces), "wx");
    fsyncDir(dir);
    return { keptIn: name, notKeptBytes: total - kept };
  } catch {
    return { notKeptBytes: total };
  }
}

/** What `openJournal` gives: the journal, its records and each one's bytes in the file, what it repaired. */
export interface OpenedJournal {
  journal: Journal;
  records: unknown[];
  sizes: number[];
  tornBytes: number;
  damage?: JournalDamage;
}

/**
 * Opens (or creates) the journal in `dir`: reads every whole record, drops a torn tail (truncating the
 * file, fsynced), and returns a journal ready for appends. Damage in the middle does not stop it: the
 * damaged bytes go to a side file, the journal is rewritten (new file, fsync, rename) with every whole
 * record, and `damage` says how much could not be read. Throws (a JournalError) only when the file
 * cannot be read or rewritten (then it is left as it was). `sizes` holds each record's bytes in the file.
 */
export async function openJournal(dir: string, now = Date.now()): Promise<OpenedJournal> {
  try {
    return await readJournal(dir, now);
  } catch (err) {
    throw err instanceof JournalError ? err : new JournalError("open", err);
  }
}

async function readJournal(dir: string, now: number): Promise<OpenedJournal> {
  const path = join(dir, JOURNAL_FILE);
  const existed = existsSync(path);
  const bytes = existed ? readFileSync(path) : Buffer.alloc(0);
  const decoded = decodeJournal(bytes);
  let damage: JournalDamage | undefined;
  let size = decoded.validBytes;
  if (decoded.damaged.length > 0) {
    damage = {
      spans: decoded.damaged.length,
      bytes: decoded.damaged.reduce((sum, d) => sum + d.bytes, 0),
      records: decoded.damaged.reduce((sum, d) => sum + d.records, 0),
      ...keepDamage(dir, bytes, decoded.damaged, now),
    };
    // The whole records only, in their order and with their exact bytes.
    const whole = Buffer.concat(decoded.spans.map((s) => bytes.subarray(s.offset, s.offset + s.bytes)));
    const tmp = `${path}.compact`;
    writeSynced(tmp, whole, "w");
    try {
      renameSync(tmp, path);
    } catch (err) {
      removeQuietly(tmp);
      throw err;
    }
    fsyncDir(dir);
    size = whole.length;
  } else if (decoded.tornBytes > 0) {
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, decoded.validBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  const handle = await open(path, existed ? "r+" : "w+", 0o600);
  if (!existed) {
    await handle.sync().catch(async (err: unknown) => {
      await handle.close().catch(() => undefined);
      throw err;
    });
    fsyncDir(dir);
  }
  return {
    journal: new Journal(dir, handle, size),
    records: decoded.records,
    sizes: decoded.spans.map((s) => s.bytes),
    tornBytes: decoded.tornBytes,
    ...(damage ? { damage } : {}),
  };
}

/**
 * The open journal. Writes are serialised: each `append` or `rewrite` starts after the previous one
 * has finished (and been fsynced), so the file is always whole records plus at most one torn tail.
 */
export class Journal {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    readonly dir: string,
    private handle: FileHandle,
    private bytes: number,
  ) {}

  /** Bytes of the file: whole records only. */
  get size(): number {
    return this.bytes;
  }

  /**
   * Appends records and fsyncs them (fdatasync). Resolves once they are on disk; rejects (a
   * JournalError, e.g. ENOSPC) with the file cut back to what it held before, so a failed write leaves
   * no half record (and should the cut fail too, the next append writes over it from the same offset).
   */
  append(records: readonly object[]): Promise<void> {
    const data = Buffer.concat(records.map((r) => encodeRecord(r)));
    return this.serial(async () => {
      const at = this.bytes;
      try {
        await writeAll(this.handle, data, at);
        await this.handle.datasync();
        this.bytes = at + data.length;
      } catch (err) {
        await this.handle.truncate(at).catch(() => undefined);
        throw new JournalError("append", err);
      }
    });
  }

  /**
   * Replaces the whole journal by `records` (compaction): written to a new file (every byte: a short
   * write goes on where it stopped), fsynced, renamed over the old one, and the directory fsynced. A
   * crash at any point leaves either file whole. A failure before the rename (ENOSPC, EIO on fsync, a
   * rename refused) rejects with a JournalError and leaves the old journal whole and in use, and no
   * temp file behind. Resolves with the bytes of each record as written.
   */
  rewrite(records: readonly object[]): Promise<number[]> {
    const encoded = records.map((r) => encodeRecord(r));
    const data = Buffer.concat(encoded);
    return this.serial(async () => {
      const path = join(this.dir, JOURNAL_FILE);
      const tmp = `${path}.compact`;
      let next: FileHandle | undefined;
      try {
        next = await open(tmp, "w+", 0o600);
        await writeAll(next, data, 0);
        await next.sync();
        renameSync(tmp, path);
      } catch (err) {
        // A rename that reported a failure yet took place (no temp file left): the new journal is in place.
        const renamed =
          next !== undefined && (err as { syscall?: unknown }).syscall === "rename" && !existsSync(tmp);
        if (!renamed || next === undefined) {
          await next?.close().catch(() => undefined);
          removeQuietly(tmp);
          throw new JournalError("compaction", err);
        }
      }
      fsyncDir(this.dir);
      await this.handle.close().catch(() => undefined);
      this.handle = next;
      this.bytes = data.length;
      return encoded.map((b) => b.length);
    });
  }

  /** Waits for the writes under way, then closes the file. */
  close(): Promise<void> {
    return this.serial(async () => {
      this.closed = true;
      await this.handle.close();
    });
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.chain.then(() => {
      if (this.closed) throw new Error("the queue journal is closed");
      return step();
    });
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Writes all of `data` at `position`: a write may take fewer bytes than asked (a disk filling up). */
async function writeAll(handle: FileHandle, data: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < data.length) {
    const { bytesWritten } = await handle.write(data, written, data.length - written, position + written);
    // No progress and no error: the file system takes nothing more, as ENOSPC would say.
    if (bytesWritten <= 0) throw Object.assign(new Error("no bytes written"), { code: "ENOSPC" });
    written += bytesWritten;
  }
}
