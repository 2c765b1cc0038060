import { createHash, randomUUID } from "node:crypto";
import type {
  Bundle,
  BundleEntry,
  Coding,
  DocumentReference,
  Provenance,
  Resource,
} from "@medplum/fhirtypes";
import type { TranscriptDocument } from "../../transcript/document";
import { fieldText, objectField } from "../field-text";
import { entityEntries, readCodedEntities } from "./entities";
import { withNoteComposition } from "./composition";

// Types only: @medplum/fhirtypes is a devDependency and nothing of it exists at run time.

export type SecurityLabel = "DICTAST" | "AIAST";
export const SECURITY_LABELS: readonly SecurityLabel[] = ["DICTAST", "AIAST"];

export interface FhirOptions {
  /** DocumentReference.type: the LOINC note code, e.g. 11506-3 Progress note (34109-9 Note as a generic). */
  loincCode: string;
  loincText: string;
  /** meta.security labels from v3-ObservationValue: DICTAST dictation-asserted, AIAST AI-asserted. */
  securityLabels: SecurityLabel[];
  /** System of the document identifier; the value is urn:uuid:<documentId> for the default system. */
  identifierSystem: string;
  /** Provenance agent name; default: "<provider> speech recognition (machine transcript)". */
  agentName?: string;
}

export const DEFAULT_FHIR_OPTIONS: FhirOptions = {
  loincCode: "11506-3",
  loincText: "Progress note",
  securityLabels: ["DICTAST"],
  identifierSystem: "urn:ietf:rfc:3986",
};

/** Who the document is about: a literal reference, or a logical one by identifier. */
export interface FhirPatient {
  reference?: string;
  id?: string;
  /** URI of the identifier system, e.g. the hospital's MRN system. */
  idSystem?: string;
  display?: string;
}

export interface FhirEncounter {
  reference?: string;
  author?: { reference?: string; display?: string };
}

/** A required FHIR element with no usable value; names the message property, never a value. */
export class FhirFieldError extends Error {
  override readonly name = "FhirFieldError";
  readonly code = "FHIR_FIELD_MISSING";
  constructor(
    readonly property: string,
    readonly element: string,
    hint: string,
  ) {
    super(`${property} is required for ${element}: ${hint}`);
  }
}

/**
 * msg.patient (or the patient setting) as the DocumentReference subject; `property` names where it
 * came from in errors. Throws FhirFieldError for a missing subject and FieldValueError for a value
 * of the wrong kind (NaN, an object, text over 1024 characters), naming the property, never the value.
 */
export function checkFhirPatient(value: unknown, property: string): FhirPatient {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new FhirFieldError(
      property,
      "DocumentReference.subject",
      "an object {reference} or {id, idSystem?}",
    );
  }
  const v = value as Record<string, unknown>;
  const reference = fieldText(v, "reference", property);
  const id = fieldText(v, "id", property);
  if (!reference && !id) {
    throw new FhirFieldError(
      `${property}.reference or ${property}.id`,
      "DocumentReference.subject",
      'a Patient reference such as "Patient/123", or the patient identifier',
    );
  }
  return { reference, id, idSystem: fieldText(v, "idSystem", property) };
}

/** msg.encounter (or the encounter setting): optional; anything but an object counts as none. */
export function checkFhirEncounter(value: unknown, property = "msg.encounter"): FhirEncounter {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const v = value as Record<string, unknown>;
  const a = objectField(v, "author") ?? {};
  const author = {
    reference: fieldText(a, "reference", `${property}.author`),
    display: fieldText(a, "display", `${property}.author`),
  };
  return {
    reference: fieldText(v, "reference", property),
    ...(author.reference || author.display ? { author } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BuiltBundle {
  bundle: Bundle;
  /** The DocumentReference's identifier: what `ifNoneExist` searches for. */
  identifier: { system: string; value: string };
  ifNoneExist: string;
}

/**
 * A transaction Bundle of a DocumentReference (preliminary: nobody has reviewed the machine
 * transcript) and a Provenance saying a machine made it. The document id is the identifier and
 * the masterIdentifier, and `ifNoneExist` on it lets a server that supports conditional create
 * answer a resend with the existing resource instead of a second copy.
 */
export function buildFhirBundle(
  document: TranscriptDocument,
  patient: FhirPatient,
  encounter: FhirEncounter,
  options: FhirOptions,
  now: Date,
): BuiltBundle {
  const identifier = {
    system: options.identifierSystem,
    value:
      options.identifierSystem === "urn:ietf:rfc:3986"
        ? `urn:uuid:${document.documentId}`
        : document.documentId,
  };
  const ifNoneExist = `identifier=${encodeURIComponent(identifier.system)}|${encodeURIComponent(identifier.value)}`;
  const docFullUrl = `urn:uuid:${UUID.test(document.documentId) ? document.documentId.toLowerCase() : randomUUID()}`;
  const security: Coding[] = options.securityLabels.map((code) => ({
    system: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    code,
    display: code === "DICTAST" ? "dictation asserted" : "artificial intelligence asserted",
  }));
  const meta = security.length ? { meta: { security } } : {};
  const bytes = Buffer.from(document.text, "utf8");
  const subject: DocumentReference["subject"] = patient.reference
    ? { reference: patient.reference }
    : { identifier: { ...(patient.idSystem ? { system: patient.idSystem } : {}), value: patient.id } };

  const documentReference: DocumentReference = {
    resourceType: "DocumentReference",
    ...meta,
    masterIdentifier: identifier,
    identifier: [identifier],
    status: "current",
    docStatus: "preliminary",
    type: {
      coding: [{ system: "http://loinc.org", code: options.loincCode, display: options.loincText }],
      text: options.loincText,
    },
    category: [
      {
        coding: [
          {
            system: "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            code: "clinical-note",
            display: "Clinical Note",
          },
        ],
      },
    ],
    subject,
    date: document.completedAt,
    ...(encounter.author ? { author: [encounter.author] } : {}),
    description: "Machine transcript (preliminary, not reviewed)",
    content: [
      {
        attachment: {
          contentType: "text/plain; charset=utf-8",
          language: document.language,
          data: bytes.toString("base64"),
          size: bytes.length,
          // R4 Attachment.hash is the base64 SHA-1 of the data.
          hash: createHash("sha1").update(bytes).digest("base64"),
          title: options.loincText,
          creation: document.startedAt,
        },
      },
    ],
    context: {
      ...(encounter.reference ? { encounter: [{ reference: encounter.reference }] } : {}),
      period: { start: document.startedAt, end: document.completedAt },
    },
  };

  const provenance: Provenance = {
    resourceType: "Provenance",
    ...meta,
    target: [{ reference: docFullUrl }],
    recorded: now.toISOString(),
    occurredPeriod: { start: document.startedAt, end: document.completedAt },
    activity: {
      coding: [
        {
          system: "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
          code: "CREATE",
          display: "create",
        },
      ],
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
              code: "assembler",
              display: "Assembler",
            },
          ],
        },
        who: { display: options.agentName || `${document.provider} speech recognition (machine transcript)` },
      },
    ],
  };

  const entry = <T extends Resource>(
    fullUrl: string,
    resource: T,
    extra: { ifNoneExist?: string } = {},
  ): BundleEntry => ({
    fullUrl,
    resource,
    request: { method: "POST", url: resource.resourceType, ...extra },
  });
  // A scribe's note adds its Composition (composition.ts); a transcript is the two resources alone.
  return withNoteComposition(document, encounter, options, {
    bundle: {
      resourceType: "Bundle",
      type: "transaction",
      entry: [
        entry(docFullUrl, documentReference, { ifNoneExist }),
        entry(`urn:uuid:${randomUUID()}`, provenance),
      ],
    },
    identifier,
    ifNoneExist,
  });
}

/**
 * Adds the coded entities of `value` (a document's `entities`, or `msg.entities`; any JSON, read by
 * readCodedEntities) to a preliminary transaction: Conditions (verificationStatus unconfirmed) and
 * MedicationStatements (status unknown), machine-derived, each pointing at the bundle's
 * DocumentReference and its subject and encounter. Returns how many were added.
 */
export function addCodedEntities(built: BuiltBundle, value: unknown): number {
  const entries = built.bundle.entry ?? [];
  const doc = entries[0];
  const resource = doc?.resource;
  if (!doc?.fullUrl || resource?.resourceType !== "DocumentReference" || !resource.subject) return 0;
  const coded = readCodedEntities(value);
  const encounter = resource.context?.encounter?.[0]?.reference;
  for (const e of entityEntries(coded, {
    subject: resource.subject,
    documentReference: doc.fullUrl,
    ...(encounter ? { encounterReference: encounter } : {}),
  })) {
    entries.push(e);
  }
  built.bundle.entry = entries;
  return coded.length;
}
