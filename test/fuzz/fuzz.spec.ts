import { strict as assert } from "node:assert";
import { runtimeLabel } from "../support/node-red";
import {
  closeSessions,
  FuzzObserver,
  formatFinding,
  fuzzTarget,
  releaseFifoReaders,
  unloadAndCheck,
  type Finding,
  type TargetStats,
} from "./harness";
import { TYPES_WITH_INPUT, type Target } from "./targets";
import { startWorld, type FuzzWorld } from "./world";

/**
 * Hostile messages to every node type that has an input, all in one Node-RED runtime: at least
 * FUZZ_MESSAGES (10,000) generated messages per type, structured ones with hostile values and
 * arbitrary anything, against hostile peers. Deterministic given FUZZ_SEED (printed); a failure prints
 * the counterexample fast-check shrank to and how to replay it. What each test asserts is in its title.
 *
 *   FUZZ_SEED=123 npx mocha test/fuzz/fuzz.spec.ts        another seed
 *   FUZZ_MESSAGES=1000 npx mocha test/fuzz/fuzz.spec.ts   a quicker pass
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260117) | 0;
const MESSAGES = Number(process.env.FUZZ_MESSAGES ?? 10_000);
/**
 * Time for one type's messages; a type that cannot take them in time is reported as slow. Most types
 * take their 10,000 in 5–17 s on two cores shared with other work, two took over 20 s; the budget leaves room
 * for that (it costs time only when a type is slow), while a node that blocks or serialises on a timer fails.
 */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 40_000);
/** Extra time fast-check may spend shrinking a failure. */
const SHRINK_MS = 8_000;
/** How long sessions may take to close once told to end (idle timeouts are 1 s in the fuzz flows). */
const SESSIONS_CLOSE_MS = 6_000;

describe(`fuzz: hostile messages to every node type (${runtimeLabel}, seed ${SEED})`, function () {
  this.timeout(BUDGET_MS + SHRINK_MS + SESSIONS_CLOSE_MS + 30_000);

  const observer = new FuzzObserver();
  const allFindings: Finding[] = [];
  const allStats = new Map<string, TargetStats>();
  let world: FuzzWorld | undefined;
  let list: Target[] = [];
  const startedAt = Date.now();

  before(async function () {
    this.timeout(60_000);
    console.log(
      `    fuzz seed ${SEED} (set FUZZ_SEED to replay another), ${MESSAGES} messages per node type`,
    );
    world = await startWorld(observer, { seed: SEED, faults: true, only: process.env.FUZZ_ONLY });
    list = world.list;
    observer.attach(list);
  });

  after(async function () {
    this.timeout(30_000);
    observer.uninstall();
    await world?.stop();
    printSummary(allFindings, allStats, Date.now() - startedAt);
  });

  // One test per node type with an input; the targets are known once the peers run, so the titles
  // come from the package's list.
  for (const type of TYPES_WITH_INPUT) {
    it(`${type}: answers every message exactly once (done or Catch), within ${2} s, leaking no marker, crashing nothing`, async function () {
      const target = list.find((t) => t.type === type);
      if (!target) this.skip();
      const fifo = world?.files.fifo ?? "";
      const after = (): void => {
        releaseFifoReaders(fifo);
      };
      const { findings, stats } = await fuzzTarget(observer, target, {
        seed: SEED,
        messages: MESSAGES,
        budgetMs: BUDGET_MS,
        shrinkMs: SHRINK_MS,
        after,
      });
      // Late answers, then the end of every session the fuzz opened.
      await observer.settle(3000);
      if (observer.unanswered > 0) {
        findings.push({
          target: type,
          signature: "missing answer",
          detail: `${observer.unanswered} messages never answered (done or an error to Catch)`,
          example: observer.unansweredExample(),
          replay: `FUZZ_SEED=${SEED}`,
          occurrences: observer.unanswered,
        });
      }
      for (const problem of await closeSessions(observer, target, after, SESSIONS_CLOSE_MS)) {
        findings.push({
          target: type,
          signature: "sessions left open",
          detail: problem,
          example: "",
          replay: `FUZZ_SEED=${SEED}`,
          occurrences: 1,
        });
      }
      allStats.set(type, stats);
      allFindings.push(...findings);
      console.log(
        `      ${stats.messages} messages in ${stats.runs} runs, ${(stats.ms / 1000).toFixed(1)} s; ` +
          `answered: ${stats.byDone} by done, ${stats.byError} by an error to Catch; slowest answer ${stats.maxAnswerMs} ms; ${stats.outputs} outputs`,
      );
      assert.deepEqual(findings.map(formatFinding), [], `${type}: ${findings.length} findings`);
    });
  }

  it("closes every flow back to its baseline: descriptors, timers, sockets; no crash, no backstop, no pollution", async () => {
    if (!world) throw new Error("the fuzz world did not start");
    assert.deepEqual(await unloadAndCheck(observer, world), [], "after all flows were closed");
  });
});

function printSummary(findings: Finding[], stats: Map<string, TargetStats>, ms: number): void {
  const total = [...stats.values()].reduce((n, s) => n + s.messages, 0);
  console.log(
    `\n    fuzz: ${total} messages to ${stats.size} node types in ${(ms / 1000).toFixed(1)} s (seed ${SEED})`,
  );
  for (const [type, s] of stats) {
    console.log(
      `      ${type}: ${s.messages} messages, ${(s.ms / 1000).toFixed(1)} s, slowest answer ${s.maxAnswerMs} ms`,
    );
  }
  if (findings.length === 0) return;
  console.log(`    ${findings.length} findings:`);
  for (const f of findings) console.log(`    - ${f.target}: ${formatFinding(f)}`);
}
