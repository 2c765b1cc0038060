import { randomUUID } from "node:crypto";
import type {
  BundleEntry,
  Reference,
  CodeableConcept,
  Coding,
  Condition,
  MedicationStatement,
  Meta,
} from "@medplum/fhirtypes";

// Types only: @medplum/fhirtypes is a devDependency and nothing of it exists at run time.

/**
 * Coded entities for delivery: conditions and medications that Amazon Comprehend Medical found in a
 * transcript (the medical-entities node's `msg.entities`), as FHIR resources and HL7 OBX segments.
 * They are machine-derived and unverified, and every output says so; none is ever marked confirmed.
 * Reviewing (signing) is where a person confirms or drops them.
 */

export type CodedSystem = "ICD-10-CM" | "RxNorm" | "SNOMED CT";

export interface CodedEntity {
  kind: "condition" | "medication";
  /** The words as said (for CodeableConcept.text / CWE-2 when a code has no description). */
  text: string;
  codes: Array<{ system: CodedSystem; code: string; description: string }>;
  /** For medications: dosage, route and frequency as said ("500 mg by mouth twice daily"). */
  dosageText?: string;
}

/** Bounds on what a flow's `msg.entities` may make a delivery carry. */
export const CODED_LIMITS = { entities: 200, codesPerEntity: 5, textChars: 200, codeChars: 32 } as const;

/** Traits that say the entity is not a fact about this patient now: such entities are not delivered. */
const NOT_ASSERTED = new Set(["NEGATION", "HYPOTHETICAL", "PERTAINS_TO_FAMILY", "FUTURE"]);
const SYSTEMS: ReadonlySet<string> = new Set(["ICD-10-CM", "RxNorm", "SNOMED CT"]);
const CODE = /^[A-Za-z0-9.-]{1,32}$/;

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : null;
// eslint-disable-next-line no-control-regex -- control characters are what is removed
const CONTROL = /[\u0000-\u001f\u007f]+/g;
const text = (v: unknown): string =>
  typeof v === "string" ? v.replace(CONTROL, " ").trim().slice(0, CODED_LIMITS.textChars) : "";

/**
 * The deliverable entities of `msg.entities` (any JSON: read defensively, bounded): conditions with an
 * ICD-10-CM or SNOMED CT code and medications with an RxNorm code, not negated, hypothetical, about
 * family or future. One per distinct first code, in the order found. Anything else is left out.
 */
export function readCodedEntities(value: unknown): CodedEntity[] {
  if (!Array.isArray(value)) return [];
  const out: CodedEntity[] = [];
  const seen = new Set<string>();
  for (const item of value.slice(0, 10 * CODED_LIMITS.entities)) {
    if (out.length >= CODED_LIMITS.entities) break;
    const e = rec(item);
    if (!e) continue;
    const kind =
      e.category === "MEDICAL_CONDITION" ? "condition" : e.category === "MEDICATION" ? "medication" : null;
    if (!kind) continue;
    const traits = Array.isArray(e.traits) ? e.traits : [];
    if (traits.some((t) => NOT_ASSERTED.has(String(rec(t)?.name)))) continue;
    const codes: CodedEntity["codes"] = [];
    for (const c of Array.isArray(e.codes) ? e.codes.slice(0, 20) : []) {
      const r = rec(c);
      const system =
        typeof r?.system === "string" && SYSTEMS.has(r.system) ? (r.system as CodedSystem) : null;
      if (!r || !system || typeof r.code !== "string" || !CODE.test(r.code)) continue;
      if (kind === "condition" ? system === "RxNorm" : system !== "RxNorm") continue;
      if (codes.length < CODED_LIMITS.codesPerEntity)
        codes.push({ system, code: r.code, description: text(r.description) });
    }
    const first = codes[0];
    if (!first) continue;
    const key = `${kind}|${first.system}|${first.code}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const attrs = Array.isArray(e.attributes) ? e.attributes.slice(0, 20) : [];
    const dosage = attrs
      .map((a) => rec(a))
      .filter(
        (a): a is Rec =>
          a !== null &&
          ["DOSAGE", "STRENGTH", "ROUTE_OR_MODE", "FREQUENCY", "DURATION"].includes(String(a.type)),
      )
      .map((a) => text(a.text))
      .filter((t) => t !== "")
      .join(" ")
      .slice(0, CODED_LIMITS.textChars);
    out.push({
      kind,
      text: text(e.text),
      codes,
      ...(kind === "medication" && dosage !== "" ? { dosageText: dosage } : {}),
    });
  }
  return out;
}

const FHIR_SYSTEMS: ReadonlyMap<CodedSystem, string> = new Map([
  ["ICD-10-CM", "http://hl7.org/fhir/sid/icd-10-cm"],
  ["RxNorm", "http://www.nlm.nih.gov/research/umls/rxnorm"],
  ["SNOMED CT", "http://snomed.info/sct"],
]);

/** How every entity resource says it is machine-derived: AIAST, as the DocumentReference may carry it. */
const MACHINE_META: Meta = {
  security: [
    {
      system: "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
      code: "AIAST",
      display: "artificial intelligence asserted",
    },
  ],
};
const NOTE =
  "Machine-derived from a speech transcript by Amazon Comprehend Medical; not verified by a clinician.";

function concept(e: CodedEntity): CodeableConcept {
  const coding: Coding[] = e.codes.map((c) => ({
    system: FHIR_SYSTEMS.get(c.system),
    code: c.code,
    ...(c.description !== "" ? { display: c.description } : {}),
  }));
  return { coding, ...(e.text !== "" ? { text: e.text } : {}) };
}

export interface EntityContext {
  /** The patient as the DocumentReference names it (`subject`). */
  subject: Reference;
  /** The DocumentReference's fullUrl in the same transaction (`urn:uuid:...`), or its reference. */
  documentReference: string;
  encounterReference?: string;
}

/**
 * Transaction entries (POST) for the deliverable entities: a Condition (verificationStatus
 * `unconfirmed`, evidence → the DocumentReference) per condition and a MedicationStatement (status
 * `unknown`, derivedFrom → the DocumentReference) per medication, each tagged AIAST and noted as
 * machine-derived. Add them to the bundle that carries the DocumentReference.
 */
export function entityEntries(entities: readonly CodedEntity[], ctx: EntityContext): BundleEntry[] {
  const doc = { reference: ctx.documentReference };
  const encounter = ctx.encounterReference ? { reference: ctx.encounterReference } : undefined;
  return entities.map((e): BundleEntry => {
    const resource: Condition | MedicationStatement =
      e.kind === "condition"
        ? {
            resourceType: "Condition",
            meta: MACHINE_META,
            verificationStatus: {
              coding: [
                {
                  system: "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                  code: "unconfirmed",
                  display: "Unconfirmed",
                },
              ],
            },
            code: concept(e),
            // The DocumentReference's subject: a patient (a reference or an identifier).
            subject: ctx.subject as Condition["subject"],
            ...(encounter ? { encounter } : {}),
            evidence: [{ detail: [doc] }],
            note: [{ text: NOTE }],
          }
        : {
            resourceType: "MedicationStatement",
            meta: MACHINE_META,
            status: "unknown",
            medicationCodeableConcept: concept(e),
            subject: ctx.subject as MedicationStatement["subject"],
            ...(encounter ? { context: encounter } : {}),
            derivedFrom: [doc],
            ...(e.dosageText ? { dosage: [{ text: e.dosageText }] } : {}),
            note: [{ text: NOTE }],
          };
    return {
      fullUrl: `urn:uuid:${randomUUID()}`,
      resource,
      request: { method: "POST", url: resource.resourceType },
    };
  });
}
