import type { Node, NodeAPI } from "node-red";
import type { RecoveryReport } from "../../src/hospital/queue/durable-queue";
import type { TlsHold } from "../../src/hospital/queue/outcomes";
import { explainTlsCode } from "../../src/hospital/tls-options";

/**
 * What the sender nodes of a durable destination (mllp-out, fhir-document) tell Catch and the log
 * alike, each in its own catalog's words: a journal that was not clean when the queue opened, and
 * a destination held by a TLS certificate that no retry can mend.
 */

export type SenderType = "mllp-out" | "fhir-document";

/**
 * Reports what opening the journal found: a torn last write to the log, damage in the middle to
 * Catch (how many bytes, places and records, and the file the damaged bytes were kept in, beside
 * the journal). Returns the records that could not be read (0 when none), for the status.
 */
export function reportRecovery(
  RED: NodeAPI,
  node: Node,
  type: SenderType,
  destination: string,
  report: RecoveryReport,
): number {
  if (report.tornBytes > 0) {
    node.warn(RED._(`${type}.errors.journalTorn`, { destination, bytes: report.tornBytes }));
  }
  const damage = report.damage;
  if (!damage) return 0;
  const kept = [
    damage.keptIn ? RED._(`${type}.errors.damageKept`, { file: damage.keptIn }) : "",
    damage.notKeptBytes > 0 ? RED._(`${type}.errors.damageNotKept`, { bytes: damage.notKeptBytes }) : "",
  ];
  // node.error(err, msg): the form Catch nodes see.
  node.error(
    new Error(
      RED._(`${type}.errors.journalDamaged`, {
        destination,
        bytes: damage.bytes,
        spans: damage.spans,
        records: damage.records,
        kept: kept.filter((k) => k).join(" "),
      }),
    ),
    {},
  );
  return damage.records;
}

/** The catalog keys of each hold: the error told once per change, and the status while it lasts. */
const HOLD_KEYS = new Map<TlsHold["reason"], { error: string; status: string }>([
  ["tls-certificate", { error: "tlsRejected", status: "tlsRejected" }],
  ["tls-client-certificate", { error: "tlsClientRefused", status: "tlsClientRefused" }],
]);

/** The error for Catch when the destination's messages start being held by `hold`. */
export function tlsHoldError(
  RED: NodeAPI,
  type: SenderType,
  hold: TlsHold,
  destination: string,
  delayMs: number,
): Error {
  return new Error(
    RED._(`${type}.errors.${HOLD_KEYS.get(hold.reason)?.error ?? "tlsRejected"}`, {
      code: hold.code,
      why: explainTlsCode(hold.code),
      destination,
      minutes: Math.round(delayMs / 60_000),
    }),
  );
}

/** The status catalog key while the destination is held by `hold`. */
export function tlsHoldStatusKey(type: SenderType, hold: TlsHold): string {
  return `${type}.status.${HOLD_KEYS.get(hold.reason)?.status ?? "tlsRejected"}`;
}
