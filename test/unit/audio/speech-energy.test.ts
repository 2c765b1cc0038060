import { strict as assert } from "node:assert";
import { SpeechEnergy } from "../../../src/audio/speech-energy";

// Which frames could carry speech: silence and steady room noise never do, speech over noise does.

const RATE = 16000;
const FRAME = 1600; // 100 ms

/** Deterministic noise: a linear congruential generator, uniform in ±amplitude. */
function noiseSource(seed = 1): (amplitude: number) => number {
  let x = seed;
  return (amplitude) => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return Math.round((x / 2147483648 - 0.5) * 2 * amplitude);
  };
}

/** dBFS of a uniform noise of this amplitude (RMS = a/√3). */
const uniformAmplitude = (db: number): number => 32768 * 10 ** (db / 20) * Math.sqrt(3);
/** Amplitude of a sine at this RMS level. */
const sineAmplitude = (db: number): number => 32768 * 10 ** (db / 20) * Math.SQRT2;

/**
 * 100 ms frames of `seconds` of audio: noise at `noiseDb` (none when undefined), plus a 200 Hz tone at
 * `speechDb` wherever `speaking(ms)` says so.
 */
function audio(
  seconds: number,
  o: { noiseDb?: number | ((ms: number) => number); speechDb?: number; speaking?: (ms: number) => boolean },
): Buffer[] {
  const noise = noiseSource();
  const frames: Buffer[] = [];
  for (let f = 0; f < seconds * 10; f++) {
    const buf = Buffer.alloc(FRAME * 2);
    for (let i = 0; i < FRAME; i++) {
      const sample = f * FRAME + i;
      const ms = (sample * 1000) / RATE;
      const nd = typeof o.noiseDb === "function" ? o.noiseDb(ms) : o.noiseDb;
      let v = nd === undefined ? 0 : noise(uniformAmplitude(nd));
      if (o.speechDb !== undefined && o.speaking?.(ms)) {
        v += sineAmplitude(o.speechDb) * Math.sin((2 * Math.PI * 200 * sample) / RATE);
      }
      buf.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), i * 2);
    }
    frames.push(buf);
  }
  return frames;
}

const judge = (
  frames: Buffer[],
  d = new SpeechEnergy({ sampleRate: RATE, encoding: "pcm_s16le" }),
): boolean[] => frames.map((f) => d.frame(f));
const count = (flags: boolean[]): number => flags.filter(Boolean).length;

/** Fluent speech: 250 ms words with 60 ms between them, never a longer pause. */
const fluent = (ms: number): boolean => ms % 310 < 250;

describe("SpeechEnergy (could a frame carry speech)", () => {
  it("never takes 60 s of digital silence for speech", () => {
    assert.equal(count(judge(audio(60, {}))), 0);
  });

  for (const db of [-60, -45, -35, -25]) {
    it(`never takes 60 s of steady room noise at ${db} dBFS for speech`, () => {
      assert.equal(count(judge(audio(60, { noiseDb: db }))), 0);
    });
  }

  it("finds speech over room noise, frame by frame", () => {
    const speaking = (ms: number): boolean => ms >= 2000 && ms < 4000;
    const flags = judge(audio(6, { noiseDb: -45, speechDb: -25, speaking }));
    assert.equal(count(flags.slice(0, 20)), 0, "noise only");
    assert.equal(count(flags.slice(20, 40)), 20, "every speech frame");
    assert.equal(count(flags.slice(40)), 0, "noise again");
  });

  it("keeps finding 20 s of fluent speech without a pause longer than 60 ms", () => {
    const flags = judge(
      audio(22, { noiseDb: -50, speechDb: -22, speaking: (ms) => ms >= 2000 && fluent(ms) }),
    );
    const speechFrames = flags.slice(20);
    assert.ok(
      count(speechFrames) >= speechFrames.length - 1,
      `${count(speechFrames)} of ${speechFrames.length}`,
    );
  });

  it("finds quiet speech in a quiet room (12 dB over the floor, above -50 dBFS)", () => {
    const flags = judge(audio(4, { noiseDb: -70, speechDb: -45, speaking: (ms) => ms >= 2000 }));
    assert.equal(count(flags.slice(21)), 19);
  });

  it("does not take a tone under -50 dBFS for speech, however quiet the room", () => {
    assert.equal(count(judge(audio(4, { speechDb: -55, speaking: (ms) => ms >= 1000 }))), 0);
  });

  it("learns a louder room within its window: a 20 dB step of noise counts as speech for at most 5 s", () => {
    const flags = judge(audio(30, { noiseDb: (ms) => (ms < 10000 ? -50 : -30) }));
    assert.equal(count(flags.slice(0, 100)), 0);
    assert.ok(count(flags.slice(100)) <= 50, `${count(flags.slice(100))} frames`);
    assert.equal(count(flags.slice(160)), 0, "nothing once the floor has learnt the room");
  });

  it("reads pcm_mulaw by its own byte rate", () => {
    const d = new SpeechEnergy({ sampleRate: 8000, encoding: "pcm_mulaw" });
    // 0xff is mu-law zero; 0x80 is near full scale.
    const silence = Buffer.alloc(800, 0xff);
    const loud = Buffer.alloc(800);
    for (let i = 0; i < loud.length; i++) loud[i] = i % 2 ? 0x80 : 0x00;
    assert.equal(d.frame(silence), false);
    assert.equal(d.frame(silence), false);
    assert.equal(d.frame(loud), true);
  });

  it("carries a block across frames of any length (odd lengths included)", () => {
    const frames = audio(3, { noiseDb: -45, speechDb: -25, speaking: (ms) => ms >= 2000 });
    const whole = Buffer.concat(frames);
    const d = new SpeechEnergy({ sampleRate: RATE, encoding: "pcm_s16le" });
    const flags: boolean[] = [];
    for (let at = 0; at < whole.length; at += 1234) flags.push(d.frame(whole.subarray(at, at + 1234)));
    const firstSpeech = flags.indexOf(true);
    assert.ok(firstSpeech > 0);
    assert.ok(Math.abs((firstSpeech * 1234) / 2 / 16 - 2000) < 100, "speech found where it starts");
  });
});
