import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import type { AudioChunkInfo } from "../../../src/audio/chunk";
import { AudioInputError, type PcmFormat } from "../../../src/audio/format";
import type { AudioMessage } from "../../../src/audio/input";
import { AudioSessions, type AudioInOptions, type OutgoingChunk } from "../../../src/audio/sessions";
import {
  bestCorrelation,
  ffmpegFile,
  readFixture,
  samplesOf,
  soxReference,
  soxWav,
  speechWav,
  tone,
  wavOf,
} from "../../support/audio-fixtures";
import { ManualScheduler } from "../../support/manual-scheduler";

const defaults: AudioInOptions = {
  sampleRate: 16000,
  channels: "mono",
  frameMs: 100,
  realTime: false,
  maxAheadMs: 60000,
  idleTimeoutMs: 0,
  maxSessions: 10,
  endAfterRecording: true,
  rawDefault: undefined,
  compressedStream: false,
};

function setup(options: Partial<AudioInOptions> = {}, scheduler?: ManualScheduler) {
  const chunks: OutgoingChunk[] = [];
  const sessions = new AudioSessions({ ...defaults, ...options }, (c) => chunks.push(c), scheduler);
  const of = (id: string) => chunks.filter((c) => c.audio.sessionId === id);
  const pcm = (id: string) => Buffer.concat(of(id).map((c) => c.payload));
  return { sessions, chunks, of, pcm };
}

function assertWellFormed(chunks: OutgoingChunk[], frameMs: number, rate: number, channels = 1): void {
  assert.ok(chunks.length > 0);
  let offset = 0;
  chunks.forEach((c, i) => {
    const a: AudioChunkInfo = c.audio;
    assert.equal(a.seq, i, "consecutive seq");
    assert.ok(Math.abs(a.offsetMs - offset) < 1e-6, `contiguous offsets at ${i}`);
    assert.equal(a.sampleRate, rate);
    assert.equal(a.channels, channels);
    assert.equal(a.encoding, "pcm_s16le");
    assert.equal(c.payload.length, (a.durationMs * rate * channels * 2) / 1000);
    const last = i === chunks.length - 1;
    if (!last) assert.equal(a.durationMs, frameMs, "fixed frame length");
    else {
      assert.equal(a.end, true, "the last chunk ends the session");
      assert.ok(
        a.durationMs >= 50 || c.payload.length === 0,
        "the last frame is padded to 50 ms, not dropped",
      );
    }
    offset += a.durationMs;
  });
}

const speechCases: Array<[string, string[]]> = [
  ["48 kHz stereo 16-bit", ["-r", "48000", "-c", "2"]],
  ["44.1 kHz 24-bit", ["-r", "44100", "-b", "24"]],
  ["22.05 kHz 32-bit float", ["-e", "floating-point", "-b", "32"]],
  ["16 kHz 32-bit integer", ["-r", "16000", "-b", "32"]],
  ["22.05 kHz 8-bit unsigned", ["-b", "8", "-e", "unsigned-integer"]],
];

describe("audio-in sessions", () => {
  for (const [what, args] of speechCases) {
    it(`turns a ${what} WAV into 16 kHz mono frames matching sox's conversion`, async () => {
      const file = soxWav(`s-${what.replace(/\W+/g, "-")}`, args);
      const { sessions, of, pcm } = setup();
      await sessions.handle({ topic: "enc-1", payload: readFixture(file) });
      assertWellFormed(of("enc-1"), 100, 16000);
      const reference = soxReference(file, 16000);
      const ours = samplesOf(pcm("enc-1"));
      assert.ok(
        Math.abs(ours.length - reference.length) <= 1600,
        `length ${ours.length} vs ${reference.length}`,
      );
      const { r } = bestCorrelation(reference, ours, 60);
      assert.ok(r > 0.99, `correlation with sox ${r.toFixed(4)}`);
    });
  }

  for (const rate of [48000, 44100]) {
    it(`lets the last milliseconds of ${rate / 1000} kHz audio out of the rate converter at the session's end`, async () => {
      // 100 ms of silence, then 1 ms of a loud 1 kHz tone: within the converter's delay, so it comes
      // out only if the converter is flushed when the session ends.
      const click = tone(1000, 0.001, rate, 1, 30000);
      const input = Buffer.concat([Buffer.alloc(Math.round(rate * 0.1) * 2), click]);
      const { sessions, pcm } = setup();
      await sessions.handle({ topic: "t", payload: wavOf(input, { rate, channels: 1, bits: 16 }) });
      const out = samplesOf(pcm("t"));
      const peak = out.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(peak > 10000, `the last millisecond came out (peak ${peak})`);
    });
  }

  it("keeps two channels apart when set to keep channels (for channel identification)", async () => {
    const left = tone(300, 1, 48000);
    const right = tone(1200, 1, 48000);
    const stereo = Buffer.alloc(left.length * 2);
    for (let i = 0; i < left.length / 2; i++) {
      stereo.writeInt16LE(left.readInt16LE(i * 2), i * 4);
      stereo.writeInt16LE(right.readInt16LE(i * 2), i * 4 + 2);
    }
    const { sessions, of, pcm } = setup({ channels: "keep" });
    await sessions.handle({ topic: "call", payload: wavOf(stereo, { rate: 48000, channels: 2, bits: 16 }) });
    assertWellFormed(of("call"), 100, 16000, 2);
    const out = samplesOf(pcm("call"));
    const l = out.filter((_, i) => i % 2 === 0);
    const r = out.filter((_, i) => i % 2 === 1);
    assert.ok(bestCorrelation(samplesOf(tone(300, 1, 16000)), l, 60).r > 0.99);
    assert.ok(bestCorrelation(samplesOf(tone(1200, 1, 16000)), r, 60).r > 0.99);
  });

  it("reframes raw PCM arriving in pieces of any size, split mid-sample, exactly as one piece", async () => {
    const raw = tone(440, 1.234, 16000);
    const whole = setup();
    await whole.sessions.handle({
      topic: "a",
      payload: raw,
      audio: { sampleRate: 16000, encoding: "pcm_s16le", end: true },
    });
    const pieces = setup();
    for (let at = 0, size = 1; at < raw.length; at += size, size = (size * 7 + 3) % 997) {
      await pieces.sessions.handle({
        topic: "a",
        payload: raw.subarray(at, at + size),
        rate: 16000,
        bits: 16,
        encoding: "signed-integer",
        channels: 1,
      });
    }
    await pieces.sessions.handle({ topic: "a", audio: { end: true } });
    assertWellFormed(pieces.of("a"), 100, 16000);
    assert.deepEqual(pieces.pcm("a"), whole.pcm("a"));
    assert.deepEqual(pieces.pcm("a").subarray(0, raw.length), raw, "same rate: samples pass unchanged");
    assert.equal(pieces.of("a").at(-1)?.audio.durationMs, 50, "34 ms left over, padded to 50 ms");
  });

  it("accepts G.711 mu-law and A-law telephony audio at 8 kHz, raw or in WAV", async () => {
    for (const law of ["mu-law", "a-law"] as const) {
      const file = soxWav(`tel-${law}`, ["-r", "8000", "-e", law]);
      const reference = soxReference(file, 8000);
      const fromWav = setup({ sampleRate: 8000 });
      await fromWav.sessions.handle({ topic: "call", payload: readFixture(file) });
      assertWellFormed(fromWav.of("call"), 100, 8000);
      assert.ok(bestCorrelation(reference, samplesOf(fromWav.pcm("call")), 5).r > 0.999, law);

      const raw = execFileSync("sox", [file, "-t", "raw", "-"]);
      const fromRaw = setup({ sampleRate: 8000 });
      const encoding = law === "mu-law" ? "pcm_mulaw" : "pcm_alaw";
      await fromRaw.sessions.handle({
        topic: "call",
        payload: raw,
        audio: { sampleRate: 8000, encoding, end: true },
      });
      assert.deepEqual(
        fromRaw.pcm("call").subarray(0, reference.length * 2),
        fromWav.pcm("call").subarray(0, reference.length * 2),
      );
    }
  });

  it("takes browser Float32 frames from a websocket, keyed by msg._session.id, using the raw input format", async () => {
    const rawDefault: PcmFormat = { sampleRate: 48000, channels: 1, sampleFormat: "f32le" };
    const { sessions, of, pcm } = setup({ rawDefault });
    const f32 = new Float32Array(48000);
    for (let i = 0; i < f32.length; i++) f32[i] = 0.25 * Math.sin((2 * Math.PI * 440 * i) / 48000);
    for (let i = 0; i < f32.length; i += 128) {
      await sessions.handle({
        payload: Buffer.from(f32.buffer, i * 4, 512),
        _session: { type: "websocket", id: "ws-7" },
      });
    }
    await sessions.handle({ _session: { type: "websocket", id: "ws-7" }, control: "stop" });
    const out = of("ws-7");
    assertWellFormed(out, 100, 16000);
    assert.deepEqual(
      out[0]?._session,
      { type: "websocket", id: "ws-7" },
      "the websocket session travels along",
    );
    assert.ok(bestCorrelation(samplesOf(tone(440, 1, 16000, 1, 8191)), samplesOf(pcm("ws-7")), 60).r > 0.99);
  });

  it("keeps concurrent sessions apart: interleaved input, no cross-talk", async () => {
    const { sessions, of, pcm } = setup();
    const a = tone(300, 1, 16000);
    const b = tone(2000, 1, 16000);
    for (let i = 0; i < a.length; i += 640) {
      await sessions.handle({ topic: "A", payload: a.subarray(i, i + 640), audio: { sampleRate: 16000 } });
      await sessions.handle({ topic: "B", payload: b.subarray(i, i + 640), audio: { sampleRate: 16000 } });
    }
    await sessions.handle({ topic: "A", audio: { end: true } });
    await sessions.handle({ topic: "B", audio: { end: true } });
    assertWellFormed(of("A"), 100, 16000);
    assertWellFormed(of("B"), 100, 16000);
    assert.deepEqual(pcm("A").subarray(0, a.length), a);
    assert.deepEqual(pcm("B").subarray(0, b.length), b);
    assert.equal(sessions.size, 0);
  });

  it("keeps the rate conversion of concurrent sessions apart: interleaved, each as it would be alone", async () => {
    const raw = { rate: 48000, bits: 16, encoding: "signed-integer", channels: 2 };
    const a = tone(300, 1, 48000, 2);
    const b = tone(2000, 1, 48000, 2, 12000);
    const alone = async (payload: Buffer) => {
      const one = setup();
      await one.sessions.handle({ topic: "x", payload, ...raw });
      await one.sessions.handle({ topic: "x", audio: { end: true } });
      return one.pcm("x");
    };
    const { sessions, of, pcm } = setup();
    // 100 ms pieces, as live audio arrives, taking turns.
    for (let i = 0; i < a.length; i += 19200) {
      await sessions.handle({ topic: "A", payload: a.subarray(i, i + 19200), ...raw });
      await sessions.handle({ topic: "B", payload: b.subarray(i, i + 19200), ...raw });
    }
    await sessions.handle({ topic: "A", audio: { end: true } });
    await sessions.handle({ topic: "B", audio: { end: true } });
    assertWellFormed(of("A"), 100, 16000);
    assertWellFormed(of("B"), 100, 16000);
    assert.deepEqual(pcm("A"), await alone(a));
    assert.deepEqual(pcm("B"), await alone(b));
  });

  it("frees the resampler of an ended session without leaking its audio into the next", async () => {
    const { sessions, of } = setup();
    await sessions.handle({
      topic: "loud",
      payload: wavOf(tone(1000, 0.5, 48000, 1, 30000), { rate: 48000, channels: 1, bits: 16 }),
    });
    await sessions.handle({
      topic: "quiet",
      payload: wavOf(Buffer.alloc(48000), { rate: 48000, channels: 1, bits: 16 }),
    });
    const quiet = of("quiet");
    assert.ok(quiet.length > 0);
    for (const c of quiet)
      assert.ok(
        c.payload.every((byte) => byte === 0),
        "silence in, silence out",
      );
  });

  it("ends a session after a whole recording, or keeps it open when told to", async () => {
    const wav = wavOf(tone(440, 0.3, 16000), { rate: 16000, channels: 1, bits: 16 });
    const ends = setup();
    await ends.sessions.handle({ topic: "d", payload: wav });
    assert.equal(ends.of("d").at(-1)?.audio.end, true);
    const open = setup({ endAfterRecording: false });
    await open.sessions.handle({ topic: "d", payload: wav });
    await open.sessions.handle({ topic: "d", payload: wav });
    assert.equal(
      open.of("d").some((c) => c.audio.end),
      false,
    );
    assert.equal(open.sessions.size, 1);
    assert.equal(open.pcm("d").length, 19200, "two recordings in one session, 0.6 s");
  });

  it("ends a forgotten session after the idle timeout, flushing its last frame", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ idleTimeoutMs: 5000 }, clock);
    await sessions.handle({ topic: "x", payload: tone(440, 0.25, 16000), audio: { sampleRate: 16000 } });
    assert.equal(of("x").length, 2);
    clock.advance(4999);
    await Promise.resolve();
    assert.equal(of("x").length, 2);
    clock.advance(1);
    await new Promise((r) => setImmediate(r));
    const last = of("x").at(-1);
    assert.equal(last?.audio.end, true);
    assert.equal(last?.audio.durationMs, 50);
    assert.equal(sessions.size, 0);
  });

  it("keeps a session that still receives audio open past the idle timeout, and ends it once it goes quiet", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ idleTimeoutMs: 5000 }, clock);
    const chunk = { topic: "y", payload: tone(440, 0.1, 16000), audio: { sampleRate: 16000 } };
    await sessions.handle(chunk);
    clock.advance(3000);
    await sessions.handle(chunk);
    clock.advance(2500);
    await new Promise((r) => setImmediate(r));
    assert.equal(sessions.size, 1, "5.5 s after the first chunk, 2.5 s after the last: still open");
    assert.equal(
      of("y").some((c) => c.audio.end),
      false,
    );
    clock.advance(2500);
    await new Promise((r) => setImmediate(r));
    assert.equal(sessions.size, 0, "5 s after the last chunk: ended");
    assert.equal(of("y").at(-1)?.audio.end, true);
  });

  it("paces a recording at real time", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ realTime: true }, clock);
    const done = sessions.handle({
      topic: "r",
      payload: wavOf(tone(440, 1, 16000), { rate: 16000, channels: 1, bits: 16 }),
    });
    await done;
    assert.equal(of("r").length, 1, "only the first frame at once");
    clock.advance(450);
    assert.equal(of("r").length, 5, "frames 0-400 ms by 450 ms");
    clock.advance(600);
    assert.equal(
      of("r").length,
      11,
      "10 frames and, the audio having filled them exactly, an empty end marker",
    );
    assert.equal(of("r").at(-1)?.audio.end, true);
    assert.equal(of("r").at(-1)?.audio.offsetMs, 1000);
  });

  it("does not hold live audio back by the delay of its first chunk, and still paces a fast source", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ realTime: true }, clock);
    const chunk = tone(440, 0.1, 16000);
    const send = (topic: string) => sessions.handle({ topic, payload: chunk, audio: { sampleRate: 16000 } });
    // The first chunk was handed on 30 ms late: the next ones, on time, leave as they arrive.
    await send("live");
    clock.advance(70);
    await send("live");
    assert.equal(of("live").length, 2, "the second chunk is not held for 30 ms");
    clock.advance(100);
    await send("live");
    assert.equal(of("live").length, 3);
    // A source at twice real time gains one frame of lead at most, then is paced.
    for (let i = 0; i < 3; i++) {
      await send("fast");
      clock.advance(50);
    }
    await send("fast");
    assert.equal(
      of("fast").length,
      3,
      "at 150 ms, frames 0-200 ms have left (one frame ahead); 300 ms waits",
    );
    clock.advance(49);
    assert.equal(of("fast").length, 3);
    clock.advance(1);
    assert.equal(of("fast").length, 4);
  });

  it("refuses live audio that runs too far ahead of real time, keeping what it has", async () => {
    const clock = new ManualScheduler();
    const { sessions } = setup({ realTime: true, maxAheadMs: 2000 }, clock);
    const second = tone(440, 1, 16000);
    for (let i = 0; i < 3; i++)
      await sessions.handle({ topic: "fast", payload: second, audio: { sampleRate: 16000 } });
    await assert.rejects(
      async () => sessions.handle({ topic: "fast", payload: second, audio: { sampleRate: 16000 } }),
      (e: unknown) =>
        e instanceof AudioInputError && e.code === "TOO_FAR_AHEAD" && /faster than real time/.test(e.message),
    );
  });

  it("limits the number of sessions", async () => {
    const { sessions } = setup({ maxSessions: 2 });
    await sessions.handle({ topic: "1", payload: tone(440, 0.1, 16000), audio: { sampleRate: 16000 } });
    await sessions.handle({ topic: "2", payload: tone(440, 0.1, 16000), audio: { sampleRate: 16000 } });
    await assert.rejects(
      async () =>
        sessions.handle({ topic: "3", payload: tone(440, 0.1, 16000), audio: { sampleRate: 16000 } }),
      /already carries 2 sessions \(open, or ended and still sending\), its limit/,
    );
  });

  const bad: Array<[string, AudioMessage, string, RegExp]> = [
    [
      "a buffer with no format information",
      { payload: Buffer.alloc(3200) },
      "NO_FORMAT",
      /no format information; accepted: a WAV file/,
    ],
    [
      "a text file sent as a Buffer (a .txt renamed .wav)",
      { payload: Buffer.from("Discharge summary\nPatient is stable.\n".repeat(5000)) },
      "NOT_AUDIO",
      /msg\.payload is a Buffer of text with no format information; accepted: a WAV file/,
    ],
    [
      "a PNG image sent as a Buffer",
      { payload: Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), Buffer.alloc(4000, 7)]) },
      "NOT_AUDIO",
      /msg\.payload is a Buffer of a PNG image with no format information; accepted: .*MP3, Ogg\/Opus/,
    ],
    ["an object payload", { payload: { text: "x" } }, "NOT_AUDIO", /msg\.payload is an object, not audio/],
    ["a number payload", { payload: 42 }, "NOT_AUDIO", /msg\.payload is a number, not audio/],
    ["an empty payload", { payload: Buffer.alloc(0) }, "NOT_AUDIO", /msg\.payload is empty/],
    [
      "a rate out of range",
      { payload: Buffer.alloc(320), audio: { sampleRate: 1000 } },
      "RATE_OUT_OF_RANGE",
      /msg\.audio\.sampleRate is not a supported sample rate; accepted: whole numbers from 8000 to 192000/,
    ],
    [
      "an unknown encoding",
      { payload: Buffer.alloc(320), audio: { sampleRate: 16000, encoding: "pcm_s16be" } },
      "UNSUPPORTED_ENCODING",
      /accepted: pcm_s16le, pcm_s24le/,
    ],
    [
      "an unknown sox encoding",
      { payload: Buffer.alloc(320), rate: 16000, bits: 12 },
      "UNSUPPORTED_ENCODING",
      /msg\.encoding with msg\.bits is not a supported combination; accepted: signed-integer 16/,
    ],
    [
      "a corrupt WAV",
      { payload: Buffer.from("RIFF\x00\x00\x00\x00WAVEdata", "latin1") },
      "CORRUPT_WAV",
      /WAV is corrupt/,
    ],
  ];
  for (const [what, msg, code, message] of bad) {
    it(`refuses ${what} with a clear error, and other sessions carry on`, async () => {
      const { sessions, of } = setup();
      await sessions.handle({ topic: "ok", payload: tone(440, 0.2, 16000), audio: { sampleRate: 16000 } });
      await assert.rejects(
        async () => sessions.handle({ topic: "bad", ...msg }),
        (e: unknown) => e instanceof AudioInputError && e.code === code && message.test(e.message),
      );
      await sessions.handle({ topic: "ok", audio: { end: true } });
      assert.equal(of("ok").at(-1)?.audio.end, true);
      assert.equal(of("bad").length, 0);
    });
  }

  it("still ends a session when a message asking to end it carries bad audio", async () => {
    for (const ask of [{ audio: { end: true } }, { control: "stop" }]) {
      const { sessions, of } = setup();
      await sessions.handle({ topic: "s", payload: tone(440, 0.25, 16000), audio: { sampleRate: 16000 } });
      await assert.rejects(
        async () => sessions.handle({ topic: "s", payload: { not: "audio" }, ...ask }),
        /not audio/,
      );
      assert.equal(of("s").at(-1)?.audio.end, true, JSON.stringify(ask));
      assert.equal(sessions.size, 0);
    }
  });

  it("refuses a file path that does not exist", async () => {
    const { sessions } = setup();
    await assert.rejects(
      async () => sessions.handle({ topic: "f", payload: "/nonexistent/dictation.wav" }),
      (e: unknown) =>
        e instanceof AudioInputError &&
        e.code === "FILE_NOT_FOUND" &&
        /the file named in msg\.payload does not exist/.test(e.message) &&
        !e.message.includes("dictation"),
    );
  });

  it("streams a WAV file from a path", async () => {
    const file = soxWav("path-48k", ["-r", "48000"]);
    const { sessions, of, pcm } = setup();
    await sessions.handle({ topic: "p", payload: file });
    assertWellFormed(of("p"), 100, 16000);
    assert.ok(bestCorrelation(soxReference(file, 16000), samplesOf(pcm("p")), 60).r > 0.99);
  });
});

describe("audio-in compressed audio (ffmpeg)", function () {
  this.timeout(30000);
  const formats: Array<[string, string[], number]> = [
    ["speech.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"], 0.97],
    ["speech.ogg", ["-c:a", "libopus", "-b:a", "32k"], 0.9],
    ["speech.webm", ["-c:a", "libopus", "-b:a", "32k"], 0.9],
    ["speech.flac", ["-c:a", "flac"], 0.999],
    ["speech.m4a", ["-c:a", "aac", "-b:a", "64k"], 0.95],
  ];
  for (const [name, args, minR] of formats) {
    it(`decodes ${name.split(".")[1]?.toUpperCase()} as a buffer and as a file path`, async () => {
      const file = ffmpegFile(name, args);
      const reference = soxReference(speechWav(), 16000);
      for (const payload of [readFixture(file), file]) {
        const { sessions, of, pcm } = setup();
        await sessions.handle({ topic: "c", payload });
        assertWellFormed(of("c"), 100, 16000);
        const { r } = bestCorrelation(reference, samplesOf(pcm("c")), 800);
        assert.ok(r > minR, `${name}: correlation ${r.toFixed(3)}`);
      }
    });
  }

  it("decodes a recording that arrives in pieces, as a MediaRecorder with a timeslice sends it", async () => {
    const webm = readFixture(ffmpegFile("speech.webm", ["-c:a", "libopus", "-b:a", "32k"]));
    const { sessions, of, pcm } = setup({ compressedStream: true });
    // Only the first piece has the WebM header; the others are bare continuation bytes.
    for (let at = 0, size = 700; at < webm.length; at += size, size = (size * 3) % 4093 || 700) {
      await sessions.handle({
        payload: webm.subarray(at, at + size),
        _session: { type: "websocket", id: "rec-1" },
      });
    }
    assert.equal(
      of("rec-1").some((c) => c.audio.end),
      false,
      "the stream stays open between pieces",
    );
    await sessions.handle({ _session: { type: "websocket", id: "rec-1" }, control: "stop" });
    assertWellFormed(of("rec-1"), 100, 16000);
    const { r } = bestCorrelation(soxReference(speechWav(), 16000), samplesOf(pcm("rec-1")), 800);
    assert.ok(r > 0.9, `correlation ${r.toFixed(3)}`);
  });

  it("stops ffmpeg and settles the pending input when closed in the middle of a paced file", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ realTime: true }, clock);
    const pending = sessions.handle({
      topic: "long",
      payload: ffmpegFile("speech.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]),
    });
    const deadline = Date.now() + 5000;
    while (of("long").length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(of("long").length > 0, "decoding started");
    sessions.close();
    const settled = await Promise.race([
      Promise.resolve(pending).then(() => "settled"),
      new Promise((r) => setTimeout(() => r("hung"), 3000)),
    ]);
    assert.equal(settled, "settled");
    const sent = of("long").length;
    clock.advance(60_000);
    assert.equal(of("long").length, sent, "nothing more after close");
  });

  it("refuses a compressed-looking buffer that is not audio", async () => {
    const { sessions } = setup();
    await assert.rejects(
      async () =>
        sessions.handle({ topic: "c", payload: Buffer.concat([Buffer.from("OggS"), Buffer.alloc(4000, 7)]) }),
      /OGG audio could not be decoded by ffmpeg: it is not audio, or it is corrupt/,
    );
  });

  it("says how to install ffmpeg when it is missing, while WAV keeps working", () => {
    const script = `
      const { AudioSessions } = require(${JSON.stringify(join(__dirname, "../../../src/audio/sessions"))});
      const { tone, wavOf } = require(${JSON.stringify(join(__dirname, "../../support/audio-fixtures"))});
      const out = [];
      const s = new AudioSessions(${JSON.stringify(defaults)}, (c) => out.push(c));
      (async () => {
        await s.handle({ topic: "w", payload: wavOf(tone(440, 0.3, 16000), { rate: 16000, channels: 1, bits: 16 }) });
        let error = "none";
        try { await s.handle({ topic: "m", payload: Buffer.concat([Buffer.from("ID3"), Buffer.alloc(500)]) }); }
        catch (e) { error = e.code + ": " + e.message; }
        console.log(JSON.stringify({ frames: out.filter((c) => c.audio.sessionId === "w").length, error }));
      })();`;
    const result = execFileSync(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", script], {
      env: { ...process.env, PATH: "/nonexistent" },
      encoding: "utf8",
    });
    const { frames, error } = JSON.parse(result) as { frames: number; error: string };
    assert.equal(frames, 4, "WAV still works: 3 frames and the end marker");
    assert.match(error, /^FFMPEG_MISSING: ffmpeg is not installed/);
    assert.match(error, /sudo apt-get install ffmpeg/);
    assert.match(error, /WAV and raw PCM work without it/);
  });

  it("runs the ffmpeg that FFMPEG_PATH names, when the host sets it", () => {
    const ffmpeg = execFileSync("sh", ["-c", "command -v ffmpeg"], { encoding: "utf8" }).trim();
    const script = `
      const { AudioSessions } = require(${JSON.stringify(join(__dirname, "../../../src/audio/sessions"))});
      const out = [];
      const s = new AudioSessions(${JSON.stringify(defaults)}, (c) => out.push(c));
      s.handle({ topic: "m", payload: require("node:fs").readFileSync(process.argv[1]) })
        .then(() => console.log(JSON.stringify({ frames: out.length })), (e) => console.log(JSON.stringify({ error: e.code })));`;
    const mp3 = ffmpegFile("speech.mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]);
    const run = (env: NodeJS.ProcessEnv): { frames?: number; error?: string } =>
      JSON.parse(
        execFileSync(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", script, mp3], {
          env: { ...process.env, PATH: "/nonexistent", ...env },
          encoding: "utf8",
        }),
      ) as { frames?: number; error?: string };
    assert.ok((run({ FFMPEG_PATH: ffmpeg }).frames ?? 0) > 10, "decoded with the named ffmpeg");
    assert.deepEqual(run({ FFMPEG_PATH: "/nonexistent/ffmpeg" }), { error: "FFMPEG_MISSING" });
  });
});
