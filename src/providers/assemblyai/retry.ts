/**
 * What to do when an AssemblyAI connection closes. v3 has no session resume: every retry opens a new
 * session (new id, clocks restart at 0), so the caller replays unconfirmed audio and shifts times.
 */

export type FailureKind =
  | "auth"
  | "validation"
  | "inactivity"
  | "framing"
  | "retries-exhausted"
  /** A throw inside the session's own machinery (a bug): that session ends, the process goes on. */
  | "internal";

export type CloseDecision =
  /** Closed after Termination (or by us): nothing to do. */
  | { action: "done" }
  /** Transient: reconnect; `backoff` when the service asked us to slow down. */
  | { action: "retry"; backoff: boolean }
  /** Maximum session duration reached: open a new session straight away. */
  | { action: "new-session" }
  /** Retrying cannot help: surface the error. */
  | { action: "fail"; kind: Exclude<FailureKind, "retries-exhausted" | "internal"> };

const CONCURRENCY = /too many concurrent sessions/i;
const INACTIVITY = /terminated due to inactivity/i;

/**
 * Classifies a close by its code and the text of the Error frame before it (the close reason is
 * usually only "See Error message for details"). 1008 is both auth and concurrency: the text decides.
 */
export function classifyClose(code: number, errorText = "", terminateSent = false): CloseDecision {
  switch (code) {
    case 1000:
      // A normal close before we sent Terminate is unexpected while streaming: the session ended under us.
      return terminateSent ? { action: "done" } : { action: "retry", backoff: false };
    case 1008:
      return CONCURRENCY.test(errorText)
        ? { action: "retry", backoff: true }
        : { action: "fail", kind: "auth" };
    case 3006:
      // The service's inactivity_timeout also closes with 3006; it is not a bug in the request.
      return { action: "fail", kind: INACTIVITY.test(errorText) ? "inactivity" : "validation" };
    case 3007:
      return { action: "fail", kind: "framing" };
    case 3008:
      return { action: "new-session" };
    case 3009:
    case 1013:
      return { action: "retry", backoff: true };
    case 1006:
    case 1011:
    case 3005:
      return { action: "retry", backoff: false };
    // The v2 API's codes (research/assemblyai.md §4.3): v3 does not send them, but a proxy, an older
    // endpoint or an emulator may. The ones that say retrying cannot help are not retried: without
    // this, a refused key or an empty account would be retried for as long as audio kept arriving.
    case 4001: // not authorised
    case 4002: // insufficient funds
    case 4003: // a paid-only feature on a free account
      return { action: "fail", kind: "auth" };
    case 4000: // bad sample rate
    case 4100: // invalid JSON
    case 4101: // invalid message
      return { action: "fail", kind: "validation" };
    case 4029: // audio sent too fast
    case 4032: // audio too short
    case 4033: // audio too long
      return { action: "fail", kind: "framing" };
    case 4031: // idle for too long
      return { action: "fail", kind: "inactivity" };
    case 4008: // session expired
      return { action: "new-session" };
    default:
      // Unknown codes (proxies, future codes): retry, politely.
      return { action: "retry", backoff: true };
  }
}

export interface RetryPolicy {
  /** Consecutive failed connections allowed before giving up. */
  maxRetries: number;
  /** First delay for a transient failure; doubles per attempt. */
  retryDelayMs: number;
  /** First delay when the service asked to back off (concurrency, 1013); doubles per attempt. */
  backoffDelayMs: number;
  maxDelayMs: number;
  /**
   * After `maxRetries` failures in a row the session keeps reconnecting while audio keeps arriving
   * (an outage during a live encounter), at most this far apart.
   */
  outageDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxRetries: 5,
  retryDelayMs: 250,
  backoffDelayMs: 2000,
  maxDelayMs: 30000,
  outageDelayMs: 5000,
};

/** Delay before reconnect attempt `attempt` (1-based); a new session after 3008 goes at once. */
export function retryDelay(decision: CloseDecision, attempt: number, policy: RetryPolicy): number {
  if (decision.action === "new-session") return 0;
  if (decision.action !== "retry") return 0;
  const base = decision.backoff ? policy.backoffDelayMs : policy.retryDelayMs;
  return Math.min(policy.maxDelayMs, base * 2 ** Math.max(0, attempt - 1));
}
