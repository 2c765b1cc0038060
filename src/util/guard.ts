/**
 * Wraps a callback that runs outside any handler (a timer, a socket or stream event, a promise
 * continuation nobody awaits) so that a throw reaches `onError` instead of the process: in Node-RED an
 * uncaught exception stops the whole runtime, and with it every flow in the building.
 */
export function guard<A extends unknown[]>(
  fn: (...args: A) => void,
  onError: (err: Error) => void,
): (...args: A) => void {
  return (...args: A) => {
    try {
      // eslint-disable-next-line no-restricted-syntax -- a call's own arguments, never a long array
      fn(...args);
    } catch (err) {
      reportSafely(onError, err);
    }
  };
}

/** Runs `fn` now; a throw goes to `onError`. For one-off bodies (an event handler written inline). */
export function runGuarded(fn: () => void, onError: (err: Error) => void): void {
  try {
    fn();
  } catch (err) {
    reportSafely(onError, err);
  }
}

/** A rejection of a promise nobody awaits goes to `onError` instead of becoming an unhandled rejection. */
export function settleGuarded(promise: Promise<unknown>, onError: (err: Error) => void): void {
  promise.then(undefined, (err: unknown) => reportSafely(onError, err));
}

/**
 * A delay Node accepts: Node turns NaN, negative and over-2^31-1 delays into 1 ms with a warning on
 * stderr, so a bad number from a flow would make a timer fire at once, over and over.
 */
export function safeDelay(ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) return 0;
  return Math.min(ms, MAX_TIMER_MS);
}

/** The longest delay Node's timers keep (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function reportSafely(onError: (err: Error) => void, err: unknown): void {
  try {
    onError(asError(err));
  } catch {
    // The reporter itself failed (a node already closed): nothing is left to tell, and the process
    // must not stop for it.
  }
}
