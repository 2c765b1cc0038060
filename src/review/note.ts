import { sectionTitle, type ClinicalNote, type NoteSection } from "../transcript/clinical-note";
import { SECTION_LOINC } from "../hospital/note-sections";

/**
 * The note as a reviewer left it: the signed text (the note's text, `noteText`, as corrected in the
 * page) read back into sections, so that the signed HL7 and FHIR messages carry the corrected
 * sections, one each, as the preliminary ones did.
 *
 * The text is read as noteText writes it: blocks separated by a blank line, each starting with its
 * section's heading, then one sentence per line. A heading is recognised when it is the title of one
 * of the note's sections or of a section with a LOINC code (note-sections.ts), in any case and with
 * or without a colon; a block that starts with anything else belongs to the section before it (or,
 * at the top, to a section "Note"). A sentence the reviewer left as it was keeps its evidence; an
 * edited or new one has none. Linear in the text and the note.
 */
export function reviseNote(note: ClinicalNote, text: string): ClinicalNote {
  const headings = new Map<string, Pick<NoteSection, "name" | "title">>();
  for (const name of SECTION_LOINC.keys())
    headings.set(key(sectionTitle(name)), { name, title: sectionTitle(name) });
  for (const s of note.sections) headings.set(key(s.title), { name: s.name, title: s.title });
  // Evidence of the original sentences, by section name and sentence text.
  const evidence = new Map<string, NoteSection["sentences"][number]["evidence"]>();
  for (const s of note.sections) {
    for (const sentence of s.sentences) evidence.set(`${s.name}\n${sentence.text.trim()}`, sentence.evidence);
  }
  const sections: NoteSection[] = [];
  for (const block of text.replace(/\r\n?/g, "\n").split(/\n[\t ]*\n/)) {
    const lines = block
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
    const first = lines[0];
    if (first === undefined) continue;
    const heading = headings.get(key(first));
    let section = sections[sections.length - 1];
    if (heading) {
      section = { name: heading.name, title: heading.title, sentences: [] };
      sections.push(section);
    } else if (!section) {
      section = { name: "NOTE", title: "Note", sentences: [] };
      sections.push(section);
    }
    for (const line of heading ? lines.slice(1) : lines) {
      section.sentences.push({ text: line, evidence: evidence.get(`${section.name}\n${line}`) ?? [] });
    }
  }
  return { ...note, sections };
}

function key(heading: string): string {
  return heading.trim().replace(/:$/, "").trim().toLowerCase();
}

/**
 * The segment each word belongs to (by time: the segment whose span holds the word's start), so
 * that the page can highlight a sentence's evidence segments in the transcript. Words come in spoken
 * order; the segments are sorted once, and one pass walks both: linear after the sort.
 */
export function wordSegmentIds(
  words: ReadonlyArray<{ startTime: number }>,
  segments: ReadonlyArray<{ segmentId: string; startTime: number; endTime: number }>,
): Array<string | undefined> {
  const sorted = [...segments].sort((a, b) => a.startTime - b.startTime);
  let s = 0;
  return words.map((w) => {
    while (s < sorted.length && (sorted[s]?.endTime ?? Infinity) < w.startTime) s++;
    const segment = sorted[s];
    return segment && segment.startTime <= w.startTime ? segment.segmentId : undefined;
  });
}
