import { createHash } from "node:crypto";
import { mkdirSync } from "node:fs";
import { asError, settleGuarded } from "../../util/guard";
import { guardedScheduler, type Scheduler } from "../../util/scheduler";
import { encodeRecord, JournalError, openJournal, type Journal, type JournalDamage } from "./journal";

/**
 * A store-and-forward queue to one destination, kept in a journal on disk (journal.ts):
 * - `enqueue` resolves only once the message is fsynced: then, and only then, the flow may be told
 *   it is taken (done()). A refusal (full, disk full, write failed) is a value, never a silent drop.
 * - One message at a time goes to the destination, in order. A retryable failure keeps it at the head
 *   and tries again after a doubling backoff (until delivered, or discarded by an operator).
 * - An answer that ends a message (delivered, or rejected for good) is written to the journal and
 *   fsynced before anything else happens, so a message whose ACK was recorded is never sent again.
 * - After a restart every message not recorded as ended is sent again, with the same bytes (the same
 *   MSH-10 / Bundle identifier), for the receiver to drop as a duplicate if it had it already.
 * - A message queued with an idempotency key (a signed document from review-queue's outbox, which
 *   hands it on again after a crash) is taken once: an enqueue whose key is queued, or among the
 *   last MAX_ENDED_KEYS ended ones (kept across compaction and restarts), is a duplicate, not stored.
 */

export interface QueueItem {
  /** Position in this queue (increasing); what the admin endpoint names. */
  readonly seq: number;
  /** The receiver-visible id: MSH-10 for HL7, the document id for FHIR. Not PHI. */
  readonly key: string;
  /** The node that queued it (its outcome goes back there when that node is running). */
  readonly origin: string;
  /** Epoch ms when it was queued. */
  readonly enqueuedAt: number;
  /** The exact bytes to send (as text). */
  readonly body: string;
  /** UTF-8 bytes of `body`. */
  readonly bytes: number;
  /** Attempts so far; failed ones are kept in the journal, so the count goes on after a restart. */
  attempts: number;
  /** Epoch ms of the first failed attempt (kept across restarts like `attempts`). */
  firstAttemptAt?: number;
  /** PHI-free reason of the last failed attempt. */
  lastError?: string;
  /** Epoch ms before which no attempt is made. */
  notBefore: number;
  /** The SHA-256 of the sender's idempotency key, when it gave one: a second enqueue with it is a duplicate. */
  readonly idem?: string;
}

export type AttemptResult<R> =
  | { kind: "delivered"; result: R }
  /** A final answer: the message is wrong, sending it again would not help. */
  | { kind: "rejected"; result: R; why: string }
  /**
   * Not delivered, worth trying again. `holdMs`: wait at least this long (a configuration error such
   * as a rejected certificate: trying often would not help, only fill logs and the receiver's).
   */
  | { kind: "retry"; error: string; holdMs?: number }
  /** The transport was closed under the attempt (a deploy, a stop): the message stays queued. */
  | { kind: "stopped" };

export type EnqueueRefusal = "full-messages" | "full-bytes" | "full-disk" | "write-failed" | "closed";

export type EnqueueResult =
  | { ok: true; item: QueueItem; duplicate?: undefined }
  /** Taken already (queued, or ended): nothing was stored, the flow may forget it. */
  | { ok: true; item?: undefined; duplicate: "queued" | "ended" }
  | { ok: false; reason: EnqueueRefusal; detail: string };

/** Idempotency keys of ended messages remembered (a resend after a crash comes within moments). */
export const MAX_ENDED_KEYS = 1000;

export interface DurableQueueOptions<R> {
  /** The destination's own directory; created when missing. */
  dir: string;
  maxMessages: number;
  /** UTF-8 bytes of the queued bodies at most. */
  maxBytes: number;
  /** Size of the journal file at most (queued records plus the ended ones not yet compacted away). */
  maxDiskBytes: number;
  /** Compaction runs once the ended records take more than this and more than the live ones. */
  compactMinBytes?: number;
  backoffMs: number;
  backoffMaxMs: number;
  deliver: (item: QueueItem) => Promise<AttemptResult<R>>;
  /** After the end of a message is on disk (or could not be written: `recorded` false). */
  onSettled?: (item: QueueItem, outcome: AttemptResult<R>, recorded: boolean) => void;
  /** After a failed attempt that will be retried. */
  onRetry?: (item: QueueItem, delayMs: number) => void;
  scheduler: Scheduler;
  onError: (err: Error) => void;
}

type Record =
  | { t: "enq"; seq: number; key: string; origin: string; at: number; body: string; idem?: string }
  | { t: "ack"; seq: number }
  | { t: "dis"; seq: number; why: string }
  /** Failed attempts of a queued message so far (the latest record of a seq wins). */
  | { t: "att"; seq: number; n: number; first: number; err?: string }
  | { t: "seq"; next: number }
  /** Written by compaction: the idempotency keys of the last ended messages. */
  | { t: "idem"; keys: string[] };

export interface RecoveryReport {
  /** Messages found queued. */
  restored: number;
  /** Bytes of a torn last record that were dropped (a write that was never reported done). */
  tornBytes: number;
  /** Damage in the middle of the journal: the records after it were kept, these could not be read. */
  damage?: JournalDamage;
}

const DEFAULT_COMPACT_MIN_BYTES = 1024 * 1024;
/** Longest last-error text kept in an attempt record (the transports' reasons are short codes). */
const MAX_ERROR_CHARS = 200;

/**
 * Reads the journal's records into the queued items, in order. Unknown records are skipped. `sizes`
 * (each record's bytes in the file) gives `recordBytes`: the bytes of each queued item's enqueue
 * record as it lies on disk (re-encoding it could differ: another writer's JSON escapes).
 */
export function replay(
  records: readonly unknown[],
  sizes?: readonly number[],
): {
  items: QueueItem[];
  nextSeq: number;
  ended: Set<string>;
  recordBytes: Map<number, number>;
} {
  const live = new Map<number, QueueItem>();
  const recordBytes = new Map<number, number>();
  const ended = new Set<string>();
  let nextSeq = 1;
  for (const [index, raw] of records.entries()) {
    const r = raw as Partial<Record> | null;
    if (!r || typeof r !== "object") continue;
    if (r.t === "enq" && typeof r.seq === "number" && typeof r.body === "string") {
      live.set(r.seq, {
        seq: r.seq,
        key: typeof r.key === "string" ? r.key : "",
        origin: typeof r.origin === "string" ? r.origin : "",
        enqueuedAt: typeof r.at === "number" ? r.at : 0,
        body: r.body,
        bytes: Buffer.byteLength(r.body, "utf8"),
        attempts: 0,
        notBefore: 0,
        ...(typeof r.idem === "string" ? { idem: r.idem } : {}),
      });
      const size = sizes?.[index];
      recordBytes.set(r.seq, size ?? encodeRecord(raw as object).length);
      nextSeq = Math.max(nextSeq, r.seq + 1);
    } else if (r.t === "att" && typeof r.seq === "number") {
      const item = live.get(r.seq);
      if (!item) continue;
      if (typeof r.n === "number" && r.n > item.attempts) item.attempts = r.n;
      if (typeof r.first === "number") item.firstAttemptAt = r.first;
      if (typeof r.err === "string") item.lastError = r.err;
    } else if ((r.t === "ack" || r.t === "dis") && typeof r.seq === "number") {
      const idem = live.get(r.seq)?.idem;
      if (idem !== undefined) remember(ended, idem);
      live.delete(r.seq);
      recordBytes.delete(r.seq);
      // Its enqueue may have been in a damaged span: a new message must not take its number.
      nextSeq = Math.max(nextSeq, r.seq + 1);
    } else if (r.t === "seq" && typeof r.next === "number") {
      nextSeq = Math.max(nextSeq, r.next);
    } else if (r.t === "idem" && Array.isArray(r.keys)) {
      for (const k of r.keys) if (typeof k === "string") remember(ended, k);
    }
  }
  return { items: [...live.values()].sort((a, b) => a.seq - b.seq), nextSeq, ended, recordBytes };
}

/**
 * What the queue keeps of a sender's idempotency key: its SHA-256 (43 characters). The key is the
 * flow's (an MSH-10 may be any length), and a thousand ended ones are kept in memory and written in
 * one compaction record: kept as given they could outgrow the journal's bound, and the key, a slice
 * of the message text it was read from, would keep the whole message in memory.
 */
function idemDigest(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("base64url");
}

/** Adds a key as the newest; the oldest goes past MAX_ENDED_KEYS. */
function remember(ended: Set<string>, key: string): void {
  ended.delete(key);
  ended.add(key);
  if (ended.size > MAX_ENDED_KEYS) ended.delete(ended.values().next().value!);
}

/** The attempt record of a message that failed at least once, else undefined. */
function attemptRecord(item: QueueItem): Record | undefined {
  if (item.attempts <= 0 || item.firstAttemptAt === undefined) return undefined;
  return {
    t: "att",
    seq: item.seq,
    n: item.attempts,
    first: item.firstAttemptAt,
    ...(item.lastError !== undefined ? { err: item.lastError.slice(0, MAX_ERROR_CHARS) } : {}),
  };
}

function enqueueRecord(item: QueueItem): Record {
  return {
    t: "enq",
    seq: item.seq,
    key: item.key,
    origin: item.origin,
    at: item.enqueuedAt,
    body: item.body,
    ...(item.idem !== undefined ? { idem: item.idem } : {}),
  };
}

export class DurableQueue<R> {
  private readonly items: QueueItem[];
  private nextSeq: number;
  /** Idempotency keys of the last ended messages, oldest first. */
  private readonly ended: Set<string>;
  /** Idempotency keys queued, or being written by an enqueue (a second one at once is a duplicate too). */
  private readonly live = new Set<string>();
  private queuedBytes = 0;
  /**
   * Journal bytes of the queued messages' enqueue records (what a compaction would keep of them): the
   * sum of `recordBytes` over `items`, kept as a running count so that an ack costs O(1).
   */
  private liveDiskBytes = 0;
  /**
   * Bytes of each enqueue record in the journal file as it is now (set when written, replaced by a
   * compaction's rewrite), for every queued message and every one whose discard is being written: what
   * leaves and re-enters `liveDiskBytes` is exactly what was counted in, never a re-encoding.
   */
  private readonly recordBytes: Map<number, number>;
  /** Messages whose discard is being written: out of the queue, their key still held as queued. */
  private readonly discarding = new Set<number>();
  /**
   * After a failed compaction, the journal size before which no other is tried unless forced (the disk
   * bound): a disk refusing rewrites would otherwise make every ack rewrite the whole queue, and fail.
   */
  private compactAgainAt = 0;
  /** Count and bytes of enqueues being written: they hold their place against the bounds. */
  private reserved = { messages: 0, bytes: 0 };
  /** Appends under way (compaction waits until none is). */
  private writing = 0;
  private running = false;
  private closed = false;
  private inFlight: QueueItem | undefined;
  private loop: Promise<void> | undefined;
  private waitTimer: unknown;
  private readonly scheduler: Scheduler;

  private constructor(
    private readonly journal: Journal,
    recovered: ReturnType<typeof replay>,
    private readonly options: DurableQueueOptions<R>,
  ) {
    this.items = recovered.items;
    this.nextSeq = recovered.nextSeq;
    this.ended = recovered.ended;
    this.recordBytes = recovered.recordBytes;
    for (const item of this.items) {
      if (item.idem !== undefined) this.live.add(item.idem);
      this.queuedBytes += item.bytes;
      this.liveDiskBytes += this.recordBytes.get(item.seq) ?? 0;
    }
    this.scheduler = guardedScheduler(options.scheduler, options.onError);
  }

  /** Opens the destination's journal and recovers what it holds. Delivery starts with `start()`. */
  static async open<R>(
    options: DurableQueueOptions<R>,
  ): Promise<{ queue: DurableQueue<R>; report: RecoveryReport }> {
    try {
      mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      // The system's message names the directory, which a flow may have chosen: told by its code.
      throw new JournalError("open", err);
    }
    const { journal, records, sizes, tornBytes, damage } = await openJournal(options.dir);
    const recovered = replay(records, sizes);
    const queue = new DurableQueue(journal, recovered, options);
    return {
      queue,
      report: { restored: recovered.items.length, tornBytes, ...(damage ? { damage } : {}) },
    };
  }

  get depth(): number {
    return this.items.length;
  }

  get bytes(): number {
    return this.queuedBytes;
  }

  get diskBytes(): number {
    return this.journal.size;
  }

  get maxMessages(): number {
    return this.options.maxMessages;
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  /** The message on the wire right now, if any. */
  get sending(): QueueItem | undefined {
    return this.inFlight;
  }

  /** The queued messages in delivery order (read-only view for the admin endpoint and status). */
  list(): readonly QueueItem[] {
    return this.items;
  }

  /**
   * Writes a message to the journal (fsynced) and queues it. Resolves `ok` only once it is on disk;
   * otherwise with why it was refused. Never rejects. With `idem`, a message whose key is queued,
   * being stored or recently ended is a duplicate: `ok` with `duplicate`, nothing written.
   */
  async enqueue(
    key: string,
    origin: string,
    body: string,
    now = Date.now(),
    idem?: string,
  ): Promise<EnqueueResult> {
    if (this.closed) return { ok: false, reason: "closed", detail: "the queue is closed" };
    const kept = idem === undefined ? undefined : idemDigest(idem);
    if (kept !== undefined) {
      if (this.ended.has(kept)) return { ok: true, duplicate: "ended" };
      if (this.live.has(kept)) return { ok: true, duplicate: "queued" };
      // Held from here, before any wait: a second enqueue with this key meanwhile is a duplicate.
      this.live.add(kept);
    }
    const result = await this.store(key, origin, body, now, kept);
    if (!result.ok && kept !== undefined) this.live.delete(kept);
    return result;
  }

  private async store(
    key: string,
    origin: string,
    body: string,
    now: number,
    idem: string | undefined,
  ): Promise<EnqueueResult> {
    const bytes = Buffer.byteLength(body, "utf8");
    const { maxMessages, maxBytes, maxDiskBytes } = this.options;
    if (this.items.length + this.reserved.messages >= maxMessages) {
      return {
        ok: false,
        reason: "full-messages",
        detail: `the queue holds ${maxMessages} messages, its limit`,
      };
    }
    if (this.queuedBytes + this.reserved.bytes + bytes > maxBytes) {
      return {
        ok: false,
        reason: "full-bytes",
        detail: `the queue would exceed its limit of ${maxBytes} bytes`,
      };
    }
    const item: QueueItem = {
      seq: this.nextSeq++,
      key,
      origin,
      enqueuedAt: now,
      body,
      bytes,
      attempts: 0,
      notBefore: 0,
      ...(idem !== undefined ? { idem } : {}),
    };
    const record = enqueueRecord(item);
    const recordBytes = encodeRecord(record).length;
    // Held from the checks on, a compaction to make room included: a burst arriving meanwhile counts it.
    this.reserved.messages++;
    this.reserved.bytes += bytes;
    try {
      if (this.journal.size + recordBytes > maxDiskBytes) {
        await this.compact(true).catch((err: unknown) => this.options.onError(asError(err)));
        if (this.journal.size + recordBytes > maxDiskBytes) {
          return {
            ok: false,
            reason: "full-disk",
            detail: `the queue's journal would exceed its limit of ${maxDiskBytes} bytes`,
          };
        }
      }
      await this.write([record]);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      return {
        ok: false,
        reason: "write-failed",
        detail: `the message could not be written to the queue's journal (${typeof code === "string" ? code : "error"})`,
      };
    } finally {
      this.reserved.messages--;
      this.reserved.bytes -= bytes;
    }
    if (this.closed) {
      // On disk but the queue closed meanwhile: the next start sends it.
      return { ok: true, item };
    }
    this.items.push(item);
    this.queuedBytes += bytes;
    this.recordBytes.set(item.seq, recordBytes);
    this.liveDiskBytes += recordBytes;
    this.kick();
    return { ok: true, item };
  }

  /** Starts (or resumes) delivery. */
  start(): void {
    if (this.closed) return;
    this.running = true;
    this.kick();
  }

  /** Makes the waiting head message go now instead of after its backoff. */
  retryNow(): void {
    for (const item of this.items) item.notBefore = 0;
    this.clearWait();
    this.kick();
  }

  /**
   * Removes a queued message that is not being sent right now; the removal is fsynced before this
   * resolves. "in-flight" when it is on the wire (retry when it waits), "unknown" when not queued.
   */
  async discard(
    seq: number,
    why: string,
  ): Promise<
    { ok: true; item: QueueItem } | { ok: false; reason: "unknown" | "in-flight" | "write-failed" }
  > {
    const index = this.items.findIndex((i) => i.seq === seq);
    const item = this.items[index];
    if (!item) return { ok: false, reason: "unknown" };
    if (this.inFlight === item) return { ok: false, reason: "in-flight" };
    // Out of the queue before the write: the delivery loop (a backoff ending, a retry now) must not
    // start sending a message whose discard is being recorded. Its key stays held as queued (a copy
    // arriving meanwhile is a duplicate) and becomes an ended one only once the discard is on disk.
    this.remove(index, "discarding");
    this.discarding.add(seq);
    try {
      await this.write([{ t: "dis", seq, why }]);
    } catch {
      // Not recorded: it stays queued, in its place, as after a restart it would be.
      this.discarding.delete(seq);
      const at = this.items.findIndex((i) => i.seq > item.seq);
      this.items.splice(at < 0 ? this.items.length : at, 0, item);
      this.queuedBytes += item.bytes;
      this.liveDiskBytes += this.recordBytes.get(seq) ?? 0;
      this.kick();
      return { ok: false, reason: "write-failed" };
    }
    this.discarding.delete(seq);
    this.recordBytes.delete(seq);
    if (item.idem !== undefined) {
      this.live.delete(item.idem);
      remember(this.ended, item.idem);
    }
    this.kick();
    return { ok: true, item };
  }

  /**
   * Stops delivery and closes the journal: `abort` must end the attempt in flight (close the
   * transport), which then answers "stopped" and stays queued. Resolves when the journal is closed.
   */
  async close(abort: () => void): Promise<void> {
    this.running = false;
    this.closed = true;
    this.clearWait();
    abort();
    await this.loop;
    await this.journal.close();
  }

  private kick(): void {
    if (!this.running || this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = undefined;
      // A message queued between the loop's last look and its end would wait for the next one.
      if (this.running && this.items.length > 0 && this.waitTimer === undefined) this.kick();
    });
    settleGuarded(this.loop, this.options.onError);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const item = this.items[0];
      if (!item) return;
      const wait = item.notBefore - this.scheduler.now();
      if (wait > 0) {
        this.clearWait();
        this.waitTimer = this.scheduler.setTimeout(() => {
          this.waitTimer = undefined;
          this.kick();
        }, wait);
        return;
      }
      const startedAt = Date.now();
      item.attempts++;
      this.inFlight = item;
      let outcome: AttemptResult<R>;
      try {
        outcome = await this.options.deliver(item);
      } catch (err) {
        this.options.onError(asError(err));
        outcome = { kind: "retry", error: "internal error (see the Node-RED log)" };
      } finally {
        this.inFlight = undefined;
      }
      if (outcome.kind === "stopped") {
        // Closed under the attempt (a deploy): not a failure of the message.
        item.attempts--;
        return;
      }
      if (outcome.kind === "retry") {
        item.lastError = outcome.error;
        item.firstAttemptAt ??= startedAt;
        await this.recordAttempts(item);
        const delay = Math.max(
          Math.min(this.options.backoffMs * 2 ** Math.min(item.attempts - 1, 30), this.options.backoffMaxMs),
          outcome.holdMs ?? 0,
        );
        item.notBefore = this.scheduler.now() + delay;
        this.options.onRetry?.(item, delay);
        continue;
      }
      // The end of the message goes to disk before anything else: a recorded ACK is never resent.
      let recorded = true;
      try {
        await this.write([
          outcome.kind === "delivered"
            ? { t: "ack", seq: item.seq }
            : { t: "dis", seq: item.seq, why: outcome.why },
        ] satisfies Record[]);
      } catch (err) {
        // The receiver has it; it stays out of this process's queue, but a restart would resend it
        // (the receiver drops it by its id). Told, never silent.
        recorded = false;
        this.options.onError(asError(err));
      }
      const at = this.items.indexOf(item);
      if (at >= 0) this.remove(at, "ended");
      this.options.onSettled?.(item, outcome, recorded);
      await this.compact(false).catch((err: unknown) => this.options.onError(asError(err)));
    }
  }

  /**
   * Writes the message's attempt count (a small record per failed attempt, superseded by the next),
   * so a restart goes on counting and backing off. Compaction keeps only the latest per message. A
   * failed write costs only the count after a restart: told, and delivery goes on.
   */
  private async recordAttempts(item: QueueItem): Promise<void> {
    const record = attemptRecord(item);
    if (!record) return;
    try {
      await this.write([record]);
    } catch (err) {
      this.options.onError(asError(err));
      return;
    }
    // A message failing for days must not grow the journal: its superseded records are compacted.
    await this.compact(false).catch((err: unknown) => this.options.onError(asError(err)));
  }

  private async write(records: Record[]): Promise<void> {
    this.writing++;
    try {
      await this.journal.append(records);
    } finally {
      this.writing--;
    }
  }

  /**
   * Takes a message out of the queue. "ended": its end is written (or could not be, and it is not
   * kept): its key becomes an ended one. "discarding": its discard is being written (see `discard`).
   */
  private remove(index: number, why: "ended" | "discarding"): void {
    const [item] = this.items.splice(index, 1);
    if (!item) return;
    this.queuedBytes -= item.bytes;
    this.liveDiskBytes -= this.recordBytes.get(item.seq) ?? 0;
    if (why === "discarding") return;
    this.recordBytes.delete(item.seq);
    if (item.idem !== undefined) {
      this.live.delete(item.idem);
      remember(this.ended, item.idem);
    }
  }

  /** Rewrites the journal with only the queued messages, when the ended ones dominate (or `force`). */
  private async compact(force: boolean): Promise<void> {
    const dead = this.journal.size - this.liveDiskBytes;
    const min = this.options.compactMinBytes ?? DEFAULT_COMPACT_MIN_BYTES;
    if (dead <= 0 || (!force && (dead < min || dead < this.liveDiskBytes))) return;
    if (!force && this.journal.size < this.compactAgainAt) return;
    // A record being written right now (an enqueue, a discard) would be lost by a rewrite that
    // does not hold it: compaction waits for a quiet moment.
    if (this.writing > 0) return;
    const head: Record[] = [{ t: "seq", next: this.nextSeq }];
    if (this.ended.size > 0) head.push({ t: "idem", keys: [...this.ended] });
    const records: Record[] = [...head];
    // Where each message's enqueue record goes in the rewritten file. (No discard is being written:
    // compaction waits for a quiet moment, so every message not ended is in `items`.)
    const rewritten: Array<{ seq: number; at: number }> = [];
    for (const item of this.items) {
      rewritten.push({ seq: item.seq, at: records.length });
      records.push(enqueueRecord(item));
      const att = attemptRecord(item);
      if (att) records.push(att);
    }
    let sizes: number[];
    try {
      sizes = await this.journal.rewrite(records);
    } catch (err) {
      this.compactAgainAt = this.journal.size + min;
      throw err;
    }
    this.compactAgainAt = 0;
    // Messages that ended while the rewrite ran have left and counted themselves out already; one
    // whose discard began meanwhile is counted back in, if its discard fails, with its new size.
    for (const { seq, at } of rewritten) {
      const before = this.recordBytes.get(seq);
      const after = sizes[at];
      if (before === undefined || after === undefined) continue;
      this.recordBytes.set(seq, after);
      if (!this.discarding.has(seq)) this.liveDiskBytes += after - before;
    }
  }

  private clearWait(): void {
    if (this.waitTimer !== undefined) this.scheduler.clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
  }
}
