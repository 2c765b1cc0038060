import { SessionCollector, type TranscriptDocument } from "../../src/transcript/document";
import { result, words } from "./results";

/** A transcript document assembled from synthetic finals whose texts are given; no patient data. */
export function documentWithText(
  text: string,
  documentId = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11",
): TranscriptDocument {
  const collector = new SessionCollector("session-1", documentId);
  collector.add(
    result({ text, words: words([["synthetic", 0.95]]) }),
    undefined,
    Date.parse("2026-01-15T14:30:00Z"),
  );
  return { ...collector.build("flush", Date.parse("2026-01-15T14:31:00Z")), text };
}

export const syntheticPatient = {
  id: "TEST-0001",
  idAuthority: "HOSP",
  family: "Testpatient",
  given: "Alex",
  birthDate: "1980-03-14",
  sex: "U",
};
