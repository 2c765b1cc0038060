import { join } from "node:path";
import { asError, settleGuarded } from "../../util/guard";
import type { Scheduler } from "../../util/scheduler";
import {
  DurableQueue,
  type AttemptResult,
  type EnqueueResult,
  type QueueItem,
  type RecoveryReport,
} from "./durable-queue";

/**
 * One destination (an mllp-endpoint or fhir-server config node) with its durable queue: the queue is
 * opened from disk when the config node starts, the sender nodes using it register to hear the
 * outcomes of the messages they queued, and every open destination is listed for the admin endpoint.
 */

export type DestinationKind = "mllp" | "fhir";

export interface DestinationListener<R, E> {
  /** A transport event of an attempt (send, ack, retry...) for the audit port. */
  onEvent(item: QueueItem, event: E): void;
  /** The message ended: delivered or rejected for good (on disk unless `recorded` is false). */
  onSettled(item: QueueItem, outcome: AttemptResult<R>, recorded: boolean): void;
  /** An attempt failed and the message waits `delayMs` before the next. */
  onRetry(item: QueueItem, delayMs: number): void;
  /**
   * What opening the journal found when it was not clean (a torn tail, damage in the middle): told to
   * each sender node once, when it registers or when the queue opens, whichever is later.
   */
  onRecovered?(report: RecoveryReport): void;
}

export interface DestinationOptions<R, E> {
  /** The config node's id: names the directory, so a restart finds its queue again. */
  id: string;
  /** The config node's name, for the admin listing (never the address). */
  name: string;
  kind: DestinationKind;
  /** Base directory; the destination's own is `<baseDir>/<kind>-<id>`. */
  baseDir: string;
  maxMessages: number;
  maxBytes: number;
  maxDiskBytes: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Delivery is started this long after opening even when no sender node registered. */
  startDelayMs?: number;
  /** One attempt (the transport's own retries included). */
  send(item: QueueItem, onEvent: (event: E) => void): Promise<AttemptResult<R>>;
  /** Closes the transport: the attempt in flight answers "stopped". */
  abort(): void;
  /** Outcomes of messages whose sender node is not running (removed from the flow). */
  onOrphan(item: QueueItem, outcome: AttemptResult<R>): void;
  scheduler: Scheduler;
  onError(err: Error): void;
}

/** A directory name from a node id: letters, digits, `.`, `_`, `-` only. */
export function destinationDir(baseDir: string, kind: DestinationKind, id: string): string {
  return join(baseDir, `${kind}-${id.replace(/[^A-Za-z0-9._-]/g, "_")}`);
}

/** The destinations open in this process, by config node id (what the admin endpoint lists). */
export const openDestinations = new Map<string, Destination<unknown, unknown>>();

export class Destination<R, E> {
  readonly dir: string;
  /** The queue once open; rejects when the journal could not be opened (a message says why). */
  readonly ready: Promise<DurableQueue<R>>;
  private queue: DurableQueue<R> | undefined;
  private readonly listeners = new Map<string, DestinationListener<R, E>>();
  private startTimer: unknown;
  private closed = false;
  /** What the journal's recovery found, when not clean (kept for sender nodes that register later). */
  private recovery: RecoveryReport | undefined;

  constructor(private readonly options: DestinationOptions<R, E>) {
    this.dir = destinationDir(options.baseDir, options.kind, options.id);
    if (openDestinations.has(options.id)) {
      this.ready = Promise.reject(new Error("the queue of this destination is still open in this process"));
      settleGuarded(this.ready, () => undefined);
      return;
    }
    openDestinations.set(options.id, this as Destination<unknown, unknown>);
    this.ready = DurableQueue.open<R>({
      dir: this.dir,
      maxMessages: options.maxMessages,
      maxBytes: options.maxBytes,
      maxDiskBytes: options.maxDiskBytes,
      backoffMs: options.backoffMs,
      backoffMaxMs: options.backoffMaxMs,
      deliver: (item) => options.send(item, (event) => this.listenerFor(item)?.onEvent(item, event)),
      onSettled: (item, outcome, recorded) => {
        const listener = this.listenerFor(item);
        if (listener) listener.onSettled(item, outcome, recorded);
        else options.onOrphan(item, outcome);
      },
      onRetry: (item, delayMs) => this.listenerFor(item)?.onRetry(item, delayMs),
      scheduler: options.scheduler,
      onError: (err) => options.onError(err),
    }).then(({ queue, report }) => {
      this.queue = queue;
      if (report.tornBytes > 0 || report.damage) this.recovery = report;
      if (this.closed) return queue;
      for (const listener of this.listeners.values()) this.tellRecovery(listener);
      if (this.listeners.size > 0) queue.start();
      // A queue left by a sender node that is gone still drains.
      else this.startTimer = options.scheduler.setTimeout(() => queue.start(), options.startDelayMs ?? 2000);
      return queue;
    });
    settleGuarded(this.ready, () => undefined);
  }

  get name(): string {
    return this.options.name;
  }

  get kind(): DestinationKind {
    return this.options.kind;
  }

  get id(): string {
    return this.options.id;
  }

  /** The open queue, or undefined while opening (or when it failed to open). */
  get current(): DurableQueue<R> | undefined {
    return this.queue;
  }

  /**
   * Queues a message for `origin` (a sender node id): resolves once it is on disk, or refused; with
   * `idem` (an idempotency key) a message taken already is a duplicate (DurableQueue.enqueue).
   */
  async enqueue(key: string, origin: string, body: string, idem?: string): Promise<EnqueueResult> {
    let queue: DurableQueue<R>;
    try {
      queue = await this.ready;
    } catch (err) {
      return { ok: false, reason: "write-failed", detail: asError(err).message };
    }
    return queue.enqueue(key, origin, body, Date.now(), idem);
  }

  register(nodeId: string, listener: DestinationListener<R, E>): void {
    this.listeners.set(nodeId, listener);
    if (this.queue && !this.closed) {
      this.tellRecovery(listener);
      this.queue.start();
    }
  }

  /** What opening the journal found, when it was not clean; undefined while opening. */
  get recovered(): RecoveryReport | undefined {
    return this.recovery;
  }

  unregister(nodeId: string, listener: DestinationListener<R, E>): void {
    if (this.listeners.get(nodeId) === listener) this.listeners.delete(nodeId);
  }

  /** Stops delivery (the message in flight stays queued) and closes the journal. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.startTimer !== undefined) this.options.scheduler.clearTimeout(this.startTimer);
    try {
      const queue = await this.ready;
      await queue.close(() => this.options.abort());
    } catch {
      this.options.abort();
    } finally {
      if (openDestinations.get(this.options.id) === (this as Destination<unknown, unknown>)) {
        openDestinations.delete(this.options.id);
      }
    }
  }

  private tellRecovery(listener: DestinationListener<R, E>): void {
    if (this.recovery) listener.onRecovered?.(this.recovery);
  }

  /** The node that queued the message, or else any sender node of this destination. */
  private listenerFor(item: QueueItem): DestinationListener<R, E> | undefined {
    return this.listeners.get(item.origin) ?? this.listeners.values().next().value;
  }
}
