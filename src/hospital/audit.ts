import { createHash } from "node:crypto";

/**
 * A PHI-free audit event for every send and every answer: who (node), what (document, message
 * ids, destination alias), when, outcome. It never carries transcript text, patient identifiers,
 * addresses with query strings, or what a receiver wrote back (MSA-3/ERR and OperationOutcome
 * texts may echo content).
 */
export interface AuditEvent {
  /** ISO 8601 UTC. */
  time: string;
  /** Node id and type: who acted. */
  nodeId: string;
  nodeType: string;
  /** The configured name of the destination (config node name), never its address. */
  destination: string;
  protocol: "mllp" | "fhir";
  event: AuditEventType;
  documentId?: string;
  /** MSH-10 for HL7; the Bundle's id for FHIR. */
  messageId?: string;
  messageType?: string;
  attempt?: number;
  /** AA/AE/AR/CA/CE/CR, an HTTP status, or a reason such as ack-timeout. */
  outcome?: string;
  bytes?: number;
  /** SHA-256 of the bytes sent: proves what was sent without holding it. */
  sha256?: string;
  delayMs?: number;
}

export type AuditEventType = "send" | "ack" | "attempt-failed" | "retry" | "delivered" | "rejected";

export function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
