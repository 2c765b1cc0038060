import { backstop } from "./backstop";
import { guard, safeDelay } from "./guard";

/** The clock and timers a component uses, injectable so that tests can drive time by hand. */
export interface Scheduler {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Node's clock and timers. Every callback is guarded: a component passes its own error path with
 * `guardedScheduler`; one that forgot still cannot stop the process (see `backstop`).
 */
export const realScheduler: Scheduler = {
  now: () => Date.now(),
  // eslint-disable-next-line no-restricted-globals -- the one place that reaches Node's timers
  setTimeout: (fn, ms) => setTimeout(guard(fn, backstop), safeDelay(ms)),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The same clock with every timer callback guarded: a component that owns timers takes its scheduler
 * through this, so a throw in any of them ends that component (its `onError`), never the process.
 */
export function guardedScheduler(base: Scheduler, onError: (err: Error) => void): Scheduler {
  return {
    now: () => base.now(),
    setTimeout: (fn, ms) => base.setTimeout(guard(fn, onError), ms),
    clearTimeout: (handle) => base.clearTimeout(handle),
  };
}

/**
 * A guarded timer that does not keep the process alive (`unref`): for bookkeeping that must not hold
 * up Node-RED's shutdown, such as messages held across a deploy.
 */
export function backgroundTimeout(fn: () => void, ms: number): NodeJS.Timeout {
  // eslint-disable-next-line no-restricted-globals -- guarded here
  const handle = setTimeout(guard(fn, backstop), safeDelay(ms));
  handle.unref();
  return handle;
}
