import { strict as assert } from "node:assert";
import {
  FilterOptionError,
  FinalFilter,
  filterOptions,
  MAX_OPEN_SEGMENTS,
  type FinalFilterOptions,
} from "../../../src/routing/final-filter";
import { withdrawal, type TranscriptResult } from "../../../src/transcript/result";
import { ManualScheduler } from "../../support/manual-scheduler";
import { result } from "../../support/results";

const partial = (text: string, o: Partial<TranscriptResult> = {}): TranscriptResult =>
  result({ isFinal: false, confidence: null, words: [], text, ...o });

function setup(options: Partial<FinalFilterOptions> = {}) {
  const clock = new ManualScheduler();
  const sent: string[] = [];
  const filter = new FinalFilter<TranscriptResult>(
    { partialIntervalMs: null, dropEmpty: true, ...options },
    (r) => sent.push(`held:${r.text}`),
    clock,
  );
  // The caller sends what passes at once; held partials arrive through the callback.
  const feed = (r: TranscriptResult) => {
    const outcome = filter.accept(r, r);
    if (outcome === "passed") sent.push(r.text);
    return outcome;
  };
  return { clock, sent, filter, feed };
}

describe("final filter", () => {
  it("passes finals and drops partials by default", () => {
    const { sent, feed } = setup();
    assert.equal(feed(partial("Patient")), "dropped-partial");
    assert.equal(feed(partial("Patient denies")), "dropped-partial");
    assert.equal(feed(result({ text: "Patient denies chest pain." })), "passed");
    assert.deepEqual(sent, ["Patient denies chest pain."]);
  });

  it("passes a withdrawal wherever partials pass, and drops the partial it held for that segment", () => {
    const gone = withdrawal(partial("", { segmentId: "seg-9" }));
    assert.equal(setup().feed(gone), "dropped-partial", "no partials shown, nothing to withdraw");
    const { clock, sent, feed } = setup({ partialIntervalMs: 500 });
    assert.equal(feed(partial("Pa", { segmentId: "seg-9" })), "passed");
    clock.advance(100);
    assert.equal(feed(partial("Patient", { segmentId: "seg-9" })), "held");
    assert.equal(feed(gone), "passed", "its empty text does not make it an empty result");
    clock.advance(1000);
    assert.deepEqual(sent, ["Pa", ""], "the held partial never follows its withdrawal");
  });

  it("drops empty and blank results unless told to keep them", () => {
    const { feed } = setup();
    assert.equal(feed(result({ text: "", words: [] })), "dropped-empty");
    assert.equal(feed(result({ text: "  ", words: [] })), "dropped-empty");
    const keep = setup({ dropEmpty: false });
    assert.equal(keep.feed(result({ text: "", words: [] })), "passed");
  });

  it("throttles partials per segment, sending the latest when the interval ends", () => {
    const { clock, sent, feed, filter } = setup({ partialIntervalMs: 500 });
    assert.equal(feed(partial("Pa")), "passed");
    clock.advance(100);
    assert.equal(feed(partial("Patient")), "held");
    clock.advance(100);
    assert.equal(feed(partial("Patient den")), "held");
    assert.deepEqual(sent, ["Pa"]);
    clock.advance(300);
    assert.deepEqual(sent, ["Pa", "held:Patient den"]);
    // Quiet for a whole interval: the segment is forgotten, and the next partial goes at once.
    clock.advance(500);
    assert.equal(filter.openSegments, 0);
    assert.equal(feed(partial("Patient denies")), "passed");
  });

  it("never sends a held partial after its segment's final", () => {
    const { clock, sent, feed, filter } = setup({ partialIntervalMs: 500 });
    feed(partial("Pa"));
    feed(partial("Patient"));
    feed(result({ text: "Patient denies chest pain." }));
    clock.advance(2000);
    assert.deepEqual(sent, ["Pa", "Patient denies chest pain."]);
    assert.equal(filter.openSegments, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it("keeps sessions and segments apart", () => {
    const { clock, sent, feed } = setup({ partialIntervalMs: 500 });
    feed(partial("a1", { sessionId: "A", segmentId: "1" }));
    feed(partial("b1", { sessionId: "B", segmentId: "1" }));
    feed(partial("a2", { sessionId: "A", segmentId: "2" }));
    feed(partial("a1+", { sessionId: "A", segmentId: "1" }));
    // The final of session B's segment 1 must not cancel session A's segment 1.
    feed(result({ text: "B final", sessionId: "B", segmentId: "1" }));
    clock.advance(500);
    assert.deepEqual(sent, ["a1", "b1", "a2", "B final", "held:a1+"]);
  });

  it("passes every partial with an interval of 0", () => {
    const { sent, feed, filter } = setup({ partialIntervalMs: 0 });
    feed(partial("a"));
    feed(partial("ab"));
    assert.deepEqual(sent, ["a", "ab"]);
    assert.equal(filter.openSegments, 0);
  });

  it("leaves no timer behind on close", () => {
    const { clock, sent, feed, filter } = setup({ partialIntervalMs: 500 });
    feed(partial("a"));
    feed(partial("ab"));
    filter.close();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(1000);
    assert.deepEqual(sent, ["a"]);
  });

  it("holds partials of at most MAX_OPEN_SEGMENTS segments at once, dropping those of further segments", () => {
    const { clock, sent, feed, filter } = setup({ partialIntervalMs: 500 });
    for (let i = 0; i < MAX_OPEN_SEGMENTS; i++) feed(partial(`s${i}`, { segmentId: `seg-${i}` }));
    assert.equal(filter.openSegments, MAX_OPEN_SEGMENTS);
    assert.equal(feed(partial("one too many", { segmentId: "seg-new" })), "dropped-partial");
    assert.equal(feed(partial("s0+", { segmentId: "seg-0" })), "held", "an open segment still throttles");
    assert.equal(
      feed(result({ text: "a final always passes", segmentId: "seg-new" })),
      "passed",
      "finals are never capped",
    );
    assert.equal(filter.openSegments, MAX_OPEN_SEGMENTS);
    clock.advance(1000);
    assert.equal(filter.openSegments, 0, "every slot closes one quiet interval on");
    assert.equal(feed(partial("room again", { segmentId: "seg-new-2" })), "passed");
    assert.ok(sent.includes("held:s0+"));
  });
});

describe("filter-final settings", () => {
  it("reads drop and throttle with a whole-millisecond interval, as number or numeric string", () => {
    assert.deepEqual(filterOptions("drop", "anything", true), { partialIntervalMs: null, dropEmpty: true });
    assert.deepEqual(filterOptions("throttle", "250", false), { partialIntervalMs: 250, dropEmpty: false });
    assert.deepEqual(filterOptions("throttle", 0, undefined), { partialIntervalMs: 0, dropEmpty: true });
    assert.deepEqual(filterOptions("throttle", 60000, true), { partialIntervalMs: 60000, dropEmpty: true });
  });

  it("refuses an interval that is not a whole number from 0 to 60000 ms, and an unknown partials mode", () => {
    for (const bad of ["", " ", "soon", -1, 1.5, 60001, 1e308, Number.NaN, Infinity, null, {}]) {
      assert.throws(
        () => filterOptions("throttle", bad, true),
        (e: unknown) =>
          e instanceof FilterOptionError &&
          e.setting === "partialIntervalMs" &&
          /whole number of milliseconds from 0 to 60000/.test(e.message),
        JSON.stringify(bad),
      );
    }
    for (const bad of ["Drop", "toString", "__proto__", "", undefined, 1]) {
      assert.throws(
        () => filterOptions(bad, 1000, true),
        (e: unknown) => e instanceof FilterOptionError && e.setting === "partials",
        String(bad),
      );
    }
  });
});
