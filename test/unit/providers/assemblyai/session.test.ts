import { strict as assert } from "node:assert";
import WebSocket from "ws";
import {
  connectionUrl,
  MEDICAL_DEFAULTS,
  type StreamingParams,
} from "../../../../src/providers/assemblyai/params";
import {
  AssemblyAiSession,
  type SessionEvent,
  type SessionOptions,
} from "../../../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { backstopErrors } from "../../../../src/util/backstop";
import { assertTranscriptResult } from "../../../support/contract";
import { taggedPcm, turn, type Fixture } from "../../../emulators/assemblyai/fixture";
import { AssemblyAiEmulator, type EmulatedConnection } from "../../../emulators/assemblyai/server";

// The streaming session against the emulator: framing, pacing, Terminate, and each class of close.

const FIXTURE: Fixture = {
  turns: [turn(100, "Blood pressure stable."), turn(1300, "No edema noted."), turn(2300, "Plan unchanged.")],
};
const AUDIO_MS = 3000;

interface Run {
  session: AssemblyAiSession;
  results: TranscriptResult[];
  events: SessionEvent[];
}

function open(
  emu: AssemblyAiEmulator,
  o: Partial<SessionOptions> = {},
  p: Partial<StreamingParams> = {},
): Run {
  const params = { ...MEDICAL_DEFAULTS, min_turn_silence: 300, ...p };
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const session = new AssemblyAiSession(
    {
      sessionId: "enc-1",
      url: connectionUrl(emu.url, params),
      apiKey: "test-api-key",
      params,
      retry: { retryDelayMs: 20, backoffDelayMs: 50, maxRetries: 3 },
      connectTimeoutMs: 1000,
      terminationTimeoutMs: 1000,
      ...o,
    },
    { result: (r) => results.push(r), event: (e) => events.push(e) },
  );
  session.start();
  return { session, results, events };
}

/** Writes the session's audio in 30 ms pieces (as any source might), all at once: the session frames and paces it. */
function writeAudio(session: AssemblyAiSession, fromMs = 0, toMs = AUDIO_MS): void {
  for (let t = fromMs; t < toMs; t += 30) session.write(taggedPcm(t, Math.min(30, toMs - t)));
}

const finals = (r: TranscriptResult[]): string[] => r.filter((x) => x.isFinal).map((x) => x.text);

describe("AssemblyAI streaming session (against the emulator)", function () {
  this.timeout(15000);
  let emu: AssemblyAiEmulator;
  afterEach(() => emu.close());

  it("streams 50–1000 ms frames at real time, pads the last frame, and delivers every final before Termination", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, rateToleranceMs: 700, terminationDelayMs: 100 });
    const run = open(emu, { frameMs: 100, leadMs: 500 });
    const started = Date.now();
    writeAudio(run.session, 0, 2990);
    await run.session.end();
    const conn = await emu.connection(0);
    assert.ok(Date.now() - started >= 2990 - 500 - 50, "paced at real time, not faster");
    assert.ok(conn.frames.every((f) => f.ms >= 50 && f.ms <= 1000));
    assert.deepEqual(
      conn.frames.slice(0, -1).map((f) => f.ms),
      Array(29).fill(100),
    );
    assert.equal(conn.frames.at(-1)?.ms, 90, "the 90 ms tail is sent, not dropped");
    assert.deepEqual(conn.messages.at(-1), { type: "Terminate" });
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    for (const r of run.results) assertTranscriptResult(r);
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "termination"],
    );
    assert.equal(run.session.state, "closed");
  });

  it("pads a tail shorter than 50 ms to 50 ms", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu);
    writeAudio(run.session, 0, 220);
    await run.session.end();
    const conn = await emu.connection(0);
    assert.deepEqual(
      conn.frames.map((f) => f.ms),
      [100, 100, 50],
    );
  });

  it("frames pcm_mulaw telephony audio by its own byte rate (1 byte per sample)", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    const run = open(emu, { frameMs: 100 }, { encoding: "pcm_mulaw", sample_rate: 8000 });
    run.session.write(Buffer.alloc(2000, 0xff));
    await run.session.end();
    const conn = await emu.connection(0);
    assert.equal(conn.params.encoding, "pcm_mulaw");
    assert.deepEqual(
      conn.frames.map((f) => [f.bytes, f.ms]),
      [
        [800, 100],
        [800, 100],
        [400, 50],
      ],
    );
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "termination"],
    );
  });

  it("reconnects after a dropped connection, replays unconfirmed audio, loses and duplicates no final, keeps times continuous", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(1700, () => c.drop()));
    const run = open(emu);
    writeAudio(run.session);
    await run.session.end();
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    const second = await emu.connection(1);
    const firstSent = second.frames[0]?.contentMs ?? -1;
    // The first final covers audio up to 800 ms; the replay keeps a margin before its last word.
    assert.ok(
      firstSent >= 0 && firstSent <= 800,
      `replay starts with the unconfirmed audio (${firstSent} ms)`,
    );
    const noEdema = run.results.find((r) => r.isFinal && r.text === "No edema noted.");
    assert.deepEqual(
      noEdema?.words.map((w) => w.startTime),
      [1.3, 1.55, 1.8],
      "times are session times, not the new connection's",
    );
    assert.equal(noEdema?.segmentId.split("/")[2], "1", "a segment of the second connection");
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "reconnecting", "begin", "termination"],
    );
    const reconnecting = run.events[1];
    assert.equal(reconnecting?.event === "reconnecting" && reconnecting.code, 1006);
    for (const r of run.results) assertTranscriptResult(r);
  });

  it("opens a new session after 3008 and retries 3005, 1011 and the 1008 concurrency close", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.plan({ reject: 1008 });
    let n = 0;
    emu.on("connection", (c: EmulatedConnection) => {
      n++;
      if (n === 2) c.whenAudio(500, () => c.fail(3008));
      if (n === 3) c.whenAudio(300, () => c.fail(3005));
      if (n === 4) c.whenAudio(300, () => c.closeBare(1011));
    });
    const run = open(emu, { retry: { retryDelayMs: 20, backoffDelayMs: 50, maxRetries: 3 } });
    writeAudio(run.session);
    await run.session.end();
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    assert.deepEqual(
      run.events
        .filter((e) => e.event === "reconnecting")
        .map((e) => e.event === "reconnecting" && [e.code, e.delayMs]),
      [
        [1008, 50],
        [3008, 0],
        [3005, 40],
        [1011, 80],
      ],
      "backoff only when the service asks for it; a new session at once after 3008",
    );
  });

  for (const [name, setup, kind, code, text] of [
    [
      "a wrong API key",
      { apiKey: "wrong" },
      "auth",
      1008,
      /refused the connection \(check the API key.*\(1008 Unauthorized Connection: Invalid API key\)/,
    ],
    [
      "a parameter the service refuses",
      { url: "" },
      "validation",
      3006,
      // A validation text may repeat what was sent: the message points to the payload, which carries it.
      /refused a session parameter or message \(3006 the service's text is not shown here: see msg\.payload\.serviceMessage\)/,
    ],
  ] as const) {
    it(`fails without retrying on ${name}`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
      const o = {
        ...setup,
        url: setup.url === "" ? `${emu.url}?encoding=flac&sample_rate=16000` : undefined,
      };
      const run = open(emu, Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)));
      writeAudio(run.session, 0, 300);
      await run.session.end();
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(emu.connections.length, 1, "no retry");
      const error = run.events.find((e) => e.event === "error");
      assert.ok(error && error.event === "error");
      assert.equal(error.kind, kind);
      assert.equal(error.code, code);
      assert.match(error.message, text);
      assert.doesNotMatch(error.message, /wrong/);
      if (code === 3006) assert.match(error.serviceMessage ?? "", /Invalid 'encoding'/);
      assert.equal(run.session.state, "failed");
      assert.equal(run.session.write(Buffer.alloc(3200)), false);
    });
  }

  it("fails on a framing error (3007) without retrying", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) =>
      c.whenAudio(200, () =>
        c.fail(
          3007,
          "Input Duration Error: Input Duration Violation: 20.0 ms. Expected between 50 and 1000 ms",
        ),
      ),
    );
    const run = open(emu);
    writeAudio(run.session, 0, 1000);
    await run.session.end();
    assert.equal(emu.connections.length, 1);
    assert.equal(run.events.at(-1)?.event, "error");
  });

  it("reports the service's inactivity timeout (3006) as such, without retrying", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, inactivitySecondMs: 20 });
    const run = open(emu, {}, { inactivity_timeout: 5 });
    await new Promise((r) => setTimeout(r, 300));
    const error = run.events.at(-1);
    assert.ok(error?.event === "error");
    assert.equal(error.kind, "inactivity");
    assert.match(
      error.message,
      /^AssemblyAI ended the session because it received nothing for the inactivity timeout \(3006 Session terminated due to inactivity/,
    );
    assert.equal(emu.connections.length, 1);
    assert.equal(run.session.state, "failed");
  });

  it("gives up after the configured retries when every connection fails", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.plan({ reject: 3005 }, { reject: 3005 }, { reject: 3005 });
    const run = open(emu, { retry: { retryDelayMs: 10, backoffDelayMs: 10, maxRetries: 2 } });
    writeAudio(run.session, 0, 300);
    await run.session.end();
    assert.equal(emu.connections.length, 3);
    const error = run.events.at(-1);
    assert.equal(error?.event === "error" && error.kind, "retries-exhausted");
  });

  it("replays unconfirmed audio into a new connection when Termination never comes (a stall after Terminate)", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) => c.onTerminate(() => c.stall()));
    const run = open(emu, { terminationTimeoutMs: 300 });
    writeAudio(run.session, 0, 1200);
    const started = Date.now();
    await run.session.end();
    assert.ok(Date.now() - started < 3000);
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "warning", "reconnecting", "begin", "termination"],
    );
    const reconnecting = run.events[2];
    assert.equal(reconnecting?.event === "reconnecting" && reconnecting.reason, "no-termination");
    assert.deepEqual(finals(run.results), ["Blood pressure stable."]);
    const end = run.events.at(-1);
    assert.ok(end?.event === "termination");
    assert.deepEqual(end.account, {
      receivedSeconds: 1.2,
      confirmedSeconds: 1.2,
      lostSeconds: 0,
      reconnects: 1,
    });
  });

  it("ends without Termination when the service confirmed all audio already (Silence acknowledgements), and closes the socket", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    emu.once("connection", (c: EmulatedConnection) => c.onTerminate(() => c.stall()));
    const run = open(emu, { terminationTimeoutMs: 300 }, { acknowledge_silence: true });
    writeAudio(run.session, 0, 1000);
    await run.session.end();
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "warning", "ended"],
    );
    const ended = run.events.at(-1);
    assert.equal(ended?.event === "ended" && ended.reason, "no-termination");
    assert.equal(ended?.event === "ended" && ended.account.lostSeconds, 0);
    assert.equal(await (await emu.connection(0)).closed, 1000);
    assert.equal(emu.connections.length, 1);
  });

  it("retries when Begin never comes (connect timeout), then streams", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.plan({ stall: true });
    const run = open(emu, { connectTimeoutMs: 200 });
    writeAudio(run.session, 0, 1200);
    await run.session.end();
    assert.equal(emu.connections.length, 2);
    assert.deepEqual(finals(run.results), ["Blood pressure stable."]);
  });

  it("sends ForceEndpoint and UpdateConfiguration while streaming", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu);
    await new Promise((r) => emu.once("connection", r));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(run.session.updateConfiguration({ keyterms_prompt: ["edema"] }), true);
    assert.equal(run.session.forceEndpoint(), true);
    await run.session.end();
    const conn = await emu.connection(0);
    assert.deepEqual(conn.messages, [
      { type: "UpdateConfiguration", keyterms_prompt: ["edema"] },
      { type: "ForceEndpoint" },
      { type: "Terminate" },
    ]);
  });

  it("keeps reconnecting through an outage longer than the retry budget while audio keeps arriving, then resumes: no final lost or duplicated", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) =>
      c.whenAudio(500, () => {
        // The service is gone for six connection attempts: twice the retry budget of three.
        emu.plan(...Array.from({ length: 6 }, () => ({ reject: 1011 })));
        c.drop();
      }),
    );
    const run = open(emu, { retry: { retryDelayMs: 20, maxRetries: 3, outageDelayMs: 100 } });
    const refused: string[] = [];
    // A live source: 100 ms of audio every 100 ms.
    for (let t = 0; t < AUDIO_MS; t += 100) {
      const r = run.session.push(taggedPcm(t, 100));
      if (!r.ok) refused.push(r.message);
      await new Promise((r) => setTimeout(r, 100));
    }
    await run.session.end();
    assert.deepEqual(refused, [], "no audio refused");
    assert.equal(emu.connections.length, 8);
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    assert.equal(run.events.filter((e) => e.event === "reconnecting").length, 7);
    assert.equal(run.events.filter((e) => e.event === "error").length, 0);
    assert.equal(run.events.at(-1)?.event, "termination");
    for (const r of run.results) assertTranscriptResult(r);
  });

  it("gives up an outage once audio stops arriving, saying how much audio was not transcribed", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.plan(...Array.from({ length: 10 }, () => ({ reject: 1011 })));
    const run = open(emu, { retry: { retryDelayMs: 10, maxRetries: 2, outageDelayMs: 20 } });
    writeAudio(run.session, 0, 1000);
    await new Promise((r) => setTimeout(r, 400));
    const error = run.events.at(-1);
    assert.ok(error?.event === "error");
    assert.equal(error.kind, "retries-exhausted");
    assert.match(error.message, /1\.0 s of audio were not transcribed/);
    assert.equal(run.session.state, "failed");
    const refused = run.session.push(taggedPcm(1000, 100));
    assert.equal(refused.ok === false && refused.reason, "failed");
  });

  it("refuses audio beyond the pending bound instead of queueing it without limit", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu, { maxPendingMs: 1000 });
    const results = Array.from({ length: 20 }, (_, i) => run.session.push(taggedPcm(i * 100, 100)));
    assert.equal(results.filter((r) => r.ok).length, 10, "1 s accepted");
    const refused = results[10];
    assert.ok(refused && !refused.ok);
    assert.equal(refused.reason, "full");
    assert.match(
      refused.message,
      /1 s of audio are waiting to be sent \(the connection is down\); the limit is 1 s/,
    );
    await run.session.end();
    assert.deepEqual(finals(run.results), ["Blood pressure stable."]);
  });

  it("notices a half-open connection after Begin by ping, terminates it and reconnects with replay", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(1000, () => c.freeze()));
    const run = open(emu, { pingIntervalMs: 100, pongTimeoutMs: 200 });
    writeAudio(run.session);
    await run.session.end();
    assert.equal(emu.connections.length, 2);
    const reconnecting = run.events.find((e) => e.event === "reconnecting");
    assert.equal(reconnecting?.event === "reconnecting" && reconnecting.code, 1006);
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
  });

  it("keeps a mid-stream UpdateConfiguration across a reconnect and a 3008 new session", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    let n = 0;
    emu.on("connection", (c: EmulatedConnection) => {
      n++;
      if (n === 1) c.whenAudio(800, () => c.drop());
      if (n === 2) c.whenAudio(800, () => c.fail(3008));
    });
    const run = open(emu);
    await emu.connection(0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(
      run.session.updateConfiguration({ keyterms_prompt: ["edema"], max_turn_silence: 2000 }),
      true,
    );
    writeAudio(run.session);
    await run.session.end();
    assert.equal(emu.connections.length, 3);
    for (const conn of emu.connections.slice(1)) {
      assert.equal(conn.params.keyterms_prompt, '["edema"]');
      assert.equal(conn.params.max_turn_silence, "2000");
      assert.equal(conn.params.min_turn_silence, "300", "the other parameters are kept");
    }
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
  });

  it("sends an update accepted while reconnecting once the next connection begins", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, beginDelayMs: 100 });
    const run = open(emu);
    const conn = await emu.connection(0);
    assert.equal(run.session.state, "connecting");
    assert.equal(run.session.updateConfiguration({ prompt: "Dictation." }), true);
    writeAudio(run.session, 0, 300);
    await run.session.end();
    assert.deepEqual(conn.messages[0], { type: "UpdateConfiguration", prompt: "Dictation." });
    assert.equal(conn.config.prompt, "Dictation.");
  });

  it("always ends with a terminal event: a close 1000 after Terminate without Termination replays, then terminates; abort ends at once", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, terminationDelayMs: 500 });
    const run = open(emu);
    writeAudio(run.session, 0, 300);
    const ending = run.session.end();
    const conn = await emu.connection(0);
    while (!conn.messages.some((m) => JSON.stringify(m) === '{"type":"Terminate"}')) {
      await new Promise((r) => setTimeout(r, 10));
    }
    conn.closeBare(1000);
    await ending;
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "reconnecting", "begin", "termination"],
      "a normal close with audio unconfirmed is not a normal end",
    );
    const end = run.events.at(-1);
    assert.ok(end?.event === "termination");
    assert.equal(end.sessionId, "enc-1");
    assert.equal(end.account.lostSeconds, 0);

    const aborted = open(emu);
    await emu.connection(2);
    aborted.session.write(taggedPcm(0, 500));
    aborted.session.abort();
    aborted.session.abort();
    const endedEvents = aborted.events.filter((e) => e.event === "ended");
    assert.deepEqual(
      endedEvents.map((e) => e.event === "ended" && e.reason),
      ["aborted"],
    );
    const account = endedEvents[0]?.event === "ended" ? endedEvents[0].account : undefined;
    assert.deepEqual(account, { receivedSeconds: 0.5, confirmedSeconds: 0, lostSeconds: 0.5, reconnects: 0 });
  });

  it("withdraws the partial of a turn still open when the session ends without its final", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu);
    writeAudio(run.session, 0, 500);
    while (!run.results.some((r) => !r.isFinal)) await new Promise((r) => setTimeout(r, 10));
    run.session.abort();
    const last = run.results.at(-1);
    assert.ok(last?.withdrawn === true, "the open segment is withdrawn");
    assert.equal(last.segmentId, run.results[0]?.segmentId);
    assertTranscriptResult(last);
    const ended = run.events.at(-1);
    assert.ok(ended?.event === "ended" && ended.reason === "aborted");
    assert.equal(ended.account.lostSeconds, 0.5, "the unconfirmed audio is counted as lost");
  });

  it("gives a reopened session with the same session id new segment ids", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const first = open(emu);
    writeAudio(first.session, 0, 1100);
    await first.session.end();
    const second = open(emu);
    writeAudio(second.session, 0, 1100);
    await second.session.end();
    const a = first.results.find((r) => r.isFinal);
    const b = second.results.find((r) => r.isFinal);
    assert.equal(a?.text, b?.text);
    assert.notEqual(a?.segmentId, b?.segmentId);
    const partials = first.results.filter((r) => !r.isFinal);
    assert.ok(partials.length > 0 && partials.every((r) => r.segmentId === a?.segmentId));
  });

  it("fails as an auth error, at once, when the API key cannot go into an HTTP header", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu, { apiKey: "test-api-key\u200b" });
    assert.equal(run.session.state, "failed");
    const error = run.events.at(-1);
    assert.ok(error?.event === "error");
    assert.equal(error.kind, "auth");
    assert.match(error.message, /API key holds a character that is not allowed in an HTTP header/);
    assert.ok(!error.message.includes("test-api-key"));
    assert.equal(run.session.write(taggedPcm(0, 100)), false);
    await run.session.end();
    assert.equal(emu.connections.length, 0);
  });

  it("terminates a socket whose peer never answers the close, instead of waiting ws's 30 s", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    emu.once("connection", (c: EmulatedConnection) => c.onTerminate(() => c.freeze()));
    const sockets: WebSocket[] = [];
    const run = open(
      emu,
      {
        terminationTimeoutMs: 200,
        closeGraceMs: 200,
        pingIntervalMs: 0,
        openSocket: (url, options) => {
          const ws = new WebSocket(url, options);
          sockets.push(ws);
          return ws;
        },
      },
      { acknowledge_silence: true },
    );
    writeAudio(run.session, 0, 1000);
    await run.session.end();
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(sockets.length, 1);
    assert.equal(sockets[0]?.readyState, WebSocket.CLOSED);
  });

  it("with format_turns on a Universal-Streaming model, the formatted repeat is the final, under the turn's segment id", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const run = open(emu, {}, { speech_model: "universal-streaming-english", format_turns: true });
    writeAudio(run.session);
    await run.session.end();
    const conn = await emu.connection(0);
    const served = conn.sentOf("Turn").filter((t) => t.end_of_turn === true);
    assert.equal(served.length, 6, "the emulator sends each final unformatted, then formatted");
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    for (const final of run.results.filter((r) => r.isFinal)) {
      const segment = run.results.filter((r) => r.segmentId === final.segmentId);
      assert.equal(segment.at(-1), final, "the final is the segment's last result");
      assert.ok(segment.length >= 2);
      assert.ok(segment.slice(0, -1).every((r) => !r.isFinal));
    }
    for (const r of run.results) assertTranscriptResult(r);
  });

  it("with format_turns on a U3 Pro model (finals always formatted), delivers each final once", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    // A U3 Pro style service that ignores format_turns and sends one unformatted final per turn.
    const run = open(emu, {}, { speech_model: "u3-rt-pro", format_turns: true });
    writeAudio(run.session);
    await run.session.end();
    assert.equal(finals(run.results).length, 3);
  });
});

describe("AssemblyAI streaming session: its own callbacks cannot stop the process", function () {
  this.timeout(15000);
  let emu: AssemblyAiEmulator;
  afterEach(() => emu.close());

  it("a throw in a socket callback (the result handler) ends that session with an internal error, and nothing else", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    const before = backstopErrors();
    const events: SessionEvent[] = [];
    const params = { ...MEDICAL_DEFAULTS, min_turn_silence: 300 };
    const session = new AssemblyAiSession(
      { sessionId: "enc-1", url: connectionUrl(emu.url, params), apiKey: "test-api-key", params },
      {
        result: () => {
          throw new TypeError("a bug downstream");
        },
        event: (e) => events.push(e),
      },
    );
    session.start();
    writeAudio(session, 0, 1500);
    await session.end();
    const error = events.at(-1);
    assert.ok(error?.event === "error");
    assert.equal(error.kind, "internal");
    assert.match(
      error.message,
      /^the AssemblyAI session stopped on an internal error \(TypeError\); [\d.]+ s of audio were not transcribed$/,
    );
    assert.doesNotMatch(error.message, /a bug downstream/, "the thrown text (it may hold PHI) stays out");
    assert.equal(session.state, "failed");
    assert.equal(await (await emu.connection(0)).closed, 1000);
    assert.equal(backstopErrors(), before, "nothing reached the process backstop");
  });

  it("a throw in a timer callback (an event handler called from the termination wait) ends the session; a second throw while reporting it too", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    emu.once("connection", (c: EmulatedConnection) => c.onTerminate(() => c.stall()));
    const before = backstopErrors();
    const params = { ...MEDICAL_DEFAULTS, acknowledge_silence: true };
    const session = new AssemblyAiSession(
      {
        sessionId: "enc-1",
        url: connectionUrl(emu.url, params),
        apiKey: "test-api-key",
        params,
        terminationTimeoutMs: 200,
      },
      {
        result: () => undefined,
        event: (e) => {
          if (e.event === "warning" || e.event === "error") throw new Error("handler broken");
        },
      },
    );
    session.start();
    writeAudio(session, 0, 1000);
    await session.end();
    assert.equal(session.state, "failed");
    assert.equal(backstopErrors(), before);
  });
});
