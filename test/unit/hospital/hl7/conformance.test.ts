import { strict as assert } from "node:assert";
import { HL7Message } from "hl7v2";
import { dictionaries } from "hl7v2-dictionary";
import {
  buildHl7,
  checkEncounter,
  checkPatient,
  controlIdFor,
  DEFAULT_HL7_OPTIONS,
  Hl7ConformanceError,
  Hl7SettingError,
  type BuiltHl7,
  type Hl7MessageType,
  type Hl7Options,
} from "../../../../src/hospital/hl7/build";
import { HASH_CHARS, shortIdentifier } from "../../../../src/hospital/hl7/short-id";
import type { TranscriptDocument } from "../../../../src/transcript/document";
import {
  checkConformance,
  COMPONENTS,
  describeViolation,
  V251_FIELDS,
} from "../../../../src/hospital/hl7/v251-fields";
import { buildSignedHl7 } from "../../../../src/hospital/hl7/signoff";
import { applySign, finalDocument, newRecord } from "../../../../src/review/record";
import { documentWithText } from "../../../support/documents";
import { noteDocument, syntheticNote } from "../../../support/notes";

/**
 * HL7 v2.5.1 conformance of what the builder writes, judged by an independent parser and data
 * dictionary (the hl7v2 and hl7v2-dictionary packages): every field of every message must be one
 * the 2.5.1 dictionary defines for its segment, within its length, with no more components than
 * its data type has, and repeated only where the field repeats.
 */

const V251 = dictionaries["2.5.1"];
const NOW = new Date("2026-01-15T14:31:05Z");

interface Problem {
  where: string;
  problem: string;
}

/** The independent validator: hl7v2's parser and its 2.5.1 dictionary. Returns what is wrong. */
function validateIndependently(message: string): Problem[] {
  const problems: Problem[] = [];
  if (!message.endsWith("\r"))
    problems.push({ where: "message", problem: "last segment not terminated by CR" });
  if (message.includes("\n")) problems.push({ where: "message", problem: "line feed in the message" });
  const parsed = HL7Message.parse(message);
  assert.equal(parsed.version, "2.5.1");
  for (const segment of parsed.segments) {
    const def = V251.segments[segment.segmentType];
    if (!def) {
      problems.push({ where: segment.segmentType, problem: "segment not in the 2.5.1 dictionary" });
      continue;
    }
    segment.fields.forEach((field, index) => {
      const position = index + 1; // hl7v2 keeps field n at index n - 1
      // MSH-1 and MSH-2 are the delimiters themselves.
      if (segment.segmentType === "MSH" && position <= 2) return;
      const text = field.toHL7String();
      if (text === "") return;
      const where = `${segment.segmentType}-${position}`;
      const fieldDef = def.fields[String(position)];
      if (!fieldDef) {
        problems.push({ where, problem: "field not defined in 2.5.1" });
        return;
      }
      const repetitions = text.split("~");
      if (repetitions.length > 1 && fieldDef.rep === 1) problems.push({ where, problem: "repeated" });
      const typeDef = V251.types[fieldDef.type];
      const componentCount = Object.keys(typeDef?.fields ?? {}).length || 1;
      for (const repetition of repetitions) {
        if (fieldDef.len !== undefined && repetition.length > fieldDef.len) {
          problems.push({ where, problem: `${repetition.length} characters, ${fieldDef.len} allowed` });
        }
        // OBX-5 (varies) has the type OBX-2 names: TX (one value) or CE (coded entities).
        const valueType = segment.segmentType === "OBX" ? segment.fields[1]?.toHL7String() : undefined;
        const variesCount = Object.keys(V251.types[valueType ?? ""]?.fields ?? {}).length || 1;
        const allowed =
          fieldDef.type === "varies" || fieldDef.type === "VARIES" ? variesCount : componentCount;
        if (repetition.split("^").length > allowed) {
          problems.push({
            where,
            problem: `${repetition.split("^").length} components, ${fieldDef.type} has ${allowed}`,
          });
        }
      }
    });
  }
  return problems;
}

function build(
  messageType: Hl7MessageType,
  text: string,
  patient: Record<string, unknown>,
  encounter: Record<string, unknown>,
  options: Partial<Hl7Options> = {},
  documentId?: string,
): BuiltHl7 {
  return buildHl7(
    documentWithText(text, documentId),
    checkPatient(patient, "msg.patient"),
    checkEncounter(encounter, "msg.encounter"),
    { ...DEFAULT_HL7_OPTIONS, messageType, ...options },
    NOW,
  );
}

/** The largest inputs the builder accepts; delimiters are included, as escaping lengthens them. */
const MAX_OPTIONS: Partial<Hl7Options> = {
  // MSH-3..6 (HD, 227): a long application and facility name, with an escaped delimiter.
  sendingApplication: "APP&",
  sendingFacility: `F${"x".repeat(200)}|`,
  receivingApplication: "R".repeat(227),
  receivingFacility: "H".repeat(227),
  documentTypeCode: "D".repeat(30), // TXA-2 (IS, 30)
  documentTypeText: "T".repeat(500), // not sent in TXA-2
  loincCode: "L".repeat(20),
  loincText: "l".repeat(200),
  maxObxLength: 65536,
  documentIdNamespace: "N".repeat(11), // the longest that leaves OBR-3 room for an identifier
};
const MAX_PATIENT = {
  id: "I".repeat(200),
  idAuthority: "A".repeat(20),
  idType: "MR",
  family: "F".repeat(194),
  given: "G".repeat(30),
  birthDate: "1980-03-14",
  sex: "U",
};
const MAX_ENCOUNTER = {
  patientClass: "O",
  location: "W".repeat(80),
  visitNumber: "V".repeat(200),
  visitAuthority: "A".repeat(20),
  author: { id: "D".repeat(15), family: "F".repeat(194), given: "G".repeat(30) },
};

describe("HL7 v2.5.1 field table", () => {
  it("matches the 2.5.1 dictionary of an independent package for every row: type, length, repetition", () => {
    for (const row of V251_FIELDS) {
      const def = V251.segments[row.segment]?.fields[String(row.field)];
      assert.ok(def, `${row.segment}-${row.field} is in the dictionary`);
      assert.equal(row.type, def.type === "varies" ? "VARIES" : def.type, `${row.segment}-${row.field} type`);
      assert.equal(row.maxLength, def.len, `${row.segment}-${row.field} length`);
      // The dictionary's OBX-2 repetition is 125, its table number: a slip in its source; 2.5.1 has OBX-2 unrepeated.
      const repeats = def.rep !== 1 && !(row.segment === "OBX" && row.field === 2 && def.rep === def.table);
      assert.equal(row.repeatable, repeats, `${row.segment}-${row.field} repetition`);
    }
  });

  it("gives each composite data type the component count of the dictionary", () => {
    for (const [type, count] of COMPONENTS) {
      const def = V251.types[type];
      assert.ok(def, `${type} is in the dictionary`);
      assert.equal(count, Object.keys(def.fields ?? {}).length || 1, `${type} components`);
    }
  });
});

describe("HL7 v2.5.1 conformance of built messages", () => {
  for (const messageType of ["MDM^T02", "ORU^R01"] as const) {
    it(`${messageType}: every field of a message built from maximal inputs passes the independent validator`, () => {
      const long = `${"word | ^ & ~ \\ ".repeat(6000)}end`;
      const built = build(messageType, long, MAX_PATIENT, MAX_ENCOUNTER, MAX_OPTIONS, "d".repeat(128));
      assert.deepEqual(validateIndependently(built.message), []);
      assert.deepEqual(checkConformance(built.message), []);
      assert.ok(built.obxCount >= 2, "the long text spans OBX segments");
    });

    it(`${messageType}: every field of a message built from the defaults passes the independent validator`, () => {
      const built = build(messageType, "Patient denies chest pain.", { id: "1", family: "Doe" }, {});
      assert.deepEqual(validateIndependently(built.message), []);
    });
  }

  it("ORU^R01 with coded entities: coded (CE) OBX after the text, numbered on, preliminary, pass the independent validator", () => {
    const code = (system: string, c: string, description: string): Record<string, string> => ({
      system,
      code: c,
      description,
    });
    const entities = [
      {
        category: "MEDICAL_CONDITION",
        text: "hypertension ^ | & ~ \\",
        codes: [
          code("ICD-10-CM", "I10", "Essential (primary) hypertension | ^"),
          code("SNOMED CT", "38341003", "x".repeat(300)),
        ],
      },
      { category: "MEDICATION", text: "metformin", codes: [code("RxNorm", "6809", "metformin")] },
    ];
    // Loose, as a flow may send them: readCodedEntities reads what it needs.
    const document = {
      ...documentWithText("History of hypertension. Continue metformin."),
      entities: entities as unknown as TranscriptDocument["entities"],
    };
    const options = {
      ...DEFAULT_HL7_OPTIONS,
      ...MAX_OPTIONS,
      messageType: "ORU^R01" as const,
      codedEntities: true,
    };
    const built = buildHl7(
      document,
      checkPatient(MAX_PATIENT, "msg.patient"),
      checkEncounter(MAX_ENCOUNTER, "e"),
      options,
      NOW,
    );
    assert.deepEqual(validateIndependently(built.message), []);
    assert.deepEqual(checkConformance(built.message), []);
    const obx = built.message.split("\r").filter((s) => s.startsWith("OBX|"));
    assert.deepEqual(
      obx.map((s) => s.split("|").slice(1, 3).join("|")),
      ["1|TX", "2|CE", "3|CE"],
    );
    assert.equal(built.obxCount, 3);
    const [, , cwe] = obx;
    assert.equal(cwe?.split("|")[5], "6809^metformin^RXNORM");
    assert.ok(
      obx.every((s) => s.split("|")[11] === "P"),
      "nothing machine-derived goes out final",
    );
    const mdm = buildHl7(
      document,
      checkPatient(MAX_PATIENT, "msg.patient"),
      {},
      { ...options, messageType: "MDM^T02" },
      NOW,
    );
    assert.doesNotMatch(mdm.message, /\|CE\|/, "MDM^T02 stays text only");
  });

  it("the message of the issue (TXA-2 with components, 48-character TXA-12, no final CR) fails the independent validator", () => {
    // What main built before: this shows the validator can fail, on exactly the faults reported.
    const old = [
      "MSH|^~\\&|NODERED-ASR||||20260115143105+0000||MDM^T02^MDM_T02|3f1c2a9e5b7d4e219a0c|P|2.5.1||||||UNICODE UTF-8",
      `TXA|1|PR^Progress note^HL70270|TX${"|".repeat(9)}3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11^NODERED-ASR|||||DO|U|UN`,
    ].join("\r");
    const problems = validateIndependently(old).map((p) => `${p.where}: ${p.problem}`);
    assert.deepEqual(problems, [
      "message: last segment not terminated by CR",
      "TXA-2: 3 components, IS has 1",
      "TXA-12: 48 characters, 30 allowed",
    ]);
    assert.deepEqual(
      checkConformance(old).map((v) => v.kind),
      ["unterminated", "too-many-components", "too-long"],
    );
  });

  it("sends a document id too long for TXA-12 / OBR-3 in short form and reports the mapping", () => {
    const id = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11";
    const mdm = build("MDM^T02", "text", { id: "1", family: "Doe" }, {}, {}, id);
    const oru = build("ORU^R01", "text", { id: "1", family: "Doe" }, {}, {}, id);
    const txa12 = mdm.shortened.find((s) => s.field === "TXA-12.1");
    const obr3 = oru.shortened.find((s) => s.field === "OBR-3.1");
    assert.ok(txa12 && obr3);
    assert.equal(txa12.original, id);
    assert.equal(obr3.original, id);
    assert.ok(mdm.message.includes(`|${txa12.sent}^NODERED-ASR|`));
    assert.ok(oru.message.includes(`|${obr3.sent}^NODERED-ASR|`));
    assert.equal(`${txa12.sent}^NODERED-ASR`.length, 30);
    assert.equal(`${obr3.sent}^NODERED-ASR`.length, 22);
    // Deterministic: the same document gives the same short form (a resend is recognisable).
    assert.deepEqual(
      build("MDM^T02", "other", { id: "2", family: "Roe" }, {}, {}, id).shortened,
      mdm.shortened,
    );
    // The prefix keeps the start of the id readable; the hash tells apart ids that share it.
    assert.match(txa12.sent, /^3f1c2a9\.[A-Z2-7]{10}$/);
    const sibling = build("MDM^T02", "text", { id: "1", family: "Doe" }, {}, {}, `${id.slice(0, -1)}2`);
    assert.notEqual(sibling.shortened.find((s) => s.field === "TXA-12.1")?.sent, txa12.sent);
    // MSH-10 (20): the id's 32 letters and digits are too many too.
    assert.deepEqual(
      mdm.shortened.find((s) => s.field === "MSH-10"),
      {
        field: "MSH-10",
        original: id,
        sent: mdm.controlId,
      },
    );
    assert.equal(mdm.controlId, controlIdFor(id));
    assert.ok(mdm.controlId.length <= 20);
  });

  it("sends a short document id as it is, and reports nothing", () => {
    const built = build("ORU^R01", "text", { id: "1", family: "Doe" }, {}, {}, "DOC-42");
    assert.deepEqual(built.shortened, []);
    assert.ok(built.message.includes("|DOC-42^NODERED-ASR|"));
    assert.equal(built.controlId, "DOC42");
  });

  it("refuses a namespace that leaves no room for the document id, naming the setting", () => {
    assert.throws(
      () => build("ORU^R01", "text", { id: "1", family: "Doe" }, {}, { documentIdNamespace: "N".repeat(12) }),
      (err: unknown) =>
        err instanceof Hl7SettingError &&
        err.setting === "documentIdNamespace" &&
        /OBR-3 leaves it at most 11/.test(err.message),
    );
  });

  it("refuses over-long patient, encounter and setting values with the field and the limit, never the value", () => {
    const cases: Array<[string, () => BuiltHl7, string]> = [
      [
        "PID-5",
        () => build("MDM^T02", "t", { ...MAX_PATIENT, family: `SECRETNAME${"F".repeat(230)}` }, {}),
        "250",
      ],
      [
        "PID-3",
        () => build("MDM^T02", "t", { ...MAX_PATIENT, id: `SECRETMRN${"9".repeat(250)}` }, {}),
        "250",
      ],
      ["PID-8", () => build("MDM^T02", "t", { ...MAX_PATIENT, sex: "female" }, {}), "1"],
      ["PV1-3", () => build("MDM^T02", "t", MAX_PATIENT, { location: "SECRETWARD".repeat(9) }), "80"],
      ["TXA-2", () => build("MDM^T02", "t", MAX_PATIENT, {}, { documentTypeCode: "X".repeat(31) }), "30"],
      ["MSH-4", () => build("MDM^T02", "t", MAX_PATIENT, {}, { sendingFacility: "F".repeat(228) }), "227"],
    ];
    for (const [field, run, limit] of cases) {
      assert.throws(run, `${field} is refused`);
      assert.throws(run, (err: unknown) => {
        assert.ok(err instanceof Hl7ConformanceError, field);
        assert.match(err.message, new RegExp(`${field} \\(.*allows ${limit}|${field} \\(`), field);
        assert.ok(
          err.violations.some((v) => "where" in v && v.where === field),
          field,
        );
        assert.doesNotMatch(err.message, /SECRET/);
        return true;
      });
    }
  });
});

describe("HL7 v2.5.1 conformance of a clinical note (one OBX per section)", () => {
  const patient = checkPatient(MAX_PATIENT, "msg.patient");
  const encounter = checkEncounter(MAX_ENCOUNTER, "msg.encounter");
  for (const messageType of ["MDM^T02", "ORU^R01"] as const) {
    it(`${messageType}: a note with long sections, delimiters and a local section code passes the independent validator`, () => {
      const note = syntheticNote();
      note.sections[1].sentences.push({ text: "word | ^ & ~ \\ ".repeat(3000), evidence: [] });
      note.sections.push({
        name: "X".repeat(100),
        title: "T".repeat(100),
        sentences: [{ text: "x", evidence: [] }],
      });
      const built = buildHl7(
        noteDocument(note),
        patient,
        encounter,
        { ...DEFAULT_HL7_OPTIONS, ...MAX_OPTIONS, messageType },
        NOW,
      );
      assert.deepEqual(validateIndependently(built.message), []);
      assert.deepEqual(checkConformance(built.message), []);
    });
  }

  it("MDM^T08: the signed note passes the independent validator", () => {
    const machine = noteDocument();
    const t = applySign(
      newRecord(machine, {}, "document", NOW, 1e9),
      1,
      `${machine.text}\nEdited.`,
      "dr",
      "AU",
      NOW,
    );
    const doc = finalDocument(t.record, t, machine.documentId);
    const built = buildSignedHl7(doc, doc.signoff, patient, encounter, DEFAULT_HL7_OPTIONS, NOW);
    assert.deepEqual(validateIndependently(built.message), []);
  });
});

describe("checkConformance", () => {
  it("reports an unknown segment and an unlisted field, so a new field cannot go out unchecked", () => {
    const v = checkConformance(["MSH|^~\\&|A|||||||1|P|2.5.1", "ZZZ|1", "PID|1||1||Doe|||||X"]);
    assert.deepEqual(
      v.map((x) => x.kind),
      ["unknown-segment", "unlisted-field"],
    );
    assert.match(describeViolation(v[1]), /PID-10 is valued but not in/);
  });

  it("reports a repeated field that does not repeat, subcomponents in a primitive, empty segments and line feeds", () => {
    const v = checkConformance("MSH|^~\\&|A|||||||1|P|2.5.1\rPID|1||1||Doe|||F~M\r\rOBX|1|TX|c||a&b\nc\r");
    assert.deepEqual(
      v.map((x) => x.kind),
      ["repeated", "empty-segment", "line-feed", "subcomponents-in-primitive"],
    );
  });

  it("accepts a message without violations and measures escaped text as sent", () => {
    assert.deepEqual(checkConformance("MSH|^~\\&|A|||||||1|P|2.5.1\rOBX|1|TX|c|1|x\r"), []);
    // OBX-4 (ST, 20): 7 escaped delimiters are 21 characters on the wire.
    const v = checkConformance(["MSH|^~\\&|A|||||||1|P|2.5.1", `OBX|1|TX|c|${"\\F\\".repeat(7)}`]);
    assert.deepEqual(
      v.map((x) => x.kind),
      ["too-long"],
    );
  });
});

describe("short identifiers", () => {
  it("are deterministic, of the budget's length, and free of HL7 delimiters", () => {
    const id = "a|b^c~d&e\\f".repeat(10);
    const s = shortIdentifier(id, 18);
    assert.equal(s, shortIdentifier(id, 18));
    assert.equal(s.length, 18);
    assert.match(s, /^[0-9A-Za-z]+\.[A-Z2-7]+$/);
    assert.equal(shortIdentifier(id, HASH_CHARS).length, HASH_CHARS);
    assert.equal(shortIdentifier("short", 18), "short");
    assert.throws(() => shortIdentifier(id, HASH_CHARS - 1), RangeError);
  });
});
