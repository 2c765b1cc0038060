import { strict as assert } from "node:assert";
import fc from "fast-check";
import { documentWithText, syntheticPatient } from "../support/documents";
import { behaviourTag } from "../support/hostile-peers";
import { runtimeLabel } from "../support/node-red";
import { result } from "../support/results";
import {
  closeSessions,
  FuzzObserver,
  formatFinding,
  hash,
  releaseFifoReaders,
  unloadAndCheck,
  type Finding,
} from "./harness";
import { arm, BOMB_KINDS } from "./objects";
import { TYPES_WITH_INPUT, type Target } from "./targets";
import { prng } from "../support/prng";
import { startWorld, type FuzzWorld } from "./world";

/**
 * Hostile objects to every node type that has an input (the targets of fuzz.spec.ts, in one Node-RED
 * runtime): messages that are frozen or sealed, whose getters or proxy traps throw at once or only from
 * a later read or after a delay, that hold cycles, 10^5 levels of nesting, conversions that throw, arrays
 * of length 2^32-1, detached or shared Buffers and other typed arrays (test/fuzz/objects.ts). Their harm
 * shows when a node reads the message again later, in a timer or a promise continuation, where
 * Node-RED's try/catch around `input` no longer protects the process.
 *
 * Per node type: the process survives (no uncaught exception, no unhandled rejection, nothing at the
 * package's backstop or a guard), every message is answered exactly once (done, or an error to Catch),
 * no marker in any log, status or error text, every session winds down, and a good message afterwards
 * is still handled (done, no error). Deterministic given FUZZ_SEED.
 *
 *   FUZZ_SEED=123 npx mocha test/fuzz/objects.spec.ts                   another seed
 *   OBJECTS_MESSAGES=2000 FUZZ_ONLY=audio-in npx mocha test/fuzz/objects.spec.ts
 *   OBJECTS_TRACE=1 npx mocha test/fuzz/objects.spec.ts                 print each bomb as it is sent
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260117) | 0;
/** Messages per node type: every kind of bomb about 15 times, at places the seed chooses. */
const MESSAGES = Number(process.env.OBJECTS_MESSAGES ?? 240);
/** Messages sent at once. */
const BATCH = 8;
/** Bombs armed with a delay go off within 1.2 s; the wait covers them and the timers they reach. */
const AFTER_MS = 2_500;
const SESSIONS_CLOSE_MS = 6_000;
const TRACE = process.env.OBJECTS_TRACE === "1";

/** A message each node type handles without an error, sent after the bombs to show the node still works. */
function goodMessage(type: string): Record<string, unknown> {
  const sessionId = "good-session-1";
  const audio = {
    topic: sessionId,
    payload: Buffer.alloc(3200),
    audio: {
      sessionId,
      seq: 0,
      sampleRate: 16000,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: 0,
      durationMs: 100,
    },
  };
  const document = { payload: documentWithText("Patient denies chest pain."), patient: syntheticPatient };
  switch (type) {
    case "audio-in":
    case "transcribe-medical":
    case "transcribe-standard":
    case "assemblyai-medical":
      return audio;
    case "review-queue":
    case "hl7-mdm":
    case "fhir-document":
      return document;
    case "mllp-out":
      return {
        payload: `MSH|^~\\&|NODERED-ASR||EHR|HOSP|20260115143000||MDM^T02^MDM_T02|${behaviourTag("aa")}1|P|2.5.1\rOBX|1|TX|11506-3^Progress note^LN||Patient denies chest pain.||||||P\r`,
      };
    case "transcribe-medical-batch":
      return { payload: "s3://media/fuzz.wav" };
    default:
      return { topic: sessionId, payload: result({ sessionId }), threshold: 0.5 };
  }
}

describe(`fuzz: hostile objects to every node type (${runtimeLabel}, seed ${SEED})`, function () {
  this.timeout(60_000);

  const observer = new FuzzObserver();
  const allFindings: Finding[] = [];
  let world: FuzzWorld | undefined;
  let list: Target[] = [];
  const startedAt = Date.now();

  before(async function () {
    this.timeout(60_000);
    console.log(
      `    objects seed ${SEED} (set FUZZ_SEED to replay another), ${MESSAGES} messages per node type`,
    );
    world = await startWorld(observer, {
      seed: SEED,
      faults: false,
      only: process.env.FUZZ_ONLY,
      answerNodes: false,
    });
    list = world.list;
    observer.attachCalls(list);
  });

  after(async function () {
    this.timeout(30_000);
    observer.uninstall();
    await world?.stop();
    console.log(
      `\n    objects: ${MESSAGES} messages to each of ${list.length} node types in ${((Date.now() - startedAt) / 1000).toFixed(1)} s; ` +
        `${observer.refusedByRuntime} refused by Node-RED itself (its receive read a bomb)`,
    );
    for (const f of allFindings) console.log(`    - ${f.target}: ${formatFinding(f)}`);
  });

  for (const type of TYPES_WITH_INPUT) {
    it(`${type}: survives frozen, trapping, cyclic, deep, sparse and detached messages; answers each once; still works`, async function () {
      const target = list.find((t) => t.type === type);
      if (!target) this.skip();
      const fifo = world?.files.fifo ?? "";
      const after = (): void => void releaseFifoReaders(fifo);
      const findings: Finding[] = [];
      const note = (signature: string, detail: string): void => {
        if (findings.some((f) => f.signature === signature)) return;
        findings.push({
          target: type,
          signature,
          detail,
          example: "",
          replay: `FUZZ_SEED=${SEED}`,
          occurrences: 1,
        });
      };
      const random = prng(SEED ^ hash(type));
      const bases = fc.sample(target.arbitrary, { seed: SEED ^ hash(type), numRuns: MESSAGES });
      const known = new Set<string>();
      observer.beginTarget();
      const start = observer.mark();
      const started = Date.now();
      for (let i = 0; i < bases.length; i += BATCH) {
        const batch = bases.slice(i, i + BATCH).map(({ to, msg }, j) => ({
          to,
          build: (id: string) => {
            const armed = arm(msg, id, BOMB_KINDS[(i + j) % BOMB_KINDS.length] ?? "cycle", random);
            // Which bomb went to the node last, when the process dies (out of memory) before a report.
            if (TRACE) console.log(`      sent ${id}: ${armed.label}`);
            return armed;
          },
        }));
        try {
          await observer.runBuilt(target, batch, known, after);
        } catch (err) {
          for (const p of (err as { problems?: Array<{ signature: string; detail: string }> }).problems ?? [
            { signature: "run threw", detail: String(err) },
          ]) {
            known.add(p.signature);
            note(p.signature, p.detail);
          }
        }
      }
      const ms = Date.now() - started;
      // Bombs armed with a delay go off now, in whatever timers still hold the messages.
      await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
      await observer.settle(1000);
      if (observer.unanswered > 0)
        note(
          "missing answer",
          `${observer.unanswered} messages never answered, e.g. ${observer.unansweredExample()}`,
        );
      for (const p of observer.problemsSince(start)) note(p.signature, p.detail);
      for (const problem of await closeSessions(observer, target, after, SESSIONS_CLOSE_MS))
        note("sessions left open", problem);

      // The node still works: a good message is answered by done, without an error.
      const before = { ...observer.endTarget() };
      await observer
        .run(target, [{ to: 0, msg: goodMessage(type) }], new Set(), after)
        .catch((err: Error) => note("a good message afterwards failed", err.message));
      const now = observer.endTarget();
      if (now.byError > before.byError || now.byDone === before.byDone)
        note(
          "a good message afterwards failed",
          `answered ${now.byError > before.byError ? "by an error" : "not at all"}`,
        );
      await closeSessions(observer, target, after, SESSIONS_CLOSE_MS);

      const stats = observer.endTarget();
      console.log(
        `      ${stats.messages} messages in ${(ms / 1000).toFixed(1)} s; answered: ${stats.byDone} by done, ` +
          `${stats.byError} by an error to Catch; ${stats.outputs} outputs`,
      );
      allFindings.push(...findings);
      assert.deepEqual(findings.map(formatFinding), [], `${type}: ${findings.length} findings`);
    });
  }

  it("closes every flow back to its baseline: descriptors, timers, sockets; no crash, no backstop, no pollution", async () => {
    if (!world) throw new Error("the fuzz world did not start");
    assert.deepEqual(await unloadAndCheck(observer, world), [], "after all flows were closed");
  });
});
