import { strict as assert } from "node:assert";
import { AudioInputError, MAX_MESSAGE_BYTES } from "../../../src/audio/format";
import { classify, type AudioMessage } from "../../../src/audio/input";
import { tone, wavOf } from "../../support/audio-fixtures";

const MARKER = "ZZ-PHI-MARKER-5150";
// Keys that a plain-object table would resolve through Object.prototype.
const PROTOTYPE_KEYS = ["toString", "__proto__", "constructor", "hasOwnProperty", "valueOf", "isPrototypeOf"];

function refusal(msg: AudioMessage): AudioInputError {
  try {
    classify(msg, undefined);
  } catch (err) {
    assert.ok(err instanceof AudioInputError, String(err));
    return err;
  }
  // Not the message itself: its payload can be a Buffer of hundreds of MiB.
  assert.fail(`accepted a message with ${Object.keys(msg).join(", ")}`);
}

const pcm = tone(440, 0.1, 16000);

describe("audio-in input classification: what a flow sends is checked where it enters", () => {
  describe("encodings are looked up in the accepted set only", () => {
    for (const key of [...PROTOTYPE_KEYS, MARKER]) {
      it(`refuses msg.audio.encoding ${JSON.stringify(key)}, naming what is accepted`, () => {
        const err = refusal({ payload: pcm, audio: { sampleRate: 16000, encoding: key } });
        assert.equal(err.code, "UNSUPPORTED_ENCODING");
        assert.match(
          err.message,
          /^msg\.audio\.encoding is not a supported encoding; accepted: pcm_s16le, pcm_s24le/,
        );
        assert.ok(!err.message.includes(MARKER));
      });
      it(`refuses sox msg.encoding ${JSON.stringify(key)}, naming what is accepted`, () => {
        const err = refusal({ payload: pcm, rate: 16000, bits: 16, encoding: key });
        assert.equal(err.code, "UNSUPPORTED_ENCODING");
        assert.match(err.message, /accepted: signed-integer 16\/24\/32, unsigned-integer 8/);
        assert.ok(!err.message.includes(MARKER));
      });
    }

    it("still reads every accepted encoding", () => {
      for (const encoding of [
        "pcm_s16le",
        "pcm_s24le",
        "pcm_s32le",
        "pcm_f32le",
        "pcm_u8",
        "pcm_mulaw",
        "pcm_alaw",
      ]) {
        const c = classify({ payload: Buffer.alloc(24), audio: { sampleRate: 8000, encoding } }, undefined);
        assert.equal(c.input.kind, "pcm", encoding);
      }
      const sox = classify({ payload: Buffer.alloc(24), rate: 8000, bits: 8, encoding: "mu-law" }, undefined);
      assert.deepEqual(sox.input.kind === "pcm" && sox.input.format, {
        sampleRate: 8000,
        channels: 1,
        sampleFormat: "mulaw",
      });
    });
  });

  describe("numbers are finite, whole where they must be, in range, and numbers", () => {
    const bad: unknown[] = [
      NaN,
      Infinity,
      -Infinity,
      -16000,
      0,
      1e12,
      16000.5,
      "16000",
      null,
      {},
      [16000],
      true,
    ];
    for (const value of bad) {
      const label = typeof value === "number" ? String(value) : JSON.stringify(value);
      it(`refuses msg.audio.sampleRate ${label} and sox msg.rate ${label}`, () => {
        for (const msg of [
          { payload: pcm, audio: { sampleRate: value } },
          { payload: pcm, rate: value, bits: 16 },
        ] as AudioMessage[]) {
          const err = refusal(msg);
          assert.ok(["BAD_FORMAT", "RATE_OUT_OF_RANGE"].includes(err.code), err.code);
          assert.match(
            err.message,
            /(msg\.audio\.sampleRate|msg\.rate) (must be a|must be a finite|is not a supported)/,
          );
        }
      });
    }
    for (const value of [NaN, Infinity, 0, -1, 9, 1.5, 1e9, "1", null]) {
      it(`refuses ${JSON.stringify(value)} channels`, () => {
        const err = refusal({ payload: pcm, audio: { sampleRate: 16000, channels: value } });
        assert.equal(err.code, "BAD_FORMAT");
        assert.match(err.message, /msg\.audio\.channels .*(accepted: whole numbers from 1 to 8|must be a)/);
      });
    }
    for (const value of [NaN, Infinity, 16.5, 12, "16", -16, 1e300]) {
      it(`refuses sox msg.bits ${String(value)}`, () => {
        const err = refusal({ payload: pcm, rate: 16000, bits: value });
        assert.ok(["BAD_FORMAT", "UNSUPPORTED_ENCODING"].includes(err.code), err.code);
      });
    }
    for (const field of ["offsetMs", "durationMs"]) {
      for (const value of [NaN, Infinity, -1, 1e15, "0", {}]) {
        it(`refuses msg.audio.${field} ${typeof value === "number" ? String(value) : JSON.stringify(value)}`, () => {
          const err = refusal({ payload: pcm, audio: { sampleRate: 16000, [field]: value } });
          assert.equal(err.code, "BAD_FORMAT");
          assert.match(
            err.message,
            new RegExp(`msg\\.audio\\.${field} (must be|is out of range; accepted: milliseconds)`),
          );
        });
      }
    }
    it("refuses a negative or fractional msg.audio.seq, and takes contract-1 fields that are in range", () => {
      assert.equal(refusal({ payload: pcm, audio: { sampleRate: 16000, seq: -1 } }).code, "BAD_FORMAT");
      assert.equal(refusal({ payload: pcm, audio: { sampleRate: 16000, seq: 1.5 } }).code, "BAD_FORMAT");
      const ok = classify(
        { payload: pcm, audio: { sampleRate: 16000, channels: 1, seq: 3, offsetMs: 300, durationMs: 100 } },
        undefined,
      );
      assert.equal(ok.input.kind, "pcm");
    });
    it("never echoes a value it refuses", () => {
      for (const msg of [
        { payload: pcm, audio: { sampleRate: MARKER } },
        { payload: pcm, audio: { sampleRate: 16000, channels: MARKER } },
        { payload: pcm, audio: { sampleRate: 16000, offsetMs: MARKER } },
        { payload: pcm, rate: 16000, bits: MARKER },
        { payload: pcm, rate: 16000, encoding: MARKER },
        { payload: pcm, audio: { sampleRate: 5150 } },
      ] as AudioMessage[]) {
        const err = refusal(msg);
        assert.ok(!err.message.includes(MARKER) && !err.message.includes("5150"), err.message);
      }
    });
  });

  it("refuses a Buffer over MAX_MESSAGE_BYTES before reading it, naming the limit", () => {
    // Zero-filled and never touched: the refusal reads only its length.
    const huge = Buffer.alloc(MAX_MESSAGE_BYTES + 1);
    const wav = wavOf(tone(440, 0.1, 16000), { rate: 16000, channels: 1, bits: 16 });
    wav.copy(huge);
    const err = refusal({ payload: huge });
    assert.equal(err.code, "MESSAGE_TOO_LARGE");
    assert.match(
      err.message,
      /more than 256 MiB of audio, the limit for one message; accepted: send a longer recording as a file path/,
    );
  });

  it("refuses a path that cannot be one before any session opens for it", () => {
    const err = refusal({ payload: `/recordings/${MARKER}\0.wav` });
    assert.equal(err.code, "BAD_PATH");
    assert.ok(!err.message.includes(MARKER));
  });
});
