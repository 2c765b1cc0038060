import { strict as assert } from "node:assert";
import { Decimator, decimationFactor } from "../../../src/audio/decimator";
import { parseWav } from "../../../src/audio/wav";
import {
  bestCorrelation,
  levelDb,
  readFixture,
  samplesOf,
  soxReference,
  soxWav,
  tone,
  toneAmplitude,
} from "../../support/audio-fixtures";

// The bounds the filter is held to (it is designed for ±0.003 dB and 70 dB, and measures about that).
const PASSBAND_LIMIT_DB = 0.05; // largest gain error from 100 Hz to 80 % of the output's Nyquist frequency
const STOPBAND_LIMIT_DB = -65; // highest level of anything from the output's Nyquist frequency up
// Lowest correlation with sox's conversion of speech (0.9997 measured to 16 kHz, 0.9987 to 8 kHz: sox's
// passband reaches closer to the Nyquist frequency, and speech has more energy there at 8 kHz).
const SOX_CORRELATION = 0.995;

const RATIOS: Array<[number, number]> = [
  [32000, 16000],
  [48000, 16000],
  [96000, 16000],
  [48000, 8000],
];

// Every behaviour below holds for both filters: WebAssembly SIMD (the default where the runtime has it)
// and the JavaScript fallback (test/unit/audio/simd-fir.test.ts compares the two sample by sample).
const ENGINES = [
  { simd: true, label: "WebAssembly SIMD" },
  { simd: false, label: "JavaScript" },
] as const;

/** Splits `samples` into whole frames of pseudo-random sizes from 1 to `max` (the same every run). */
function randomPieces(samples: Int16Array, channels: number, max: number): Int16Array[] {
  const pieces: Int16Array[] = [];
  let seed = 12345;
  for (let at = 0; at < samples.length;) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const frames = 1 + (seed % max);
    pieces.push(samples.subarray(at, at + frames * channels));
    at += frames * channels;
  }
  return pieces;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function interleave(left: Int16Array, right: Int16Array): Int16Array {
  const out = new Int16Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    out[2 * i] = left[i] ?? 0;
    out[2 * i + 1] = right[i] ?? 0;
  }
  return out;
}

/** The speech fixture at `rate` Hz (stereo by default), made by sox, as samples. */
function speechAt(rate: number, channels = 2): { file: string; samples: Int16Array } {
  const file = soxWav(`decimator-${rate}-${channels}`, ["-r", String(rate), "-c", String(channels)]);
  return { file, samples: samplesOf(parseWav(readFixture(file)).data) };
}

for (const { simd, label: engine } of ENGINES)
  describe(`decimator (whole-factor rate reduction), ${engine}`, () => {
    const decimate = (inRate: number, outRate: number, samples: Int16Array, channels = 1): Int16Array =>
      new Decimator(inRate / outRate, channels, 1, { simd }).process(samples);

    it("runs the filter it was asked for", () => {
      assert.equal(new Decimator(3, 2, 1, { simd }).engine, simd ? "wasm-simd" : "js");
    });

    it("takes the whole-factor ratios and leaves the others to Speex", () => {
      assert.equal(decimationFactor(48000, 16000), 3);
      assert.equal(decimationFactor(32000, 16000), 2);
      assert.equal(decimationFactor(48000, 8000), 6);
      assert.equal(decimationFactor(96000, 16000), 6);
      assert.equal(decimationFactor(44100, 16000), undefined);
      assert.equal(decimationFactor(22050, 16000), undefined);
      assert.equal(decimationFactor(16000, 16000), undefined);
      assert.equal(decimationFactor(8000, 16000), undefined);
    });

    for (const [inRate, outRate] of RATIOS) {
      const label = `${inRate / 1000} → ${outRate / 1000} kHz`;

      it(`${label}: passes 100 Hz to 80 % of the new Nyquist frequency within ±${PASSBAND_LIMIT_DB} dB`, () => {
        for (const freq of [100, 1000, 0.25 * outRate, 0.4 * outRate]) {
          const out = decimate(inRate, outRate, samplesOf(tone(freq, 1, inRate, 1, 16000)));
          const gainDb = 20 * Math.log10(toneAmplitude(out, freq, outRate, 400) / 16000);
          assert.ok(Math.abs(gainDb) <= PASSBAND_LIMIT_DB, `${freq} Hz: ${gainDb.toFixed(4)} dB`);
        }
      });

      it(`${label}: attenuates every tone from the new Nyquist frequency up by ${-STOPBAND_LIMIT_DB} dB or more`, () => {
        const nyquist = outRate / 2;
        // Densely just above the edge, where the filter is weakest, then across the rest of the band.
        const freqs = [nyquist + 5, nyquist + 50, nyquist * 1.05, nyquist * 1.1, nyquist * 1.3];
        for (let f = nyquist * 1.5; f < inRate / 2; f += nyquist * 0.77) freqs.push(f);
        freqs.push(inRate / 2 - 10);
        for (const freq of freqs) {
          const out = decimate(inRate, outRate, samplesOf(tone(freq, 0.5, inRate, 1, 32000)));
          const db = levelDb(out, 32000, 400);
          assert.ok(db <= STOPBAND_LIMIT_DB, `${Math.round(freq)} Hz comes out at ${db.toFixed(1)} dB`);
        }
      });

      it(`${label}: matches sox's conversion of stereo speech (correlation above ${SOX_CORRELATION})`, () => {
        const { file, samples } = speechAt(inRate);
        const { r } = bestCorrelation(soxReference(file, outRate), decimate(inRate, outRate, samples, 2), 60);
        assert.ok(r > SOX_CORRELATION, `correlation ${r.toFixed(5)}`);
      });
    }

    it("matches sox on mono speech too", () => {
      const { file, samples } = speechAt(48000, 1);
      const { r } = bestCorrelation(soxReference(file, 16000), decimate(48000, 16000, samples), 60);
      assert.ok(r > SOX_CORRELATION, `correlation ${r.toFixed(5)}`);
    });

    it("gives exactly one sample per factor input frames, delayed by a whole number of samples", () => {
      const input = samplesOf(tone(1000, 2, 48000, 1, 16000));
      const out = decimate(48000, 16000, input);
      assert.equal(out.length, 32000, "2 s at 48 kHz become 2 s at 16 kHz, to the sample");
      const { r, lag } = bestCorrelation(samplesOf(tone(1000, 2, 16000, 1, 16000)), out, 40);
      assert.ok(r > 0.99999, `a whole-sample delay leaves the tone intact: ${r.toFixed(6)} at lag ${lag}`);
    });

    for (const [channels, outputChannels] of [
      [1, 1],
      [2, 1],
      [2, 2],
    ] as const) {
      it(`gives bit-identical output whatever the chunking (${channels} in, ${outputChannels} out)`, () => {
        const { samples } = speechAt(48000, channels);
        const whole = new Decimator(3, channels, outputChannels, { simd }).process(samples);
        for (const max of [7, 1000, 20000]) {
          const pieces = new Decimator(3, channels, outputChannels, { simd });
          const got = concat(randomPieces(samples, channels, max).map((p) => pieces.process(p)));
          assert.deepEqual(got, whole, `pieces of 1 to ${max} frames`);
        }
      });
    }

    it("mixes stereo down to the mean of the two channels", () => {
      const left = samplesOf(tone(500, 1, 48000, 1, 12000));
      const right = samplesOf(tone(2500, 1, 48000, 1, 8000));
      const out = new Decimator(3, 2, 1, { simd }).process(interleave(left, right));
      assert.ok(Math.abs(toneAmplitude(out, 500, 16000, 400) - 6000) < 6, "half of the left tone");
      assert.ok(Math.abs(toneAmplitude(out, 2500, 16000, 400) - 4000) < 4, "half of the right tone");
    });

    it("keeps two channels apart when asked to, with no leak from one to the other", () => {
      const left = samplesOf(tone(300, 1, 48000, 1, 16000));
      const right = samplesOf(tone(1200, 1, 48000, 1, 16000));
      const out = new Decimator(3, 2, 2, { simd }).process(interleave(left, right));
      const l = out.filter((_, i) => i % 2 === 0);
      const r = out.filter((_, i) => i % 2 === 1);
      assert.equal(l.length, 16000);
      assert.ok(bestCorrelation(samplesOf(tone(300, 1, 16000)), l, 40).r > 0.9999);
      assert.ok(bestCorrelation(samplesOf(tone(1200, 1, 16000)), r, 40).r > 0.9999);
      assert.ok(toneAmplitude(l, 1200, 16000, 400) < 1, "no right tone in the left channel");
      assert.ok(toneAmplitude(r, 300, 16000, 400) < 1, "no left tone in the right channel");
    });

    it("keeps each stream's state its own: interleaved streams come out as each would alone", () => {
      const a = samplesOf(tone(440, 1, 48000, 2, 20000));
      const b = samplesOf(tone(3000, 1, 48000, 2, 9000));
      const alone = (s: Int16Array) => new Decimator(3, 2, 1, { simd }).process(s);
      const da = new Decimator(3, 2, 1, { simd });
      const db = new Decimator(3, 2, 1, { simd });
      const outA: Int16Array[] = [];
      const outB: Int16Array[] = [];
      // Pieces of 100 ms, and one long enough to use several of the shared work buffer's blocks.
      for (let at = 0; at < a.length; at += at === 0 ? 9600 : 30000) {
        outA.push(da.process(a.subarray(at, at + (at === 0 ? 9600 : 30000))));
        outB.push(db.process(b.subarray(at, at + (at === 0 ? 9600 : 30000))));
      }
      assert.deepEqual(concat(outA), alone(a));
      assert.deepEqual(concat(outB), alone(b));
    });

    it("clips a full-scale signal's overshoot rather than wrapping around", () => {
      // A 100 Hz square wave at full scale: the filter overshoots every edge by about 9 %.
      const square = new Int16Array(48000).map((_, i) => (Math.floor(i / 240) % 2 ? -32768 : 32767));
      const out = decimate(48000, 16000, square);
      assert.equal(Math.max(...out), 32767, "the overshoot is clipped to full scale");
      assert.equal(Math.min(...out), -32768);
      // A wrapped sample would flip sign: after the start, the sign changes only at the 199 edges.
      let changes = 0;
      for (let i = 100; i < out.length - 1; i++) if ((out[i] ?? 0) < 0 !== (out[i + 1] ?? 0) < 0) changes++;
      assert.equal(changes, 199);
    });

    it("refuses what it cannot do", () => {
      assert.throws(() => new Decimator(1.5, 1, 1, { simd }), RangeError);
      assert.throws(() => new Decimator(1, 1, 1, { simd }), RangeError);
      assert.throws(() => new Decimator(3, 1, 2, { simd }), RangeError);
    });
  });
