import { realScheduler, type Scheduler } from "../util/scheduler";

/**
 * Releases timed items no sooner than their offset from the moment the first one was queued, so
 * that a recording leaves at the speed it was spoken (or at once when `realTime` is false).
 */
export class Pacer<T> {
  private readonly queue: T[] = [];
  private startedAt: number | undefined;
  private firstStart = 0;
  private lastPushAt = -Infinity;
  private timer: unknown;
  private waiters: Array<{ ms: number; resolve: () => void }> = [];

  constructor(
    private readonly realTime: boolean,
    private readonly release: (item: T) => void,
    /** Where an item lies in its stream (ms): read from the item, so that it carries no field for the pacer. */
    private readonly offsetOf: (item: T) => number,
    private readonly scheduler: Scheduler = realScheduler,
    /**
     * How far the schedule may move earlier for a live source (one frame): see `push`. 0 keeps the
     * schedule of the first item.
     */
    private readonly liveSlackMs = 0,
  ) {}

  push(item: T): void {
    const now = this.scheduler.now();
    const offsetMs = this.offsetOf(item);
    if (this.startedAt === undefined) {
      this.startedAt = this.firstStart = now - offsetMs;
    } else if (this.queue.length === 0 && now - this.lastPushAt >= this.liveSlackMs / 2) {
      // A live source (items arrive one by one, spaced out, and none waits) whose first item was handed
      // on late, by set-up work such as opening a connection, would have every later item held back by
      // that delay. The schedule follows the earliest arrival instead, by at most liveSlackMs in all, so
      // a source faster than real time is still paced, and a recording pushed at once is untouched.
      const earliest = Math.min(this.startedAt, now - offsetMs);
      this.startedAt = Math.max(this.firstStart - this.liveSlackMs, earliest);
    }
    this.lastPushAt = now;
    this.queue.push(item);
    this.pump();
  }

  /** Milliseconds of queued items still waiting for their time. */
  get aheadMs(): number {
    const last = this.queue[this.queue.length - 1];
    const first = this.queue[0];
    return last && first ? this.offsetOf(last) - this.offsetOf(first) : 0;
  }

  /** Resolves once the queue holds no more than `ms` of items (for back-pressure on a reader). */
  whenBelow(ms: number): Promise<void> {
    if (this.aheadMs <= ms) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ms, resolve }));
  }

  get idle(): boolean {
    return this.queue.length === 0;
  }

  /** Drops what waits and stops the timer. */
  clear(): void {
    this.queue.length = 0;
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
    this.wake();
  }

  private pump(): void {
    if (this.timer !== undefined) return;
    const now = this.scheduler.now();
    while (this.queue.length) {
      const next = this.queue[0];
      const due = (this.startedAt ?? now) + this.offsetOf(next);
      if (this.realTime && due > now) {
        this.timer = this.scheduler.setTimeout(this.onTimer, due - now);
        break;
      }
      this.queue.shift();
      this.release(next);
    }
    this.wake();
  }

  // One callback for every timer of this pacer (one runs per paced chunk): made once.
  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.pump();
  };

  private wake(): void {
    if (this.waiters.length === 0) return;
    const ahead = this.queue.length ? this.aheadMs : 0;
    const due = this.waiters.filter((w) => ahead <= w.ms);
    if (!due.length) return;
    this.waiters = this.waiters.filter((w) => ahead > w.ms);
    for (const w of due) w.resolve();
  }
}
