import { noteText, type ClinicalNote } from "../../src/transcript/clinical-note";
import { SessionCollector, type TranscriptDocument } from "../../src/transcript/document";
import { result, words } from "./results";

/**
 * A synthetic ambient-scribe session (no patient data): four turns of a conversation between a
 * clinician (channel 0) and a patient (channel 1), and a HISTORY_AND_PHYSICAL note drawn from them
 * as the scribe node emits it (text = noteText(note)). One sentence carries HL7 delimiters and
 * markup, to show they are escaped; one section (GOAL) has no LOINC code.
 */
export const CONVERSATION: ReadonlyArray<{ segmentId: string; speaker: string; at: number; text: string }> = [
  { segmentId: "seg-1", speaker: "CLINICIAN", at: 0, text: "What brings you in today ?" },
  { segmentId: "seg-2", speaker: "PATIENT", at: 3, text: "I have had a cough for three days ." },
  { segmentId: "seg-3", speaker: "PATIENT", at: 7, text: "No fever but some chest tightness ." },
  {
    segmentId: "seg-4",
    speaker: "CLINICIAN",
    at: 12,
    text: "We will start amoxicillin and review in a week .",
  },
];

function evidence(
  segmentId: string,
): ClinicalNote["sections"][number]["sentences"][number]["evidence"][number] {
  const turn = CONVERSATION.find((c) => c.segmentId === segmentId);
  if (!turn) throw new Error(`no segment ${segmentId}`);
  const count = turn.text.split(" ").length;
  return {
    segmentId,
    startTime: turn.at,
    endTime: Math.round((turn.at + (count - 1) * 0.4 + 0.35) * 1000) / 1000,
    speaker: turn.speaker,
    text: turn.text.replace(/ ([.,?])/g, "$1"),
  };
}

export function syntheticNote(): ClinicalNote {
  return {
    source: "aws-healthscribe",
    template: "HISTORY_AND_PHYSICAL",
    sections: [
      {
        name: "CHIEF_COMPLAINT",
        title: "Chief complaint",
        sentences: [{ text: "Cough for three days.", evidence: [evidence("seg-2")] }],
      },
      {
        name: "HISTORY_OF_PRESENT_ILLNESS",
        title: "History of present illness",
        sentences: [
          { text: "Cough for three days.", evidence: [evidence("seg-2")] },
          { text: "No fever; chest tightness | noted <b>mild</b> & R^L~.", evidence: [evidence("seg-3")] },
        ],
      },
      { name: "REVIEW_OF_SYSTEMS", title: "Review of systems", sentences: [] },
      {
        name: "PLAN",
        title: "Plan",
        sentences: [
          { text: "Start amoxicillin.", evidence: [evidence("seg-4")] },
          { text: "Review in one week.", evidence: [evidence("seg-4")] },
        ],
      },
      {
        name: "GOAL",
        title: "Goal",
        sentences: [{ text: "Symptom-free within two weeks.", evidence: [] }],
      },
    ],
  };
}

/** The scribe's document: the conversation's finals assembled, the note on it, its text the note's. */
export function noteDocument(
  note: ClinicalNote = syntheticNote(),
  documentId = "7b2d4c1e-9a3f-4e8b-8c2d-1f0e6a5b3c21",
): TranscriptDocument {
  const collector = new SessionCollector("scribe-session-1", documentId);
  const start = Date.parse("2026-01-15T14:30:00Z");
  for (const turn of CONVERSATION) {
    const w = words(turn.text.split(" ").map((t) => [t, 0.95])).map((x) => ({
      ...x,
      startTime: Math.round((x.startTime + turn.at) * 1000) / 1000,
      endTime: Math.round((x.endTime + turn.at) * 1000) / 1000,
      speaker: turn.speaker,
    }));
    collector.add(
      result({
        provider: "aws-healthscribe",
        sessionId: "scribe-session-1",
        segmentId: turn.segmentId,
        speaker: turn.speaker,
        words: w,
      }),
      undefined,
      start + (turn.at + 3) * 1000,
    );
  }
  const document = collector.build("ended", start + 20_000);
  return { ...document, note, text: noteText(note) };
}
