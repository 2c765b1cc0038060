import { strict as assert } from "node:assert";
import WebSocket from "ws";
import { DICTATION, taggedPcm, turn, type Fixture } from "../../emulators/assemblyai/fixture";
import { AssemblyAiEmulator, SPEECH_MODEL_ENUM } from "../../emulators/assemblyai/server";

// The emulator, driven by a plain `ws` client, behaves as research/assemblyai.md §6 describes.

type Json = Record<string, unknown>;

interface Client {
  ws: WebSocket;
  messages: Json[];
  closed: Promise<{ code: number; reason: string }>;
  next(type: string, ms?: number): Promise<Json>;
}

function connect(url: string, headers: Record<string, string> = { Authorization: "test-api-key" }): Client {
  const ws = new WebSocket(url, { headers });
  ws.on("error", () => undefined);
  const messages: Json[] = [];
  const waiting: Array<{ type: string; resolve: (m: Json) => void }> = [];
  ws.on("message", (data: WebSocket.RawData) => {
    const m = JSON.parse(Buffer.isBuffer(data) ? data.toString("utf8") : "{}") as Json;
    messages.push(m);
    for (const w of waiting.filter((x) => x.type === m.type)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  return {
    ws,
    messages,
    closed,
    next: (type, ms = 3000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} within ${ms} ms`)), ms);
        waiting.push({
          type,
          resolve: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
      }),
  };
}

const query = (extra: Record<string, string> = {}): string =>
  new URLSearchParams({
    speech_model: "u3-rt-pro",
    sample_rate: "16000",
    encoding: "pcm_s16le",
    ...extra,
  }).toString();

/** Sends tagged audio from `fromMs` to `toMs` in `frameMs` frames, as fast as `paceMs` allows. */
async function stream(ws: WebSocket, fromMs: number, toMs: number, frameMs = 100, paceMs = 0): Promise<void> {
  for (let t = fromMs; t < toMs; t += frameMs) {
    ws.send(taggedPcm(t, Math.min(frameMs, toMs - t)));
    if (paceMs) await new Promise((r) => setTimeout(r, paceMs));
  }
}

const SHORT: Fixture = { turns: [turn(100, "Blood pressure stable."), turn(1300, "No edema.")] };

describe("AssemblyAI v3 emulator", () => {
  let emu: AssemblyAiEmulator;
  afterEach(() => emu.close());

  it("answers a valid connection with Begin echoing the configuration, including the medical domain", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const c = connect(
      `${emu.url}?${query({ domain: "medical-v1", speaker_labels: "true", speechModel: "x" })}`,
    );
    const begin = await c.next("Begin");
    assert.match(String(begin.id), /^[0-9a-f-]{36}$/);
    assert.ok(Number(begin.expires_at) > Date.now() / 1000);
    assert.deepEqual(begin.configuration, {
      model: "u3-rt-pro",
      mode: "balanced",
      api_version: "2025-05-12",
      speaker_labels: true,
      redact_pii: false,
      filter_profanity: false,
      domain: "medical-v1",
      voice_focus: null,
    });
    const conn = await emu.connection(0);
    assert.equal(conn.headers.authorization, "test-api-key");
    assert.equal(conn.params.domain, "medical-v1");
    c.ws.close();
  });

  for (const [name, headers, url, message] of [
    ["no key", {}, "", "Unauthorized Connection: Missing Authorization header"],
    [
      "a Bearer key",
      { Authorization: "Bearer test-api-key" },
      "",
      "Unauthorized Connection: Invalid API key",
    ],
    ["a wrong key", { Authorization: "nope" }, "", "Unauthorized Connection: Invalid API key"],
    ["an unknown token", {}, "&token=tok-x", "Unauthorized Connection: Invalid API key"],
    ["an expired token", {}, "&token=tok-old", "Unauthorized Connection: Signature has expired"],
  ] as const) {
    it(`refuses ${name} after the upgrade with Error 1008 and close 1008`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: SHORT, expiredTokens: ["tok-old"] });
      const c = connect(`${emu.url}?${query()}${url}`, headers);
      const closed = await c.closed;
      assert.deepEqual(c.messages, [{ type: "Error", error_code: 1008, error: message }]);
      assert.deepEqual(closed, { code: 1008, reason: "See Error message for details" });
    });
  }

  it("accepts a valid temporary token in the query", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, tokens: ["tok-ok"] });
    const c = connect(`${emu.url}?${query()}&token=tok-ok`, {});
    await c.next("Begin");
    c.ws.close();
  });

  for (const [param, value, text] of [
    [
      "speech_model",
      "u3-pro",
      `Invalid 'speech_model': Input should be ${SPEECH_MODEL_ENUM.map((m) => `'${m}'`).join(", ")}`,
    ],
    ["sample_rate", "7000", "Invalid 'sample_rate': sample_rate must be at least 8,000 Hz"],
    ["encoding", "flac", "Invalid 'encoding': 'flac' is not a valid Encoding"],
    [
      "keyterms_prompt",
      JSON.stringify(Array.from({ length: 101 }, (_, i) => `t${i}`)),
      "Invalid 'keyterms_prompt': Max 100 items",
    ],
    ["prompt", "x".repeat(1751), "Invalid 'prompt': String should have at most 1750 characters"],
    ["inactivity_timeout", "4", "Invalid 'inactivity_timeout': Input should be greater than or equal to 5"],
    [
      "inactivity_timeout",
      "3601",
      "Invalid 'inactivity_timeout': Input should be less than or equal to 3600",
    ],
  ] as const) {
    it(`refuses ${param}=${value.slice(0, 12)} before Begin with 3006`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: SHORT });
      const c = connect(`${emu.url}?${query({ [param]: value })}`);
      const closed = await c.closed;
      assert.deepEqual(c.messages, [
        { type: "Error", error_code: 3006, error: `User Input Validation Error: ${text}` },
      ]);
      assert.equal(closed.code, 3006);
    });
  }

  it("ignores unknown and misspelled parameters", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const c = connect(`${emu.url}?${query({ min_turn_silense: "999", speaker_lables: "true" })}`);
    await c.next("Begin");
    c.ws.close();
  });

  it("refuses a frame under 50 ms with 3007 and the service's message", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    c.ws.send(taggedPcm(0, 20));
    const closed = await c.closed;
    assert.deepEqual(c.messages.at(-1), {
      type: "Error",
      error_code: 3007,
      error: "Input Duration Error: Input Duration Violation: 20.0 ms. Expected between 50 and 1000 ms",
    });
    assert.equal(closed.code, 3007);
  });

  it("refuses a frame over 1000 ms, and accepts exactly 1000 ms", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 5000 });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    c.ws.send(taggedPcm(0, 1000));
    c.ws.send(taggedPcm(1000, 1200));
    const closed = await c.closed;
    assert.match(String(c.messages.at(-1)?.error), /Input Duration Violation: 1200\.0 ms/);
    assert.equal(closed.code, 3007);
    assert.deepEqual(
      (await emu.connection(0)).frames.map((f) => f.ms),
      [1000, 1200],
    );
  });

  it("refuses audio sent faster than real time beyond its tolerance", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 300 });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    await stream(c.ws, 0, 2000);
    const closed = await c.closed;
    assert.equal(closed.code, 3007);
    assert.match(
      String(c.messages.at(-1)?.error),
      /^Input Duration Error: Audio Transmission Rate Exceeded: Received 0\.\d sec\. audio in 0\.\d+ sec$/,
    );
  });

  it("plays the fixture as U3 Pro turns: SpeechStarted, partials, one formatted final per turn, Termination, close 1000", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 60000 });
    const c = connect(`${emu.url}?${query({ min_turn_silence: "300", speaker_labels: "false" })}`);
    await c.next("Begin");
    await stream(c.ws, 0, 2500);
    c.ws.send(JSON.stringify({ type: "Terminate" }));
    const closed = await c.closed;
    assert.deepEqual(closed, { code: 1000, reason: "Session Ended" });
    const types = c.messages.map((m) =>
      m.type === "Turn" ? `Turn${m.end_of_turn ? "!" : ""}${String(m.turn_order)}` : m.type,
    );
    assert.deepEqual(types, [
      "Begin",
      "SpeechStarted",
      "Turn0",
      "Turn0",
      "Turn0",
      "Turn!0",
      "SpeechStarted",
      "Turn1",
      "Turn1",
      "Turn!1",
      "Termination",
    ]);
    const finals = c.messages.filter((m) => m.type === "Turn" && m.end_of_turn);
    assert.deepEqual(
      finals.map((m) => [m.transcript, m.turn_is_formatted, m.utterance]),
      [
        ["Blood pressure stable.", true, "Blood pressure stable."],
        ["No edema.", true, "No edema."],
      ],
    );
    const partial = c.messages.find((m) => m.type === "Turn" && !m.end_of_turn) as Json;
    assert.equal(partial.turn_is_formatted, false);
    assert.equal(partial.transcript, "blood");
    const words = finals[1]?.words as Json[];
    assert.deepEqual(words[0], { text: "No", start: 1300, end: 1500, confidence: 0.9, word_is_final: true });
    assert.deepEqual(c.messages.at(-1), {
      type: "Termination",
      audio_duration_seconds: 3,
      session_duration_seconds: 0,
    });
  });

  it("labels speakers on finals only when speaker_labels=true", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: DICTATION, rateToleranceMs: 60000 });
    const c = connect(`${emu.url}?${query({ speaker_labels: "true" })}`);
    await c.next("Begin");
    await stream(c.ws, 0, 1700);
    c.ws.send(JSON.stringify({ type: "Terminate" }));
    await c.closed;
    const turns = c.messages.filter((m) => m.type === "Turn");
    const final = turns.find((m) => m.end_of_turn) as Json;
    assert.equal(final.speaker_label, "A");
    assert.ok((final.words as Json[]).every((w) => w.speaker === "A"));
    assert.ok(turns.filter((m) => !m.end_of_turn).every((m) => m.speaker_label === undefined));
  });

  it("times turns on each connection's own clock: a second connection replaying later audio starts at 0", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 60000 });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    await stream(c.ws, 1200, 2500);
    c.ws.send(JSON.stringify({ type: "Terminate" }));
    await c.closed;
    const final = c.messages.find((m) => m.type === "Turn" && m.end_of_turn) as Json;
    assert.equal(final.transcript, "No edema.");
    assert.equal(final.turn_order, 0);
    assert.deepEqual(
      (final.words as Json[]).map((w) => [w.start, w.end]),
      [
        [100, 300],
        [350, 550],
      ],
    );
  });

  it("ForceEndpoint ends the open turn now; the rest of the speech starts a new turn", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 60000 });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    await stream(c.ws, 0, 600);
    await new Promise((r) => setTimeout(r, 100)); // let the partials arrive first
    c.ws.send(JSON.stringify({ type: "ForceEndpoint" }));
    const forced = await c.next("Turn");
    assert.equal(forced.end_of_turn, true);
    assert.equal(forced.transcript, "Blood pressure");
    await stream(c.ws, 600, 1200);
    c.ws.send(JSON.stringify({ type: "Terminate" }));
    await c.closed;
    const finals = c.messages.filter((m) => m.type === "Turn" && m.end_of_turn);
    assert.deepEqual(
      finals.map((m) => [m.turn_order, m.transcript]),
      [
        [0, "Blood pressure"],
        [1, "stable."],
      ],
    );
  });

  it("on Terminate flushes the open turn as a final before Termination", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, rateToleranceMs: 60000 });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    await stream(c.ws, 0, 600);
    c.ws.send(JSON.stringify({ type: "Terminate" }));
    await c.closed;
    const tail = c.messages.slice(-2);
    assert.equal(tail[0]?.type, "Turn");
    assert.equal(tail[0]?.end_of_turn, true);
    assert.equal(tail[0]?.transcript, "Blood pressure");
    assert.equal(tail[1]?.type, "Termination");
  });

  it("refuses an oversized prompt in UpdateConfiguration mid-stream with 3006", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    c.ws.send(JSON.stringify({ type: "UpdateConfiguration", prompt: "x".repeat(1751) }));
    const closed = await c.closed;
    assert.equal(closed.code, 3006);
    assert.equal(
      c.messages.at(-1)?.error,
      "User Input Validation Error: Invalid 'prompt': String should have at most 1750 characters",
    );
  });

  it("applies UpdateConfiguration and KeepAlive without answering, and records them", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const c = connect(`${emu.url}?${query()}`);
    await c.next("Begin");
    c.ws.send(
      JSON.stringify({ type: "UpdateConfiguration", keyterms_prompt: ["edema"], max_turn_silence: 2000 }),
    );
    c.ws.send(JSON.stringify({ type: "KeepAlive" }));
    const conn = await emu.connection(0);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(conn.config.keyterms_prompt, ["edema"]);
    assert.equal(conn.config.max_turn_silence, 2000);
    assert.equal(conn.messages.length, 2);
    assert.deepEqual(
      c.messages.map((m) => m.type),
      ["Begin"],
    );
    c.ws.close();
  });

  for (const [sent, error] of [
    ["{nope", /^User Input Validation Error: Invalid JSON: /],
    ['{"type":"Bogus"}', /^Invalid Message Type: Bogus$/],
    ["[]", /^Invalid Message: /],
  ] as const) {
    it(`answers the client message ${sent} with 3006`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: SHORT });
      const c = connect(`${emu.url}?${query()}`);
      await c.next("Begin");
      c.ws.send(sent);
      const closed = await c.closed;
      assert.equal(closed.code, 3006);
      assert.match(String(c.messages.at(-1)?.error), error);
    });
  }

  it("ends an idle session on inactivity_timeout with 3006 and no Termination", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT, inactivitySecondMs: 20 });
    const c = connect(`${emu.url}?${query({ inactivity_timeout: "5" })}`);
    await c.next("Begin");
    const closed = await c.closed;
    assert.equal(closed.code, 3006);
    assert.deepEqual(c.messages.at(-1), {
      type: "Error",
      error_code: 3006,
      error: "Session terminated due to inactivity: No messages received for 5 seconds",
    });
    assert.equal(c.messages.filter((m) => m.type === "Termination").length, 0);
  });

  it("injects faults: drop (1006), Error+close 3005/3008, bare 1011, a refused connection, a delayed Begin, a stall", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: SHORT });
    const a = connect(`${emu.url}?${query()}`);
    await a.next("Begin");
    (await emu.connection(0)).drop();
    assert.equal((await a.closed).code, 1006);

    for (const code of [3005, 3008]) {
      const c = connect(`${emu.url}?${query()}`);
      await c.next("Begin");
      emu.connections.at(-1)?.fail(code);
      assert.deepEqual(await c.closed, { code, reason: "See Error message for details" });
      assert.equal(c.messages.at(-1)?.error_code, code);
    }
    const b = connect(`${emu.url}?${query()}`);
    await b.next("Begin");
    emu.connections.at(-1)?.closeBare(1011);
    assert.equal((await b.closed).code, 1011);
    assert.equal(b.messages.length, 1);

    emu.plan({ reject: 1008 }, { beginDelayMs: 150 }, { stall: true });
    const refused = connect(`${emu.url}?${query()}`);
    assert.equal((await refused.closed).code, 1008);
    assert.equal(refused.messages[0]?.error, "Unauthorized connection: Too many concurrent sessions");

    const slow = connect(`${emu.url}?${query()}`);
    const opened = Date.now();
    await slow.next("Begin");
    assert.ok(Date.now() - opened >= 140);
    slow.ws.close();

    const stalled = connect(`${emu.url}?${query()}`);
    await new Promise((r) => stalled.ws.once("open", r));
    stalled.ws.send(JSON.stringify({ type: "Terminate" }));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(stalled.messages, []);
    stalled.ws.terminate();
  });
});
