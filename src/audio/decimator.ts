import { kaiserLowpass } from "./kaiser-lowpass";
import {
  BLOCK_FRAMES,
  MAX_TAPS,
  paddedTaps,
  SimdFilterBank,
  simdKernel,
  type Block,
  type FilterBank,
} from "./simd-fir";

/**
 * Sample-rate reduction by a whole factor (48 → 16 kHz is 3, 32 → 16 kHz is 2, 48 → 8 kHz is 6): a
 * linear-phase low-pass FIR evaluated only at the kept samples, with the mix-down to mono done in the
 * same pass. Speex handles every other ratio; for these, at the same quality, it is slower
 * (docs/performance.md has the figures).
 *
 * The filter runs in WebAssembly SIMD (src/audio/simd-fir.ts: float32, four taps per instruction, 4–5
 * times as fast) where the runtime has it; the JavaScript filter below (doubles) is the fallback, and
 * the two agree within one 16-bit step.
 *
 * The filter is flat (ripple about ±0.003 dB) up to PASSBAND of the output's Nyquist frequency and
 * attenuates everything from the output's Nyquist frequency up by STOPBAND_DB, so nothing aliases back
 * into the band. The output lags the input by half the filter, rounded down to whole output samples:
 * 1.3–1.4 ms at 16 kHz, 2.6–2.8 ms at 8 kHz.
 */
export const PASSBAND = 0.8;
export const STOPBAND_DB = 70;

/** The whole factor that takes `inRate` down to `outRate`, or undefined when there is none. */
export function decimationFactor(inRate: number, outRate: number): number | undefined {
  const factor = inRate / outRate;
  return Number.isInteger(factor) && factor >= 2 ? factor : undefined;
}

/** The taps for reduction by `factor`, at cycles per input sample. */
export function decimatorTaps(factor: number): Float64Array {
  const outputNyquist = 0.5 / factor;
  return kaiserLowpass({
    passbandEdge: PASSBAND * outputNyquist,
    stopbandEdge: outputNyquist,
    attenuationDb: STOPBAND_DB,
  });
}

// Input is filtered in blocks of at most BLOCK_FRAMES frames, in one work buffer that every decimator
// shares (a push runs to its end before another starts), so a session keeps only its filter's tail,
// about 1 KiB, instead of a buffer as long as the longest chunk it was ever sent.
let work: number[] = [];

/**
 * Plain arrays of doubles, not Float64Arrays, for the filter's inner loop: once any ArrayBuffer in the
 * process has been detached (a WebAssembly memory that grew, a transferred buffer), V8 checks for
 * detachment on every typed-array access, which slows the loop by a quarter; plain arrays never pay it.
 * A fraction is written first so that V8 stores the array as unboxed doubles from the start.
 */
function doubles(length: number): number[] {
  return Array.from({ length }, () => 0.5).fill(0);
}

function workBuffer(length: number): number[] {
  if (work.length < length) work = doubles(length);
  return work;
}

// Designing a filter takes a few microseconds; sessions with the same factor share the taps.
const tapsByFactor = new Map<number, Float64Array>();
const halfTapsByTaps = new WeakMap<Float64Array, number[]>();
const paddedByTaps = new WeakMap<Float64Array, Float32Array>();

/** The taps up to and including the centre one (the rest mirror them). */
function halfTapsOf(taps: Float64Array): number[] {
  const known = halfTapsByTaps.get(taps) ?? Array.from(taps.subarray(0, (taps.length + 1) / 2));
  halfTapsByTaps.set(taps, known);
  return known;
}

function paddedTapsOf(taps: Float64Array): Float32Array {
  const known = paddedByTaps.get(taps) ?? paddedTaps(taps);
  paddedByTaps.set(taps, known);
  return known;
}

let simdByDefault = true;
/**
 * For benchmarks that compare the two filters through audio-in as a whole: whether decimators made
 * from now on without `simd` in their options use WebAssembly SIMD where the runtime has it (the
 * default) or JavaScript.
 */
export function useSimdByDefault(on: boolean): void {
  simdByDefault = on;
}

export interface DecimatorOptions {
  /** Another filter (odd in number, symmetric), for comparisons. */
  taps?: Float64Array;
  /** false: the JavaScript filter even where WebAssembly SIMD is available (for comparisons and tests). */
  simd?: boolean;
}

export class Decimator {
  /** Which filter runs: WebAssembly SIMD where the runtime has it (and the filter fits), else JavaScript. */
  readonly engine: "wasm-simd" | "js";
  private readonly bank: FilterBank;
  private readonly delayFrames: number;
  // Input frames to pass over before the next kept sample, 0 to factor - 1.
  private phase: number;

  /**
   * @param outputChannels 1 mixes every input channel down (their mean); 2 keeps a stereo input's
   *   channels apart.
   */
  constructor(
    readonly factor: number,
    readonly inputChannels: number,
    readonly outputChannels: 1 | 2,
    options: DecimatorOptions = {},
  ) {
    if (!Number.isInteger(factor) || factor < 2)
      throw new RangeError("the factor must be a whole number >= 2");
    if (outputChannels === 2 && inputChannels !== 2)
      throw new RangeError("two output channels need stereo input");
    let taps = options.taps;
    if (!taps) {
      taps = tapsByFactor.get(factor) ?? decimatorTaps(factor);
      tapsByFactor.set(factor, taps);
    }
    const span = taps.length - 1;
    this.delayFrames = span / 2;
    // The first kept sample is the one whose window is centred on a multiple of the factor, so that
    // the delay is a whole number of output samples: a fraction of one would blur the highs against
    // the input's timeline (and against sox's output, which has none).
    this.phase = (span / 2) % factor;
    const kernel = (options.simd ?? simdByDefault) ? simdKernel() : undefined;
    if (kernel && (inputChannels === 1 || inputChannels === 2) && taps.length <= MAX_TAPS) {
      this.engine = "wasm-simd";
      this.bank = new SimdFilterBank(
        kernel,
        paddedTapsOf(taps),
        taps.length,
        factor,
        inputChannels,
        outputChannels,
      );
    } else {
      this.engine = "js";
      this.bank = new JsFilterBank(halfTapsOf(taps), factor, inputChannels, outputChannels);
    }
  }

  /**
   * The end of the stream: what the filter still holds. Its output runs half a filter (1.3 ms at
   * 48 → 16 kHz) behind its input, so the last stretch of audio comes out only when silence follows it.
   */
  flush(): Int16Array {
    return this.process(new Int16Array(this.delayFrames * this.inputChannels));
  }

  /** Interleaved samples in (whole frames, any number), interleaved samples out at the lower rate. */
  process(samples: Int16Array): Int16Array {
    const frames = samples.length / this.inputChannels;
    const out = new Int16Array(keptCount(this.phase, frames, this.factor) * this.outputChannels);
    // One object for every block of the push, updated as it goes.
    const block: Block = { samples, start: 0, frames: 0, phase: 0, kept: 0, out, index: 0 };
    for (; block.start < frames; block.start += BLOCK_FRAMES) {
      const n = Math.min(BLOCK_FRAMES, frames - block.start);
      const kept = keptCount(this.phase, n, this.factor);
      block.frames = n;
      block.phase = this.phase;
      block.kept = kept;
      this.bank.filter(block);
      block.index += kept * this.outputChannels;
      this.phase += kept * this.factor - n;
    }
    return out;
  }
}

/** The filter in JavaScript, in doubles: the fallback where WebAssembly SIMD is unavailable. */
class JsFilterBank implements FilterBank {
  // The last (taps - 1) input samples of each output channel, where the next block continues.
  private readonly tails: number[][];

  constructor(
    private readonly halfTaps: number[],
    private readonly factor: number,
    private readonly inputChannels: number,
    private readonly outputChannels: 1 | 2,
  ) {
    this.tails = Array.from({ length: outputChannels }, () => doubles(2 * (halfTaps.length - 1)));
  }

  filter({ samples, start, frames: n, phase, out, index }: Block): void {
    for (let channel = 0; channel < this.outputChannels; channel++) {
      const tail = this.tails[channel];
      const span = tail.length;
      const history = workBuffer(span + BLOCK_FRAMES);
      copy(tail, 0, history, 0, span);
      if (this.outputChannels === 1) mixDown(samples, start, n, this.inputChannels, history, span);
      else pickChannel(samples, start, n, channel, history, span);
      const target = { out, index: index + channel, stride: this.outputChannels };
      filterKept(history, this.halfTaps, span + phase, span + n, this.factor, target);
      copy(history, n, tail, 0, span);
    }
  }
}

function copy(from: number[], at: number, to: number[], into: number, length: number): void {
  for (let i = 0; i < length; i++) to[into + i] = from[at + i];
}

/** How many samples a block of `frames` frames yields when the first `phase` are passed over. */
function keptCount(phase: number, frames: number, factor: number): number {
  return phase < frames ? Math.ceil((frames - phase) / factor) : 0;
}

/** Writes the mean of each frame's channels to `into`, from `at` on. */
function mixDown(
  samples: Int16Array,
  start: number,
  frames: number,
  channels: number,
  into: number[],
  at: number,
): void {
  if (channels === 1) {
    for (let f = 0; f < frames; f++) into[at + f] = samples[start + f];
  } else if (channels === 2) {
    for (let f = 0, i = start * 2; f < frames; f++, i += 2)
      into[at + f] = (samples[i] + samples[i + 1]) * 0.5;
  } else {
    for (let f = 0, i = start * channels; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < channels; c++, i++) sum += samples[i];
      into[at + f] = sum / channels;
    }
  }
}

/** Writes one channel of stereo frames to `into`, from `at` on. */
function pickChannel(
  samples: Int16Array,
  start: number,
  frames: number,
  channel: number,
  into: number[],
  at: number,
): void {
  for (let f = 0, i = start * 2 + channel; f < frames; f++, i += 2) into[at + f] = samples[i];
}

interface Target {
  out: Int16Array;
  /** Where the next sample goes; it advances by `stride` (the output's channel count). */
  index: number;
  stride: number;
}

/**
 * Filters `history` at positions from..end-1 in steps of `factor`: each result is the filter applied
 * to the taps-long window ending at that position. The taps are symmetric, so each coefficient
 * multiplies the sum of the two samples it applies to (half the multiplications), and six outputs
 * are computed per pass over the coefficients, which keeps six independent sums in flight and loads
 * each coefficient once for six outputs (3–7 % faster than three per pass: docs/performance.md).
 * Every output is summed in the same order however the input was chunked, so results are bit-identical.
 */
function filterKept(
  history: number[],
  halfTaps: number[],
  from: number,
  end: number,
  factor: number,
  target: Target,
): void {
  const centre = halfTaps.length - 1;
  const span = 2 * centre;
  const mid = halfTaps[centre];
  const { out, stride } = target;
  const f2 = 2 * factor;
  const f3 = 3 * factor;
  const f4 = 4 * factor;
  const f5 = 5 * factor;
  let p = from;
  let o = target.index;
  for (; p + f5 < end; p += 6 * factor) {
    const left = p - span;
    let a0 = 0;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let a4 = 0;
    let a5 = 0;
    for (let k = 0; k < centre; k++) {
      const h = halfTaps[k];
      const l = left + k;
      const r = p - k;
      a0 += h * (history[l] + history[r]);
      a1 += h * (history[l + factor] + history[r + factor]);
      a2 += h * (history[l + f2] + history[r + f2]);
      a3 += h * (history[l + f3] + history[r + f3]);
      a4 += h * (history[l + f4] + history[r + f4]);
      a5 += h * (history[l + f5] + history[r + f5]);
    }
    const m = left + centre;
    out[o] = toSample(a0 + mid * history[m]);
    out[o + stride] = toSample(a1 + mid * history[m + factor]);
    out[o + 2 * stride] = toSample(a2 + mid * history[m + f2]);
    out[o + 3 * stride] = toSample(a3 + mid * history[m + f3]);
    out[o + 4 * stride] = toSample(a4 + mid * history[m + f4]);
    out[o + 5 * stride] = toSample(a5 + mid * history[m + f5]);
    o += 6 * stride;
  }
  for (; p < end; p += factor) {
    const left = p - span;
    let a = 0;
    for (let k = 0; k < centre; k++) a += halfTaps[k] * (history[left + k] + history[p - k]);
    out[o] = toSample(a + mid * history[left + centre]);
    o += stride;
  }
}

/** Rounds to the nearest 16-bit sample, clipping what the filter's overshoot pushed out of range. */
function toSample(x: number): number {
  return x >= 32767 ? 32767 : x <= -32768 ? -32768 : Math.round(x);
}
