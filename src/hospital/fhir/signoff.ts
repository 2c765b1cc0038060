import { createHash } from "node:crypto";
import type { BundleEntry, DocumentReference, Provenance } from "@medplum/fhirtypes";
import type { Signoff } from "../../review/record";
import type { TranscriptDocument } from "../../transcript/document";
import {
  buildFhirBundle,
  type BuiltBundle,
  type FhirEncounter,
  type FhirOptions,
  type FhirPatient,
} from "./bundle";
import { signNoteComposition } from "./composition";

// Types only: @medplum/fhirtypes is a devDependency and nothing of it exists at run time.

/**
 * The FHIR transaction for a document a clinician signed, corrected, extended or withdrawn in
 * review-queue (research/hospital.md §2.1, §2.4):
 * - sign: the same DocumentReference (conditional update on its identifier, so no second copy)
 *   with docStatus `final` ("complete and verified by an appropriate person",
 *   https://hl7.org/fhir/R4/valueset-composition-status.html), `authenticator` the signer;
 * - amend (a correction after signing): the same, docStatus `amended`;
 * - addendum: a new DocumentReference (own identifier) with relatesTo `appends` the signed one
 *   (https://hl7.org/fhir/R4/valueset-document-relationship-type.html);
 * - withdraw: the same DocumentReference with status and docStatus `entered-in-error`;
 * and a Provenance naming the signer as agent (provenance-participant-type `attester`, or `legal`
 * for TXA-17 LA), beside the machine that made the first text (`assembler`).
 */
export function buildSignedFhirBundle(
  document: TranscriptDocument,
  signoff: Signoff,
  patient: FhirPatient,
  encounter: FhirEncounter,
  options: FhirOptions,
  now: Date,
): BuiltBundle {
  const built = buildFhirBundle(document, patient, encounter, options, now);
  const [docEntry, provEntry] = built.bundle.entry as [BundleEntry, BundleEntry];
  const doc = docEntry.resource as DocumentReference;
  const prov = provEntry.resource as Provenance;
  const signer = { display: signoff.signer };

  if (signoff.event === "withdraw") {
    doc.status = "entered-in-error";
    doc.docStatus = "entered-in-error";
    doc.description = "Withdrawn (entered in error)";
  } else {
    doc.docStatus = signoff.event === "amend" ? "amended" : "final";
    doc.authenticator = signer;
    doc.description =
      signoff.event === "amend" ? "Transcript, corrected after signing" : "Reviewed and signed transcript";
  }
  if (signoff.event === "addendum" && signoff.parentDocumentId) {
    const parent =
      options.identifierSystem === "urn:ietf:rfc:3986"
        ? `urn:uuid:${signoff.parentDocumentId}`
        : signoff.parentDocumentId;
    doc.relatesTo = [
      { code: "appends", target: { identifier: { system: options.identifierSystem, value: parent } } },
    ];
  } else {
    // The same resource as the preliminary: a conditional update finds it by its identifier.
    docEntry.request = { method: "PUT", url: `DocumentReference?${built.ifNoneExist}` };
  }

  prov.recorded = signoff.at;
  const operation =
    signoff.event === "withdraw" ? "NULLIFY" : signoff.event === "addendum" ? "CREATE" : "UPDATE";
  prov.activity = {
    coding: [
      {
        system: "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
        code: operation,
        display: operation.toLowerCase(),
      },
    ],
  };
  const role =
    signoff.event === "withdraw" ? "performer" : signoff.completionStatus === "LA" ? "legal" : "attester";
  prov.agent = [
    {
      type: {
        coding: [{ system: "http://terminology.hl7.org/CodeSystem/provenance-participant-type", code: role }],
      },
      who: signer,
    },
    ...prov.agent,
  ];
  if (signoff.reason) prov.reason = [{ text: signoff.reason }];
  signNoteComposition(built, signoff);
  return built;
}

/**
 * The Bundle.identifier of a sign-off transaction. A receiver drops a Bundle whose identifier it has
 * seen (docs/delivery.md), so each sign-off event of a document needs its own, and the same one on
 * every resend of that event: a UUID URN derived from the document, the event and its version.
 */
export function signoffBundleIdentifier(
  documentIdentifier: { system: string; value: string },
  signoff: Signoff,
): { system: string; value: string } {
  const h = createHash("sha256")
    .update(`${documentIdentifier.system}|${documentIdentifier.value}|${signoff.trigger}|${signoff.version}`)
    .digest("hex");
  // RFC 4122 layout, version 5-style bits (name-based, SHA hash).
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
  return { system: "urn:ietf:rfc:3986", value: `urn:uuid:${uuid}` };
}
