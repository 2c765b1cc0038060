import { strict as assert } from "node:assert";
import { noteText, sectionTitle, type ClinicalNote } from "../../../src/transcript/clinical-note";

describe("clinical note", () => {
  it("turns the service's section names into headings", () => {
    assert.equal(sectionTitle("CHIEF_COMPLAINT"), "Chief complaint");
    assert.equal(sectionTitle("HISTORY_OF_PRESENT_ILLNESS"), "History of present illness");
    assert.equal(sectionTitle("PLAN"), "Plan");
    assert.equal(sectionTitle(""), "");
  });

  it("writes the note as headed sections separated by a blank line", () => {
    const note: ClinicalNote = {
      source: "aws-healthscribe",
      template: "HISTORY_AND_PHYSICAL",
      sections: [
        {
          name: "CHIEF_COMPLAINT",
          title: "Chief complaint",
          sentences: [{ text: "Cough for three days.", evidence: [] }],
        },
        {
          name: "PLAN",
          title: "Plan",
          sentences: [
            { text: "Start amoxicillin.", evidence: [] },
            { text: "Review in one week.", evidence: [] },
          ],
        },
      ],
    };
    assert.equal(
      noteText(note),
      "Chief complaint\nCough for three days.\n\nPlan\nStart amoxicillin.\nReview in one week.",
    );
  });
});
