import { strict as assert } from "node:assert";
import type { FhirOutcome } from "../../../../src/hospital/fhir/send";
import type { DeliveryOutcome } from "../../../../src/hospital/mllp/client";
import {
  CERTIFICATE_HOLD_MS,
  fhirAttempt,
  mllpAttempt,
  sameHold,
  tlsHoldOf,
} from "../../../../src/hospital/queue/outcomes";

/** How a TLS refusal maps onto the durable queue: kept, held 5 min, with its code in lastError. */
describe("queue outcomes of a TLS certificate either side refused", () => {
  const mllp = (reason: "tls-certificate" | "tls-client-certificate", tlsCode: string): DeliveryOutcome => ({
    status: "rejected",
    controlId: "C-1",
    attempts: 1,
    reason,
    detail: "d",
    tlsCode,
  });
  const fhir = (reason: "tls-certificate" | "tls-client-certificate", tlsCode: string): FhirOutcome => ({
    status: "rejected",
    attempts: 1,
    reason,
    detail: "d",
    issues: [],
    tlsCode,
  });

  it("holds MLLP and FHIR alike, for the receiver's certificate and for ours", () => {
    for (const [attempt, error] of [
      [mllpAttempt(mllp("tls-certificate", "CERT_HAS_EXPIRED")), "tls-certificate CERT_HAS_EXPIRED"],
      [fhirAttempt(fhir("tls-certificate", "CERT_HAS_EXPIRED")), "tls-certificate CERT_HAS_EXPIRED"],
      [
        mllpAttempt(mllp("tls-client-certificate", "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA")),
        "tls-client-certificate ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
      ],
      [
        fhirAttempt(fhir("tls-client-certificate", "MUTUAL_TLS_CLOSED")),
        "tls-client-certificate MUTUAL_TLS_CLOSED",
      ],
    ] as const) {
      assert.deepEqual(attempt, { kind: "retry", error, holdMs: CERTIFICATE_HOLD_MS });
    }
    assert.equal(CERTIFICATE_HOLD_MS, 5 * 60 * 1000);
  });

  it("reads the hold back from lastError, and no hold from any other error", () => {
    assert.deepEqual(tlsHoldOf("tls-client-certificate MUTUAL_TLS_CLOSED"), {
      reason: "tls-client-certificate",
      code: "MUTUAL_TLS_CLOSED",
    });
    assert.deepEqual(tlsHoldOf("tls-certificate CERT_HAS_EXPIRED"), {
      reason: "tls-certificate",
      code: "CERT_HAS_EXPIRED",
    });
    for (const other of [undefined, "network", "connect-failed", "http-error 503", "tls-certificates X"]) {
      assert.equal(tlsHoldOf(other), undefined, String(other));
    }
    assert.ok(sameHold(undefined, undefined));
    assert.ok(!sameHold(tlsHoldOf("tls-certificate A"), tlsHoldOf("tls-client-certificate A")));
    assert.ok(!sameHold(tlsHoldOf("tls-certificate A"), tlsHoldOf("tls-certificate B")));
  });
});
