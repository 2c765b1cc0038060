import { strict as assert } from "node:assert";
import type { TranscriptDocument } from "../../src/transcript/document";
import { checkTranscriptDocument } from "../../src/transcript/document";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  redeploy,
  runtimeLabel,
  statusTexts,
  type FlowNode,
} from "../support/node-red";
import { withdrawal } from "../../src/transcript/result";
import { result, words } from "../support/results";

const transcriptDocument = builtNode("transcript-document");
const PHI_MARKER = "ZZ-PHI-MARKER-7731";

function load(config: Record<string, unknown> = {}): Promise<void> {
  return helper.load(transcriptDocument, flowOf(config), {});
}

function flowOf(config: Record<string, unknown> = {}): FlowNode[] {
  const node: FlowNode = {
    id: "doc",
    type: "transcript-document",
    name: "",
    idleTimeout: "30",
    wires: [["out"]],
    ...config,
  };
  return flowWithCatch([node], ["out"]);
}

const send = (msg: Record<string, unknown>): void => helper.getNode("doc").receive(msg);

// Two speakers, finals arriving out of spoken order, a partial, a corrected final, a reviewed segment.
const s1 = result({
  segmentId: "a",
  startTime: 0,
  endTime: 1.6,
  speaker: "spk_0",
  words: words([
    ["Any", 0.97],
    ["chest", 0.96],
    ["pain", 0.95],
    ["?", null],
  ]),
  text: "Any chest pain?",
});
const s2 = result({
  segmentId: "b",
  startTime: 2,
  endTime: 3.5,
  speaker: "spk_1",
  text: "No, none at all.",
  words: words([
    ["No", 0.9],
    ["none", 0.5],
  ]).map((w) => ({ ...w, startTime: w.startTime + 2, endTime: w.endTime + 2 })),
});
const s3 = result({ segmentId: "c", startTime: 4, endTime: 5, speaker: "spk_1", text: "Only a cough." });

describe(`transcript-document node (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("assembles a session's finals on flush: turns, speakers, review, timings, provider, duration", async () => {
    await load();
    const out = nextMessage("out");
    send({
      topic: "session-1",
      payload: s2,
      confidenceGate: {
        passed: false,
        reason: "below-threshold",
        lowConfidenceWords: [{ text: "none", startTime: 2.4, endTime: 2.75, confidence: 0.5 }],
      },
    });
    send({ topic: "session-1", payload: { ...s3, text: "Only a cou" } });
    send({ topic: "session-1", payload: { ...s3, isFinal: false, segmentId: "d", text: "partial" } });
    send({ topic: "session-1", payload: s3 }); // corrected final replaces the first one
    send({
      topic: "session-1",
      payload: s1,
      confidenceGate: { passed: true, reason: "confident", lowConfidenceWords: [] },
    });
    send({ topic: "session-1", control: "flush", patient: { id: "TEST-1", family: "Testpatient" } });
    const msg = await out;
    const doc = msg.payload as TranscriptDocument;
    assert.ok(checkTranscriptDocument(doc).ok);
    assert.equal(msg.topic, "session-1");
    assert.deepEqual(
      (msg as { patient?: unknown }).patient,
      { id: "TEST-1", family: "Testpatient" },
      "flush properties travel along",
    );
    assert.equal((msg as { control?: unknown }).control, undefined);
    assert.equal(doc.text, "spk_0: Any chest pain?\nspk_1: No, none at all. Only a cough.");
    assert.deepEqual(
      doc.turns.map((t) => [t.speaker, t.startTime, t.endTime]),
      [
        ["spk_0", 0, 1.6],
        ["spk_1", 2, 5],
      ],
    );
    assert.deepEqual(
      doc.segments.map((s) => [s.segmentId, s.review]),
      [
        ["a", false],
        ["b", true],
        ["c", false],
      ],
    );
    assert.deepEqual(doc.review, [
      {
        segmentId: "b",
        startTime: 2,
        endTime: 3.5,
        reason: "below-threshold",
        lowConfidenceWords: [{ text: "none", startTime: 2.4, endTime: 2.75, confidence: 0.5 }],
      },
    ]);
    assert.equal(doc.provider, "aws-transcribe-medical");
    assert.equal(doc.durationSeconds, 5);
    assert.equal(doc.endReason, "flush");
    assert.equal(doc.quality.minConfidence, 0.5);
    assert.equal(doc.quality.reviewSegmentCount, 1);
    assert.equal(doc.words[0]?.text, "Any", "words in spoken order");
    assert.match(doc.documentId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it("keeps sessions apart and flushes every open session when the flush has no topic", async () => {
    await load();
    const out = collect("out");
    send({ topic: "one", payload: { ...s1, sessionId: "one" } });
    send({ topic: "two", payload: { ...s1, sessionId: "two", text: "Second session." } });
    send({ control: "flush" });
    await delay(50);
    assert.deepEqual(out.map((m) => [m.topic, (m.payload as TranscriptDocument).text]).sort(), [
      ["one", "Any chest pain?"],
      ["two", "Second session."],
    ]);
    const ids = out.map((m) => (m.payload as TranscriptDocument).documentId);
    assert.notEqual(ids[0], ids[1]);
    send({ topic: "one", control: "flush" });
    await delay(30);
    assert.equal(out.length, 2, "a flushed session is gone; flushing it again sends nothing");
  });

  it("takes a withdrawal (contract 2 withdrawn) as the partial it removes: ignored, never an error", async () => {
    await load();
    const out = collect("out");
    const errors = collect("caught");
    send({ topic: "session-1", payload: s1 });
    send({ topic: "session-1", payload: withdrawal(s3) });
    send({ topic: "session-1", control: "flush" });
    await delay(50);
    assert.equal(errors.length, 0);
    assert.equal((out[0].payload as TranscriptDocument).text, "Any chest pain?");
  });

  it("ends a session on the transcribers' session events: ended, termination, and error", async () => {
    await load();
    const out = collect("out");
    for (const id of ["aws", "aai", "err", "other"]) send({ topic: id, payload: { ...s1, sessionId: id } });
    send({ topic: "aws", payload: { event: "started", sessionId: "aws" } });
    send({ topic: "aws", payload: { event: "reconnecting", sessionId: "aws", attempt: 1, delayMs: 100 } });
    await delay(30);
    assert.equal(out.length, 0, "other events leave the session open");
    send({ topic: "aws", payload: { event: "ended", sessionId: "aws", audioSeconds: 2 } });
    send({ topic: "aai", payload: { event: "termination", sessionId: "aai" } });
    send({ topic: "err", payload: { event: "error", sessionId: "err", error: { code: "X", message: "y" } } });
    await delay(50);
    assert.deepEqual(
      out.map((m) => [m.topic, (m.payload as TranscriptDocument).endReason]),
      [
        ["aws", "ended"],
        ["aai", "ended"],
        ["err", "error"],
      ],
    );
  });

  it("emits a session's document after the idle timeout", async () => {
    await load({ idleTimeout: "0.1" });
    const out = collect("out");
    send({ topic: "session-1", payload: s1 });
    await delay(40);
    send({ topic: "session-1", payload: s3 }); // restarts the idle timer
    await delay(80);
    assert.equal(out.length, 0);
    await delay(100);
    assert.equal(out.length, 1);
    const doc = out[0]?.payload as TranscriptDocument;
    assert.equal(doc.endReason, "idle");
    assert.equal(doc.segments.length, 2);
  });

  it("carries a session it is still collecting over a full deploy: one document, from its first final", async () => {
    await load();
    send({ topic: "session-1", payload: s1 });
    await redeploy(flowOf(), {}, []);
    const out = nextMessage("out");
    send({ topic: "session-1", payload: s3 });
    send({ topic: "session-1", control: "flush" });
    const doc = (await out).payload as TranscriptDocument;
    assert.deepEqual(
      doc.turns.map((t) => t.text),
      ["Any chest pain?", "Only a cough."],
    );
    assert.deepEqual(loggedTexts(helper.getNode("doc")), []);
  });

  it("refuses a payload that is not a transcript result and an unknown control, through catch", async () => {
    await load();
    const caught = collect("caught");
    send({ topic: "x", payload: { text: "hello" } });
    send({ topic: "x", control: "stop" });
    await delay(50);
    const messages = caught.map((m) => (m.error as { message: string }).message);
    assert.match(messages[0] ?? "", /msg\.payload is not a transcript result: payload\.provider is missing/);
    assert.match(messages[1] ?? "", /msg\.control must be "flush"/);
  });

  it("refuses a bad idle timeout at deploy", async () => {
    await load({ idleTimeout: "-1" });
    assert.ok(statusTexts(helper.getNode("doc")).includes("transcript-document.status.misconfigured"));
  });

  it("counts open sessions and documents in its status, and never shows transcript text", async () => {
    await load();
    const n = helper.getNode("doc");
    send({ topic: "s", payload: result({ text: PHI_MARKER, words: words([[PHI_MARKER, 0.2]]) }) });
    send({ topic: "s", payload: { ...result({ text: PHI_MARKER }), words: PHI_MARKER } });
    await delay(600);
    const texts = statusTexts(n);
    assert.ok(texts.includes("1 open, 0 documents"), JSON.stringify(texts));
    for (const t of [...texts, ...loggedTexts(n)]) assert.ok(!t.includes(PHI_MARKER), t);
  });
});
