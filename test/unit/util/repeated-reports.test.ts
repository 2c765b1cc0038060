import { strict as assert } from "node:assert";
import {
  OTHER_KEY,
  REPEAT_SUMMARY_MS,
  RepeatedReports,
  repeatsText,
  type Repeats,
} from "../../../src/util/repeated-reports";
import { ManualScheduler } from "../../support/manual-scheduler";

function setup(maxKeys?: number) {
  const clock = new ManualScheduler();
  const summaries: Array<{ key: string; repeats: Repeats<string> }> = [];
  const reports = new RepeatedReports<string>(
    (key, repeats) => summaries.push({ key, repeats }),
    clock,
    REPEAT_SUMMARY_MS,
    maxKeys,
  );
  return { clock, summaries, reports };
}

describe("repeated reports: the first in full, repeats counted and summarised once a minute", () => {
  it("lets the first occurrence through and counts 29 repeats into one summary a minute later", () => {
    const { clock, summaries, reports } = setup();
    const first = [];
    for (let i = 0; i < 30; i++) {
      first.push(reports.occurred("no-key", "last", 0.1));
      clock.advance(100);
    }
    assert.deepEqual(first.filter(Boolean).length, 1, "one report in full");
    assert.equal(first[0], true);
    assert.equal(summaries.length, 0, "no summary before the minute is out");
    clock.advance(REPEAT_SUMMARY_MS);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]?.key, "no-key");
    assert.equal(summaries[0]?.repeats.times, 29);
    assert.ok(Math.abs((summaries[0]?.repeats.seconds ?? 0) - 2.9) < 1e-9);
    assert.equal(summaries[0]?.repeats.overMs, REPEAT_SUMMARY_MS);
  });

  it("summarises once per minute while the repeats go on, and reports in full again after a quiet minute", () => {
    const { clock, summaries, reports } = setup();
    assert.equal(reports.occurred("k", "a"), true);
    for (let minute = 0; minute < 3; minute++) {
      for (let i = 0; i < 10; i++) {
        assert.equal(reports.occurred("k", "a"), false);
        clock.advance(REPEAT_SUMMARY_MS / 10);
      }
    }
    assert.deepEqual(
      summaries.map((s) => s.repeats.times),
      [10, 10, 10],
    );
    clock.advance(REPEAT_SUMMARY_MS); // a minute with no repeat: the key is forgotten
    assert.equal(reports.size, 0);
    assert.equal(reports.occurred("k", "a"), true, "the first of a new burst is in full");
  });

  it("keeps keys apart, and summarises a key at once when what it concerns ends", () => {
    const { summaries, reports } = setup();
    assert.equal(reports.occurred("s1", "x"), true);
    assert.equal(reports.occurred("s2", "y"), true);
    assert.equal(reports.occurred("s1", "x2"), false);
    reports.flush("s1");
    assert.deepEqual(
      summaries.map((s) => [s.key, s.repeats.times, s.repeats.last]),
      [["s1", 1, "x2"]],
    );
    reports.flush("s2"); // no repeat: nothing to summarise
    assert.equal(summaries.length, 1);
    assert.equal(reports.occurred("s1", "x"), true);
  });

  it("summarises everything and leaves no timer at close", () => {
    const { clock, summaries, reports } = setup();
    reports.occurred("a", "");
    reports.occurred("a", "");
    reports.occurred("b", "");
    reports.close();
    assert.equal(summaries.length, 1);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(reports.size, 0);
  });

  it("follows at most maxKeys keys; further keys are counted together", () => {
    const { summaries, reports } = setup(3);
    for (const k of ["a", "b", "c"]) assert.equal(reports.occurred(k, k), true);
    assert.equal(reports.occurred("d", "d"), true, "the first beyond the bound is still reported");
    assert.equal(reports.occurred("e", "e"), false, "then counted with the others beyond it");
    assert.equal(reports.size, 4);
    reports.close();
    assert.deepEqual(
      summaries.map((s) => [s.key, s.repeats.times]),
      [[OTHER_KEY, 1]],
    );
  });

  it("words a summary after the report's own text", () => {
    assert.equal(
      repeatsText("assemblyai-medical: the AssemblyAI account has no API key", {
        times: 29,
        seconds: 0,
        overMs: 60_000,
        last: undefined,
      }),
      "assemblyai-medical: the AssemblyAI account has no API key (repeated 29 more times in 60 s; the first was reported in full)",
    );
    assert.equal(
      repeatsText("refused", { times: 1, seconds: 0.25, overMs: 200, last: undefined }),
      "refused (repeated 1 more time in 1 s, 0.3 s of audio; the first was reported in full)",
    );
  });
});
