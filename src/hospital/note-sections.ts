import type { ClinicalNote } from "../transcript/clinical-note";

/**
 * Codes for a clinical note's sections and its document type, shared by hl7-mdm (OBX-3) and
 * fhir-document (Composition.section.code, Composition.type). Sections of the HISTORY_AND_PHYSICAL
 * template get the LOINC codes of the matching C-CDA sections (the H&P document's section list,
 * http://hl7.org/cda/us/ccda/StructureDefinition/HistoryandPhysical), as do the SOAP templates'
 * Subjective and Objective. The other sections of the behavioural templates (GOAL, INTERVENTION,
 * RESPONSE, PROGRESS, BEHAVIOR, SITUATION, DATA…) have no LOINC section code: HL7 sends them in the
 * local coding system (table 0396 "L") with the service's section name as the code, FHIR gives the
 * title alone. A Map, so a section name from a flow never resolves to an Object.prototype member.
 */
export interface LoincCode {
  code: string;
  display: string;
}

export const LOINC_SYSTEM = "http://loinc.org";

export const SECTION_LOINC: ReadonlyMap<string, LoincCode> = new Map([
  ["CHIEF_COMPLAINT", { code: "10154-3", display: "Chief complaint Narrative - Reported" }],
  ["HISTORY_OF_PRESENT_ILLNESS", { code: "10164-2", display: "History of Present illness Narrative" }],
  ["REVIEW_OF_SYSTEMS", { code: "10187-3", display: "Review of systems Narrative - Reported" }],
  ["PAST_MEDICAL_HISTORY", { code: "11348-0", display: "History of Past illness Narrative" }],
  ["PAST_FAMILY_HISTORY", { code: "10157-6", display: "History of family member diseases Narrative" }],
  ["PAST_SOCIAL_HISTORY", { code: "29762-2", display: "Social history Narrative" }],
  ["PHYSICAL_EXAMINATION", { code: "29545-1", display: "Physical findings Narrative" }],
  ["DIAGNOSTIC_TESTING", { code: "30954-2", display: "Relevant diagnostic tests/laboratory data Narrative" }],
  ["ASSESSMENT", { code: "51848-0", display: "Evaluation note" }],
  ["PLAN", { code: "18776-5", display: "Plan of care note" }],
  ["SUBJECTIVE", { code: "61150-9", display: "Subjective Narrative" }],
  ["OBJECTIVE", { code: "61149-1", display: "Objective Narrative" }],
]);

/** The LOINC code of a section, when it has one. */
export function sectionLoinc(name: string): LoincCode | undefined {
  return SECTION_LOINC.get(name);
}

/** History and physical for that template; every other template is a (behavioural or physical) progress note. */
const HISTORY_AND_PHYSICAL: LoincCode = { code: "34117-2", display: "History and physical note" };
const PROGRESS_NOTE: LoincCode = { code: "11506-3", display: "Progress note" };

/** The LOINC document type of a note, from its template. */
export function noteDocumentType(note: ClinicalNote): LoincCode {
  return note.template === "HISTORY_AND_PHYSICAL" ? HISTORY_AND_PHYSICAL : PROGRESS_NOTE;
}

/** A section's sentences as one paragraph: what OBX-5 and the FHIR narrative carry. */
export function sectionText(section: ClinicalNote["sections"][number]): string {
  return section.sentences
    .map((sentence) => sentence.text.trim())
    .filter((t) => t !== "")
    .join(" ");
}
