/**
 * The clinical note of an ambient-scribe session (AWS HealthScribe): the sections the service summarised
 * from the conversation, each sentence with the evidence it was drawn from. The scribe node emits it on
 * a transcript document (`TranscriptDocument.note`), so that hl7-mdm, fhir-document and the review page
 * deliver and show it as they do a dictation, preliminary until a clinician signs it.
 */
export interface ClinicalNote {
  /** Who wrote the note: always machine-generated, never confirmed until signed. */
  source: "aws-healthscribe";
  /** The service's note template, for example "HISTORY_AND_PHYSICAL" or "GIRPP". */
  template: string;
  sections: NoteSection[];
}

export interface NoteSection {
  /** The service's section name, for example "CHIEF_COMPLAINT". */
  name: string;
  /** The heading shown to people, for example "Chief complaint". */
  title: string;
  sentences: NoteSentence[];
}

export interface NoteSentence {
  text: string;
  /** The transcript segments this sentence was drawn from; empty when the service gave none. */
  evidence: NoteEvidence[];
}

export interface NoteEvidence {
  /** The transcript segment's id, as in the document's `segments` and contract 2's `segmentId`. */
  segmentId: string;
  /** Seconds from the start of the session, as everywhere else. */
  startTime: number;
  endTime: number;
  /** The participant's role from the channel definitions, for example "CLINICIAN" or "PATIENT". */
  speaker?: string;
  text: string;
}

/** A section name as a heading: "CHIEF_COMPLAINT" → "Chief complaint". */
export function sectionTitle(name: string): string {
  const words = name.toLowerCase().split("_").filter(Boolean).join(" ");
  return words.length === 0 ? name : words.charAt(0).toUpperCase() + words.slice(1);
}

/** The note as plain text: each section's heading on its own line, then its sentences, a blank line between. */
export function noteText(note: ClinicalNote): string {
  return note.sections
    .map((section) => [section.title, ...section.sentences.map((sentence) => sentence.text)].join("\n"))
    .join("\n\n");
}
