import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
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
import { withdrawal, type TranscriptWord } from "../../src/transcript/result";
import { noteDocument } from "../support/notes";
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

  it("carries the medical-entities node's msg.entities of each final into the document, offsets into its text", async () => {
    await load();
    const out = nextMessage("out");
    const chest = {
      category: "MEDICAL_CONDITION",
      type: "DX_NAME",
      text: "chest pain",
      beginOffset: 4,
      endOffset: 14,
    };
    const cough = {
      category: "MEDICAL_CONDITION",
      type: "DX_NAME",
      text: "cough",
      beginOffset: 7,
      endOffset: 12,
      traits: [{ name: "SYMPTOM", score: 0.9 }],
      codes: [{ system: "ICD-10-CM", code: "R05.9", description: "Cough, unspecified", score: 0.8 }],
    };
    send({ topic: "session-1", payload: s3, entities: [cough] });
    send({ topic: "session-1", payload: s1, entities: [chest, { ...chest, beginOffset: 3 }] });
    send({ topic: "session-1", payload: s2 });
    send({ topic: "session-1", control: "flush" });
    const doc = (await out).payload as TranscriptDocument;
    assert.deepEqual(
      doc.entities?.map((e) => [e.segmentId, e.text, doc.text.slice(e.beginOffset, e.endOffset)]),
      [
        ["a", "chest pain", "chest pain"],
        ["c", "cough", "cough"],
      ],
      "in text order; the entity whose offsets miss its text is left out",
    );
    assert.deepEqual(doc.entities?.[1]?.codes?.[0]?.code, "R05.9");
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
    const messages = caught.map(caughtText);
    assert.match(messages[0] ?? "", /msg\.payload is not a transcript result: payload\.provider is missing/);
    assert.match(messages[1] ?? "", /msg\.control must be "flush"/);
  });

  it("passes a scribe's document (with a note) through as its session's document, dropping the finals it collected for that session", async () => {
    await load();
    const out = collect("out");
    const caught = collect("caught");
    const scribe = noteDocument();
    send({ topic: scribe.sessionId, payload: { ...s1, sessionId: scribe.sessionId } });
    send({ topic: "other", payload: { ...s1, sessionId: "other" } });
    send({ topic: scribe.sessionId, payload: scribe, patient: { id: "TEST-0001" } });
    await delay(30);
    assert.equal(out.length, 1);
    assert.deepEqual(out[0]?.payload, scribe);
    assert.deepEqual((out[0] as NodeMessage & { patient?: unknown }).patient, { id: "TEST-0001" });
    send({ topic: scribe.sessionId, control: "flush" });
    send({ topic: "other", control: "flush" });
    await delay(30);
    assert.deepEqual(
      out.map((m) => m.topic),
      [scribe.sessionId, "other"],
      "the scribe's session sends nothing more; other sessions go on",
    );
    assert.equal(caught.length, 0);
  });

  it("refuses a scribe's document with a malformed note through catch, naming the field", async () => {
    await load();
    const out = collect("out");
    const caught = collect("caught");
    send({
      topic: "s",
      payload: { ...noteDocument(), note: { template: "HISTORY_AND_PHYSICAL", sections: "x" } },
    });
    await delay(30);
    assert.equal(out.length, 0);
    assert.match(caughtText(caught[0]), /payload\.note\.sections must be an array of at most 100 sections/);
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

  it("starts with only id, type, z and wires, with the editor's defaults (100 sessions at most)", async () => {
    await helper.load(
      transcriptDocument,
      flowWithCatch([{ id: "doc", type: "transcript-document", wires: [["out"]] }], ["out"]),
      {},
    );
    const caught = collect("caught");
    const out = collect("out");
    for (let i = 0; i <= 100; i++) send({ topic: `s${i}`, payload: result({ sessionId: `s${i}` }) });
    send({ topic: "s0", control: "flush" });
    await delay(50);
    assert.ok(!statusTexts(helper.getNode("doc")).includes("transcript-document.status.misconfigured"));
    assert.equal(out.length, 1);
    assert.deepEqual(caught.map(caughtText), [
      "transcript-document: already collecting 100 sessions (the node's limit): the result of a new session was refused. Raise \"Max sessions\", or end sessions sooner (flush, idle timeout, the transcriber's session events)",
    ]);
  });

  it("refuses a word list past the document limit at the edge, with an error naming the limit", async () => {
    await load();
    const caught = collect("caught");
    const out = collect("out");
    send({ topic: "s", payload: result({ words: manyWords(60_000), text: "many" }) });
    send({ topic: "s", control: "flush" });
    await delay(50);
    assert.deepEqual(caught.map(caughtText), [
      "transcript-document: the result alone exceeds the limit of 50000 words per document: it was refused",
    ]);
    assert.equal(out.length, 0, "nothing was kept");
  });

  it("at the word limit sends the document so far, tells Catch (naming the session by tag only), and goes on", async () => {
    await load();
    const caught = collect("caught");
    const out = collect("out");
    const session = `${PHI_MARKER}-encounter`;
    for (let i = 0; i < 8; i++) {
      send({
        topic: session,
        payload: result({
          sessionId: session,
          segmentId: `g${i}`,
          words: manyWords(7000, i * 2500),
          text: "w",
        }),
      });
    }
    send({ topic: session, control: "flush" });
    await delay(100);
    const docs = out.map((m) => m.payload as TranscriptDocument);
    assert.deepEqual(
      docs.map((d) => [d.endReason, d.words.length]),
      [
        ["limit", 49_000],
        ["flush", 7000],
      ],
    );
    const messages = caught.map(caughtText);
    assert.equal(messages.length, 1);
    assert.match(
      messages[0] ?? "",
      /^transcript-document: session #[0-9a-f]{8} reached the limit of 50000 words per document: its document so far was sent \(endReason "limit"\) and the session goes on in a new document$/,
    );
    const n = helper.getNode("doc");
    for (const t of [...messages, ...statusTexts(n), ...loggedTexts(n)])
      assert.ok(!t.includes(PHI_MARKER), t);
  });

  it("refuses a time past one year at the edge, and its idle timer keeps going for the other sessions", async () => {
    await load({ idleTimeout: "0.05" });
    const caught = collect("caught");
    const out = collect("out");
    send({ topic: "bad", payload: result({ sessionId: "bad", startTime: 1e300, endTime: 1e300 }) });
    send({ topic: "good", payload: result({ sessionId: "good" }) });
    await delay(200);
    assert.match((caught[0]?.error as { message: string }).message, /payload\.startTime must be <= 31536000/);
    assert.deepEqual(
      out.map((m) => [
        (m.payload as TranscriptDocument).sessionId,
        (m.payload as TranscriptDocument).endReason,
      ]),
      [["good", "idle"]],
    );
  });

  it("refuses a bad maximum of sessions at deploy", async () => {
    for (const maxSessions of ["0", "1.5", "abc", "1e9"]) {
      await load({ maxSessions });
      assert.ok(statusTexts(helper.getNode("doc")).includes("transcript-document.status.misconfigured"));
      await helper.unload();
    }
  });
});

/** The text of an error a catch node received (Node-RED 4 prefixes the error's name). */
function caughtText(msg: NodeMessage): string {
  return ((msg as { error?: { message?: string } }).error?.message ?? "").replace(/^Error: /, "");
}

/** `n` synthetic words 0.3 s apart from `from`. */
function manyWords(n: number, from = 0): TranscriptWord[] {
  const out: TranscriptWord[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      text: "word",
      startTime: from + i * 0.3,
      endTime: from + i * 0.3 + 0.2,
      confidence: 0.9,
      kind: "word",
    });
  }
  return out;
}
