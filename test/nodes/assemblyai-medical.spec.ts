import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { SessionEvent } from "../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../src/transcript/result";
import { taggedPcm, turn, type Fixture } from "../emulators/assemblyai/fixture";
import { AssemblyAiEmulator, type EmulatedConnection } from "../emulators/assemblyai/server";
import { assertTranscriptResult } from "../support/contract";
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

const nodes = [builtNode("assemblyai-config"), builtNode("assemblyai-medical")];
const KEY = "test-api-key";
const PHI_MARKER = "ZZPHIMARKER0815";

const FIXTURE: Fixture = {
  turns: [turn(100, "Blood pressure stable."), turn(1300, "No edema noted.")],
};
const AUDIO_MS = 2200;

let emu: AssemblyAiEmulator;

async function load(config: Record<string, unknown> = {}, apiKey = KEY, endpoint?: string): Promise<void> {
  await helper.load(nodes, flowOf(config, endpoint), { cfg: { apiKey } });
}

function flowOf(config: Record<string, unknown> = {}, endpoint?: string): FlowNode[] {
  const cfg: FlowNode = {
    id: "cfg",
    type: "assemblyai-config",
    name: "",
    region: "us",
    endpoint: endpoint ?? emu.url,
  };
  const node: FlowNode = {
    id: "aai",
    type: "assemblyai-medical",
    name: "",
    config: "cfg",
    speechModel: "u3-rt-pro",
    medicalDomain: true,
    sampleRate: 16000,
    encoding: "pcm_s16le",
    keyterms: "",
    speakerLabels: false,
    maxSpeakers: "",
    minTurnSilence: 300,
    maxTurnSilence: 3600,
    inactivityTimeout: "",
    formatTurns: false,
    prompt: "",
    keepRaw: false,
    idleTimeout: 30,
    frameMs: 100,
    connectTimeout: 2,
    terminationTimeout: 2,
    maxRetries: 3,
    retryDelayMs: 20,
    wires: [["results"], ["events"]],
    ...config,
  };
  return flowWithCatch([cfg, node], ["results", "events"]);
}

/** Contract-1 chunks of tagged audio, 100 ms each; the last one carries audio.end when `end`. */
function chunks(sessionId: string, fromMs: number, toMs: number, end = true): NodeMessage[] {
  const out: NodeMessage[] = [];
  let seq = 0;
  for (let t = fromMs; t < toMs; t += 100) {
    const durationMs = Math.min(100, toMs - t);
    const last = t + durationMs >= toMs;
    out.push({
      topic: sessionId,
      payload: taggedPcm(t, durationMs),
      audio: {
        sessionId,
        seq: seq++,
        sampleRate: 16000,
        channels: 1,
        encoding: "pcm_s16le",
        offsetMs: t - fromMs,
        durationMs,
        ...(last && end ? { end: true } : {}),
      },
    });
  }
  return out;
}

const send = (msgs: NodeMessage[]): void => {
  for (const m of msgs) helper.getNode("aai").receive(m);
};

/** Resolves with the events output once a session event of this kind arrived. */
async function untilEvent(
  events: NodeMessage[],
  kind: SessionEvent["event"],
  count = 1,
  ms = 8000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (events.filter((e) => (e.payload as SessionEvent).event === kind).length < count) {
    if (Date.now() > deadline) throw new Error(`no ${kind} event within ${ms} ms`);
    await delay(20);
  }
}

const payloads = (msgs: NodeMessage[]): TranscriptResult[] => msgs.map((m) => m.payload as TranscriptResult);
const finalTexts = (msgs: NodeMessage[], session?: string): string[] =>
  payloads(msgs)
    .filter((r) => r.isFinal && (!session || r.sessionId === session))
    .map((r) => r.text);
/** Active handles by kind (sockets, timers), to show that nothing is left running. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

const eventKinds = (msgs: NodeMessage[]): string[] => msgs.map((m) => (m.payload as SessionEvent).event);

describe(`assemblyai-medical node (${runtimeLabel})`, function () {
  this.timeout(20000);
  beforeEach(async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
  });
  afterEach(async () => {
    await helper.unload();
    await emu.close();
  });

  it("loads with its account; the API key is a credential, sent only in the Authorization header", async () => {
    await load({ name: "dictation" });
    const n = helper.getNode("aai");
    assert.equal(n.name, "dictation");
    assert.equal(n.type, "assemblyai-medical");
    const events = collect("events");
    send(chunks("enc-1", 0, 300));
    await untilEvent(events, "termination");
    const conn = await emu.connection(0);
    assert.equal(conn.headers.authorization, KEY);
    assert.ok(!JSON.stringify(conn.params).includes(KEY), "not in the URL");
    assert.deepEqual(
      {
        speech_model: conn.params.speech_model,
        domain: conn.params.domain,
        sample_rate: conn.params.sample_rate,
        encoding: conn.params.encoding,
        min_turn_silence: conn.params.min_turn_silence,
        max_turn_silence: conn.params.max_turn_silence,
      },
      {
        speech_model: "u3-rt-pro",
        domain: "medical-v1",
        sample_rate: "16000",
        encoding: "pcm_s16le",
        min_turn_silence: "300",
        max_turn_silence: "3600",
      },
    );
  });

  it("sends the medical parameters a user sets: keyterms as one JSON list, speakers, inactivity timeout, prompt", async () => {
    await load({
      keyterms: "Lisinopril\nMetformin",
      speakerLabels: true,
      maxSpeakers: 2,
      inactivityTimeout: 30,
      prompt: "Clinical dictation.",
    });
    const events = collect("events");
    send(chunks("enc-1", 0, 200));
    await untilEvent(events, "termination");
    const conn = await emu.connection(0);
    assert.equal(conn.params.keyterms_prompt, '["Lisinopril","Metformin"]');
    assert.equal(conn.params.speaker_labels, "true");
    assert.equal(conn.params.max_speakers, "2");
    assert.equal(conn.params.inactivity_timeout, "30");
    assert.equal(conn.params.prompt, "Clinical dictation.");
  });

  it("emits valid transcript results: partials then one final per turn, on a stable segment, with begin and termination events", async () => {
    await load();
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, AUDIO_MS));
    await untilEvent(events, "termination");
    for (const r of results) assertTranscriptResult(r.payload);
    assert.ok(results.every((m) => m.topic === "enc-1" && m.raw === undefined));
    assert.deepEqual(finalTexts(results), ["Blood pressure stable.", "No edema noted."]);
    const first = payloads(results).filter((r) => r.segmentId === payloads(results)[0]?.segmentId);
    assert.ok(first.length >= 2, "partials before the final");
    assert.deepEqual(
      first.map((r) => r.isFinal),
      [...new Array<boolean>(first.length - 1).fill(false), true],
    );
    const final = payloads(results).find((r) => r.isFinal && r.text === "No edema noted.");
    assert.equal(final?.provider, "assemblyai");
    assert.equal(final?.startTime, 1.3);
    assert.equal(final?.words.length, 3);
    assert.ok(final?.words.every((w) => w.kind === "word" && typeof w.confidence === "number"));
    assert.deepEqual(eventKinds(events), ["begin", "termination"]);
    const termination = events[1]?.payload as SessionEvent & { event: "termination" };
    assert.equal(termination.sessionId, "enc-1");
    assert.equal(termination.audioDurationSeconds, 2);
    assert.equal(typeof termination.sessionDurationSeconds, "number");
    await delay(300); // the status line shows the latest state once its 250 ms interval ends
    const statuses = statusTexts(helper.getNode("aai"));
    assert.ok(statuses.includes("connecting"), statuses.join(" | "));
    assert.ok(statuses.includes("streaming (1 sessions)"), statuses.join(" | "));
    assert.equal(statuses.at(-1), "idle");
  });

  it("keeps the raw AssemblyAI Turn in msg.raw when asked", async () => {
    await load({ keepRaw: true });
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, 1100));
    await untilEvent(events, "termination");
    const final = results.find((m) => (m.payload as TranscriptResult).isFinal);
    assert.equal((final?.raw as { type: string; end_of_turn: boolean }).type, "Turn");
    assert.equal((final?.raw as { end_of_turn: boolean }).end_of_turn, true);
  });

  it("streams two sessions at once, each on its own connection, with no cross-talk", async () => {
    await load();
    const results = collect("results");
    const events = collect("events");
    const a = chunks("enc-A", 0, 1100);
    const b = chunks("enc-B", 1200, AUDIO_MS);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const ma = a[i];
      const mb = b[i];
      if (ma) send([ma]);
      if (mb) send([mb]);
    }
    await untilEvent(events, "termination", 2);
    assert.equal(emu.connections.length, 2);
    assert.deepEqual(finalTexts(results, "enc-A"), ["Blood pressure stable."]);
    assert.deepEqual(finalTexts(results, "enc-B"), ["No edema noted."]);
    for (const m of results) assert.equal(m.topic, (m.payload as TranscriptResult).sessionId);
    const b0 = payloads(results).find((r) => r.sessionId === "enc-B" && r.isFinal);
    assert.equal(b0?.startTime, 0.1, "times are relative to each session's own start");
  });

  for (const [name, msg, text] of [
    [
      "a payload that is not a Buffer",
      { topic: "s", payload: "hello" },
      /msg\.payload must be a Buffer of pcm_s16le audio \(got string\)/,
    ],
    [
      "a wrong sample rate",
      {
        topic: "s",
        payload: Buffer.alloc(1600),
        audio: { sessionId: "s", sampleRate: 8000, encoding: "pcm_s16le", channels: 1 },
      },
      /msg\.audio\.sampleRate must be 16000 Hz/,
    ],
    [
      "a wrong encoding",
      {
        topic: "s",
        payload: Buffer.alloc(1600),
        audio: { sessionId: "s", sampleRate: 16000, encoding: "pcm_mulaw", channels: 1 },
      },
      /msg\.audio\.encoding must be "pcm_s16le"/,
    ],
    [
      "stereo audio",
      {
        topic: "s",
        payload: Buffer.alloc(1600),
        audio: { sessionId: "s", sampleRate: 16000, encoding: "pcm_s16le", channels: 2 },
      },
      /msg\.audio\.channels must be 1/,
    ],
    [
      "no session id",
      { payload: Buffer.alloc(1600) },
      /msg\.audio\.sessionId or msg\.topic must name the audio session/,
    ],
    [
      "an unknown control",
      { topic: "s", control: { type: "Pause" } },
      /msg\.control\.type must be "ForceEndpoint" or "UpdateConfiguration"/,
    ],
    [
      "a keyterms_prompt update given as one string",
      { topic: "s", control: { type: "UpdateConfiguration", keyterms_prompt: "Lisinopril" } },
      /msg\.control\.keyterms_prompt must be a list \(array\) of strings/,
    ],
    [
      "a keyterms_prompt update given as null",
      { topic: "s", control: { type: "UpdateConfiguration", keyterms_prompt: null } },
      /msg\.control\.keyterms_prompt must be a list \(array\) of strings/,
    ],
    [
      "an oversized prompt update",
      { topic: "s", control: { type: "UpdateConfiguration", prompt: "x".repeat(1751) } },
      /msg\.control: AssemblyAI parameter prompt is invalid: accepted text of at most 1750 characters/,
    ],
  ] as const) {
    it(`refuses ${name} through done(err), which a Catch node receives, and opens no connection`, async () => {
      await load();
      const caught = nextMessage("caught");
      const results = collect("results");
      helper.getNode("aai").receive(msg);
      const error = (await caught).error as { message: string; source: { id: string } };
      assert.match(error.message, text);
      assert.equal(error.source.id, "aai");
      await delay(50);
      assert.equal(results.length, 0);
      assert.equal(emu.connections.length, 0);
    });
  }

  it("reconnects after a dropped connection: no final lost or duplicated, times continuous", async () => {
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(1600, () => c.drop()));
    await load();
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, AUDIO_MS));
    await untilEvent(events, "termination");
    assert.equal(emu.connections.length, 2);
    assert.deepEqual(finalTexts(results), ["Blood pressure stable.", "No edema noted."]);
    for (const r of results) assertTranscriptResult(r.payload);
    const second = payloads(results).find((r) => r.isFinal && r.text === "No edema noted.");
    assert.deepEqual(
      second?.words.map((w) => w.startTime),
      [1.3, 1.55, 1.8],
    );
    assert.deepEqual(eventKinds(events), ["begin", "reconnecting", "begin", "termination"]);
    assert.equal((events[1]?.payload as { code: number }).code, 1006);
    assert.ok(statusTexts(helper.getNode("aai")).includes("reconnecting"));
  });

  it("surfaces an auth failure clearly, once, without retrying, and never shows the key", async () => {
    const badKey = `bad-${PHI_MARKER}`;
    await load({}, badKey);
    const caught = nextMessage("caught", 5000);
    const events = collect("events");
    send(chunks("enc-1", 0, 500, false));
    const error = (await caught).error as { message: string };
    assert.match(
      error.message,
      /AssemblyAI refused the connection \(check the API key in the assemblyai-config node\)/,
    );
    assert.match(error.message, /1008 Unauthorized Connection: Invalid API key/);
    await delay(300);
    assert.equal(emu.connections.length, 1, "auth is never retried");
    assert.deepEqual(eventKinds(events), ["error"]);
    assert.equal((events[0]?.payload as { kind: string }).kind, "auth");
    const n = helper.getNode("aai");
    assert.ok(statusTexts(n).includes("error (1008)"), statusTexts(n).join(" | "));
    for (const text of [...statusTexts(n), ...loggedTexts(n), error.message])
      assert.ok(!text.includes(PHI_MARKER));
  });

  it("never puts transcript text or the API key in status texts or logs", async () => {
    await emu.close();
    emu = await AssemblyAiEmulator.start({
      fixture: { turns: [turn(100, `Patient ${PHI_MARKER} denies pain.`)] },
      apiKeys: [`key-${PHI_MARKER}`],
    });
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(700, () => c.drop()));
    await load({}, `key-${PHI_MARKER}`);
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, 1400));
    await untilEvent(events, "termination");
    assert.ok(
      finalTexts(results).some((t) => t.includes(PHI_MARKER)),
      "the marker is in the transcript",
    );
    const n = helper.getNode("aai");
    const seen = [...statusTexts(n), ...loggedTexts(n)];
    assert.ok(seen.length > 0);
    for (const text of seen) assert.ok(!text.includes(PHI_MARKER), `leaked: ${text}`);
    for (const m of events) assert.ok(!JSON.stringify(m.payload).includes(PHI_MARKER));
  });

  it("passes ForceEndpoint and UpdateConfiguration control messages to the session's connection", async () => {
    await load();
    const events = collect("events");
    send(chunks("enc-1", 0, 600, false));
    await untilEvent(events, "begin");
    await delay(100);
    helper
      .getNode("aai")
      .receive({ topic: "enc-1", control: { type: "UpdateConfiguration", keyterms_prompt: ["edema"] } });
    helper.getNode("aai").receive({ topic: "enc-1", control: { type: "ForceEndpoint" } });
    await delay(100);
    const conn = await emu.connection(0);
    assert.deepEqual(conn.messages, [
      { type: "UpdateConfiguration", keyterms_prompt: ["edema"] },
      { type: "ForceEndpoint" },
    ]);
    assert.deepEqual(conn.config.keyterms_prompt, ["edema"]);
  });

  it("ends a forgotten session after the idle timeout with Terminate", async () => {
    await load({ idleTimeout: 0.3 });
    const events = collect("events");
    send(chunks("enc-1", 0, 300, false));
    await untilEvent(events, "termination");
    const conn = await emu.connection(0);
    assert.deepEqual(conn.messages.at(-1), { type: "Terminate" });
    assert.equal(await conn.closed, 1000);
  });

  it("on close sends Terminate to every open session, waits for Termination, and leaves no socket or timer", async () => {
    // Node-RED itself keeps a timer after an unload: the baseline is a load and unload with no session.
    await load();
    await helper.unload();
    await new Promise((r) => setImmediate(r));
    const before = resources();
    await load();
    const events = collect("events");
    send(chunks("enc-A", 0, 600, false));
    send(chunks("enc-B", 0, 600, false));
    await untilEvent(events, "begin", 2);
    const started = Date.now();
    await helper.unload();
    assert.ok(Date.now() - started < 5000);
    for (const conn of emu.connections) {
      assert.deepEqual(conn.messages.at(-1), { type: "Terminate" });
      assert.equal(await conn.closed, 1000);
    }
    await delay(300);
    assert.equal(emu.connections.length, 2, "nothing reconnects after close");
    await new Promise((r) => setImmediate(r)); // out of the timer phase that ran the last delay
    const after = resources();
    assert.ok(after.TCPSocketWrap === undefined, "no socket left open");
    assert.ok(
      (after.Timeout ?? 0) <= (before.Timeout ?? 0),
      `no timer left: ${JSON.stringify({ before, after })}`,
    );
  });

  it("hands the final its sessions flush during a full deploy to its next instance, with the session's end", async () => {
    await load();
    const before = collect("results");
    send(chunks("enc-1", 0, 900, false));
    await delay(300);
    const { results = [], events = [] } = await redeploy(flowOf(), { cfg: { apiKey: KEY } }, [
      "results",
      "events",
    ]);
    await untilEvent(events, "termination");
    assert.deepEqual(finalTexts(before), [], "no final before the deploy");
    const flushed = payloads(results).filter((r) => r.isFinal);
    assert.equal(flushed.length, 1, "the turn in progress, finished by Terminate");
    assert.ok("Blood pressure stable.".startsWith(flushed[0]?.text.replace(/[.]$/, "") ?? "-"));
    assert.ok((flushed[0]?.words.length ?? 0) > 0);
  });

  it("on close gives up waiting for a stalled service within its bound", async () => {
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(100, () => c.stall()));
    await load({ terminationTimeout: 0.5 });
    const events = collect("events");
    send(chunks("enc-1", 0, 300, false));
    await untilEvent(events, "begin");
    await delay(200);
    const started = Date.now();
    await helper.unload();
    assert.ok(Date.now() - started < 3000);
    const conn = await emu.connection(0);
    // No Termination came: the stalled connection is terminated and its audio replayed into a new one.
    assert.equal(await conn.closed, 1006, "the client ended the stalled connection");
    const second = await emu.connection(1);
    assert.ok(second.messages.some((m) => JSON.stringify(m) === '{"type":"Terminate"}'));
  });

  it("reports a missing API key at deploy and refuses input", async () => {
    await load({}, "");
    const caught = nextMessage("caught");
    send(chunks("enc-1", 0, 100));
    const error = (await caught).error as { message: string };
    assert.match(error.message, /the AssemblyAI account has no API key/);
    assert.ok(statusTexts(helper.getNode("aai")).includes("misconfigured"));
  });

  it("says that the API key is missing once for a 3-second inject, not once per chunk", async () => {
    await load({}, "");
    const aai = helper.getNode("aai");
    const caught = collect("caught");
    send(chunks("enc-1", 0, 3000));
    await delay(300);
    const noKey = (t: string) => /the AssemblyAI account has no API key/.test(t);
    // At deploy, and for the first refused message: the 29 others are counted, not logged one by one.
    assert.equal(loggedTexts(aai).filter(noKey).length, 2);
    assert.equal(caught.length, 1);
    // The summary of the repeats comes once a minute, or at close: test/unit/util/repeated-reports.test.ts.
  });

  it("refuses an invalid parameter at deploy, naming it", async () => {
    await load({ maxSpeakers: 11, speakerLabels: true });
    const caught = nextMessage("caught");
    send(chunks("enc-1", 0, 100));
    const error = (await caught).error as { message: string };
    assert.match(
      error.message,
      /AssemblyAI parameter max_speakers is invalid: accepted a whole number from 1 to 10/,
    );
    assert.equal(emu.connections.length, 0);
  });

  it("transcribes on through an outage longer than the retry budget while the encounter goes on: nothing lost, dropped or sent twice", async () => {
    emu.once("connection", (c: EmulatedConnection) =>
      c.whenAudio(600, () => {
        emu.plan(...Array.from({ length: 5 }, () => ({ reject: 1011 })));
        c.drop();
      }),
    );
    await load({ maxRetries: 3, retryDelayMs: 20 });
    const results = collect("results");
    const events = collect("events");
    const caught = collect("caught");
    // A live source: one 100 ms chunk every 100 ms.
    for (const m of chunks("enc-1", 0, AUDIO_MS)) {
      send([m]);
      await delay(100);
    }
    await untilEvent(events, "termination");
    assert.equal(emu.connections.length, 7);
    assert.deepEqual(finalTexts(results), ["Blood pressure stable.", "No edema noted."]);
    assert.deepEqual(caught, [], "no chunk refused");
    assert.ok(!eventKinds(events).includes("error"), eventKinds(events).join(" "));
    for (const r of results) assertTranscriptResult(r.payload);
  });

  it("refuses audio beyond its buffer through done(err), rate-limited, instead of queueing it without bound", async () => {
    await load({ maxBuffer: 1 });
    const caught = collect("caught");
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, 3000));
    await untilEvent(events, "termination");
    // The first refused chunk in full; the other 19 counted, with their audio, in one summary when the
    // session ends (the one rule for repeated reports: src/util/repeated-reports.ts).
    assert.equal(caught.length, 2, "one report for the first refused chunk, one summary of the rest");
    const error = caught[0]?.error as { message: string };
    assert.match(
      error.message,
      /assemblyai-medical: audio of session #[0-9a-f]{8} refused: 1 s of audio are waiting to be sent/,
    );
    const summary = caught[1]?.error as { message: string };
    assert.match(
      summary.message,
      /assemblyai-medical: audio of session #[0-9a-f]{8} refused: 1 s of audio are waiting to be sent.* \(repeated 19 more times in \d+ s, 1\.9 s of audio; the first was reported in full\)$/,
    );
    for (const e of [error, summary])
      assert.ok(!e.message.includes("enc-1"), "the session id (PHI) is not in the error");
    assert.deepEqual(finalTexts(results), ["Blood pressure stable."]);
    const logged = loggedTexts(helper.getNode("aai"));
    assert.ok(!logged.some((t) => t.includes("enc-1")), "the session id (PHI) is in no log");
  });

  it("refuses an API key holding a character HTTP headers cannot carry at deploy, without showing it", async () => {
    await load({}, `${KEY}\u200b`);
    const caught = nextMessage("caught");
    send(chunks("enc-1", 0, 100));
    const error = (await caught).error as { message: string };
    assert.match(error.message, /API key holds a character that is not allowed/);
    const n = helper.getNode("aai");
    assert.ok(statusTexts(n).includes("misconfigured"));
    const logged = [...loggedTexts(n), ...loggedTexts(helper.getNode("cfg")), error.message];
    assert.ok(logged.some((t) => /assemblyai-config: the AssemblyAI API key holds a character/.test(t)));
    for (const text of logged) assert.ok(!text.includes(KEY), `leaked: ${text}`);
    await delay(50);
    assert.equal(emu.connections.length, 0);
  });

  it("trims white space pasted around the API key", async () => {
    await load({}, `  ${KEY}\n`);
    const events = collect("events");
    send(chunks("enc-1", 0, 300));
    await untilEvent(events, "termination");
    assert.equal((await emu.connection(0)).headers.authorization, KEY);
  });

  it("gives a session reopened with the same id new segment ids, and ends each with a terminal event", async () => {
    await load();
    const results = collect("results");
    const events = collect("events");
    send(chunks("enc-1", 0, 1100));
    await untilEvent(events, "termination");
    send(chunks("enc-1", 0, 1100));
    await untilEvent(events, "termination", 2);
    const finals = payloads(results).filter((r) => r.isFinal);
    assert.deepEqual(
      finals.map((r) => r.text),
      ["Blood pressure stable.", "Blood pressure stable."],
    );
    assert.notEqual(finals[0]?.segmentId, finals[1]?.segmentId);
  });

  it("after an outage outlasting the audio, reports what was not transcribed; the next chunk opens a new session continuing the times", async () => {
    emu.plan({ reject: 1011 }, { reject: 1011 }, { reject: 1011 });
    await load({ maxRetries: 2, retryDelayMs: 20 });
    const results = collect("results");
    const events = collect("events");
    const caught = nextMessage("caught", 5000);
    send(chunks("enc-1", 0, 300, false));
    const error = (await caught).error as { message: string };
    assert.match(
      error.message,
      /gave up after the configured retries \(1011 Session Cancelled: An error occurred\); 0\.3 s of audio were not transcribed/,
    );
    const later = chunks("enc-1", 1200, AUDIO_MS).map((m) => ({
      ...m,
      audio: {
        ...(m.audio as Record<string, unknown>),
        offsetMs: 1200 + Number((m.audio as { offsetMs: number }).offsetMs),
      },
    }));
    send(later);
    await untilEvent(events, "termination");
    assert.equal(emu.connections.length, 4);
    const final = payloads(results).find((r) => r.isFinal);
    assert.equal(final?.text, "No edema noted.");
    assert.equal(final?.startTime, 1.3, "times continue from msg.audio.offsetMs");
  });
});
