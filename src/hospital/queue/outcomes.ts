import type { FhirOutcome } from "../fhir/send";
import { isRetryableFhir } from "../fhir/send";
import type { DeliveryOutcome } from "../mllp/client";
import { isRetryable } from "../mllp/client";
import type { AttemptResult } from "./durable-queue";

/**
 * How a transport's final outcome maps onto the durable queue: delivered; a receiver that was busy
 * or unreachable once the transport's own retries ran out (kept, tried again after a backoff);
 * held by a TLS certificate (kept, tried again after a long hold); closed under the attempt (kept,
 * sent after the restart); or a final answer (ended, not resent).
 */

/**
 * How long a message waits after a TLS certificate failed the handshake (this node rejected the
 * receiver's, or the receiver refused ours): long, since only a changed setting (a deploy, which
 * retries at once) or a renewed certificate or trusted CA on the receiver helps, yet short enough
 * that a receiver fixed on its side is reached again within minutes.
 */
export const CERTIFICATE_HOLD_MS = 5 * 60 * 1000;

/** The queue's `lastError` for a rejected certificate: "tls-certificate CERT_HAS_EXPIRED". */
export const TLS_CERTIFICATE_ERROR = "tls-certificate";
/** The queue's `lastError` for our client certificate refused: "tls-client-certificate ERR_SSL_…". */
export const TLS_CLIENT_CERTIFICATE_ERROR = "tls-client-certificate";

/** A destination held by a TLS certificate: which side's, and the TLS code. */
export interface TlsHold {
  reason: typeof TLS_CERTIFICATE_ERROR | typeof TLS_CLIENT_CERTIFICATE_ERROR;
  code: string;
}

/** The hold a queue's `lastError` records, or undefined for any other error. */
export function tlsHoldOf(lastError: string | undefined): TlsHold | undefined {
  for (const reason of [TLS_CERTIFICATE_ERROR, TLS_CLIENT_CERTIFICATE_ERROR] as const) {
    if (lastError?.startsWith(`${reason} `)) return { reason, code: lastError.slice(reason.length + 1) };
  }
  return undefined;
}

/** Whether two holds are the same (both none, or the same side and code): a change is told once. */
export function sameHold(a: TlsHold | undefined, b: TlsHold | undefined): boolean {
  return a?.reason === b?.reason && a?.code === b?.code;
}

/** Kept queued (a configuration error loses no document), tried again only after a long hold. */
function held<R>(reason: TlsHold["reason"], code: string | undefined): AttemptResult<R> {
  return { kind: "retry", error: `${reason} ${code ?? "error"}`, holdMs: CERTIFICATE_HOLD_MS };
}

export function mllpAttempt(outcome: DeliveryOutcome): AttemptResult<DeliveryOutcome> {
  if (outcome.status === "accepted") return { kind: "delivered", result: outcome };
  if (outcome.reason === "client-closed") return { kind: "stopped" };
  if (outcome.reason === "tls-certificate" || outcome.reason === "tls-client-certificate") {
    return held(outcome.reason, outcome.tlsCode);
  }
  if (isRetryable(outcome.reason)) return { kind: "retry", error: outcome.reason };
  return { kind: "rejected", result: outcome, why: outcome.reason };
}

export function fhirAttempt(outcome: FhirOutcome): AttemptResult<FhirOutcome> {
  if (outcome.status === "delivered") return { kind: "delivered", result: outcome };
  if (outcome.reason === "closed") return { kind: "stopped" };
  if (outcome.reason === "tls-certificate" || outcome.reason === "tls-client-certificate") {
    return held(outcome.reason, outcome.tlsCode);
  }
  if (isRetryableFhir(outcome)) {
    return {
      kind: "retry",
      error: outcome.httpStatus !== undefined ? `${outcome.reason} ${outcome.httpStatus}` : outcome.reason,
    };
  }
  return { kind: "rejected", result: outcome, why: outcome.reason };
}
