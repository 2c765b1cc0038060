import { strict as assert } from "node:assert";
import type { DocumentReference, Provenance } from "@medplum/fhirtypes";
import { buildFhirBundle, DEFAULT_FHIR_OPTIONS } from "../../../src/hospital/fhir/bundle";
import { buildSignedFhirBundle } from "../../../src/hospital/fhir/signoff";
import { buildHl7, checkPatient, DEFAULT_HL7_OPTIONS } from "../../../src/hospital/hl7/build";
import { buildSignedHl7 } from "../../../src/hospital/hl7/signoff";
import {
  applyAddendum,
  applySign,
  applyWithdraw,
  finalDocument,
  newRecord,
} from "../../../src/review/record";
import { checkSignoff } from "../../../src/review/signoff";
import { documentWithText, syntheticPatient } from "../../support/documents";

const NOW = new Date("2026-01-15T15:00:00Z");
const patient = checkPatient(syntheticPatient, "msg.patient");

/** Field n of the first segment named `name` (MSH counts its field separator as MSH-1). */
function field(message: string, name: string, n: number): string {
  const segment = message.split("\r").find((s) => s.startsWith(name + "|"));
  assert.ok(segment, `no ${name} segment`);
  return segment.split("|")[name === "MSH" ? n - 1 : n] ?? "";
}

function segments(message: string, name: string): string[] {
  return message.split("\r").filter((s) => s.startsWith(name + "|"));
}

describe("review: final HL7 documents", () => {
  const machine = documentWithText("patient takes metro lol 50 mg daily");
  const record = newRecord(machine, {}, "document", NOW, 1e9);
  const t02 = buildHl7(machine, patient, {}, DEFAULT_HL7_OPTIONS, NOW).message;

  it("signs an edited document as MDM^T08 with TXA-17 AU, TXA-22 the signer and time, and the T02's document number", () => {
    const t = applySign(record, 1, "patient takes metoprolol 50 mg daily", "drsmith", "AU", NOW);
    const doc = finalDocument(t.record, t, record.id);
    const msg = buildSignedHl7(
      doc,
      checkSignoff(doc.signoff)!,
      patient,
      {},
      DEFAULT_HL7_OPTIONS,
      NOW,
    ).message;
    assert.equal(field(msg, "MSH", 9), "MDM^T08^MDM_T02");
    assert.equal(field(msg, "EVN", 1), "T08");
    assert.notEqual(field(msg, "MSH", 10), field(t02, "MSH", 10), "a new message control id");
    assert.equal(field(msg, "TXA", 12), field(t02, "TXA", 12), "the same unique document number");
    assert.equal(field(t02, "TXA", 17), "DO");
    assert.equal(field(msg, "TXA", 17), "AU");
    assert.equal(field(msg, "TXA", 19), "AV");
    const txa22 = field(msg, "TXA", 22).split("^");
    assert.equal(txa22[0], "drsmith");
    assert.equal(txa22[14], "20260115150000+0000");
    assert.ok(segments(msg, "OBX").every((s) => s.split("|")[11] === "F"));
    assert.match(segments(msg, "OBX").join("\n"), /metoprolol/);
  });

  it("signs an unchanged document as MDM^T04 with LA when configured", () => {
    const t = applySign(record, 1, machine.text, "drsmith", "LA", NOW);
    const doc = finalDocument(t.record, t, record.id);
    const msg = buildSignedHl7(doc, doc.signoff, patient, {}, DEFAULT_HL7_OPTIONS, NOW).message;
    assert.equal(field(msg, "MSH", 9), "MDM^T04^MDM_T02");
    assert.equal(field(msg, "TXA", 17), "LA");
  });

  it("withdraws an unsigned document with T11 (no content) and a signed one with T04, OBX-11 W and TXA-19 CA", () => {
    const early = applyWithdraw(record, 1, "wrong patient", "drsmith", NOW);
    const m11 = buildSignedHl7(
      finalDocument(early.record, early, record.id),
      early.signoff,
      patient,
      {},
      DEFAULT_HL7_OPTIONS,
      NOW,
    ).message;
    assert.equal(field(m11, "MSH", 9), "MDM^T11^MDM_T01");
    assert.equal(segments(m11, "OBX").length, 0);
    assert.equal(field(m11, "TXA", 19), "CA");
    assert.equal(field(m11, "TXA", 12), field(t02, "TXA", 12));
    const signed = applySign(record, 1, machine.text, "drsmith", "AU", NOW).record;
    const late = applyWithdraw(signed, 2, "wrong patient", "drsmith", NOW);
    const m04 = buildSignedHl7(
      finalDocument(late.record, late, record.id),
      late.signoff,
      patient,
      {},
      DEFAULT_HL7_OPTIONS,
      NOW,
    ).message;
    assert.equal(field(m04, "MSH", 9), "MDM^T04^MDM_T02");
    assert.equal(field(m04, "TXA", 19), "CA");
    assert.ok(segments(m04, "OBX").every((s) => s.split("|")[11] === "W"));
  });

  it("sends an addendum as T06 with its own document number and TXA-13 the signed document", () => {
    const signed = applySign(record, 1, machine.text, "drsmith", "AU", NOW).record;
    const add = applyAddendum(
      signed,
      2,
      "Addendum: allergy to penicillin.",
      "drsmith",
      "AU",
      NOW,
      "9d1e0c4b-1111-4aaa-8bbb-222233334444",
    );
    const doc = finalDocument(add.record, add, "9d1e0c4b-1111-4aaa-8bbb-222233334444");
    const built = buildSignedHl7(doc, add.signoff, patient, {}, DEFAULT_HL7_OPTIONS, NOW);
    const msg = built.message;
    assert.equal(field(msg, "MSH", 9), "MDM^T06^MDM_T02");
    // A UUID is longer than TXA-12 allows beside the namespace: sent in short form, the original reported.
    const short = built.shortened.find((s) => s.field === "TXA-12.1");
    assert.equal(short?.original, "9d1e0c4b-1111-4aaa-8bbb-222233334444");
    assert.equal(field(msg, "TXA", 12).split("^")[0], short?.sent);
    assert.equal(field(msg, "TXA", 13), field(t02, "TXA", 12));
  });

  it("refuses a malformed signoff, naming the field", () => {
    assert.throws(() => checkSignoff({ event: "sign", trigger: "T02" }), /signoff\.trigger/);
    assert.throws(() => checkSignoff({ event: "toString" }), /signoff\.event/);
    assert.equal(checkSignoff(undefined), undefined);
  });
});

describe("review: final FHIR documents", () => {
  const machine = documentWithText("patient takes metro lol 50 mg daily");
  const record = newRecord(machine, {}, "document", NOW, 1e9);
  const fhirPatient = { reference: "Patient/1" };
  const prelim = buildFhirBundle(machine, fhirPatient, {}, DEFAULT_FHIR_OPTIONS, NOW);

  it("makes the same DocumentReference final (conditional update on its identifier) with a Provenance naming the signer", () => {
    const t = applySign(record, 1, "patient takes metoprolol 50 mg daily", "drsmith", "AU", NOW);
    const doc = finalDocument(t.record, t, record.id);
    const built = buildSignedFhirBundle(doc, t.signoff, fhirPatient, {}, DEFAULT_FHIR_OPTIONS, NOW);
    const [docEntry, provEntry] = built.bundle.entry!;
    const ref = docEntry.resource as DocumentReference;
    assert.equal(ref.docStatus, "final");
    assert.deepEqual(ref.masterIdentifier, prelim.identifier);
    assert.deepEqual(docEntry.request, { method: "PUT", url: `DocumentReference?${prelim.ifNoneExist}` });
    assert.equal(ref.authenticator?.display, "drsmith");
    assert.equal(
      Buffer.from(ref.content[0].attachment.data!, "base64").toString(),
      "patient takes metoprolol 50 mg daily",
    );
    const prov = provEntry.resource as Provenance;
    assert.equal(prov.target[0].reference, docEntry.fullUrl);
    assert.equal(prov.agent[0].who.display, "drsmith");
    assert.equal(prov.agent[0].type?.coding?.[0].code, "attester");
  });

  it("marks a correction after signing amended, an addendum appends, a withdrawal entered-in-error", () => {
    const signed = applySign(record, 1, machine.text, "drsmith", "LA", NOW);
    const amended = applySign(signed.record, 2, "patient takes metoprolol 50 mg daily", "drsmith", "LA", NOW);
    const a = buildSignedFhirBundle(
      finalDocument(amended.record, amended, record.id),
      amended.signoff,
      fhirPatient,
      {},
      DEFAULT_FHIR_OPTIONS,
      NOW,
    );
    assert.equal((a.bundle.entry![0].resource as DocumentReference).docStatus, "amended");
    assert.equal((a.bundle.entry![1].resource as Provenance).agent[0].type?.coding?.[0].code, "legal");
    const add = applyAddendum(
      amended.record,
      3,
      "Addendum.",
      "drsmith",
      "AU",
      NOW,
      "9d1e0c4b-1111-4aaa-8bbb-222233334444",
    );
    const b = buildSignedFhirBundle(
      finalDocument(add.record, add, "9d1e0c4b-1111-4aaa-8bbb-222233334444"),
      add.signoff,
      fhirPatient,
      {},
      DEFAULT_FHIR_OPTIONS,
      NOW,
    );
    const bref = b.bundle.entry![0].resource as DocumentReference;
    assert.equal(bref.relatesTo?.[0].code, "appends");
    assert.deepEqual(bref.relatesTo?.[0].target.identifier, prelim.identifier);
    assert.equal(b.bundle.entry![0].request?.method, "POST");
    const w = applyWithdraw(add.record, 4, "wrong patient", "drsmith", NOW);
    const c = buildSignedFhirBundle(
      finalDocument(w.record, w, record.id),
      w.signoff,
      fhirPatient,
      {},
      DEFAULT_FHIR_OPTIONS,
      NOW,
    );
    const cref = c.bundle.entry![0].resource as DocumentReference;
    assert.equal(cref.status, "entered-in-error");
    assert.equal(cref.docStatus, "entered-in-error");
  });
});
