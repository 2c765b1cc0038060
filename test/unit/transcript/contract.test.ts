import { strict as assert } from "node:assert";
import schema from "../../../src/transcript/result.schema.json";
import { withdrawal, type TranscriptResult, type TranscriptWord } from "../../../src/transcript/result";
import { checkTranscriptResult, NotATranscriptResultError } from "../../../src/transcript/validate";
import { schemaAccepts } from "../../support/contract";
import { result } from "../../support/results";

const PHI_MARKER = "ZZ-PHI-MARKER-4711";

// Every field of the type, optional ones included: the compiler fails here if the type grows a
// field, and the test below fails if the schema does not list the same fields.
const fullResult: Required<TranscriptResult> = {
  ...result(),
  speaker: "spk_0",
  channel: "ch_0",
  withdrawn: false,
  entities: [{ category: "PHI", type: "NAME", text: "x", startTime: 0, endTime: 0.3, confidence: 0.9 }],
};

const fullWord: Required<TranscriptWord> = {
  text: "stable",
  startTime: 0.1,
  endTime: 0.4,
  confidence: 0.9,
  kind: "word",
  speaker: "0",
  channel: "ch_0",
  stable: true,
  vocabularyFilterMatch: false,
};

const invalid: Array<[string, unknown, RegExp]> = [
  ["a string payload", "hello", /payload must be object/],
  ["null", null, /payload must be object/],
  ["a missing isFinal", { ...result(), isFinal: undefined }, /payload\.isFinal is missing/],
  ["isFinal as a string", { ...result(), isFinal: "yes" }, /payload\.isFinal must be boolean/],
  ["confidence above 1", { ...result(), confidence: 1.5 }, /payload\.confidence must be <= 1/],
  [
    "confidence as a string",
    { ...result(), confidence: "high" },
    /payload\.confidence must be number or null/,
  ],
  ["an empty session id", { ...result(), sessionId: "" }, /payload\.sessionId must not be empty/],
  ["a negative start time", { ...result(), startTime: -1 }, /payload\.startTime must be >= 0/],
  ["words not an array", { ...result(), words: "a b" }, /payload\.words must be array/],
  [
    "a word without kind",
    { ...result(), words: [{ text: "a", startTime: 0, endTime: 1, confidence: 0.5 }] },
    /payload\.words\.0\.kind is missing/,
  ],
  [
    "an unknown word kind",
    { ...result(), words: [{ text: "a", startTime: 0, endTime: 1, confidence: 0.5, kind: "noise" }] },
    /payload\.words\.0\.kind must be one of "word", "punctuation"/,
  ],
  ["a bad language tag", { ...result(), language: "english!" }, /payload\.language must be a language tag/],
  ["a start time past one year", { ...result(), startTime: 1e300 }, /payload\.startTime must be <= 31536000/],
  ["an infinite end time", { ...result(), endTime: Infinity }, /payload\.endTime must be number/],
  [
    "a withdrawal that is final",
    { ...result(), withdrawn: true, isFinal: true, text: "", words: [] },
    /payload\.isFinal must be false in a withdrawal/,
  ],
  [
    "a withdrawal with text",
    { ...result(), withdrawn: true, isFinal: false, text: "x", words: [] },
    /payload\.text must be "" in a withdrawal/,
  ],
];

describe("transcript result contract", () => {
  it("lists in the JSON Schema exactly the fields of the TypeScript type", () => {
    assert.deepEqual(Object.keys(schema.properties).sort(), Object.keys(fullResult).sort());
    const optional = ["speaker", "channel", "entities", "withdrawn"];
    assert.deepEqual(
      [...schema.required].sort(),
      Object.keys(fullResult)
        .filter((k) => !optional.includes(k))
        .sort(),
    );
  });

  it("lists in the JSON Schema exactly the fields of a word, and requires the same ones", () => {
    const word = schema.definitions.word;
    assert.deepEqual(Object.keys(word.properties).sort(), Object.keys(fullWord).sort());
    const optional = ["speaker", "channel", "stable", "vocabularyFilterMatch"];
    assert.deepEqual(
      [...word.required].sort(),
      Object.keys(fullWord)
        .filter((k) => !optional.includes(k))
        .sort(),
    );
    assert.equal(schemaAccepts({ ...result(), words: [fullWord] }), true);
    assert.equal(schemaAccepts({ ...result(), words: [{ ...fullWord, stable: "yes" }] }), false);
  });

  it("accepts a full result, a partial without confidences and an empty final", () => {
    const samples: unknown[] = [
      fullResult,
      result({ isFinal: false, confidence: null, words: [] }),
      result({ text: "", words: [], confidence: null }),
      withdrawal(result({ isFinal: false })),
    ];
    for (const sample of samples) {
      assert.equal(schemaAccepts(sample), true);
      assert.equal(checkTranscriptResult(sample).ok, true);
    }
  });

  for (const [what, value, message] of invalid) {
    it(`refuses ${what}, naming the field, as the schema does`, () => {
      assert.equal(schemaAccepts(value), false, "the schema itself must refuse it");
      const checked = checkTranscriptResult(value);
      assert.equal(checked.ok, false);
      if (checked.ok) return;
      assert.ok(checked.error instanceof NotATranscriptResultError);
      assert.match(checked.error.message, message);
      assert.match(
        checked.error.message,
        /Accepted: the result messages of transcribe-medical, transcribe-standard or assemblyai-medical/,
      );
    });
  }

  it("never echoes the offending value or the transcript into the error", () => {
    const checked = checkTranscriptResult({ ...result({ text: PHI_MARKER }), isFinal: PHI_MARKER });
    assert.equal(checked.ok, false);
    if (!checked.ok) assert.ok(!checked.error.message.includes(PHI_MARKER), checked.error.message);
  });
});
