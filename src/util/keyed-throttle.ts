import { realScheduler, type Scheduler } from "./scheduler";

interface Slot<T> {
  timer: unknown;
  pending: T | undefined;
}

/**
 * Lets at most one item per key through every `intervalMs`: the first at once (the caller sends
 * it), and the latest of those that came in between through `emit` when the interval ends, so the
 * newest state is never held back for good. A key's slot disappears one quiet interval after its
 * last item.
 */
export class KeyedThrottle<T> {
  private readonly slots = new Map<string, Slot<T>>();

  constructor(
    private readonly intervalMs: number,
    private readonly emit: (item: T, key: string) => void,
    private readonly scheduler: Scheduler = realScheduler,
  ) {}

  /** True: send the item now. False: it is held, and leaves through `emit` unless superseded. */
  push(key: string, item: T): boolean {
    const slot = this.slots.get(key);
    if (slot) {
      slot.pending = item;
      return false;
    }
    this.open(key);
    return true;
  }

  /** Drops what waits under a key (for example when a final result supersedes it). */
  cancel(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.scheduler.clearTimeout(slot.timer);
    this.slots.delete(key);
  }

  /** Drops every waiting item and timer. */
  clear(): void {
    for (const key of [...this.slots.keys()]) this.cancel(key);
  }

  get size(): number {
    return this.slots.size;
  }

  /** Whether a key has an interval running. */
  has(key: string): boolean {
    return this.slots.has(key);
  }

  private open(key: string): void {
    const slot: Slot<T> = { pending: undefined, timer: undefined };
    slot.timer = this.scheduler.setTimeout(() => this.close(key, slot), this.intervalMs);
    this.slots.set(key, slot);
  }

  private close(key: string, slot: Slot<T>): void {
    this.slots.delete(key);
    if (slot.pending === undefined) return;
    this.open(key);
    this.emit(slot.pending, key);
  }
}
