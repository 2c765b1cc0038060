import type { ClinicalNote } from "../../transcript/clinical-note";
import { sectionLoinc, sectionText } from "../note-sections";
import { components, escapeHl7, splitText } from "./escape";

/**
 * The OBX segments of a clinical note (a scribe's document, `TranscriptDocument.note`): one per
 * section, OBX-3 naming the section (its LOINC section code where one exists, see note-sections.ts,
 * else the service's section name in the local coding system "L" of table 0396), OBX-4 the section's
 * number, OBX-5 its sentences as one paragraph (TX, escaped), OBX-11 P. A section longer than
 * `maxObxLength` goes on in further OBX segments with the same OBX-3 and OBX-4, as the transcript's
 * wrapped lines do, so a receiver re-joins it. Sections without text are left out.
 */
export function noteObxSegments(note: ClinicalNote, maxObxLength: number): string[] {
  const obx: string[] = [];
  note.sections.forEach((section, index) => {
    const loinc = sectionLoinc(section.name);
    const identifier = loinc
      ? components(loinc.code, section.title, "LN")
      : components(section.name, section.title, "L");
    for (const lines of splitText(sectionText(section), maxObxLength)) {
      for (const line of lines) {
        obx.push(txObx(obx.length + 1, identifier, index + 1, line));
      }
    }
  });
  return obx;
}

/**
 * One TX OBX: set id, OBX-3, OBX-4 (lines of one paragraph or section share it, so a receiver re-joins
 * them), OBX-5 the line escaped (splitText's lines are cleaned and single-spaced already), OBX-11 P.
 */
export function txObx(setId: number, identifier: string, subId: number, line: string): string {
  return `OBX|${setId}|TX|${identifier}|${subId}|${escapeHl7(line)}||||||P`;
}
