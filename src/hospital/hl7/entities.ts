import type { CodedEntity, CodedSystem } from "../fhir/entities";
import { components } from "./escape";

/**
 * Coded OBX segments for an ORU^R01: one per deliverable entity (see readCodedEntities), value type
 * CE (see VALUE_TYPE) with the coding system of HL7 table 0396 (I10C for ICD-10-CM, SCT for SNOMED CT, RXNORM for
 * RxNorm), the first code as the identifier and a second code, when there is one, as the alternate.
 * OBX-11 is P (preliminary) and OBX-17 names the method as machine-derived: nothing here is ever
 * marked final. Set ids continue from `firstSetId` (after the note's TX segments).
 */
const V2_SYSTEMS: ReadonlyMap<CodedSystem, string> = new Map([
  ["ICD-10-CM", "I10C"],
  ["SNOMED CT", "SCT"],
  ["RxNorm", "RXNORM"],
]);

/** OBX-3: what is observed (LOINC): a diagnosis, or a medication in use, from the note. */
const OBSERVATION: Readonly<Record<CodedEntity["kind"], string>> = {
  condition: components("29548-5", "Diagnosis Narrative", "LN"),
  medication: components("10160-0", "History of Medication use Narrative", "LN"),
};
/**
 * OBX-2. CE, not CWE: in HL7 v2.5.1 OBX-2 is at most 2 characters (chapter 7 §7.4.2; CWE's 3 fit only
 * from v2.6, or through US implementation-guide errata), and CE, the coded type of table 0125 that fits,
 * has the same six components CWE starts with (identifier, text, coding system, and the alternate's).
 */
const VALUE_TYPE = "CE";
const METHOD = components("MACHINE", "Machine-derived (Amazon Comprehend Medical), unverified", "L");

export function codedObxSegments(entities: readonly CodedEntity[], firstSetId: number): string[] {
  return entities.map((e, i) => {
    const [a, b] = e.codes;
    const cwe = components(
      a?.code,
      a?.description || e.text,
      a ? V2_SYSTEMS.get(a.system) : "",
      b?.code,
      b ? b.description || e.text : "",
      b ? V2_SYSTEMS.get(b.system) : "",
    );
    return [
      "OBX",
      String(firstSetId + i),
      VALUE_TYPE,
      OBSERVATION[e.kind],
      String(i + 1),
      cwe,
      "",
      "",
      "",
      "",
      "",
      "P",
      "",
      "",
      "",
      "",
      "",
      METHOD,
    ].join("|");
  });
}
