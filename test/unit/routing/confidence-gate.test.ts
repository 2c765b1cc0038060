import { strict as assert } from "node:assert";
import {
  evaluateGate,
  GateOptionError,
  parseUnitInterval,
  type GateOptions,
} from "../../../src/routing/confidence-gate";
import { result, words } from "../../support/results";

const opts = (o: Partial<GateOptions> = {}): GateOptions => ({
  mode: "mean",
  threshold: 0.8,
  maxLowShare: 0.1,
  ...o,
});

// "metoprolol" misheard: one weak word in an otherwise confident segment.
const oneWeakWord = result({
  words: words([
    ["start", 0.97],
    ["metoprolol", 0.41],
    ["twenty", 0.92],
    ["five", 0.95],
    ["milligrams", 0.96],
    [".", null],
  ]),
});

describe("confidence gate", () => {
  it("passes a segment whose mean reaches the threshold, listing its weak words all the same", () => {
    const d = evaluateGate(oneWeakWord, opts());
    assert.equal(d.route, "pass");
    assert.equal(d.reason, "confident");
    assert.ok(Math.abs((d.score ?? 0) - 0.842) < 1e-9);
    assert.deepEqual(d.lowConfidenceWords, [
      { text: "metoprolol", startTime: 0.4, endTime: 0.75, confidence: 0.41 },
    ]);
    assert.equal(d.wordCount, 5);
  });

  it("sends the same segment to review when the lowest word decides", () => {
    const d = evaluateGate(oneWeakWord, opts({ mode: "min" }));
    assert.equal(d.route, "review");
    assert.equal(d.reason, "below-threshold");
    assert.equal(d.score, 0.41);
  });

  it("judges the share of low words against the allowed share", () => {
    assert.equal(evaluateGate(oneWeakWord, opts({ mode: "share", maxLowShare: 0.1 })).route, "review");
    const lenient = evaluateGate(oneWeakWord, opts({ mode: "share", maxLowShare: 0.2 }));
    assert.equal(lenient.route, "pass");
    assert.equal(lenient.score, 0.2);
  });

  it("uses the provider's segment confidence for the mean when there is one", () => {
    assert.equal(evaluateGate(result({ ...oneWeakWord, confidence: 0.5 }), opts()).route, "review");
  });

  it("derives the mean from the words when the segment carries none", () => {
    const d = evaluateGate(result({ ...oneWeakWord, confidence: null }), opts());
    assert.equal(d.route, "pass");
    assert.ok(Math.abs((d.score ?? 0) - 0.842) < 1e-9);
  });

  it("never passes a result without confidence data, in any mode", () => {
    const partial = result({
      isFinal: false,
      confidence: null,
      words: words([
        ["chest", null],
        ["pain", null],
      ]),
    });
    const empty = result({ text: "", words: [], confidence: null });
    for (const mode of ["mean", "min", "share"] as const) {
      for (const r of [partial, empty]) {
        const d = evaluateGate(r, opts({ mode, threshold: 0 }));
        assert.equal(d.route, "review", mode);
        assert.equal(d.reason, "no-confidence");
        assert.equal(d.score, null);
      }
    }
  });

  it("does not judge punctuation", () => {
    const r = result({
      words: words([
        ["fine", 0.99],
        [".", 0.1],
      ]),
    });
    assert.equal(evaluateGate(r, opts({ mode: "min" })).route, "pass");
  });

  it("treats a word exactly at the threshold as confident", () => {
    const r = result({ words: words([["dose", 0.8]]), confidence: 0.8 });
    for (const mode of ["mean", "min", "share"] as const) {
      assert.equal(evaluateGate(r, opts({ mode, maxLowShare: 0 })).route, "pass", mode);
    }
  });

  it("reads thresholds from numbers and numeric strings, and refuses anything else clearly", () => {
    assert.equal(parseUnitInterval(0.7, "the threshold"), 0.7);
    assert.equal(parseUnitInterval("0.9", "the threshold"), 0.9);
    assert.equal(parseUnitInterval(1, "the threshold"), 1);
    for (const [bad, got] of [
      [1.2, "1.2"],
      [-0.1, "-0.1"],
      ["high", "a non-numeric string"],
      ["1.5", "1.5"],
      ["", "an empty string"],
      [null, "null"],
      [undefined, "undefined"],
      [Number.NaN, "NaN"],
      [{}, "object"],
    ] as const) {
      assert.throws(
        () => parseUnitInterval(bad, "the threshold"),
        (e: unknown) =>
          e instanceof GateOptionError &&
          e.message === `the threshold must be a number from 0 to 1 (got ${got})`,
      );
    }
  });

  it("describes a bad threshold from a message by its kind only, never by its value", () => {
    for (const [bad, got] of [
      [12345678, "a number above 1"],
      [-42, "a number below 0"],
      ["98765432", "a numeric string above 1"],
      [" -7 ", "a numeric string below 0"],
      [Infinity, "an infinite number"],
      [Number.NaN, "NaN"],
      ["MRN-1234", "a non-numeric string"],
    ] as const) {
      assert.throws(
        () => parseUnitInterval(bad, "the threshold (from msg)", { echo: false }),
        (e: unknown) =>
          e instanceof GateOptionError &&
          e.message === `the threshold (from msg) must be a number from 0 to 1 (got ${got})`,
        String(bad),
      );
    }
  });
});
