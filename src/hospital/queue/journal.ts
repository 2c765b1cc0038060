import { closeSync, fsyncSync, openSync, readFileSync, renameSync, ftruncateSync, existsSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";

/**
 * An append-only log of records on disk, each written and fsynced before its promise resolves.
 *
 * Record layout: 4 bytes length (UInt32BE) of the payload, 4 bytes CRC-32 of the payload, the payload
 * (UTF-8 JSON). A `kill -9` or a power cut during a write can leave the last record torn (short, or
 * with a checksum that does not match): it was never reported as written, so `openJournal` drops it
 * and truncates the file to the last whole record. A bad record followed by more data is not a torn
 * write but corruption: the file is set aside, never silently shortened.
 *
 * Why our own journal: Node 20 has no built-in SQLite and the package keeps its runtime dependencies
 * few; a queue needs only append, fsync and an occasional rewrite, which this gives in ~200 lines.
 */

/** Largest payload of one record (a message plus its metadata). */
export const MAX_RECORD_BYTES = 256 * 1024 * 1024;
const HEADER_BYTES = 8;
export const JOURNAL_FILE = "journal.log";

export class JournalCorruptError extends Error {
  constructor(
    readonly offset: number,
    readonly setAside: string,
  ) {
    super(
      `the queue journal is damaged at byte ${offset} (not a torn last write); it was moved to ${setAside}`,
    );
    this.name = "JournalCorruptError";
  }
}

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

/** One record as bytes on disk. */
export function encodeRecord(value: unknown): Buffer {
  const payload = Buffer.from(JSON.stringify(value), "utf8");
  if (payload.length > MAX_RECORD_BYTES)
    throw new RangeError(`a journal record may hold ${MAX_RECORD_BYTES} bytes`);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

export interface DecodedJournal {
  records: unknown[];
  /** Bytes of whole records: where the next record goes. */
  validBytes: number;
  /** Bytes after the last whole record that were dropped as a torn write (0 when none). */
  tornBytes: number;
  /** Offset of a bad record that more data follows (corruption), if any. */
  corruptAt?: number;
}

/** Reads the records of a journal's bytes; stops at the first record that is not whole. */
export function decodeJournal(bytes: Buffer): DecodedJournal {
  const records: unknown[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const rest = bytes.length - offset;
    if (rest < HEADER_BYTES) return { records, validBytes: offset, tornBytes: rest };
    const length = bytes.readUInt32BE(offset);
    const end = offset + HEADER_BYTES + length;
    if (length > MAX_RECORD_BYTES || end > bytes.length) {
      // The declared length runs past the end: the last write stopped short.
      return { records, validBytes: offset, tornBytes: rest };
    }
    const payload = bytes.subarray(offset + HEADER_BYTES, end);
    let value: unknown;
    const ok = crc32(payload) === bytes.readUInt32BE(offset + 4);
    if (ok) {
      try {
        value = JSON.parse(payload.toString("utf8"));
      } catch {
        value = undefined;
      }
    }
    if (!ok || value === undefined) {
      if (end === bytes.length) return { records, validBytes: offset, tornBytes: rest };
      return { records, validBytes: offset, tornBytes: 0, corruptAt: offset };
    }
    records.push(value);
    offset = end;
  }
  return { records, validBytes: offset, tornBytes: 0 };
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
 * Opens (or creates) the journal in `dir`: reads every whole record, drops a torn last one (truncating
 * the file, fsynced), and returns a journal ready for appends. Throws JournalCorruptError when a record
 * in the middle is bad (the file is renamed aside first, so the next open starts empty and nothing is
 * overwritten).
 */
export async function openJournal(
  dir: string,
): Promise<{ journal: Journal; records: unknown[]; tornBytes: number }> {
  const path = join(dir, JOURNAL_FILE);
  const existed = existsSync(path);
  const bytes = existed ? readFileSync(path) : Buffer.alloc(0);
  const decoded = decodeJournal(bytes);
  if (decoded.corruptAt !== undefined) {
    const aside = `${path}.damaged-${Date.now()}`;
    renameSync(path, aside);
    fsyncDir(dir);
    throw new JournalCorruptError(decoded.corruptAt, aside);
  }
  if (decoded.tornBytes > 0) {
    const fd = openSync(path, "r+");
    try {
      ftruncateSync(fd, decoded.validBytes);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
  const handle = await open(path, existed ? "r+" : "w+");
  if (!existed) {
    await handle.sync();
    fsyncDir(dir);
  }
  return {
    journal: new Journal(dir, handle, decoded.validBytes),
    records: decoded.records,
    tornBytes: decoded.tornBytes,
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
   * Appends records and fsyncs them (fdatasync). Resolves once they are on disk; rejects (e.g.
   * ENOSPC) with the file cut back to what it held before, so a failed write leaves no half record.
   */
  append(records: readonly unknown[]): Promise<void> {
    const data = Buffer.concat(records.map((r) => encodeRecord(r)));
    return this.serial(async () => {
      const at = this.bytes;
      try {
        let written = 0;
        while (written < data.length) {
          const { bytesWritten } = await this.handle.write(
            data,
            written,
            data.length - written,
            at + written,
          );
          written += bytesWritten;
        }
        await this.handle.datasync();
        this.bytes = at + data.length;
      } catch (err) {
        await this.handle.truncate(at).catch(() => undefined);
        throw err;
      }
    });
  }

  /**
   * Replaces the whole journal by `records` (compaction): written to a new file, fsynced, renamed
   * over the old one, and the directory fsynced. A crash at any point leaves either file whole.
   */
  rewrite(records: readonly unknown[]): Promise<void> {
    const data = Buffer.concat(records.map((r) => encodeRecord(r)));
    return this.serial(async () => {
      const path = join(this.dir, JOURNAL_FILE);
      const tmp = `${path}.compact`;
      const next = await open(tmp, "w+");
      try {
        await next.write(data, 0, data.length, 0);
        await next.sync();
      } catch (err) {
        await next.close().catch(() => undefined);
        throw err;
      }
      renameSync(tmp, path);
      fsyncDir(this.dir);
      await this.handle.close().catch(() => undefined);
      this.handle = next;
      this.bytes = data.length;
    });
  }

  /** Waits for the writes under way, then closes the file. */
  close(): Promise<void> {
    return this.serial(async () => {
      this.closed = true;
      await this.handle.close();
    });
  }

  private serial(step: () => Promise<void>): Promise<void> {
    const run = this.chain.then(() => {
      if (this.closed) throw new Error("the queue journal is closed");
      return step();
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}
