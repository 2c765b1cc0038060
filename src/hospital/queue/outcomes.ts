import type { FhirOutcome } from "../fhir/send";
import { isRetryableFhir } from "../fhir/send";
import type { DeliveryOutcome } from "../mllp/client";
import { isRetryable } from "../mllp/client";
import type { AttemptResult } from "./durable-queue";

/**
 * How a transport's final outcome maps onto the durable queue: delivered; a receiver that was busy
 * or unreachable once the transport's own retries ran out (kept, tried again after a backoff);
 * closed under the attempt (kept, sent after the restart); or a final answer (ended, not resent).
 */
/**
 * How long a message waits after this node rejected the receiver's TLS certificate: long, since only
 * a changed setting (a deploy, which retries at once) or a renewed certificate on the receiver helps,
 * yet short enough that a receiver fixed on its side is reached again within minutes.
 */
export const CERTIFICATE_HOLD_MS = 5 * 60 * 1000;

/** The queue's `lastError` for a rejected certificate: "tls-certificate CERT_HAS_EXPIRED". */
export const TLS_CERTIFICATE_ERROR = "tls-certificate";

export function mllpAttempt(outcome: DeliveryOutcome): AttemptResult<DeliveryOutcome> {
  if (outcome.status === "accepted") return { kind: "delivered", result: outcome };
  if (outcome.reason === "client-closed") return { kind: "stopped" };
  if (outcome.reason === "tls-certificate") {
    // Kept queued (a configuration error loses no document), tried again only after a long hold.
    return {
      kind: "retry",
      error: `${TLS_CERTIFICATE_ERROR} ${outcome.tlsCode ?? "error"}`,
      holdMs: CERTIFICATE_HOLD_MS,
    };
  }
  if (isRetryable(outcome.reason)) return { kind: "retry", error: outcome.reason };
  return { kind: "rejected", result: outcome, why: outcome.reason };
}

export function fhirAttempt(outcome: FhirOutcome): AttemptResult<FhirOutcome> {
  if (outcome.status === "delivered") return { kind: "delivered", result: outcome };
  if (outcome.reason === "closed") return { kind: "stopped" };
  if (isRetryableFhir(outcome)) {
    return {
      kind: "retry",
      error: outcome.httpStatus !== undefined ? `${outcome.reason} ${outcome.httpStatus}` : outcome.reason,
    };
  }
  return { kind: "rejected", result: outcome, why: outcome.reason };
}
