import { performance } from "node:perf_hooks";

/**
 * Runs `work` while a timer scheduled every 10 ms counts how often it gets to run. Work that holds the
 * event loop in one block lets it fire at most once or twice however long it takes; work in slices lets
 * it fire all along. Tests assert on the count, not on milliseconds, to stay machine-independent.
 */
export async function withTicks<T>(
  work: () => Promise<T> | T,
): Promise<{ value: T; ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, 10);
  const t0 = performance.now();
  try {
    const value = await work();
    return { value, ticks, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}
