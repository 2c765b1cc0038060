import { createHash, randomUUID } from "node:crypto";
import { promises as fs } from "node:fs";
import { dirname, join } from "node:path";
import { ReviewError, type ReviewRecord } from "./record";
import { parseJsonSliced } from "../util/sliced-json";
import { fileErrorCode } from "../util/error-code";

/**
 * The worklist on disk: one JSON file per document under `<userDir>/review-queue/<node>/documents`,
 * written atomically (temp file, fsync, rename, folder fsync, so a crash leaves the old file or the new one, never
 * half of one). File names are a hash of the document id: an id a flow supplies never becomes a path.
 * Changes to one document run one after another (`withRecord`), so a version check and its write
 * cannot interleave with another request's.
 */
export interface StoreLimits {
  /** Documents kept (pending, signed and withdrawn together); a new one past it is refused. */
  maxDocuments: number;
}

export const DEFAULT_STORE_LIMITS: StoreLimits = { maxDocuments: 500 };

/** Largest record file read back at start (a 1 MiB document with its words is about 8 MiB of JSON). */
const MAX_FILE_BYTES = 32 * 1024 * 1024;

export function fileNameFor(id: string): string {
  return `${createHash("sha256").update(id).digest("hex").slice(0, 40)}.json`;
}

/**
 * A file of the review store that could not be written, named and told by the system's code only: the
 * system's message names the file, and the folder is one a flow may have chosen (the node's store
 * folder). Nothing was changed: the file holds what it held before.
 */
export class StoreWriteError extends Error {
  override readonly name = "StoreWriteError";
  /** The system's error code (ENOSPC, EIO, EACCES, ...), or "error" when it gave none. */
  readonly code: string;

  constructor(cause: unknown) {
    const known = fileErrorCode(cause);
    super(`review-queue: the change could not be saved (${known}): nothing was changed`);
    this.code = known;
  }
}

/**
 * Replaces `path` by `data`: a temp file, fsynced, renamed over it, the folder fsynced. Rejects with a
 * StoreWriteError, and no temp file left, when any step up to the rename fails (the file is as it was);
 * once the rename is done it does not reject (the change is in place, and the caller must know it).
 */
export async function atomicWrite(path: string, data: string): Promise<void> {
  // A temp name of its own per write: two writes of one file in the same millisecond (two signatures
  // updating accuracy.json) must not share, and truncate, one temp file.
  const temp = `${path}.${process.pid}.${randomUUID()}.tmp`;
  try {
    const handle = await fs.open(temp, "w", 0o600);
    try {
      await handle.writeFile(data, "utf8");
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, path);
  } catch (err) {
    // A failed write on a full disk must not leave its temp file to fill it further, one per try.
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw new StoreWriteError(err);
  }
  // The rename is durable once the folder is: without it a power cut after the answer (a signature
  // answered as done, its final message sent) could bring back the old file.
  const folder = await fs.open(dirname(path), "r").catch(() => undefined);
  if (folder) {
    // Some file systems (and Windows) refuse fsync on a directory; the data itself is synced.
    await folder.sync().catch(() => undefined);
    await folder.close().catch(() => undefined);
  }
}

export class ReviewStore {
  private readonly records = new Map<string, ReviewRecord>();
  private readonly chains = new Map<string, Promise<unknown>>();
  /**
   * New documents being written: they hold their place against `maxDocuments` from the check until
   * their file is on disk, so a burst of messages cannot all pass the check before any is counted.
   */
  private adding = 0;

  constructor(
    readonly dir: string,
    readonly limits: StoreLimits = DEFAULT_STORE_LIMITS,
  ) {}

  /** Reads what an earlier run left; returns how many files could not be read (reported, then skipped). */
  async load(): Promise<{ loaded: number; unreadable: number }> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    let unreadable = 0;
    for (const name of await fs.readdir(this.dir)) {
      const path = join(this.dir, name);
      if (name.endsWith(".tmp")) {
        await fs.rm(path, { force: true });
        continue;
      }
      if (!name.endsWith(".json")) continue;
      try {
        const stat = await fs.stat(path);
        if (stat.size > MAX_FILE_BYTES) throw new Error("too large");
        // In slices: a record of a document at the limits is megabytes of JSON, and the store loads
        // while other flows already carry audio.
        const record = (await parseJsonSliced(await fs.readFile(path, "utf8"))) as ReviewRecord;
        if (
          typeof record.id !== "string" ||
          typeof record.version !== "number" ||
          fileNameFor(record.id) !== name
        ) {
          throw new Error("not a review record");
        }
        this.records.set(record.id, record);
      } catch {
        unreadable++;
      }
    }
    return { loaded: this.records.size, unreadable };
  }

  get size(): number {
    return this.records.size;
  }

  get(id: string): ReviewRecord | undefined {
    return this.records.get(id);
  }

  all(): ReviewRecord[] {
    return [...this.records.values()];
  }

  /**
   * Adds a new document; a document already in the list (a resend of the same preliminary) is
   * ignored (false). Past `maxDocuments` it is refused with a clear error.
   */
  async add(record: ReviewRecord): Promise<boolean> {
    return this.withRecord(record.id, async () => {
      if (this.records.has(record.id)) return false;
      if (this.records.size + this.adding >= this.limits.maxDocuments) {
        throw new ReviewError(
          503,
          "WORKLIST_FULL",
          `the review worklist holds its maximum of ${this.limits.maxDocuments} documents: sign or withdraw some, or raise "max documents"`,
        );
      }
      this.adding++;
      try {
        await this.write(record);
      } finally {
        this.adding--;
      }
      return true;
    });
  }

  /**
   * Runs `change` on the current record with no other change to it in between, and stores what it
   * returns. `change` throws ReviewError to refuse (nothing is written then).
   */
  async update<T>(
    id: string,
    change: (record: ReviewRecord) => { record: ReviewRecord; result: T },
  ): Promise<T> {
    return this.withRecord(id, async () => {
      const current = this.records.get(id);
      if (!current) throw new ReviewError(404, "NOT_FOUND", "no such document in the worklist");
      const { record, result } = change(current);
      await this.write(record);
      return result;
    });
  }

  /** Deletes a document's file, then forgets it: a file that cannot be deleted stays listed, as a restart would find it. */
  async remove(id: string): Promise<void> {
    return this.withRecord(id, async () => {
      try {
        await fs.rm(join(this.dir, fileNameFor(id)), { force: true });
      } catch (err) {
        throw new StoreWriteError(err);
      }
      this.records.delete(id);
    });
  }

  /** Resolves once every change under way (or queued) has been written or refused. */
  async idle(): Promise<void> {
    while (this.chains.size > 0) await Promise.all(this.chains.values());
  }

  private async write(record: ReviewRecord): Promise<void> {
    await atomicWrite(join(this.dir, fileNameFor(record.id)), JSON.stringify(record));
    this.records.set(record.id, record);
  }

  private withRecord<T>(id: string, task: () => Promise<T>): Promise<T> {
    const before = this.chains.get(id) ?? Promise.resolve();
    const run = before.then(task, task);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return run;
  }
}
