import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { AudioChunkInfo } from "../../src/audio/chunk";
import { readFixture, soxWav, tone, wavOf } from "../support/audio-fixtures";
import { assertAudioChunk } from "../support/contract";
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
    assert.match(messages[0] ?? "", /a Buffer with no format information; accepted: a WAV file as a Buffer/);
    assert.match(messages[1] ?? "", /msg\.payload is an object, not audio/);
    assert.match(messages[2] ?? "", /WAV is truncated/);
    assert.match(messages[3] ?? "", /audio file not found/);
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
});
