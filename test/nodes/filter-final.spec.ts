import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { TranscriptResult } from "../../src/transcript/result";
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
import { result } from "../support/results";

const filterFinal = builtNode("filter-final");
const PHI_MARKER = "ZZ-PHI-MARKER-0815";

const partial = (text: string, o: Partial<TranscriptResult> = {}): TranscriptResult =>
  result({ isFinal: false, confidence: null, words: [], text, ...o });

function load(config: Record<string, unknown> = {}): Promise<void> {
  const node: FlowNode = {
    id: "ff",
    type: "filter-final",
    name: "",
    partials: "drop",
    partialIntervalMs: 1000,
    dropEmpty: true,
    wires: [["out"]],
    ...config,
  };
  return helper.load(filterFinal, flowWithCatch([node], ["out"]));
}

const send = (payload: unknown, extra: Partial<NodeMessage> = {}): void =>
  helper.getNode("ff").receive({ topic: "session-1", payload, ...extra });

describe(`filter-final node (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("loads with its configuration", async () => {
    await load({ name: "finals", partials: "throttle", partialIntervalMs: 250 });
    const n = helper.getNode("ff");
    assert.equal(n.name, "finals");
    assert.equal(n.type, "filter-final");
  });

  it("passes final results, unchanged and valid, and drops partials", async () => {
    await load();
    const out = collect("out");
    send(partial("Patient"));
    send(partial("Patient denies"));
    const final = result({ text: "Patient denies chest pain." });
    send(final, { _session: { type: "websocket", id: "ws1" } });
    await delay(50);
    assert.equal(out.length, 1);
    assertTranscriptResult(out[0]?.payload);
    assert.deepEqual(out[0]?.payload, final);
    assert.equal(out[0]?.topic, "session-1");
    assert.deepEqual(
      out[0]?._session,
      { type: "websocket", id: "ws1" },
      "other message properties travel along",
    );
  });

  it("drops empty finals by default and keeps them when told to", async () => {
    await load();
    let out = collect("out");
    send(result({ text: "", words: [], confidence: null }));
    await delay(50);
    assert.equal(out.length, 0);
    await helper.unload();
    await load({ dropEmpty: false });
    out = collect("out");
    send(result({ text: "", words: [], confidence: null }));
    await delay(50);
    assert.equal(out.length, 1);
  });

  it("passes partials for live captions at most once per interval per segment, latest last", async () => {
    await load({ partials: "throttle", partialIntervalMs: 200 });
    const out = collect("out");
    send(partial("Pa"));
    send(partial("Patient"));
    send(partial("Patient denies"));
    await delay(50);
    assert.deepEqual(
      out.map((m) => (m.payload as TranscriptResult).text),
      ["Pa"],
    );
    await delay(300);
    assert.deepEqual(
      out.map((m) => (m.payload as TranscriptResult).text),
      ["Pa", "Patient denies"],
    );
    for (const m of out) assertTranscriptResult(m.payload);
  });

  it("keeps per-session state: one session's partials never hold back another's", async () => {
    await load({ partials: "throttle", partialIntervalMs: 5000 });
    const out = collect("out");
    send(partial("a", { sessionId: "A" }), { topic: "A" });
    send(partial("b", { sessionId: "B" }), { topic: "B" });
    send(partial("a2", { sessionId: "A" }), { topic: "A" });
    send(result({ text: "B done.", sessionId: "B" }), { topic: "B" });
    await delay(50);
    assert.deepEqual(
      out.map((m) => (m.payload as TranscriptResult).text),
      ["a", "b", "B done."],
    );
  });

  it("never sends a held partial after the final of its segment", async () => {
    await load({ partials: "throttle", partialIntervalMs: 150 });
    const out = collect("out");
    send(partial("Pa"));
    send(partial("Patient"));
    send(result({ text: "Patient denies chest pain." }));
    await delay(300);
    assert.deepEqual(
      out.map((m) => (m.payload as TranscriptResult).text),
      ["Pa", "Patient denies chest pain."],
    );
  });

  it("refuses a payload that is not a transcript result with an error a catch node receives", async () => {
    await load();
    const caught = nextMessage("caught");
    const out = collect("out");
    send("just some text");
    const msg = await caught;
    const error = msg.error as { message: string; source: { id: string } };
    assert.match(error.message, /msg\.payload is not a transcript result: payload must be object/);
    assert.match(
      error.message,
      /Accepted: the result messages of transcribe-medical, transcribe-standard or assemblyai-medical/,
    );
    assert.equal(error.source.id, "ff");
    assert.equal(out.length, 0);
  });

  it("names the wrong field of a malformed result, and carries on with the next message", async () => {
    await load();
    const caught = nextMessage("caught");
    const out = collect("out");
    send({ ...result(), isFinal: "true" });
    assert.match(
      (await caught).error ? ((await caught).error as { message: string }).message : "",
      /payload\.isFinal must be boolean/,
    );
    send(result());
    await delay(50);
    assert.equal(out.length, 1);
  });

  it("refuses a bad partial interval at deploy with a red status, and every message with the reason", async () => {
    await load({ partials: "throttle", partialIntervalMs: "soon" });
    const n = helper.getNode("ff");
    assert.ok(statusTexts(n).some((t) => /misconfigured/.test(t)));
    const caught = nextMessage("caught");
    send(result());
    assert.match(
      ((await caught).error as { message: string }).message,
      /partial interval must be a whole number/,
    );
  });

  it("shows counts in its status and never transcript text, in status or logs", async () => {
    await load({ partials: "throttle", partialIntervalMs: 100 });
    const n = helper.getNode("ff");
    send(result({ text: `Patient ${PHI_MARKER} denies chest pain.` }));
    send(partial(`Patient ${PHI_MARKER}`, { segmentId: "seg-2" }));
    send({ ...result({ text: PHI_MARKER }), confidence: PHI_MARKER });
    await delay(700);
    const texts = statusTexts(n);
    assert.ok(
      texts.some((t) => /2 passed, 0 dropped/.test(t)),
      JSON.stringify(texts),
    );
    for (const t of [...texts, ...loggedTexts(n)]) assert.ok(!t.includes(PHI_MARKER), t);
  });

  it("stops everything on close: a held partial is not sent after a redeploy", async () => {
    await load({ partials: "throttle", partialIntervalMs: 150 });
    const out = collect("out");
    send(partial("Pa"));
    send(partial("Patient"));
    await delay(30);
    await helper.unload();
    await delay(300);
    assert.deepEqual(
      out.map((m) => (m.payload as TranscriptResult).text),
      ["Pa"],
    );
  });
});
