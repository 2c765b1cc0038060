import { strict as assert } from "node:assert";
import { Hl7Message } from "@medplum/core";
import { Message } from "node-hl7-client";
import { parseAck, messageControlId } from "../../../../src/hospital/hl7/ack";
import {
  buildHl7,
  checkEncounter,
  checkHl7Options,
  checkPatient,
  controlIdFor,
  DEFAULT_HL7_OPTIONS,
  Hl7FieldError,
  type Hl7Options,
} from "../../../../src/hospital/hl7/build";
import { cleanText, escapeHl7, splitText, unescapeHl7 } from "../../../../src/hospital/hl7/escape";
import { documentWithText, syntheticPatient } from "../../../support/documents";

const DELIMITERS = "BP 120/80 | pain 3^4 ~ R&L knee \\ note \\";
const NOW = new Date("2026-01-15T14:31:05Z");

function build(text: string, options: Partial<Hl7Options> = {}, patient: unknown = syntheticPatient) {
  return buildHl7(
    documentWithText(text),
    checkPatient(patient, "msg.patient"),
    checkEncounter(
      { patientClass: "O", visitNumber: "V-1", author: { id: "D1", family: "Docname" } },
      "msg.encounter",
    ),
    { ...DEFAULT_HL7_OPTIONS, ...options },
    NOW,
  );
}

/** The document text as a receiver reads it back: lines of one OBX-4 group joined by a space, groups by newlines. */
function textFromObx(obx: Array<{ subId: string; value: string }>): string {
  const groups = new Map<string, string[]>();
  for (const { subId, value } of obx) groups.set(subId, [...(groups.get(subId) ?? []), value]);
  return [...groups.values()].map((lines) => lines.join(" ")).join("\n");
}

/** The segment ids of a message whose every segment, the last included, ends with CR. */
function segmentIds(message: string): string[] {
  assert.ok(message.endsWith("\r"), "the last segment is terminated by CR");
  return message
    .slice(0, -1)
    .split("\r")
    .map((s) => s.slice(0, 3));
}

function viaMedplum(message: string): { text: string; parsed: Hl7Message } {
  const parsed = Hl7Message.parse(message);
  // @medplum/core splits on delimiters but does not unescape: the escape sequences are ours to undo.
  const obx = parsed.getAllSegments("OBX").map((s) => ({
    subId: s.getField(4).toString(),
    value: unescapeHl7(s.getField(5).toString()),
  }));
  return { text: textFromObx(obx), parsed };
}

function viaNodeHl7Client(message: string): string {
  const parsed = new Message({ text: message });
  const obx: Array<{ subId: string; value: string }> = [];
  parsed.get("OBX").forEach((segment) => {
    obx.push({ subId: segment.get(4).toString(), value: segment.get(5).toString() });
  });
  return textFromObx(obx);
}

describe("HL7 v2 text handling", () => {
  it("escapes the escape character first and every delimiter once", () => {
    assert.equal(escapeHl7(DELIMITERS), "BP 120/80 \\F\\ pain 3\\S\\4 \\R\\ R\\T\\L knee \\E\\ note \\E\\");
    assert.equal(unescapeHl7(escapeHl7(DELIMITERS)), DELIMITERS);
    assert.equal(unescapeHl7(escapeHl7("\\F\\ literally")), "\\F\\ literally");
  });

  it("turns CR, CRLF and LF into line breaks and removes the MLLP frame bytes and other controls", () => {
    assert.equal(cleanText("a\r\nb\rc\nd\x0be\x1cf\x00g\x7fh"), "a\nb\nc\ndefgh");
  });

  it("wraps long paragraphs at spaces so no escaped line exceeds the limit, and cuts a too-long word", () => {
    const words = Array.from({ length: 300 }, (_, i) => `w${i}|`).join(" ");
    const [lines = []] = splitText(words, 40);
    assert.ok(lines.length > 10);
    for (const line of lines) assert.ok(escapeHl7(line).length <= 40, line);
    assert.equal(lines.join(" "), words, "nothing lost or reordered");
    const cut = splitText("x".repeat(100), 30)[0] ?? [];
    assert.deepEqual(
      cut.map((l) => l.length),
      [30, 30, 30, 10],
    );
  });

  it("refuses an OBX limit too small to hold a word", () => {
    assert.throws(() => splitText("abc", 3), /at least 16/);
  });
});

describe("HL7 settings checked at deploy", () => {
  it("names the settings that fill a field too long for HL7 v2.5.1, not only the field", () => {
    for (const setting of [
      "loincCode",
      "loincText",
      "sendingFacility",
      "receivingFacility",
      "documentTypeCode",
    ] as const) {
      assert.throws(
        () => checkHl7Options({ ...DEFAULT_HL7_OPTIONS, [setting]: "x".repeat(100_000) }),
        (err: Error) => {
          assert.match(err.message, new RegExp(`\\(settings: [^)]*\\b${setting}\\b`));
          assert.ok(err.message.length < 1000, "the value is not in the message");
          return true;
        },
      );
    }
    assert.doesNotThrow(() => checkHl7Options(DEFAULT_HL7_OPTIONS));
  });
});

describe("MDM^T02 builder", () => {
  it("builds MSH, EVN, PID, PV1, TXA and OBX with the preliminary statuses of a machine transcript", () => {
    const built = build("Patient denies chest pain.");
    const { parsed } = viaMedplum(built.message);
    assert.deepEqual(segmentIds(built.message), ["MSH", "EVN", "PID", "PV1", "TXA", "OBX"]);
    const msh = parsed.getSegment("MSH");
    assert.equal(msh?.getField(9).toString(), "MDM^T02^MDM_T02");
    assert.equal(msh?.getField(10).toString(), built.controlId);
    assert.equal(msh?.getField(12).toString(), "2.5.1");
    assert.equal(msh?.getField(18).toString(), "UNICODE UTF-8");
    assert.equal(parsed.getSegment("EVN")?.getField(1).toString(), "T02");
    const pid = parsed.getSegment("PID");
    assert.equal(pid?.getComponent(3, 1), "TEST-0001");
    assert.equal(pid?.getComponent(3, 4), "HOSP");
    assert.equal(pid?.getComponent(5, 1), "Testpatient");
    assert.equal(pid?.getField(7).toString(), "19800314");
    const pv1 = parsed.getSegment("PV1");
    assert.equal(pv1?.getField(2).toString(), "O");
    assert.equal(pv1?.getComponent(19, 1), "V-1");
    const txa = parsed.getSegment("TXA");
    assert.equal(txa?.getField(2).toString(), "PR", "TXA-2 is IS in v2.5.1: the code, no components");
    assert.equal(txa?.getField(3).toString(), "TX");
    // A UUID and the namespace exceed the 30 characters of TXA-12: the id goes in short form, reported.
    const [documentNumber] = built.shortened.filter((s) => s.field === "TXA-12.1");
    assert.equal(documentNumber?.original, "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11");
    assert.equal(txa?.getComponent(12, 1), documentNumber?.sent);
    assert.equal(txa?.getComponent(12, 2), "NODERED-ASR");
    assert.ok((txa?.getField(12).toString().length ?? 99) <= 30);
    assert.equal(txa?.getField(17).toString(), "DO");
    assert.equal(txa?.getField(19).toString(), "UN");
    assert.equal(txa?.getField(10).toString(), "", "nobody has authenticated a machine draft");
    assert.equal(txa?.getComponent(9, 2), "Docname");
    const obx = parsed.getSegment("OBX");
    assert.equal(obx?.getField(2).toString(), "TX");
    assert.equal(obx?.getComponent(3, 1), "11506-3");
    assert.equal(obx?.getComponent(3, 3), "LN");
    assert.equal(obx?.getField(11).toString(), "P");
    assert.equal(obx?.getField(5).toString(), "Patient denies chest pain.");
  });

  it("keeps the same MSH-10 and TXA-12 for the same document, so a resend can be de-duplicated", () => {
    const a = build("one");
    const b = build("one");
    assert.equal(a.controlId, b.controlId);
    assert.equal(messageControlId(a.message), controlIdFor("3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11"));
    assert.ok(a.controlId.length <= 20);
  });

  it("round-trips text full of delimiters and line breaks through two independent parsers", () => {
    const text = `${DELIMITERS}\r\nSecond ^line^ with ~tilde~ & amp\nThird | line \\E\\ literal\rµg °C ± done`;
    const expected = cleanText(text);
    const built = build(text);
    assert.equal(built.message.split("\r").filter((s) => s.startsWith("OBX")).length, 4, "one OBX per line");
    assert.equal(viaMedplum(built.message).text, expected);
    assert.equal(viaNodeHl7Client(built.message), expected);
  });

  it("splits a long transcript into OBX segments of at most the configured length on word boundaries", () => {
    const sentence = "The patient reports | intermittent ^ headaches & dizziness ~ for two weeks. ";
    const text = sentence.repeat(200).trim();
    const built = build(text, { maxObxLength: 200 });
    const values = built.message
      .split("\r")
      .filter((s) => s.startsWith("OBX"))
      .map((s) => s.split("|")[5] ?? "");
    assert.equal(values.length, built.obxCount);
    assert.ok(values.length > 50);
    for (const v of values) assert.ok(v.length <= 200, `OBX-5 of ${v.length} chars`);
    for (const v of values) assert.ok(!v.startsWith(" ") && !v.endsWith(" "), "breaks fall on spaces");
    assert.equal(viaNodeHl7Client(built.message), text);
  });

  it("never lets the frame bytes or a raw CR reach the message", () => {
    const built = build("before\x0bmiddle\x1c\rafter");
    assert.ok(!built.message.includes("\u000b") && !built.message.includes("\u001c"));
    assert.equal(viaMedplum(built.message).text, "beforemiddle\nafter");
    assert.deepEqual(segmentIds(built.message), ["MSH", "EVN", "PID", "PV1", "TXA", "OBX", "OBX"]);
  });

  it("escapes delimiters in the patient name and codes as well", () => {
    const built = build("text", { sendingFacility: "A|B" }, { ...syntheticPatient, family: "O^Brien&Co" });
    const { parsed } = viaMedplum(built.message);
    assert.equal(unescapeHl7(parsed.getSegment("PID")?.getComponent(5, 1) ?? ""), "O^Brien&Co");
    assert.equal(unescapeHl7(parsed.getSegment("MSH")?.getField(4).toString() ?? ""), "A|B");
  });

  it("builds ORU^R01 with OBR and preliminary result status when asked", () => {
    const built = build("Impression: normal.", { messageType: "ORU^R01" });
    const { parsed } = viaMedplum(built.message);
    assert.deepEqual(segmentIds(built.message), ["MSH", "PID", "PV1", "OBR", "OBX"]);
    assert.equal(parsed.getSegment("MSH")?.getField(9).toString(), "ORU^R01^ORU_R01");
    assert.equal(parsed.getSegment("OBR")?.getField(25).toString(), "P");
    const [documentNumber] = built.shortened.filter((s) => s.field === "OBR-3.1");
    assert.equal(documentNumber?.original, "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11");
    assert.equal(parsed.getSegment("OBR")?.getComponent(3, 1), documentNumber?.sent);
    assert.ok((parsed.getSegment("OBR")?.getField(3).toString().length ?? 99) <= 22);
    assert.equal(parsed.getSegment("OBX")?.getField(11).toString(), "P");
  });

  it("names the missing patient field without echoing any value", () => {
    assert.throws(
      () => checkPatient({ family: "Testpatient" }, "msg.patient"),
      (err: unknown) =>
        err instanceof Hl7FieldError &&
        err.message === "msg.patient.id is required for PID-3: the patient identifier (for example the MRN)",
    );
    assert.throws(
      () => checkPatient({ id: "X1" }, "msg.patient"),
      /msg\.patient\.family is required for PID-5/,
    );
    assert.throws(() => checkPatient(undefined, "msg.patient"), /msg\.patient is required for PID/);
    assert.throws(
      () => checkPatient({ ...syntheticPatient, birthDate: "14/03/1980" }, "msg.patient"),
      /msg\.patient\.birthDate is required for PID-7: a date as YYYY-MM-DD/,
    );
    assert.throws(() => build("   \n  "), /msg\.payload\.text is required for OBX-5/);
  });

  it("refuses patient and encounter fields that are NaN, Infinity, objects or over-long, naming the property only", () => {
    const marker = "ZZ-PHI-7731";
    const cases: Array<[() => unknown, RegExp]> = [
      [
        () => checkPatient({ ...syntheticPatient, id: Number.NaN }, "msg.patient"),
        /^msg\.patient\.id must be text or a finite number \(not NaN or Infinity\)$/,
      ],
      [
        () => checkPatient({ ...syntheticPatient, given: Number.POSITIVE_INFINITY }, "msg.patient"),
        /^msg\.patient\.given must be text or a finite number/,
      ],
      [
        () => checkPatient({ ...syntheticPatient, family: { name: marker } }, "msg.patient"),
        /^msg\.patient\.family must be text or a number$/,
      ],
      [
        () => checkPatient({ ...syntheticPatient, id: `${marker}${"9".repeat(1024)}` }, "msg.patient"),
        /^msg\.patient\.id must be at most 1024 characters$/,
      ],
      [
        () => checkPatient({ ...syntheticPatient, birthDate: "2026-02-30" }, "msg.patient"),
        /^msg\.patient\.birthDate is required for PID-7/,
      ],
      [
        () => checkEncounter({ visitNumber: Number.NaN }, "msg.encounter"),
        /^msg\.encounter\.visitNumber must be text or a finite number/,
      ],
      [
        () => checkEncounter({ author: { id: -Infinity } }, "msg.encounter"),
        /^msg\.encounter\.author\.id must be text or a finite number/,
      ],
    ];
    for (const [call, expected] of cases) {
      assert.throws(
        call,
        (err: unknown) => err instanceof Error && expected.test(err.message) && !err.message.includes(marker),
      );
    }
    assert.equal(
      checkPatient({ ...syntheticPatient, id: 12345 }, "msg.patient").id,
      "12345",
      "a finite number is its text",
    );
  });

  it("builds a document at the size limit, with delimiters throughout, into OBX lines of the configured length", () => {
    const text = "word|^&~\\ ".repeat(190_000);
    const built = build(text, { maxObxLength: 65536 });
    const values = built.message
      .split("\r")
      .filter((s) => s.startsWith("OBX"))
      .map((s) => s.split("|").slice(5, -6).join("|"));
    assert.ok(values.every((v) => v.length <= 65536));
    assert.equal(values.map(unescapeHl7).join(" "), text.trim());
  });
});

describe("ACK parsing", () => {
  it("reads MSA-1, MSA-2, MSA-3 and ERR from an ACK built by an independent library", () => {
    const original = Hl7Message.parse(build("x").message);
    const ack = parseAck(original.buildAck({ ackCode: "AE" }).toString());
    assert.ok(ack.ok);
    assert.equal(ack.ack.code, "AE");
    assert.equal(ack.ack.controlId, original.getSegment("MSH")?.getField(10).toString());
  });

  it("refuses responses that are not ACKs", () => {
    assert.deepEqual(parseAck("hello"), {
      ok: false,
      problem: "the response does not start with an MSH segment",
    });
    assert.deepEqual(parseAck("MSH|^~\\&|A\rPID|1"), {
      ok: false,
      problem: "the response has no MSA segment",
    });
    assert.deepEqual(parseAck("MSH|^~\\&|A\rMSA|ZZ|1"), {
      ok: false,
      problem: "MSA-1 is not an acknowledgment code",
    });
  });
});
