import { strict as assert } from "node:assert";
import { Hl7Message } from "@medplum/core";
import { unescapeHl7 } from "../../src/hospital/hl7/escape";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
  statusTexts,
  type FlowNode,
} from "../support/node-red";
import { documentWithText, syntheticPatient } from "../support/documents";

const hl7Mdm = builtNode("hl7-mdm");
const PHI_MARKER = "ZZ-PHI-MARKER-4402";

function load(config: Record<string, unknown> = {}): Promise<void> {
  const node: FlowNode = {
    id: "mdm",
    type: "hl7-mdm",
    name: "",
    messageType: "MDM^T02",
    sendingApplication: "NODERED-ASR",
    sendingFacility: "CLINIC",
    receivingApplication: "EHR",
    receivingFacility: "HOSP",
    processingId: "T",
    documentTypeCode: "CN",
    documentTypeText: "Consultation",
    loincCode: "11488-4",
    loincText: "Consult note",
    completionStatus: "DO",
    confidentiality: "R",
    maxObxLength: "1000",
    documentIdNamespace: "ASR",
    patient: "patient",
    patientType: "msg",
    encounter: "encounter",
    encounterType: "msg",
    wires: [["out"]],
    ...config,
  };
  return helper.load(hl7Mdm, flowWithCatch([node], ["out"]), {});
}

const TEXT = "Subjective: pain 3^4 | R&L knee ~ \\ worse\nAssessment: stable.";

describe(`hl7-mdm node (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("adds coded OBX for msg.entities to an ORU^R01 when asked, and never to an MDM^T02", async () => {
    const entities = [
      {
        category: "MEDICATION",
        text: "metformin",
        codes: [{ system: "RxNorm", code: "6809", description: "metformin" }],
      },
    ];
    await load({ messageType: "ORU^R01", codedEntities: true });
    let out = nextMessage("out");
    helper.getNode("mdm").receive({ payload: documentWithText(TEXT), entities, patient: syntheticPatient });
    const oru = (await out).payload as string;
    const coded = oru.split("\r").filter((s) => s.startsWith("OBX|") && s.split("|")[2] === "CE");
    assert.deepEqual(
      coded.map((s) =>
        s
          .split("|")
          .slice(5, 6)
          .concat(s.split("|")[11] ?? ""),
      ),
      [["6809^metformin^RXNORM", "P"]],
    );
    await helper.unload();
    await load({ codedEntities: true });
    out = nextMessage("out");
    helper.getNode("mdm").receive({ payload: documentWithText(TEXT), entities, patient: syntheticPatient });
    assert.doesNotMatch((await out).payload as string, /\|CE\|/);
  });

  it("builds MDM^T02 from the document and msg.patient / msg.encounter with the configured codes", async () => {
    await load();
    const out = nextMessage("out");
    const document = documentWithText(TEXT);
    helper.getNode("mdm").receive({
      payload: document,
      patient: syntheticPatient,
      encounter: {
        patientClass: "I",
        visitNumber: "V-77",
        location: "WARD-3",
        author: { id: "D9", family: "Docname" },
      },
    });
    const msg = await out;
    const parsed = Hl7Message.parse(msg.payload as string);
    assert.equal(parsed.getSegment("MSH")?.getField(11).toString(), "T");
    assert.equal(parsed.getSegment("MSH")?.getField(5).toString(), "EHR");
    assert.equal(parsed.getSegment("PID")?.getComponent(3, 1), "TEST-0001");
    assert.equal(parsed.getSegment("PV1")?.getField(2).toString(), "I");
    assert.equal(parsed.getSegment("PV1")?.getComponent(3, 1), "WARD-3");
    const txa = parsed.getSegment("TXA");
    assert.equal(txa?.getField(2).toString(), "CN", "TXA-2 is IS in v2.5.1: the code alone");
    assert.equal(txa?.getComponent(12, 2), "ASR");
    assert.ok((msg.payload as string).endsWith("\r"), "the last segment is terminated by CR");
    assert.equal(txa?.getField(17).toString(), "DO");
    assert.equal(txa?.getField(18).toString(), "R");
    assert.equal(txa?.getField(19).toString(), "UN");
    const obx = parsed.getAllSegments("OBX");
    assert.deepEqual(
      obx.map((s) => unescapeHl7(s.getField(5).toString())),
      TEXT.split("\n"),
    );
    assert.ok(obx.every((s) => s.getComponent(3, 1) === "11488-4" && s.getField(11).toString() === "P"));
    const hl7 = (msg as { hl7?: Record<string, unknown> }).hl7;
    assert.deepEqual(hl7, {
      messageType: "MDM^T02",
      controlId: parsed.getSegment("MSH")?.getField(10).toString(),
      documentId: document.documentId,
      segmentCount: 7,
      obxCount: 2,
      // The document id (a UUID) is too long for MSH-10 (20) and, with "ASR", for TXA-12 (30).
      shortened: [
        {
          field: "MSH-10",
          original: document.documentId,
          sent: parsed.getSegment("MSH")?.getField(10).toString(),
        },
        { field: "TXA-12.1", original: document.documentId, sent: txa?.getComponent(12, 1) },
      ],
    });
    assert.deepEqual((msg as { document?: unknown }).document, document);
  });

  it("builds ORU^R01 when configured, and takes the patient from a JSONata expression", async () => {
    await load({
      messageType: "ORU^R01",
      patient: '{"id": ids.mrn, "family": names.last}',
      patientType: "jsonata",
    });
    const out = nextMessage("out");
    helper.getNode("mdm").receive({
      payload: documentWithText("Impression: normal."),
      ids: { mrn: "TEST-9" },
      names: { last: "Testpatient" },
    });
    const parsed = Hl7Message.parse((await out).payload as string);
    assert.equal(parsed.getSegment("MSH")?.getField(9).toString(), "ORU^R01^ORU_R01");
    assert.equal(parsed.getSegment("PID")?.getComponent(3, 1), "TEST-9");
    assert.equal(parsed.getSegment("OBR")?.getField(25).toString(), "P");
  });

  it("splits long text into OBX segments no longer than the configured length", async () => {
    await load({ maxObxLength: "80" });
    const out = nextMessage("out");
    const long = "The patient describes a dull | aching pain in the lower back. ".repeat(20).trim();
    helper.getNode("mdm").receive({ payload: documentWithText(long), patient: syntheticPatient });
    const parsed = Hl7Message.parse((await out).payload as string);
    const values = parsed.getAllSegments("OBX").map((s) => s.getField(5).toString());
    assert.ok(values.length >= 16);
    assert.ok(values.every((v) => v.length <= 80));
    assert.equal(values.map(unescapeHl7).join(" "), long);
  });

  it("refuses a message without a patient identifier, and a payload that is not a document, through catch", async () => {
    await load();
    const caught = nextMessage("caught");
    helper.getNode("mdm").receive({ payload: documentWithText("x"), patient: { family: "Testpatient" } });
    assert.match(
      ((await caught).error as { message: string }).message,
      /msg\.patient\.id is required for PID-3: the patient identifier \(for example the MRN\)$/,
    );
    const caught2 = nextMessage("caught");
    helper.getNode("mdm").receive({ payload: "some text", patient: syntheticPatient });
    assert.match(
      ((await caught2).error as { message: string }).message,
      /msg\.payload is not a transcript document: payload\.documentId/,
    );
  });

  it("names a JSON patient setting without echoing it when a field is missing", async () => {
    await load({ patient: JSON.stringify({ family: PHI_MARKER }), patientType: "json" });
    const caught = nextMessage("caught");
    helper.getNode("mdm").receive({ payload: documentWithText("x") });
    const message = ((await caught).error as { message: string }).message;
    assert.match(message, /the patient setting\.id is required for PID-3/);
    assert.ok(!message.includes(PHI_MARKER));
  });

  it("refuses an authenticated completion status or a bad OBX length at deploy", async () => {
    await load({ completionStatus: "AU" });
    assert.ok(statusTexts(helper.getNode("mdm")).includes("hl7-mdm.status.misconfigured"));
    const caught = nextMessage("caught");
    helper.getNode("mdm").receive({ payload: documentWithText("x"), patient: syntheticPatient });
    assert.match(
      ((await caught).error as { message: string }).message,
      /TXA-17 must be one of DO, PA, IP, DI/,
    );
    await helper.unload();
    await load({ maxObxLength: "5" });
    const caught2 = nextMessage("caught");
    helper.getNode("mdm").receive({ payload: documentWithText("x"), patient: syntheticPatient });
    assert.match(
      ((await caught2).error as { message: string }).message,
      /maximum OBX-5 length must be a whole number from 16 to 65536/,
    );
  });

  it("never shows transcript text or patient data in its status, logs or errors", async () => {
    await load();
    const n = helper.getNode("mdm");
    const caughtMessages = collect("caught");
    const patient = { ...syntheticPatient, id: PHI_MARKER, family: PHI_MARKER };
    n.receive({ payload: documentWithText(`${PHI_MARKER} said`), patient });
    n.receive({ payload: documentWithText(PHI_MARKER), patient: { family: PHI_MARKER } });
    n.receive({
      payload: documentWithText(PHI_MARKER),
      patient: { ...patient, birthDate: PHI_MARKER },
    });
    await delay(600);
    const caught = caughtMessages.map((m) => (m.error as { message: string }).message);
    assert.equal(caught.length, 2);
    const texts = statusTexts(n);
    assert.ok(texts.includes("1 built, 2 failed"), JSON.stringify(texts));
    for (const t of [...texts, ...loggedTexts(n), ...caught]) assert.ok(!t.includes(PHI_MARKER), t);
  });

  it("starts with only id, type, z and wires and builds MDM^T02 with the editor's defaults", async () => {
    await helper.load(hl7Mdm, flowWithCatch([{ id: "mdm", type: "hl7-mdm", wires: [["out"]] }], ["out"]), {});
    const out = nextMessage("out");
    helper.getNode("mdm").receive({ payload: documentWithText(TEXT), patient: syntheticPatient });
    const parsed = Hl7Message.parse((await out).payload as string);
    assert.equal(parsed.getSegment("MSH")?.getField(9).toString(), "MDM^T02^MDM_T02");
    assert.equal(parsed.getSegment("MSH")?.getField(3).toString(), "NODERED-ASR");
    assert.equal(parsed.getSegment("TXA")?.getField(17).toString(), "DO");
  });

  it("refuses numbers and times from a flow that a message cannot carry, naming the field, never the value", async () => {
    await load();
    const caught = collect("caught");
    const n = helper.getNode("mdm");
    const doc = documentWithText("x");
    n.receive({ payload: doc, patient: { ...syntheticPatient, id: Number.NaN } });
    n.receive({ payload: doc, patient: { ...syntheticPatient, id: Number.POSITIVE_INFINITY } });
    n.receive({ payload: doc, patient: syntheticPatient, encounter: { visitNumber: Number.NaN } });
    n.receive({ payload: { ...doc, startedAt: "+275760-09-13T00:00:00.000Z" }, patient: syntheticPatient });
    n.receive({ payload: { ...doc, completedAt: "-000001-01-01T00:00:00.000Z" }, patient: syntheticPatient });
    n.receive({ payload: { ...doc, durationSeconds: Number.POSITIVE_INFINITY }, patient: syntheticPatient });
    await delay(100);
    // Node-RED shows the error's class before its text; the checks of the document come first.
    const messages = caught.map((m) => (m.error as { message: string }).message.replace(/^\w*Error: /, ""));
    assert.deepEqual(
      messages.sort(),
      [
        "msg.patient.id must be text or a finite number (not NaN or Infinity)",
        "msg.patient.id must be text or a finite number (not NaN or Infinity)",
        "msg.encounter.visitNumber must be text or a finite number (not NaN or Infinity)",
        "msg.payload is not a transcript document: payload.startedAt must be an ISO 8601 date and time with a zone (such as 2026-01-15T14:30:00.000Z), from 1900 to 9999. Accepted: the output of the transcript-document node.",
        "msg.payload is not a transcript document: payload.completedAt must be an ISO 8601 date and time with a zone (such as 2026-01-15T14:30:00.000Z), from 1900 to 9999. Accepted: the output of the transcript-document node.",
        "msg.payload is not a transcript document: payload.durationSeconds must be a number of seconds from 0 to 31536000. Accepted: the output of the transcript-document node.",
      ].sort(),
    );
    assert.equal(collect("out").length, 0);
  });

  it("refuses an unknown processing id or confidentiality at deploy instead of replacing it", async () => {
    for (const setting of [{ processingId: "X" }, { confidentiality: "Z" }]) {
      await load(setting);
      const caught = nextMessage("caught");
      helper.getNode("mdm").receive({ payload: documentWithText("x"), patient: syntheticPatient });
      assert.match(
        ((await caught).error as { message: string }).message,
        /must be one of (P, T, D|U, R, V)$/,
      );
      await helper.unload();
    }
  });

  it("refuses settings too long for their HL7 v2.5.1 field at deploy, naming the field and the limit", async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { documentTypeCode: "X".repeat(31) },
        /TXA-2 \(Document Type, IS\) is 31 characters; HL7 v2\.5\.1 allows 30/,
      ],
      [{ receivingFacility: "H".repeat(228) }, /MSH-6 \(Receiving Facility, HD\) is 228 characters/],
      // The sending application is the default namespace of OBR-3 (22 characters with the id).
      [
        { messageType: "ORU^R01", sendingApplication: "TRANSCRIPTION-APP", documentIdNamespace: "" },
        /the document id namespace .* has 17 characters; OBR-3 leaves it at most 11/,
      ],
    ];
    for (const [setting, expected] of cases) {
      await load(setting);
      assert.match(loggedTexts(helper.getNode("mdm")).join("\n"), expected, "logged at deploy");
      const caught = nextMessage("caught");
      helper.getNode("mdm").receive({ payload: documentWithText("x"), patient: syntheticPatient });
      assert.match(((await caught).error as { message: string }).message, expected);
      assert.equal(collect("out").length, 0);
      await helper.unload();
    }
  });
});
