import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { AudioChunkInfo } from "../../src/audio/chunk";
import { readFixture, soxWav, tone, wavOf } from "../support/audio-fixtures";
import { assertAudioChunk } from "../support/contract";
import { backToBaseline, baselineResources, hostilePaths, PATH_MARKER } from "../support/hostile-files";
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
  until,
  type FlowNode,
} from "../support/node-red";

const audioIn = builtNode("audio-in");
const PHI_MARKER = "ZZ-PHI-MARKER-2203";

type Chunk = NodeMessage & { audio: AudioChunkInfo; payload: Buffer };

function load(config: Record<string, unknown> = {}): Promise<void> {
  const node: FlowNode = {
    id: "in",
    type: "audio-in",
    name: "",
    sampleRate: "16000",
    channels: "mono",
    frameMs: 100,
    pace: "fast",
    endAfterRecording: true,
    idleTimeout: 30,
    maxSessions: 100,
    rawRate: "",
    rawEncoding: "s16le",
    rawChannels: "1",
    wires: [["out"]],
    ...config,
  };
  return helper.load(audioIn, flowWithCatch([node], ["out"]));
}

/** Only what a flow written by hand, or by an older version, is sure to hold. */
function loadBare(): Promise<void> {
  const node: FlowNode = { id: "in", type: "audio-in", wires: [["out"]] };
  return helper.load(audioIn, flowWithCatch([node], ["out"]));
}

/** A flow whose complete node reports every message audio-in answered with done() and no error. */
function loadCounting(): Promise<void> {
  return helper.load(audioIn, [
    ...flowWithCatch(
      [
        {
          id: "in",
          type: "audio-in",
          name: "",
          sampleRate: "16000",
          channels: "mono",
          frameMs: 100,
          pace: "fast",
          endAfterRecording: true,
          idleTimeout: 30,
          maxSessions: 100,
          rawRate: "",
          rawEncoding: "s16le",
          rawChannels: "1",
          wires: [["out"]],
        },
      ],
      ["out"],
    ),
    { id: "completer", z: "tab", type: "complete", scope: ["in"], uncaught: false, wires: [["completed"]] },
    { id: "completed", z: "tab", type: "helper" },
  ]);
}

const send = (msg: NodeMessage): void => helper.getNode("in").receive(msg);
const chunksOf = (out: NodeMessage[], id: string) => (out as Chunk[]).filter((m) => m.topic === id);

describe(`audio-in node (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("loads with its configuration", async () => {
    await load({ name: "dictation", sampleRate: "8000" });
    assert.equal(helper.getNode("in").name, "dictation");
  });

  it("turns a 48 kHz stereo WAV into valid 16 kHz mono audio chunks, ending the session", async () => {
    await load();
    const out = collect("out");
    send({ topic: "enc-1", payload: readFixture(soxWav("node-48k", ["-r", "48000", "-c", "2"])) });
    await until(() => out.some((m) => (m as Chunk).audio.end));
    const chunks = chunksOf(out, "enc-1");
    chunks.forEach((c, i) => {
      assertAudioChunk(c);
      assert.equal(c.audio.seq, i);
      assert.equal(c.audio.sampleRate, 16000);
      assert.equal(c.audio.channels, 1);
      if (i < chunks.length - 1) assert.equal(c.payload.length, 3200, "100 ms frames");
    });
    assert.notEqual(chunks[0], chunks[1], "every chunk is a new message");
  });

  it("keys browser audio from a websocket by msg._session.id, with the raw format set on the node", async () => {
    await load({ rawRate: 48000, rawEncoding: "f32le", rawChannels: "1" });
    const out = collect("out");
    const f32 = new Float32Array(4800).map((_, i) => 0.2 * Math.sin(i / 10));
    for (let i = 0; i < 10; i++)
      send({ payload: Buffer.from(f32.buffer), _session: { type: "websocket", id: "ws-1" } });
    send({ _session: { type: "websocket", id: "ws-1" }, control: "stop" });
    await until(() => out.some((m) => (m as Chunk).audio.end));
    const chunks = chunksOf(out, "ws-1");
    assert.equal(chunks.length, 11, "1 s of audio: ten 100 ms frames, then the end marker");
    assert.equal(chunks.at(-1)?.audio.end, true);
    for (const c of chunks) {
      assertAudioChunk(c);
      assert.deepEqual(c._session, { type: "websocket", id: "ws-1" });
    }
  });

  it("runs sessions side by side without cross-talk", async () => {
    await load();
    const out = collect("out");
    const a = tone(300, 0.5, 16000);
    const b = tone(900, 0.5, 16000);
    for (let i = 0; i < a.length; i += 1000) {
      send({ topic: "A", payload: a.subarray(i, i + 1000), audio: { sampleRate: 16000 } });
      send({
        topic: "B",
        payload: b.subarray(i, i + 1000),
        rate: 16000,
        bits: 16,
        channels: 1,
        encoding: "signed-integer",
      });
    }
    send({ topic: "A", audio: { end: true } });
    send({ topic: "B", control: "stop" });
    await until(() => out.filter((m) => (m as Chunk).audio.end).length === 2);
    assert.deepEqual(Buffer.concat(chunksOf(out, "A").map((c) => c.payload)).subarray(0, a.length), a);
    assert.deepEqual(Buffer.concat(chunksOf(out, "B").map((c) => c.payload)).subarray(0, b.length), b);
  });

  it("refuses bad input through catch with what was wrong and what is accepted, and carries on", async () => {
    await load();
    const out = collect("out");
    const caught = collect("caught");
    send({ topic: "bad", payload: Buffer.alloc(3200) });
    send({ topic: "bad", payload: { not: "audio" } });
    const wav = readFixture(soxWav("node-trunc", ["-r", "16000"]));
    send({ topic: "bad", payload: wav.subarray(0, wav.length - 999) });
    send({ topic: "bad", payload: `/nonexistent/${PHI_MARKER}.wav` });
    send({ topic: "ok", payload: wavOf(tone(440, 0.2, 16000), { rate: 16000, channels: 1, bits: 16 }) });
    await until(() => caught.length === 4 && out.some((m) => (m as Chunk).audio.end));
    const messages = caught.map((m) => (m.error as { message: string }).message);
    assert.match(
      messages[0] ?? "",
      /a Buffer of unrecognised binary data with no format information; accepted: a WAV file as a Buffer/,
    );
    assert.match(messages[1] ?? "", /msg\.payload is an object, not audio/);
    assert.match(messages[2] ?? "", /WAV is truncated/);
    assert.match(messages[3] ?? "", /the file named in msg\.payload does not exist/);
    assert.ok(
      !messages[3]?.includes(PHI_MARKER),
      "a file name can name a patient: it stays out of the error",
    );
    assert.equal(chunksOf(out, "ok").at(-1)?.audio.end, true, "the other session carried on");
  });

  it("refuses a bad configuration at deploy, with a red status", async () => {
    await load({ frameMs: 20 });
    assert.ok(statusTexts(helper.getNode("in")).includes("audio-in.status.misconfigured"));
    const caught = nextMessage("caught");
    send({ topic: "x", payload: tone(440, 0.1, 16000), audio: { sampleRate: 16000 } });
    assert.match(
      ((await caught).error as { message: string }).message,
      /frame length 20 ms is out of range; accepted: whole milliseconds from 50 to 1000/,
    );
  });

  it("paces a recording at real time, and stops sending when the flow is redeployed", async () => {
    await load({ pace: "realtime" });
    const out = collect("out");
    send({ topic: "r", payload: wavOf(tone(440, 3, 16000), { rate: 16000, channels: 1, bits: 16 }) });
    await delay(450);
    const sent = out.length;
    assert.ok(sent >= 4 && sent <= 7, `about 5 frames in 450 ms, got ${sent}`);
    await helper.unload();
    await delay(300);
    assert.equal(out.length, sent, "nothing after close");
  });

  it("shows the session count in its status, never audio, file names or transcript", async () => {
    await load({ pace: "realtime" });
    const n = helper.getNode("in");
    send({ topic: PHI_MARKER, payload: wavOf(tone(440, 1, 16000), { rate: 16000, channels: 1, bits: 16 }) });
    send({ topic: "b", payload: `/nonexistent/${PHI_MARKER}.mp3` });
    await delay(600);
    const texts = statusTexts(n);
    assert.ok(texts.includes("1 sessions"), JSON.stringify(texts));
    for (const t of [...texts, ...loggedTexts(n)]) assert.ok(!t.includes(PHI_MARKER), t);
  });

  it("starts with only id, type, z and wires, using the editor's defaults, and frames a recording and live audio", async () => {
    await loadBare();
    const n = helper.getNode("in");
    assert.ok(!statusTexts(n).includes("audio-in.status.misconfigured"), statusTexts(n).join(" | "));
    const out = collect("out");
    const caught = collect("caught");
    send({ topic: "rec", payload: wavOf(tone(440, 0.3, 48000), { rate: 48000, channels: 1, bits: 16 }) });
    const live = tone(440, 0.2, 16000);
    send({ topic: "live", payload: live, audio: { sampleRate: 16000 } });
    send({ topic: "live", audio: { end: true } });
    // The editor's default pacing is real time: 0.3 s of audio leaves in about 0.3 s.
    await until(() => out.filter((m) => (m as Chunk).audio.end).length === 2);
    assert.equal(caught.length, 0);
    for (const c of out as Chunk[]) {
      assertAudioChunk(c);
      assert.equal(c.audio.sampleRate, 16000, "the default output rate");
    }
    assert.equal(chunksOf(out, "rec")[0]?.payload.length, 3200, "the default 100 ms frames, mono");
    assert.deepEqual(
      Buffer.concat(chunksOf(out, "live").map((c) => c.payload)).subarray(0, live.length),
      live,
    );
  });

  it("answers every path that is not a readable recording once, with a clear error, and leaves nothing behind", async function () {
    this.timeout(30000);
    const { paths, cleanup } = await hostilePaths();
    try {
      await loadCounting();
      const n = helper.getNode("in");
      const caught = collect("caught");
      const completed = collect("completed");
      // Warm-up: the resampler and the first ffmpeg start are process-wide, loaded before the baseline.
      send({ topic: "warm", payload: wavOf(tone(440, 0.2, 44100), { rate: 44100, channels: 1, bits: 16 }) });
      await until(() => completed.length === 1);
      await delay(100);
      completed.length = 0;
      const baseline = await baselineResources();
      for (const [i, hostile] of paths.entries()) {
        send({ _msgid: `m${i}`, topic: `${PATH_MARKER}-${i}`, payload: hostile.path });
      }
      await until(() => caught.length === paths.length, 10000);
      await delay(200);
      assert.equal(caught.length, paths.length, "each message answered once, with an error");
      assert.equal(completed.length, 0, "and none also as done");
      for (const [i, hostile] of paths.entries()) {
        const answer = caught.find((m) => m._msgid === `m${i}`) as NodeMessage & {
          error: { message: string; code?: string };
        };
        assert.ok(answer, `${hostile.what} was answered`);
        assert.match(answer.error.message, /accepted: /, hostile.what);
      }
      const texts = [...statusTexts(n), ...loggedTexts(n), ...caught.map((m) => JSON.stringify(m.error))];
      for (const t of texts) assert.ok(!t.includes(PATH_MARKER), t);
      await backToBaseline(baseline);
      await until(() => statusTexts(n).at(-1) === "idle", 2000);
    } finally {
      await helper.unload();
      await cleanup();
    }
  });

  it("keeps identifiers a flow sends out of every error, log and status, and refuses prototype keys", async () => {
    await load();
    const n = helper.getNode("in");
    const caught = collect("caught");
    const bad: NodeMessage[] = [
      {
        topic: PHI_MARKER,
        payload: tone(440, 0.1, 16000),
        audio: { sampleRate: 16000, encoding: "toString" },
      },
      {
        topic: PHI_MARKER,
        payload: tone(440, 0.1, 16000),
        audio: { sampleRate: 16000, encoding: "__proto__" },
      },
      { topic: PHI_MARKER, payload: tone(440, 0.1, 16000), rate: 16000, encoding: "constructor" },
      { topic: PHI_MARKER, payload: tone(440, 0.1, 16000), audio: { sampleRate: NaN } },
      { topic: PHI_MARKER, payload: tone(440, 0.1, 16000), audio: { sampleRate: PHI_MARKER } },
      { payload: `/recordings/${PHI_MARKER}\0.wav`, audio: { sessionId: PHI_MARKER } },
      { topic: PHI_MARKER, payload: `/recordings/${PHI_MARKER}.wav` },
    ];
    for (const msg of bad) send(msg);
    await until(() => caught.length === bad.length);
    const messages = caught.map((m) => (m.error as { message: string }).message);
    assert.match(messages[0] ?? "", /msg\.audio\.encoding is not a supported encoding; accepted: pcm_s16le/);
    assert.match(messages[1] ?? "", /msg\.audio\.encoding is not a supported encoding; accepted: pcm_s16le/);
    assert.match(messages[2] ?? "", /accepted: signed-integer 16\/24\/32/);
    for (const t of [...messages, ...statusTexts(n), ...loggedTexts(n)])
      assert.ok(!t.includes(PHI_MARKER), t);
  });
});
