import { strict as assert } from "node:assert";
import {
  buildHl7,
  checkEncounter,
  checkPatient,
  DEFAULT_HL7_OPTIONS,
  Hl7FieldError,
  type Hl7Options,
} from "../../../../src/hospital/hl7/build";
import { frame, FrameDecoder } from "../../../../src/hospital/mllp/frame";
import { documentWithText, syntheticPatient } from "../../../support/documents";

/**
 * A strict reader of our own for what hl7-mdm sends, independent of the builder's code: the segment
 * grammar of HL7 v2 chapter 2 (every segment an id and fields, ended by CR; no LF, no controls), the
 * escape grammar (a `\` only ever opens a whole escape sequence), and the text read back from OBX-5.
 */

const SEGMENT = /^[A-Z][A-Z0-9]{2}(\|[^\r]*)?$/;
// eslint-disable-next-line no-control-regex -- the point is to find control characters
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const ESCAPE = /\\(?:[EFSTR]|X(?:[0-9A-F]{2})+|[HN]|\.br|Z[^\\|^~&]*)\\/g;
const UNESCAPE: Record<string, string> = { E: "\\", F: "|", S: "^", T: "&", R: "~" };

interface Segment {
  id: string;
  /** Fields as sent (escaped), field 1 first; MSH's field 1 is the field separator. */
  fields: string[];
}

function strictParse(message: string): Segment[] {
  assert.ok(message.endsWith("\r"), "every segment, the last included, ends with CR");
  const segments = message.slice(0, -1).split("\r");
  return segments.map((text, n) => {
    assert.match(text, SEGMENT, `segment ${n + 1} follows the grammar`);
    assert.ok(!CONTROL.test(text), `segment ${n + 1} holds no control character`);
    const id = text.slice(0, 3);
    if (n === 0) {
      assert.equal(id, "MSH");
      assert.equal(text.slice(3, 8), "|^~\\&", "MSH-1 and MSH-2 are the standard delimiters");
      return { id, fields: ["|", "^~\\&", ...text.slice(9).split("|")] };
    }
    const fields = text.slice(4).split("|");
    for (const [i, field] of fields.entries()) {
      const bare = field.replace(ESCAPE, "");
      assert.ok(!bare.includes("\\"), `${id}-${i + 1}: every backslash opens a whole escape sequence`);
    }
    return { id, fields };
  });
}

function unescape(value: string): string {
  return value.replace(/\\([EFSTR])\\/g, (_, c: string) => UNESCAPE[c] ?? "");
}

/** What a receiver reads as the text: OBX-5 unescaped, lines of one OBX-4 group joined by a space. */
function textOf(segments: Segment[]): string[] {
  const groups = new Map<string, string[]>();
  for (const s of segments.filter((s) => s.id === "OBX" && s.fields[1] === "TX")) {
    const group = s.fields[3] ?? "";
    groups.set(group, [...(groups.get(group) ?? []), unescape(s.fields[4] ?? "")]);
  }
  return [...groups.values()].map((lines) => lines.join(" "));
}

/** The paragraphs a transcript should arrive as: line breaks of any kind, runs of blanks as one. */
function paragraphs(text: string): string[] {
  return (
    text
      .split(/\r\n|\r|\n|\u2028|\u2029/)
      // eslint-disable-next-line no-control-regex -- controls are what is removed
      .map((l) => l.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/g, ""))
      .map((l) => l.replace(/[\t ]+/g, " ").trim())
      .filter((l) => l !== "")
  );
}

function build(text: string, options: Partial<Hl7Options> = {}) {
  return buildHl7(
    documentWithText(text),
    checkPatient({ ...syntheticPatient, family: "O'Brien|^~\\&", given: "Zoë\rAnn" }, "msg.patient"),
    checkEncounter({ patientClass: "O", visitNumber: "V-1&2" }, "msg.encounter"),
    { ...DEFAULT_HL7_OPTIONS, ...options },
    new Date("2026-01-15T14:31:05Z"),
  );
}

const HOSTILE = [
  "BP 120/80 | pain 3^4 ~ R&L knee \\ note \\",
  "CRLF here\r\nCR here\rLF here\nand a tab\there",
  "frame bytes \u000b start \u001c end \u001c\r inside, NUL \u0000 DEL \u007f NEL \u0085 gone",
  "literal escapes typed by a person: \\F\\ \\X0D\\ \\.br\\ \\E\\",
  "non-ASCII: 5 µg, 38.5 °C, ± 2, Zoë, Ødegård, 患者, مريض, e\u0301, 🩺 and 🫀",
  "delimiter runs ||||||||||||||||^^^^^^^^^^^^~~~~~~~~~~&&&&&&&&\\\\\\\\\\ long enough to wrap",
  "line\u2028separator and paragraph\u2029separator",
].join("\n");

describe("hl7-mdm output through a strict HL7 v2 reader", () => {
  it("the reader itself refuses a lone backslash, a line feed, a frame byte, a bad segment id and a missing CR", () => {
    const msh = "MSH|^~\\&|A|B|C|D|20260115||MDM^T02|1|P|2.5.1";
    for (const bad of [
      `${msh}\rOBX|1|TX|x|1|a\\b\r`,
      `${msh}\rOBX|1|TX|x|1|a\nb\r`,
      `${msh}\rOBX|1|TX|x|1|a\u001cb\r`,
      `${msh}\robx|1\r`,
      `${msh}\rOBX|1|TX|x|1|ab`,
    ]) {
      assert.throws(() => strictParse(bad), assert.AssertionError, JSON.stringify(bad));
    }
    assert.equal(strictParse(`${msh}\rOBX|1|TX|x|1|a\\F\\b\r`).length, 2);
  });

  for (const messageType of ["MDM^T02", "ORU^R01"] as const) {
    for (const maxObxLength of [16, 17, 40, 1000]) {
      it(`${messageType}, OBX-5 at most ${maxObxLength}: grammar, escapes and the text read back`, () => {
        const built = build(HOSTILE, { messageType, maxObxLength });
        const segments = strictParse(built.message);
        assert.equal(segments[0]?.fields[17], "UNICODE UTF-8", "MSH-18 declares the charset sent");
        for (const obx of segments.filter((s) => s.id === "OBX")) {
          assert.ok(
            (obx.fields[4] ?? "").length <= maxObxLength,
            `OBX-5 "${obx.fields[4]}" within the bound`,
          );
        }
        // A word longer than the bound (the delimiter run) is cut across OBX lines, which a receiver
        // joins with a space: every character arrives, in order, with that one space more.
        const gap = (lines: string[]): string[] =>
          maxObxLength < 100 ? lines.map((l) => l.replace(/ /g, "")) : lines;
        assert.deepEqual(gap(textOf(segments)), gap(paragraphs(HOSTILE)));
        const pid = segments.find((s) => s.id === "PID");
        assert.equal(unescape(pid?.fields[4]?.split("^")[0] ?? ""), "O'Brien|^~\\&");
        assert.equal(unescape(pid?.fields[4]?.split("^")[1] ?? ""), "Zoë Ann");
      });
    }
  }

  it("sends valid UTF-8 that survives MLLP framing byte for byte, whatever the text", () => {
    const built = build(HOSTILE);
    const bytes = frame(built.message);
    const decoded = new FrameDecoder().push(bytes);
    assert.deepEqual(decoded, [built.message]);
    const body = bytes.subarray(1, -2);
    assert.ok(!body.includes(0x0b) && !body.includes(0x1c), "no frame byte inside the message");
    assert.equal(new TextDecoder("utf-8", { fatal: true }).decode(body), built.message);
  });

  it("splits a very long transcript into OBX lines of the bound with nothing lost or reordered", () => {
    const words = Array.from({ length: 40_000 }, (_, i) => `w${i}${i % 7 === 0 ? "|^&" : ""}`);
    const text = `${words.slice(0, 20_000).join(" ")}\n${words.slice(20_000).join(" ")}`;
    const built = build(text, { maxObxLength: 1000 });
    const segments = strictParse(built.message);
    const obx = segments.filter((s) => s.id === "OBX");
    assert.ok(obx.length > 100);
    assert.ok(obx.every((s) => (s.fields[4] ?? "").length <= 1000));
    assert.deepEqual(
      obx.map((s) => Number(s.fields[0])),
      obx.map((_, i) => i + 1),
      "OBX-1 numbers every segment in order",
    );
    assert.deepEqual(textOf(segments), paragraphs(text));
  });

  it("refuses an empty transcript, or one of blanks and control characters only, naming OBX-5", () => {
    for (const text of ["", "   \r\n\t ", "\u000b\u001c\r\u0000"]) {
      assert.throws(
        () => build(text),
        (err: unknown) =>
          err instanceof Hl7FieldError && /OBX-5: the document has no text to send/.test(err.message),
      );
    }
  });
});
