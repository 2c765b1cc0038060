import { performance } from "node:perf_hooks";

/**
 * Long synchronous work in slices, so that one Node-RED process carrying hundreds of live sessions
 * never holds its event loop for more than a few milliseconds at a time (docs/performance.md,
 * "Event-loop holds"). A loop calls `slicer.due()` cheaply per item and awaits `slicer.pause()` when it
 * says so; the pause lets timers, sockets and other sessions run before the loop goes on.
 */

/** Resolves after the event loop has run its pending I/O and timers once (a `setImmediate` turn). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    // eslint-disable-next-line no-restricted-globals -- resolve() cannot throw: nothing to guard
    setImmediate(resolve);
  });
}

/** The longest a slice runs before it gives the event loop a turn. */
export const SLICE_MS = 8;

export class Slicer {
  private sliceStart = performance.now();
  private count = 0;

  /** @param checkEvery how many `due()` calls between two reads of the clock (reading it costs). */
  constructor(
    private readonly sliceMs = SLICE_MS,
    private readonly checkEvery = 32,
  ) {}

  /** True when the current slice has run its time; then await `pause()`. */
  due(): boolean {
    if (++this.count < this.checkEvery) return false;
    this.count = 0;
    return performance.now() - this.sliceStart >= this.sliceMs;
  }

  /** Gives the event loop a turn and starts a new slice. */
  async pause(): Promise<void> {
    await nextTurn();
    this.sliceStart = performance.now();
    this.count = 0;
  }
}
