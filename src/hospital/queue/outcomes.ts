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
export function mllpAttempt(outcome: DeliveryOutcome): AttemptResult<DeliveryOutcome> {
  if (outcome.status === "accepted") return { kind: "delivered", result: outcome };
  if (outcome.reason === "client-closed") return { kind: "stopped" };
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
