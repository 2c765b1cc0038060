import { strict as assert } from "node:assert";
import { buildHl7, checkPatient, DEFAULT_HL7_OPTIONS } from "../../../src/hospital/hl7/build";
import { buildSignedHl7 } from "../../../src/hospital/hl7/signoff";
import { applySign, finalDocument, newRecord } from "../../../src/review/record";
import type { DocumentEntity } from "../../../src/transcript/document-entities";
import { documentWithText, syntheticPatient } from "../../support/documents";

const NOW = new Date("2026-01-15T15:00:00Z");
const TEXT = "History of hypertension.";
const ENTITY: DocumentEntity = {
  segmentId: "seg-1",
  category: "MEDICAL_CONDITION",
  type: "DX_NAME",
  text: "hypertension",
  score: 0.9,
  beginOffset: 11,
  endOffset: 23,
  traits: [],
  attributes: [],
  codes: [{ system: "ICD-10-CM", code: "I10", description: "Essential (primary) hypertension", score: 0.9 }],
};

describe("sign-off and machine-derived entities", () => {
  it("drops the entities from the signed document: signing confirms the corrected text, not them", () => {
    const machine = { ...documentWithText(TEXT), entities: [ENTITY] };
    const record = newRecord(machine, {}, "document", NOW, 1e9);
    const t = applySign(record, 1, "History of hypertension, treated.", "drsmith", "AU", NOW);
    const signed = finalDocument(t.record, t, record.id);
    assert.equal(signed.entities, undefined);
    assert.equal(machine.entities.length, 1, "the machine document is left as it was");
  });

  it("never puts coded OBX into the signed MDM, and marks only the text final", () => {
    const patient = checkPatient(syntheticPatient, "msg.patient");
    const doc = { ...documentWithText(TEXT), entities: [ENTITY] };
    const oru = buildHl7(
      doc,
      patient,
      {},
      { ...DEFAULT_HL7_OPTIONS, messageType: "ORU^R01", codedEntities: true },
      NOW,
    );
    assert.match(oru.message, /\|CE\|/, "the preliminary ORU carries them");
    const signed = buildSignedHl7(
      doc,
      {
        event: "sign",
        trigger: "T04",
        signer: "drsmith",
        at: NOW.toISOString(),
        completionStatus: "AU",
        edited: false,
        version: 2,
      },
      patient,
      {},
      { ...DEFAULT_HL7_OPTIONS, messageType: "ORU^R01", codedEntities: true },
      NOW,
    );
    assert.doesNotMatch(signed.message, /\|CE\|/);
  });
});
