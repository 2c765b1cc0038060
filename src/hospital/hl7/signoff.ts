import { createHash } from "node:crypto";
import type { Signoff } from "../../review/record";
import type { TranscriptDocument } from "../../transcript/document";
import {
  buildHl7,
  entityIdentifier,
  Hl7ConformanceError,
  hl7Time,
  type Hl7Encounter,
  type Hl7Options,
  type Hl7Patient,
  type ShortenedIdentifier,
} from "./build";
import { components } from "./escape";
import { checkConformance } from "./v251-fields";

/**
 * The MDM message for a document a clinician has signed, corrected, extended or withdrawn in
 * review-queue (HL7 v2.5.1 ch. 9, http://www.hl7.eu/HL7v2x/v27/std27/ch09.html; research/hospital.md
 * §1.8): the same PID, PV1 and text as the preliminary T02, with
 * - MSH-9 MDM^<trigger>^MDM_T02 (T04/T06/T08 carry content) or MDM^T11^MDM_T01 (cancel: no OBX);
 * - MSH-10 a new control id (the T02's is taken: receivers de-duplicate on it);
 * - TXA-12 the same unique document number as the T02 (an addendum has its own, and TXA-13 = the parent);
 * - TXA-10 and TXA-22 (PPN, component 15 = the time) the signer; TXA-17 AU or LA; TXA-19 AV,
 *   or CA (table 0273 "deleted") for a withdrawal;
 * - OBX-11 F final, C a correction of a final result, W "post original as wrong, e.g. transmitted for
 *   wrong patient" (table 0085, https://terminology.hl7.org/CodeSystem-v2-0085.html) for a withdrawal
 *   after signing; TXA-19 codes from table 0273 (https://terminology.hl7.org/CodeSystem-v2-0273.html).
 * buildHl7 makes the segments; this changes only the fields above, so the two cannot drift apart.
 */
export interface BuiltSignedHl7 {
  message: string;
  messageType: string;
  controlId: string;
  documentId: string;
  segmentCount: number;
  obxCount: number;
  /** Identifiers sent in short form to fit their v2.5.1 field, with their originals. */
  shortened: ShortenedIdentifier[];
}

export function signedControlId(documentId: string, signoff: Signoff): string {
  return createHash("sha256")
    .update(`${documentId}|${signoff.trigger}|${signoff.version}`)
    .digest("hex")
    .slice(0, 20);
}

export function buildSignedHl7(
  document: TranscriptDocument,
  signoff: Signoff,
  patient: Hl7Patient,
  encounter: Hl7Encounter,
  options: Hl7Options,
  now: Date,
): BuiltSignedHl7 {
  const base = buildHl7(document, patient, encounter, { ...options, messageType: "MDM^T02" }, now);
  const namespace = options.documentIdNamespace || options.sendingApplication;
  const trigger = signoff.trigger;
  const structure = trigger === "T11" ? "MDM_T01" : "MDM_T02";
  const controlId = signedControlId(document.documentId, signoff);
  const withdrawn = signoff.event === "withdraw";
  const signed = !withdrawn || signoff.wasSigned === true;
  const signer = components(signoff.signer);
  const obxStatus = withdrawn ? "W" : signoff.event === "amend" ? "C" : "F";

  const out: string[] = [];
  let obxCount = 0;
  const shortened = [...base.shortened];
  // buildHl7 ends every segment with CR, the last one included.
  for (const segment of base.message.replace(/\r$/, "").split("\r")) {
    const f = segment.split("|");
    switch (f[0]) {
      case "MSH":
        f[8] = `MDM^${trigger}^${structure}`;
        f[9] = controlId;
        break;
      case "EVN":
        f[1] = trigger;
        break;
      case "TXA":
        while (f.length < 23) f.push("");
        f[10] = signed ? signer : ""; // TXA-10 assigned document authenticator
        if (signoff.parentDocumentId)
          f[13] = entityIdentifier(signoff.parentDocumentId, namespace, "TXA", 13, shortened);
        f[17] = signed ? signoff.completionStatus : options.completionStatus;
        f[19] = withdrawn ? "CA" : "AV";
        // TXA-22 PPN: ID ^ family ^ … ^ component 15, the date/time of the authentication.
        f[22] = signed ? `${signer}${"^".repeat(14)}${hl7Time(signoff.at)}` : "";
        break;
      case "OBX":
        if (trigger === "T11") continue; // a cancel notification carries no content
        f[11] = obxStatus;
        obxCount++;
        break;
    }
    out.push(trimFields(f));
  }
  // The changed fields are checked like every field buildHl7 writes.
  const violations = checkConformance(out);
  if (violations.length > 0) throw new Hl7ConformanceError(violations);
  return {
    message: `${out.join("\r")}\r`,
    messageType: `MDM^${trigger}`,
    controlId,
    documentId: document.documentId,
    segmentCount: out.length,
    obxCount,
    shortened,
  };
}

function trimFields(fields: string[]): string {
  const copy = [...fields];
  while (copy.length > 1 && copy[copy.length - 1] === "") copy.pop();
  return copy.join("|");
}
