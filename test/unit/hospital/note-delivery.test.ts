import { strict as assert } from "node:assert";
import { validateResource } from "@medplum/core";
import type { Composition, DocumentReference, Provenance, Resource } from "@medplum/fhirtypes";
import { buildFhirBundle, DEFAULT_FHIR_OPTIONS } from "../../../src/hospital/fhir/bundle";
import { FhirSender } from "../../../src/hospital/fhir/send";
import { buildSignedFhirBundle } from "../../../src/hospital/fhir/signoff";
import { buildHl7, checkPatient, DEFAULT_HL7_OPTIONS } from "../../../src/hospital/hl7/build";
import { unescapeHl7 } from "../../../src/hospital/hl7/escape";
import { buildSignedHl7 } from "../../../src/hospital/hl7/signoff";
import { reviseNote, wordSegmentIds } from "../../../src/review/note";
import {
  applySign,
  applyWithdraw,
  applyAddendum,
  finalDocument,
  newRecord,
} from "../../../src/review/record";
import { noteText } from "../../../src/transcript/clinical-note";
import { checkTranscriptDocument } from "../../../src/transcript/document";
import { NOTE_LIMITS } from "../../../src/transcript/note-check";
import { syntheticPatient } from "../../support/documents";
import { loadDefinitions, medplumFhirPeer } from "../../support/fhir-peers";
import { noteDocument, syntheticNote } from "../../support/notes";

const NOW = new Date("2026-01-15T15:00:00Z");
const patient = checkPatient(syntheticPatient, "msg.patient");

function obx(message: string): string[][] {
  return message
    .split("\r")
    .filter((s) => s.startsWith("OBX|"))
    .map((s) => s.split("|"));
}

function field(message: string, name: string, n: number): string {
  const segment = message.split("\r").find((s) => s.startsWith(name + "|")) ?? "";
  return segment.split("|")[name === "MSH" ? n - 1 : n] ?? "";
}

describe("clinical note: HL7 MDM", () => {
  it("sends one OBX per section with text, OBX-3 its LOINC section code or a local code, OBX-5 its sentences escaped, OBX-11 P", () => {
    const built = buildHl7(noteDocument(), patient, {}, DEFAULT_HL7_OPTIONS, NOW);
    const rows = obx(built.message);
    assert.deepEqual(
      rows.map((f) => [f[1], f[2], f[3], f[4], f[11]]),
      [
        ["1", "TX", "10154-3^Chief complaint^LN", "1", "P"],
        ["2", "TX", "10164-2^History of present illness^LN", "2", "P"],
        // Review of systems (section 3) has no sentences: left out.
        ["3", "TX", "18776-5^Plan^LN", "4", "P"],
        ["4", "TX", "GOAL^Goal^L", "5", "P"],
      ],
    );
    assert.equal(
      rows[1]?.[5],
      "Cough for three days. No fever; chest tightness \\F\\ noted <b>mild</b> \\T\\ R\\S\\L\\R\\.",
    );
    assert.equal(unescapeHl7(rows[2]?.[5] ?? ""), "Start amoxicillin. Review in one week.");
    assert.equal(built.obxCount, 4);
    // The document stays a preliminary, unavailable draft, as a transcript is.
    assert.equal(field(built.message, "TXA", 17), "DO");
    assert.equal(field(built.message, "TXA", 19), "UN");
  });

  it("continues a section longer than the OBX-5 limit in further OBX with the same OBX-3 and OBX-4", () => {
    const note = syntheticNote();
    note.sections[3].sentences.push({ text: "word ".repeat(100).trim(), evidence: [] });
    const built = buildHl7(
      noteDocument(note),
      patient,
      {},
      { ...DEFAULT_HL7_OPTIONS, maxObxLength: 120 },
      NOW,
    );
    const plan = obx(built.message).filter((f) => f[3] === "18776-5^Plan^LN");
    assert.ok(plan.length >= 4, `${plan.length} OBX for the plan`);
    assert.ok(plan.every((f) => f[4] === "4" && (f[5] ?? "").length <= 120));
    assert.equal(
      plan.map((f) => f[5]).join(" "),
      `Start amoxicillin. Review in one week. ${"word ".repeat(100).trim()}`,
    );
  });

  it("refuses a note with no sentence at all, as it refuses an empty transcript", () => {
    const empty = { ...syntheticNote(), sections: [{ name: "PLAN", title: "Plan", sentences: [] }] };
    assert.throws(
      () => buildHl7(noteDocument(empty), patient, {}, DEFAULT_HL7_OPTIONS, NOW),
      /no text to send/,
    );
  });

  it("signs the note as corrected: MDM^T08 whose OBX carry the corrected sections, OBX-11 F", () => {
    const machine = noteDocument();
    const record = newRecord(machine, {}, "document", NOW, 1e9);
    const corrected = machine.text.replace(
      "Start amoxicillin.",
      "Start amoxicillin 500 mg three times daily.",
    );
    const t = applySign(record, 1, corrected, "drsmith", "AU", NOW);
    const doc = finalDocument(t.record, t, record.id);
    const msg = buildSignedHl7(doc, doc.signoff, patient, {}, DEFAULT_HL7_OPTIONS, NOW).message;
    assert.equal(field(msg, "MSH", 9), "MDM^T08^MDM_T02");
    const rows = obx(msg);
    assert.deepEqual(
      rows.map((f) => [f[3], f[11]]),
      [
        ["10154-3^Chief complaint^LN", "F"],
        ["10164-2^History of present illness^LN", "F"],
        ["18776-5^Plan^LN", "F"],
        ["GOAL^Goal^L", "F"],
      ],
    );
    assert.equal(rows[2]?.[5], "Start amoxicillin 500 mg three times daily. Review in one week.");
  });
});

describe("clinical note: FHIR", () => {
  before(loadDefinitions);

  function resources(bundle: ReturnType<typeof buildFhirBundle>["bundle"]): Resource[] {
    return (bundle.entry ?? []).map((e) => e.resource as Resource);
  }

  it("adds a preliminary Composition: type from the template, one section per section with text, LOINC codes where they exist, escaped narrative", () => {
    const built = buildFhirBundle(noteDocument(), { id: "TEST-0001" }, {}, DEFAULT_FHIR_OPTIONS, NOW);
    const [doc, prov, comp] = resources(built.bundle) as [DocumentReference, Provenance, Composition];
    assert.equal(doc.docStatus, "preliminary");
    assert.equal(comp.resourceType, "Composition");
    assert.equal(comp.status, "preliminary");
    assert.deepEqual(comp.type.coding?.[0], {
      system: "http://loinc.org",
      code: "34117-2",
      display: "History and physical note",
    });
    assert.deepEqual(comp.identifier, built.identifier);
    assert.deepEqual(
      comp.section?.map((s) => [s.title, s.code?.coding?.[0]?.code]),
      [
        ["Chief complaint", "10154-3"],
        ["History of present illness", "10164-2"],
        ["Plan", "18776-5"],
        ["Goal", undefined],
      ],
    );
    assert.equal(
      comp.section?.[1]?.text?.div,
      '<div xmlns="http://www.w3.org/1999/xhtml"><p>Cough for three days.</p><p>No fever; chest tightness | noted &lt;b&gt;mild&lt;/b&gt; &amp; R^L~.</p></div>',
    );
    const compUrl = built.bundle.entry?.[2]?.fullUrl;
    assert.deepEqual(doc.context?.related, [{ reference: compUrl }]);
    assert.deepEqual(
      prov.target.map((t) => t.reference),
      [built.bundle.entry?.[0]?.fullUrl, compUrl],
    );
    for (const r of resources(built.bundle)) assert.deepEqual(validateResource(r), [], r.resourceType);
  });

  it("leaves characters XML forbids out of the narrative, so it stays valid XHTML", () => {
    const note = syntheticNote();
    note.sections[0].sentences[0].text = "Cough\u0000 for\u001B three days.";
    const built = buildFhirBundle(noteDocument(note), { id: "TEST-0001" }, {}, DEFAULT_FHIR_OPTIONS, NOW);
    const comp = built.bundle.entry?.[2]?.resource as Composition;
    assert.equal(
      comp.section?.[0]?.text?.div,
      '<div xmlns="http://www.w3.org/1999/xhtml"><p>Cough for three days.</p></div>',
    );
  });

  it("leaves a transcript without a note as the two resources it was", () => {
    const doc = { ...noteDocument(), note: undefined };
    const built = buildFhirBundle(doc, { id: "TEST-0001" }, {}, DEFAULT_FHIR_OPTIONS, NOW);
    assert.deepEqual(
      resources(built.bundle).map((r) => r.resourceType),
      ["DocumentReference", "Provenance"],
    );
  });

  it("is stored by @medplum/fhir-router with the DocumentReference pointing at the stored Composition", async () => {
    const peer = await medplumFhirPeer();
    try {
      const built = buildFhirBundle(noteDocument(), { id: "TEST-0001" }, {}, DEFAULT_FHIR_OPTIONS, NOW);
      const sender = new FhirSender({
        baseUrl: peer.baseUrl,
        headers: {},
        timeoutMs: 2000,
        retries: 0,
        backoffMs: 10,
        backoffMaxMs: 10,
      });
      const outcome = await sender.post(built.bundle);
      assert.equal(outcome.status, "delivered");
      const [comp] = await peer.repo.searchResources<Composition>({ resourceType: "Composition" });
      const [doc] = await peer.repo.searchResources<DocumentReference>({ resourceType: "DocumentReference" });
      assert.ok(comp?.id && doc);
      assert.deepEqual(doc.context?.related, [{ reference: `Composition/${comp.id}` }]);
      sender.close();
    } finally {
      await peer.close();
    }
  });

  for (const [event, status] of [
    ["sign", "final"],
    ["amend", "amended"],
    ["withdraw", "entered-in-error"],
  ] as const) {
    it(`turns the Composition ${status} on ${event}, updating it in place`, () => {
      const machine = noteDocument();
      let record = newRecord(machine, {}, "document", NOW, 1e9);
      let t = applySign(record, 1, machine.text, "drsmith", "LA", NOW);
      if (event === "amend") {
        record = t.record;
        t = applySign(
          record,
          record.version,
          machine.text.replace("Goal", "Goal\nReturn to work."),
          "drsmith",
          "LA",
          NOW,
        );
      } else if (event === "withdraw") {
        t = applyWithdraw(record, 1, "wrong patient", "drsmith", NOW);
      }
      const doc = finalDocument(t.record, t, record.id);
      const built = buildSignedFhirBundle(
        doc,
        doc.signoff,
        { id: "TEST-0001" },
        {},
        DEFAULT_FHIR_OPTIONS,
        NOW,
      );
      const entry = built.bundle.entry?.find((e) => e.resource?.resourceType === "Composition");
      const comp = entry?.resource as Composition;
      assert.equal(comp.status, status);
      assert.deepEqual(entry?.request, { method: "PUT", url: `Composition?${built.ifNoneExist}` });
      if (event !== "withdraw")
        assert.deepEqual(comp.attester, [
          { mode: "legal", time: NOW.toISOString(), party: { display: "drsmith" } },
        ]);
      if (event === "amend")
        assert.equal(
          comp.section?.[3]?.text?.div,
          '<div xmlns="http://www.w3.org/1999/xhtml"><p>Return to work.</p><p>Symptom-free within two weeks.</p></div>',
        );
      assert.deepEqual(validateResource(comp), []);
    });
  }

  it("sends an addendum to a signed note as text alone, without a Composition", () => {
    const machine = noteDocument();
    const record = newRecord(machine, {}, "document", NOW, 1e9);
    const signed = applySign(record, 1, machine.text, "drsmith", "AU", NOW).record;
    const t = applyAddendum(
      signed,
      signed.version,
      "Patient called back: fever.",
      "drsmith",
      "AU",
      NOW,
      "add-1",
    );
    const doc = finalDocument(t.record, t, "add-1");
    assert.equal(doc.note, undefined);
    const built = buildSignedFhirBundle(doc, doc.signoff, { id: "TEST-0001" }, {}, DEFAULT_FHIR_OPTIONS, NOW);
    assert.equal(built.bundle.entry?.length, 2);
  });
});

describe("clinical note: reviewed text back into sections", () => {
  it("gives back the note, evidence included, for the text left as it was", () => {
    const note = syntheticNote();
    assert.deepEqual(reviseNote(note, noteText(note)), note);
  });

  it("keeps the evidence of unchanged sentences, none for edited or new ones, and recognises headings as typed", () => {
    const note = syntheticNote();
    const text = noteText(note)
      .replace("Review in one week.", "Review in ten days.")
      .concat("\n\nphysical examination:\nChest clear.");
    const revised = reviseNote(note, text);
    const plan = revised.sections.find((s) => s.name === "PLAN");
    assert.equal(plan?.sentences[0]?.evidence[0]?.segmentId, "seg-4");
    assert.deepEqual(plan?.sentences[1], { text: "Review in ten days.", evidence: [] });
    assert.deepEqual(revised.sections.at(-1), {
      name: "PHYSICAL_EXAMINATION",
      title: "Physical examination",
      sentences: [{ text: "Chest clear.", evidence: [] }],
    });
  });

  it("puts a paragraph without a heading into the section before it, or into 'Note' at the top", () => {
    const revised = reviseNote(syntheticNote(), "Seen today.\n\nPlan\nRest.\n\nFluids.");
    assert.deepEqual(
      revised.sections.map((s) => [s.name, s.sentences.map((x) => x.text)]),
      [
        ["NOTE", ["Seen today."]],
        ["PLAN", ["Rest.", "Fluids."]],
      ],
    );
  });
});

describe("clinical note: words to their segments, for the evidence highlight", () => {
  it("gives each word the segment whose span holds its start, whatever order the segments come in", () => {
    const doc = noteDocument();
    const ids = wordSegmentIds(doc.words, [...doc.segments].reverse());
    assert.deepEqual([...new Set(ids)], ["seg-1", "seg-2", "seg-3", "seg-4"]);
    assert.equal(ids.filter((id) => id === "seg-4").length, 10);
    assert.deepEqual(wordSegmentIds([{ startTime: 99 }], doc.segments), [undefined]);
  });
});

describe("clinical note: edge check", () => {
  it("accepts the scribe's document", () => {
    assert.equal(checkTranscriptDocument(noteDocument()).ok, true);
  });

  const cases: Array<[string, (n: Record<string, unknown>) => unknown, RegExp]> = [
    ["a note that is not an object", () => "x", /payload\.note must be an object/],
    [
      "sections that are not an array",
      (n) => ({ ...n, sections: {} }),
      /payload\.note\.sections must be an array/,
    ],
    [
      "too many sections",
      (n) => ({
        ...n,
        sections: Array.from({ length: NOTE_LIMITS.sections + 1 }, () => ({
          name: "A",
          title: "A",
          sentences: [],
        })),
      }),
      /at most 100 sections/,
    ],
    [
      "a section without a title",
      (n) => ({ ...n, sections: [{ name: "PLAN", sentences: [] }] }),
      /note\.sections\[0\]\.title/,
    ],
    [
      "evidence with a time past its end",
      (n) => ({
        ...n,
        sections: [
          {
            name: "PLAN",
            title: "Plan",
            sentences: [{ text: "x", evidence: [{ segmentId: "s", startTime: 5, endTime: 1, text: "" }] }],
          },
        ],
      }),
      /note\.sections\[0\]\.sentences\[0\]\.evidence\[0\]\.startTime/,
    ],
    [
      "a sentence that is not text",
      (n) => ({ ...n, sections: [{ name: "P", title: "P", sentences: [{ text: 1, evidence: [] }] }] }),
      /sentences\[0\]\.text must be a string/,
    ],
  ];
  for (const [what, make, expected] of cases) {
    it(`refuses ${what}, naming the field and what is accepted`, () => {
      const doc = { ...noteDocument(), note: make(syntheticNote() as unknown as Record<string, unknown>) };
      const checked = checkTranscriptDocument(doc);
      assert.equal(checked.ok, false);
      assert.match(checked.ok ? "" : checked.error.message, expected);
    });
  }
});
