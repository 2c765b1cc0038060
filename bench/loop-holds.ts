// The longest the event loop is held by one piece of work whose size a flow, a user or a service
// decides, at the largest size the package accepts (docs/security.md, "Bounds"). One Node-RED process
// carries hundreds of live sessions: a hold of more than a few tens of ms delays all of them.
//   npx tsx bench/loop-holds.ts          (about a minute; prints a table for docs/performance.md)
// Work in slices is measured by a 1 ms timer that records the longest gap between its runs while the
// work goes on; a synchronous call by its duration. Each figure is the least of three runs (five for a call): on a
// shared machine a run can be descheduled for 100 ms, which is the machine's hold, not the code's
// (the run-to-run spread is printed). "before" is the code this replaced, measured in the same run:
// JSON.parse and the mapping without slices, the banded WER search with its old cap.
import { cpus, loadavg } from "node:os";
import { performance, PerformanceObserver } from "node:perf_hooks";
import { batchDocument, mapBatchOutput, parseBatchOutput } from "../src/providers/aws-batch/transcript";
import { MAX_TRANSCRIPT_BYTES } from "../src/providers/aws-batch/pipeline";
import { correctedTerms, scoringWords, wordErrorRate } from "../src/review/wer";
import { evaluateGate } from "../src/routing/confidence-gate";
import { DOCUMENT_LIMITS } from "../src/transcript/document";
import type { TranscriptResult, TranscriptWord } from "../src/transcript/result";
import { checkTranscriptResult } from "../src/transcript/validate";
import { PLAIN_DATA_LIMITS, plainDataFault } from "../src/util/plain-data";
import { parseJsonSliced } from "../src/util/sliced-json";
import { Slicer } from "../src/util/slices";
import { batchJson } from "./batch-transcript";
import { direct, MAXIMUM, ONE_FINAL } from "./hospital";
import { bandedDistance, OLD_MAX_WER_CELLS } from "./support/wer-banded";

const BOUND_MS = 50;
/** A slicer that never pauses: the same code run in one block, as before slices. */
const oneBlock = (): Slicer => new Slicer(Infinity);

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const spreads: string[] = [];

/** The least over runs, noting the spread. */
function least(values: number[]): number {
  const min = Math.min(...values);
  spreads.push(values.map((v) => v.toFixed(0)).join("/"));
  return min;
}

/** The longest garbage-collection pause seen since `gcPause` was last reset (ms). */
let gcPause = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPause = Math.max(gcPause, entry.duration);
});
const gcPauses: string[] = [];

/**
 * The longest the event loop was held while `work` ran (ms): the longest gap between runs of a 1 ms
 * timer. The longest garbage-collection pause of each run is noted beside it: a hold no longer than it
 * may be the collector's (which any allocating work pays), not a slice of ours.
 */
async function longestHold(work: () => unknown, runs = 3): Promise<number> {
  const holds: number[] = [];
  for (let r = 0; r < runs; r++) {
    let last = performance.now();
    let longest = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 1);
    await sleep(5);
    last = performance.now();
    longest = 0;
    gcPause = 0;
    gcObserver.observe({ entryTypes: ["gc"] });
    await work();
    longest = Math.max(longest, performance.now() - last);
    clearInterval(timer);
    // Entries are delivered asynchronously.
    await sleep(5);
    gcObserver.disconnect();
    gcPauses.push(gcPause.toFixed(0));
    holds.push(longest);
  }
  return least(holds);
}

/** Milliseconds of one synchronous call (its whole duration holds the loop). */
function syncMs(fn: () => unknown, runs = 5): number {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return least(times);
}

const rows: Array<{ what: string; size: string; before: number | null; after: number }> = [];
function row(what: string, size: string, before: number | null, after: number): void {
  rows.push({ what, size, before, after });
  const b = before === null ? "" : `${before.toFixed(0).padStart(6)} ms ->`;
  console.log(
    `${what.padEnd(62)} ${size.padEnd(40)} ${b.padStart(12)} ${after.toFixed(0).padStart(6)} ms  (runs ${spreads.join(", ")}` +
      `${gcPauses.length > 0 ? `; longest GC pause ${gcPauses.join("/")}` : ""})`,
  );
  spreads.length = 0;
  gcPauses.length = 0;
}

async function batch(): Promise<void> {
  const perWord = batchJson(1000).length / 1000;
  const sizes: Array<[string, number]> = [
    ["4-hour job, 200 words/min", 4 * 60 * 200],
    ["largest read (24 MiB)", Math.floor(MAX_TRANSCRIPT_BYTES / perWord)],
  ];
  for (const [label, words] of sizes) {
    const json = batchJson(words);
    const size = `${label}, ${(json.length / 2 ** 20).toFixed(1)} MiB`;
    const before = await longestHold(async () => {
      const slicer = oneBlock();
      const output = JSON.parse(json) as Awaited<ReturnType<typeof parseBatchOutput>>;
      const results = await mapBatchOutput(output, "bench", slicer);
      await batchDocument("bench", results, Date.now(), slicer).catch(() => undefined);
    });
    const after = await longestHold(async () => {
      const slicer = new Slicer();
      const results = await mapBatchOutput(await parseBatchOutput(json, slicer), "bench", slicer);
      await batchDocument("bench", results, Date.now(), slicer).catch(() => undefined);
    });
    row("transcribe-medical-batch: transcript parsed, mapped, assembled", size, before, after);
  }
  // HealthScribe's transcript.json (32 MiB at most) and a review record at start-up go through the
  // same parser; their JSON is of the same kind (many small objects).
  const json = batchJson(Math.floor((32 * 2 ** 20) / perWord));
  row(
    "JSON read in slices (scribe transcript.json, review store)",
    `32 MiB`,
    await longestHold(() => JSON.parse(json)),
    await longestHold(() => parseJsonSliced(json)),
  );
}

/** A note of `n` words and the same note with `edits` words changed, spread evenly. */
function notes(n: number, edits: number): [string[], string[]] {
  const vocabulary = ["patient", "denies", "chest", "pain", "metoprolol", "daily", "twice", "of", "breath"];
  const words = Array.from({ length: n }, (_, i) => `${vocabulary[i % vocabulary.length] ?? "w"}${i % 997}`);
  const fixed = [...words];
  if (edits > 0)
    for (let i = Math.floor(n / edits / 2); i < n; i += Math.max(1, Math.floor(n / edits)))
      fixed[i] = "corrected";
  return [words, fixed];
}

function wer(): void {
  const n = DOCUMENT_LIMITS.words;
  for (const [label, edits] of [
    ["2 corrections", 2],
    ["1,000 scattered corrections", 1000],
    ["every word rewritten", n],
  ] as const) {
    const [machine, signed] = notes(n, edits);
    const machineText = machine.join(" ");
    const signedText = signed.join(" ");
    let oldResult: number | null = null;
    let newResult: number | null = null;
    const before = syncMs(
      () =>
        (oldResult = bandedDistance(scoringWords(signedText), scoringWords(machineText), OLD_MAX_WER_CELLS)),
    );
    const after = syncMs(() => (newResult = wordErrorRate(machineText, signedText).errors));
    row(
      `review: word error rate at signature (${oldResult ?? "unmeasured"} -> ${newResult ?? "unmeasured"})`,
      `${n.toLocaleString("en")} words, ${label}`,
      before,
      after,
    );
  }
  const [machine, signed] = notes(n, n);
  row(
    "review: corrected terms at signature",
    `${n.toLocaleString("en")} words, rewritten`,
    null,
    syncMs(() => correctedTerms(machine.join(" "), signed.join(" "), new Set())),
  );
}

/**
 * One contract-2 result as a flow may send it to filter-final, confidence-gate or transcript-document:
 * every node's intake check (plain data), the schema check and the gate, at the largest final a
 * provider writes (a 4-hour monologue in one batch turn: 50,000 words) and at the intake's array bound.
 */
function result(): void {
  for (const n of [DOCUMENT_LIMITS.words, PLAIN_DATA_LIMITS.maxItems]) {
    const words: TranscriptWord[] = Array.from({ length: n }, (_, i) => ({
      text: "pain",
      startTime: i * 0.3,
      endTime: i * 0.3 + 0.2,
      confidence: 0.9,
      kind: "word",
    }));
    const r: TranscriptResult = {
      provider: "aws-transcribe-medical",
      sessionId: "s",
      segmentId: "x",
      isFinal: true,
      text: "pain ".repeat(n).trim(),
      confidence: 0.9,
      startTime: 0,
      endTime: n * 0.3,
      words,
      language: "en-US",
    };
    const size = `one final of ${n.toLocaleString("en")} words`;
    row(
      "every node: intake check of msg.payload (plain data)",
      size,
      null,
      syncMs(() => plainDataFault(r)),
    );
    row(
      "filter-final / confidence-gate: schema check",
      size,
      null,
      syncMs(() => checkTranscriptResult(r)),
    );
    row(
      "confidence-gate: decision",
      size,
      null,
      syncMs(() => evaluateGate(r, { mode: "mean", threshold: 0.8, maxLowShare: 0.1 })),
    );
  }
}

function hospital(): void {
  for (const shape of [MAXIMUM, ONE_FINAL]) {
    for (const [what, ms] of direct(shape)) row(what, shape.name, null, ms);
  }
}

async function main(): Promise<void> {
  console.log(
    `bound: ${BOUND_MS} ms of event loop held by one piece of work; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")} on ${cpus().length} cores`,
  );
  await batch();
  wer();
  result();
  hospital();
  const over = rows.filter((r) => r.after > BOUND_MS);
  console.log(
    over.length === 0
      ? "every hold under the bound"
      : `OVER THE BOUND: ${over.map((r) => r.what).join("; ")}`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
