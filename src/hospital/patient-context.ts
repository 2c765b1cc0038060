import { checkFhirEncounter, checkFhirPatient, type FhirEncounter, type FhirPatient } from "./fhir/bundle";
import { checkEncounter, checkPatient, type Hl7Encounter, type Hl7Patient } from "./hl7/build";

/**
 * The patient and encounter a delivery node builds its message for, checked once: hl7-mdm and
 * fhir-document call these at their edge, and review-queue calls the same ones when a document
 * arrives, so a context it takes is one the delivery node will take after the clinician signed.
 * Errors name the property (`labels`) and what is accepted, never the value (patient data).
 */
export type DeliveryFormat = "hl7" | "fhir";

export interface ContextLabels {
  /** Where the patient came from in errors: "msg.patient", or "the patient setting". */
  patient: string;
  encounter: string;
}

export function checkHl7Context(
  patient: unknown,
  encounter: unknown,
  labels: ContextLabels,
): { patient: Hl7Patient; encounter: Hl7Encounter } {
  return {
    patient: checkPatient(patient, labels.patient),
    encounter: checkEncounter(encounter, labels.encounter),
  };
}

export function checkFhirContext(
  patient: unknown,
  encounter: unknown,
  labels: ContextLabels,
): { patient: FhirPatient; encounter: FhirEncounter } {
  return {
    patient: checkFhirPatient(patient, labels.patient),
    encounter: checkFhirEncounter(encounter, labels.encounter),
  };
}

/** The delivery node type of each format, and its check (for review-queue, by the nodes it is wired to). */
export const CONTEXT_CHECKS: ReadonlyMap<
  string,
  { format: DeliveryFormat; check: (patient: unknown, encounter: unknown, labels: ContextLabels) => unknown }
> = new Map([
  ["hl7-mdm", { format: "hl7" as const, check: checkHl7Context }],
  ["fhir-document", { format: "fhir" as const, check: checkFhirContext }],
]);
