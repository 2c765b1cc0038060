import { strict as assert } from "node:assert";
import { AudioInputError, MAX_MESSAGE_BYTES, type PcmFormat } from "../../../src/audio/format";
import {
  classifyMessage,
  type AudioMessage,
  type CarriedInput,
  type StandaloneInput,
} from "../../../src/audio/input";
import { AudioSessions, type AudioInOptions, type OutgoingChunk } from "../../../src/audio/sessions";
import { ffmpegFile, readFixture, tone, wavOf } from "../../support/audio-fixtures";

const RAW: PcmFormat = { sampleRate: 8000, channels: 1, sampleFormat: "mulaw" };
const pcm = tone(440, 0.1, 16000);
const OGG = Buffer.concat([Buffer.from("OggS\0\0\0\0"), Buffer.alloc(64, 1)]);
// Bytes with no header and no format fields: neither WAV nor a known container.
const UNKNOWN = Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a]);

// Fast pacing, no idle timeout: a session's last frame goes out as soon as it ends.
const OUTPUT = { sampleRate: 16000, channels: "mono", frameMs: 100, realTime: false } as const;
const LIMITS = { maxAheadMs: 60_000, idleTimeoutMs: 0, maxSessions: 10 };

function sessionsWith(input: Partial<AudioInOptions>): { sessions: AudioSessions; sent: OutgoingChunk[] } {
  const sent: OutgoingChunk[] = [];
  const options: AudioInOptions = {
    ...OUTPUT,
    ...LIMITS,
    ...{ endAfterRecording: true, rawDefault: undefined, compressedStream: false },
    ...input,
  };
  return { sessions: new AudioSessions(options, (chunk) => sent.push(chunk)), sent };
}

function kindOf(input: CarriedInput): string {
  return input.kind === "unlabelled" ? `unlabelled/${input.alone.kind}` : input.kind;
}

function refusalOf(input: StandaloneInput): AudioInputError {
  assert.equal(input.kind, "invalid");
  const { error } = input;
  assert.ok(error instanceof AudioInputError, String(error));
  return error;
}

describe("audio-in classifies each message once, where it enters", () => {
  describe("the kinds of message", () => {
    it("live PCM with its format fields: pcm, not a recording", () => {
      const c = classifyMessage({ topic: "t", payload: pcm, audio: { sampleRate: 16000 } }, undefined);
      assert.deepEqual(c, {
        sessionId: "t",
        end: false,
        wsSession: undefined,
        input: {
          kind: "pcm",
          format: { sampleRate: 16000, channels: 1, sampleFormat: "s16le" },
          bytes: pcm,
          recording: false,
        },
      });
    });

    it("sox-style fields are format fields too", () => {
      const c = classifyMessage({ payload: pcm, rate: 16000, bits: 16, channels: 1 }, undefined);
      assert.equal(c.input.kind === "pcm" && c.input.format.sampleFormat, "s16le");
    });

    it("a WAV Buffer: pcm in the header's format, a recording, its audio without the header", () => {
      const wav = wavOf(pcm, { rate: 16000, channels: 1, bits: 16 });
      const c = classifyMessage({ topic: "t", payload: wav }, undefined);
      assert.equal(c.input.kind, "pcm");
      if (c.input.kind !== "pcm") return;
      assert.equal(c.input.recording, true);
      assert.deepEqual(c.input.format, { sampleRate: 16000, channels: 1, sampleFormat: "s16le" });
      assert.ok(c.input.bytes.equals(pcm));
    });

    it("a string: a file path", () => {
      const c = classifyMessage({ topic: "t", payload: "/recordings/a.wav" }, undefined);
      assert.deepEqual(c.input, { kind: "file", path: "/recordings/a.wav" });
    });

    it("a known container without format fields: unlabelled bytes that alone are a compressed recording", () => {
      const c = classifyMessage({ topic: "t", payload: OGG }, undefined);
      assert.equal(c.input.kind, "unlabelled");
      if (c.input.kind !== "unlabelled") return;
      assert.equal(c.input.bytes, OGG);
      assert.deepEqual(c.input.alone, { kind: "compressed", bytes: OGG, what: "OGG audio" });
    });

    it("unlabelled bytes are raw PCM in the node's raw format when one is set, refused when none is", () => {
      const withRaw = classifyMessage({ payload: UNKNOWN }, RAW);
      assert.equal(kindOf(withRaw.input), "unlabelled/pcm");
      if (withRaw.input.kind === "unlabelled" && withRaw.input.alone.kind === "pcm") {
        assert.deepEqual(withRaw.input.alone.format, RAW);
        assert.equal(withRaw.input.alone.recording, false);
      }
      const without = classifyMessage({ payload: UNKNOWN }, undefined);
      assert.equal(kindOf(without.input), "unlabelled/invalid");
      if (without.input.kind !== "unlabelled") return;
      const err = refusalOf(without.input.alone);
      assert.equal(err.code, "NO_FORMAT");
      assert.match(
        err.message,
        /^msg\.payload is a Buffer of unrecognised binary data with no format information; accepted: a WAV file/,
      );
    });

    it("an ArrayBuffer or typed array is read as the bytes it views", () => {
      const view = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
      const c = classifyMessage({ payload: view, audio: { sampleRate: 16000 } }, undefined);
      assert.ok(c.input.kind === "pcm" && c.input.bytes.equals(pcm));
    });

    for (const [label, msg] of [
      ["msg.audio.end", { topic: "t", audio: { end: true } }],
      ['msg.control "stop"', { topic: "t", control: "stop" }],
      ['msg.control "end"', { topic: "t", control: "end", payload: Buffer.alloc(0) }],
    ] as const) {
      it(`no audio with ${label}: end`, () => {
        const c = classifyMessage(msg, undefined);
        assert.deepEqual({ end: c.end, input: c.input }, { end: true, input: { kind: "end" } });
      });
    }

    it("audio that asks to end carries both", () => {
      const c = classifyMessage({ payload: pcm, audio: { sampleRate: 16000, end: true } }, undefined);
      assert.equal(c.end, true);
      assert.equal(c.input.kind, "pcm");
    });

    it("the websocket session of the message is carried, so frames find their way back", () => {
      const ws = { type: "websocket", id: "ws-1" };
      const c = classifyMessage({ _session: ws, payload: UNKNOWN }, RAW);
      assert.equal(c.wsSession, ws);
      assert.equal(c.sessionId, "ws-1");
    });
  });

  describe("the session id", () => {
    const cases: [string, AudioMessage, string][] = [
      ["msg.audio.sessionId first", { audio: { sessionId: "a" }, topic: "b", _session: { id: "c" } }, "a"],
      ["then msg.topic", { audio: { sessionId: "" }, topic: "b", _session: { id: "c" } }, "b"],
      ["then the websocket session", { _session: { id: "c" } }, "c"],
      ["a number, as text", { topic: 42 }, "42"],
      ["else the default session", { topic: { id: "x" } }, "default"],
    ];
    for (const [label, fields, expected] of cases) {
      it(label, () => {
        assert.equal(classifyMessage({ ...fields, control: "end" }, undefined).sessionId, expected);
      });
    }
  });

  describe("bad input is a value naming what was wrong, with the session and the end still known", () => {
    const refusals: [string, AudioMessage, string, RegExp][] = [
      ["an empty payload", { topic: "t" }, "NOT_AUDIO", /^msg\.payload is empty; accepted:/],
      [
        "a blank string",
        { topic: "t", payload: "  " },
        "NOT_AUDIO",
        /^msg\.payload is an empty string; accepted:/,
      ],
      [
        "an object",
        { topic: "t", payload: { a: 1 } },
        "NOT_AUDIO",
        /^msg\.payload is an object, not audio; accepted:/,
      ],
      ["a number", { topic: "t", payload: 7 }, "NOT_AUDIO", /^msg\.payload is a number, not audio/],
      ["a path with a NUL", { topic: "t", payload: "/a\0b.wav" }, "BAD_PATH", /./],
      [
        "an unknown encoding",
        { topic: "t", payload: pcm, audio: { sampleRate: 16000, encoding: "toString" } },
        "UNSUPPORTED_ENCODING",
        /^msg\.audio\.encoding is not a supported encoding; accepted: pcm_s16le/,
      ],
      [
        "a rate out of range",
        { topic: "t", payload: pcm, audio: { sampleRate: 1 } },
        "RATE_OUT_OF_RANGE",
        /^msg\.audio\.sampleRate is not a supported sample rate; accepted: whole numbers from/,
      ],
      [
        "a sox rate as a string",
        { topic: "t", payload: pcm, rate: "16000" },
        "BAD_FORMAT",
        /^msg\.rate must be a number \(samples per second\), not a string/,
      ],
      [
        "a negative offset",
        { topic: "t", payload: pcm, audio: { sampleRate: 16000, offsetMs: -1 } },
        "BAD_FORMAT",
        /^msg\.audio\.offsetMs is out of range; accepted: milliseconds from 0/,
      ],
      ["a corrupt WAV", { topic: "t", payload: Buffer.from("RIFF\x10\0\0\0WAVEjunk") }, "CORRUPT_WAV", /WAV/],
      [
        "text",
        { topic: "t", payload: Buffer.from("patient name and number, as text") },
        "NOT_AUDIO",
        /^msg\.payload is a Buffer of text with no format information/,
      ],
    ];
    for (const [label, msg, code, text] of refusals) {
      it(`${label}: ${code}`, () => {
        // Each asks to end too (but the empty one, which would then be an end).
        const asks = msg.payload !== undefined;
        const c = classifyMessage(asks ? { ...msg, control: "stop" } : msg, undefined);
        const input = c.input.kind === "unlabelled" ? c.input.alone : c.input;
        const err = refusalOf(input);
        assert.equal(err.code, code);
        assert.match(err.message, text);
        assert.deepEqual({ sessionId: c.sessionId, end: c.end }, { sessionId: "t", end: asks });
      });
    }

    it("a Buffer over MAX_MESSAGE_BYTES is refused on its own, never a piece of a stream", () => {
      const c = classifyMessage({ topic: "t", payload: Buffer.alloc(MAX_MESSAGE_BYTES + 1) }, RAW);
      assert.equal(c.input.kind, "invalid");
      assert.equal(refusalOf(c.input as StandaloneInput).code, "MESSAGE_TOO_LARGE");
    });

    it("unlabelled bytes with a bad contract-1 field are refused alone, and still a piece of a stream", () => {
      const c = classifyMessage({ topic: "t", payload: UNKNOWN, audio: { offsetMs: "0" } }, RAW);
      assert.equal(kindOf(c.input), "unlabelled/invalid");
      if (c.input.kind === "unlabelled") assert.equal(refusalOf(c.input.alone).code, "BAD_FORMAT");
    });
  });

  it("the sessions take a classified message without the message: a refusal that asks to end ends its session", async () => {
    const { sessions, sent } = sessionsWith({});
    await sessions.accept(
      classifyMessage({ topic: "t", payload: pcm, audio: { sampleRate: 16000 } }, undefined),
    );
    assert.equal(sessions.size, 1);
    const error = new AudioInputError("NOT_AUDIO", "refused");
    await assert.rejects(
      Promise.resolve(
        sessions.accept({
          sessionId: "t",
          end: true,
          wsSession: undefined,
          input: { kind: "invalid", error },
        }),
      ),
      (err) => err === error,
    );
    assert.equal(sessions.size, 0);
    assert.equal(sent.at(-1)?.audio.end, true);
    sessions.close();
  });

  it("a message over the size limit that asks to end a compressed stream is refused and still ends it", async function () {
    this.timeout(20_000);
    const webm = readFixture(ffmpegFile("speech.webm", ["-c:a", "libopus", "-b:a", "32k"]));
    const { sessions } = sessionsWith({ compressedStream: true });
    try {
      await sessions.handle({ topic: "rec", payload: webm.subarray(0, 4096) });
      assert.equal(sessions.size, 1);
      // Zero-filled and never touched: the refusal reads only its length.
      const huge = Buffer.alloc(MAX_MESSAGE_BYTES + 1);
      await assert.rejects(
        Promise.resolve(sessions.handle({ topic: "rec", payload: huge, audio: { end: true } })),
        {
          code: "MESSAGE_TOO_LARGE",
        },
      );
      assert.equal(sessions.size, 0, "the session ended");
    } finally {
      // ffmpeg is stopped whatever the outcome.
      sessions.close();
    }
  });
});
