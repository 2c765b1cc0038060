import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { GateDecision } from "../../src/routing/confidence-gate";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
  statusTexts,
  type FlowNode,
} from "../support/node-red";
import { withdrawal } from "../../src/transcript/result";
import { result, words } from "../support/results";

const confidenceGate = builtNode("confidence-gate");
const PHI_MARKER = "ZZ-PHI-MARKER-1312";

type Annotated = NodeMessage & { confidenceGate: Omit<GateDecision, "route"> & { passed: boolean } };

const confident = result({
  words: words([
    ["no", 0.99],
    ["known", 0.97],
    ["allergies", 0.95],
    [".", null],
  ]),
});
const weakDrug = result({
  segmentId: "seg-2",
  words: words([
    ["start", 0.97],
    ["metoprolol", 0.41],
    ["twenty", 0.92],
    ["five", 0.95],
    ["milligrams", 0.96],
  ]),
});

function load(config: Record<string, unknown> = {}): Promise<void> {
  const node: FlowNode = {
    id: "gate",
    type: "confidence-gate",
    name: "",
    mode: "mean",
    threshold: "0.85",
    thresholdType: "num",
    maxLowShare: "0.1",
    wires: [["pass"], ["review"]],
    ...config,
  };
  return helper.load(confidenceGate, flowWithCatch([node], ["pass", "review"]), {});
}

const send = (payload: unknown, extra: Partial<NodeMessage> = {}): void =>
  helper.getNode("gate").receive({ topic: "session-1", payload, ...extra });

describe(`confidence-gate node (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("loads with its configuration", async () => {
    await load({ name: "review weak words", mode: "min" });
    assert.equal(helper.getNode("gate").name, "review weak words");
  });

  it("sends confident results to the first output and weak ones to review, annotated", async () => {
    await load();
    const pass = collect("pass");
    const review = collect("review");
    send(confident);
    send(weakDrug);
    await delay(50);
    assert.equal(pass.length, 1);
    assert.equal(review.length, 1);
    for (const m of [...pass, ...review]) assertTranscriptResult(m.payload);

    const passed = pass[0] as Annotated;
    assert.deepEqual(passed.payload, confident, "the payload is left as it was");
    assert.equal(passed.confidenceGate.passed, true);
    assert.equal(passed.confidenceGate.reason, "confident");
    assert.deepEqual(passed.confidenceGate.lowConfidenceWords, []);

    const flagged = review[0] as Annotated;
    assert.equal(flagged.confidenceGate.passed, false);
    assert.equal(flagged.confidenceGate.reason, "below-threshold");
    assert.equal(flagged.confidenceGate.mode, "mean");
    assert.equal(flagged.confidenceGate.threshold, 0.85);
    assert.ok(Math.abs((flagged.confidenceGate.score ?? 0) - 0.842) < 1e-9);
    assert.deepEqual(flagged.confidenceGate.lowConfidenceWords, [
      { text: "metoprolol", startTime: 0.4, endTime: 0.75, confidence: 0.41 },
    ]);
  });

  it("judges by the lowest word or by the share of low words when configured so", async () => {
    await load({ mode: "share", threshold: "0.9", maxLowShare: "0.25" });
    const pass = collect("pass");
    send(weakDrug); // 1 of 5 words below 0.9: share 0.2, within 0.25
    await delay(30);
    assert.equal(pass.length, 1);
    assert.equal((pass[0] as Annotated).confidenceGate.score, 0.2);
    await helper.unload();

    await load({ mode: "min", threshold: "0.9" });
    const review = collect("review");
    send(weakDrug);
    await delay(30);
    assert.equal((review[0] as Annotated).confidenceGate.score, 0.41);
  });

  it("sends results without confidence data to review, never to pass", async () => {
    await load({ threshold: "0" });
    const pass = collect("pass");
    const review = collect("review");
    send(result({ isFinal: false, confidence: null, words: words([["chest", null]]) }));
    send(result({ text: "", words: [], confidence: null }));
    await delay(50);
    assert.equal(pass.length, 0);
    assert.deepEqual(
      review.map((m) => (m as Annotated).confidenceGate.reason),
      ["no-confidence", "no-confidence"],
    );
  });

  it("sends a withdrawal on both outputs, undecided, so a partial shown on either is removed", async () => {
    await load();
    const pass = collect("pass");
    const review = collect("review");
    send(withdrawal(result({ isFinal: false, segmentId: "seg-7" })));
    await delay(50);
    assert.equal(pass.length, 1);
    assert.equal(review.length, 1);
    for (const m of [...pass, ...review]) {
      assertTranscriptResult(m.payload);
      assert.equal((m.payload as { withdrawn?: boolean }).withdrawn, true);
      assert.equal((m as Partial<Annotated>).confidenceGate, undefined);
    }
    assert.notEqual(pass[0], review[0], "each output has its own message");
  });

  it("takes the threshold from the message when set to, per message", async () => {
    await load({ threshold: "threshold", thresholdType: "msg" });
    const pass = collect("pass");
    const review = collect("review");
    send(weakDrug, { threshold: 0.8 });
    send(weakDrug, { threshold: "0.9" });
    await delay(50);
    assert.equal(pass.length, 1);
    assert.equal(review.length, 1);
    assert.equal((review[0] as Annotated).confidenceGate.threshold, 0.9);
  });

  it("takes the threshold from a JSONata expression", async () => {
    await load({ threshold: 'payload.provider = "assemblyai" ? 0.8 : 0.9', thresholdType: "jsonata" });
    const pass = collect("pass");
    const review = collect("review");
    send({ ...weakDrug, provider: "assemblyai" });
    send(weakDrug);
    await delay(100);
    assert.equal((pass[0] as Annotated).confidenceGate.threshold, 0.8);
    assert.equal((review[0] as Annotated).confidenceGate.threshold, 0.9);
  });

  it("refuses a message threshold that is not a number from 0 to 1, through catch", async () => {
    await load({ threshold: "threshold", thresholdType: "msg" });
    const out = [...collect("pass"), ...collect("review")];
    const caught = nextMessage("caught");
    send(weakDrug, { threshold: "strict" });
    const error = (await caught).error as { message: string; source: { id: string } };
    assert.match(
      error.message,
      /the threshold \(from msg\) must be a number from 0 to 1 \(got a non-numeric string\)/,
    );
    assert.equal(error.source.id, "gate");
    assert.equal(out.length, 0);
  });

  it("refuses a payload that is not a transcript result, through catch", async () => {
    await load();
    const caught = nextMessage("caught");
    send({ text: "hello" });
    assert.match(
      ((await caught).error as { message: string }).message,
      /msg\.payload is not a transcript result: payload\.provider is missing/,
    );
  });

  it("refuses a bad fixed threshold at deploy with a red status", async () => {
    await load({ threshold: "1.5" });
    const n = helper.getNode("gate");
    assert.ok(statusTexts(n).includes("confidence-gate.status.misconfigured"));
    const caught = nextMessage("caught");
    send(confident);
    assert.match(
      ((await caught).error as { message: string }).message,
      /Threshold must be a number from 0 to 1 \(got 1\.5\)/,
    );
  });

  it("refuses an unknown mode at deploy", async () => {
    await load({ mode: "median" });
    const caught = nextMessage("caught");
    send(confident);
    assert.match(
      ((await caught).error as { message: string }).message,
      /mode must be one of mean, min, share/,
    );
  });

  it("counts in its status and never shows transcript text in status or logs", async () => {
    await load();
    const n = helper.getNode("gate");
    send(result({ text: PHI_MARKER, words: words([[PHI_MARKER, 0.99]]) }));
    send(result({ text: PHI_MARKER, words: words([[PHI_MARKER, 0.2]]) }));
    send({ ...result({ text: PHI_MARKER }), words: PHI_MARKER });
    await delay(700);
    const texts = statusTexts(n);
    assert.ok(texts.includes("1 pass, 1 review"), JSON.stringify(texts));
    for (const t of [...texts, ...loggedTexts(n)]) assert.ok(!t.includes(PHI_MARKER), t);
  });
});
