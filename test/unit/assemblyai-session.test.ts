import { strict as assert } from "node:assert";
import { connectionUrl, MEDICAL_DEFAULTS, type StreamingParams } from "../../src/providers/assemblyai/params";
import {
  AssemblyAiSession,
  type SessionEvent,
  type SessionOptions,
} from "../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../src/transcript/result";
import { assertTranscriptResult } from "../support/contract";
import { taggedPcm, turn, type Fixture } from "../emulators/assemblyai/fixture";
import { AssemblyAiEmulator, type EmulatedConnection } from "../emulators/assemblyai/server";

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
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, rateToleranceMs: 1000 });
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(1700, () => c.drop()));
    const run = open(emu);
    writeAudio(run.session);
    await run.session.end();
    assert.deepEqual(finals(run.results), ["Blood pressure stable.", "No edema noted.", "Plan unchanged."]);
    const second = await emu.connection(1);
    const firstSent = second.frames[0]?.contentMs ?? -1;
    assert.ok(firstSent > 0 && firstSent < 1700, `replay starts at unconfirmed audio (${firstSent} ms)`);
    const noEdema = run.results.find((r) => r.isFinal && r.text === "No edema noted.");
    assert.deepEqual(
      noEdema?.words.map((w) => w.startTime),
      [1.3, 1.55, 1.8],
      "times are session times, not the new connection's",
    );
    assert.equal(noEdema?.segmentId.split("/")[1], "1", "a segment of the second connection");
    assert.deepEqual(
      run.events.map((e) => e.event),
      ["begin", "reconnecting", "begin", "termination"],
    );
    const reconnecting = run.events[1];
    assert.equal(reconnecting?.event === "reconnecting" && reconnecting.code, 1006);
    for (const r of run.results) assertTranscriptResult(r);
  });

  it("opens a new session after 3008 and retries 3005, 1011 and the 1008 concurrency close", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE, rateToleranceMs: 1000 });
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
      /refused a session parameter or message \(3006 User Input Validation Error: Invalid 'encoding'/,
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

  it("bounds the wait for Termination when the service stalls, and closes the socket", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: FIXTURE });
    emu.once("connection", (c: EmulatedConnection) => c.whenAudio(100, () => c.stall()));
    const run = open(emu, { terminationTimeoutMs: 300 });
    writeAudio(run.session, 0, 300);
    const started = Date.now();
    await run.session.end();
    assert.ok(Date.now() - started < 1500);
    assert.equal(run.events.at(-1)?.event, "warning");
    assert.equal(await (await emu.connection(0)).closed, 1000);
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
});
