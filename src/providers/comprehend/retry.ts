import type { Scheduler } from "../../util/scheduler";
import { classifyServiceError, EntitiesError } from "./errors";

/**
 * Back-off for throttled or failing requests: "full jitter" (a random pause from 0 to
 * min(capMs, baseMs·2^attempt)), so that many nodes throttled together do not come back together.
 * Bounded by `maxAttempts` (the first try included); the last error is reported.
 */
export interface RetryPolicy {
  maxAttempts: number;
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 4, baseMs: 250, capMs: 4000 };

/** The pause before retry number `attempt` (1 = the first retry), for a random number in [0, 1). */
export function backoffMs(policy: RetryPolicy, attempt: number, random: number): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random * ceiling);
}

/** Resolves after `ms`, or rejects at once with ABORTED when `signal` aborts. */
export function pause(scheduler: Scheduler, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new EntitiesError("ABORTED", "The request was cancelled (node stopped)."));
      return;
    }
    const onAbort = (): void => {
      scheduler.clearTimeout(handle);
      reject(new EntitiesError("ABORTED", "The request was cancelled (node stopped)."));
    };
    const handle = scheduler.setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Runs `attempt` until it succeeds, fails with an error that is not retryable, or `policy.maxAttempts`
 * tries were made. Errors come out classified (EntitiesError), never with the service's own text.
 * `onRetry` hears of each retry (for counting; it gets no text).
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  opts: {
    policy: RetryPolicy;
    scheduler: Scheduler;
    signal: AbortSignal;
    random?: () => number;
    onRetry?: (code: string, attempt: number) => void;
  },
): Promise<T> {
  const random = opts.random ?? Math.random;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const e = classifyServiceError(err);
      if (opts.signal.aborted)
        throw new EntitiesError("ABORTED", "The request was cancelled (node stopped).");
      if (!e.retryable || n >= opts.policy.maxAttempts) throw e;
      opts.onRetry?.(e.code, n);
      await pause(opts.scheduler, backoffMs(opts.policy, n, random()), opts.signal);
    }
  }
}
