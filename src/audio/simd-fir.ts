import {
  block,
  br,
  brIf,
  call,
  encodeModule,
  f32x4Add,
  f32x4ConvertI32x4S,
  f32x4Mul,
  f32x4Nearest,
  f32x4SplatConst,
  i16x8ExtractLaneS,
  i16x8NarrowI32x4S,
  I32,
  i32Add,
  i32Const,
  i32Eq,
  i32GtS,
  i32LtS,
  i32Mul,
  i32Shl,
  i32Store16,
  i32x4ExtaddPairwiseI16x8S,
  i32x4ExtendHighI16x8S,
  i32x4ExtendLowI16x8S,
  i32x4Shl,
  i32x4ShrS,
  i32x4TruncSatF32x4S,
  ifThen,
  localGet,
  localSet,
  localTee,
  loop,
  select,
  seq,
  shuffle32,
  V128,
  v128Load,
  v128Store,
  type Code,
  type FunctionDef,
} from "./wasm-encoding";

/**
 * The decimator's inner loop in WebAssembly SIMD (src/audio/decimator.ts is the JavaScript version,
 * and the fallback): 16-bit input to float32, mixed down or split into channels, then the FIR at the
 * kept samples, four at a time, four taps per instruction, rounded and clipped back to 16 bits.
 *
 * One instance serves every session of the process (a block runs to its end before another starts),
 * in one memory of one 64 KiB page that never grows: the module declares its maximum equal to its size
 * and has no memory.grow. Sessions keep their own filter tail and hand it in with each block.
 */

/** Input is filtered in blocks of at most this many frames (the JavaScript version uses the same). */
export const BLOCK_FRAMES = 4096;
/** Longest filter the kernel takes (131 taps at 48 → 16 kHz; 261 at 48 → 8 kHz); longer ones use JS. */
export const MAX_TAPS = 1024;

// Memory layout, in bytes. The history region only ever holds finite float32 (it starts as zeros and
// receives converted samples), which matters: the taps are padded with zeros to a multiple of four,
// so a window reads up to three samples past its end, and 0 × a NaN would not be 0.
const TAPS = 0;
const HISTORY = TAPS + MAX_TAPS * 4;
const HISTORY_FLOATS = MAX_TAPS + BLOCK_FRAMES + 8; // the conversion writes up to 7 past the block
const INPUT = HISTORY + HISTORY_FLOATS * 4;
const INPUT_BYTES = BLOCK_FRAMES * 2 * 2; // stereo s16
const OUTPUT = INPUT + INPUT_BYTES;
const OUTPUT_BYTES = BLOCK_FRAMES * 2; // factor 2, two channels: one s16 per input frame
const PAGES = 1;
if (OUTPUT + OUTPUT_BYTES > PAGES * 65536) throw new Error("the SIMD kernel's layout exceeds its memory");

/** What `convert` writes to the history from the input: one channel, or the mean of two. */
export const Conversion = { Mono: 0, StereoMean: 1, Left: 2, Right: 3 } as const;
export type Conversion = (typeof Conversion)[keyof typeof Conversion];

// convert(frames, conversion, destination byte address): s16 input → float32 history. Works in 16
// bytes at a time, so it reads and writes up to 7 samples past `frames` (inside the regions).
const convert = ((): FunctionDef => {
  const [frames, conversion, dst, at, end, v] = [0, 1, 2, 3, 4, 5];
  const each = (bytesPerFrame: number, store: Code, dstStep: number): Code =>
    seq(
      localSet(end, i32Mul(localGet(frames), i32Const(bytesPerFrame))),
      loop(
        store,
        localSet(at, i32Add(localGet(at), i32Const(16))),
        localSet(dst, i32Add(localGet(dst), i32Const(dstStep))),
        brIf(0, i32LtS(localGet(at), localGet(end))),
      ),
    );
  const load = v128Load(localGet(at), INPUT);
  const stereo = (toInt32: (pairs: Code) => Code): Code =>
    each(4, v128Store(localGet(dst), f32x4ConvertI32x4S(toInt32(load))), 16);
  const is = (c: Conversion): Code => i32Eq(localGet(conversion), i32Const(c));
  return {
    exportName: "convert",
    params: [I32, I32, I32],
    results: [],
    locals: [I32, I32, V128],
    body: seq(
      ifThen(
        is(Conversion.Mono),
        each(
          2,
          seq(
            localSet(v, load),
            v128Store(localGet(dst), f32x4ConvertI32x4S(i32x4ExtendLowI16x8S(localGet(v)))),
            v128Store(localGet(dst), f32x4ConvertI32x4S(i32x4ExtendHighI16x8S(localGet(v))), 16),
          ),
          32,
        ),
      ),
      // Each i32 lane of a stereo load is one frame: left in its low half, right in its high half.
      ifThen(
        is(Conversion.StereoMean),
        each(
          4,
          v128Store(
            localGet(dst),
            f32x4Mul(f32x4ConvertI32x4S(i32x4ExtaddPairwiseI16x8S(load)), f32x4SplatConst(0.5)),
          ),
          16,
        ),
      ),
      ifThen(
        is(Conversion.Left),
        stereo((pairs) => i32x4ShrS(i32x4Shl(pairs, i32Const(16)), i32Const(16))),
      ),
      ifThen(
        is(Conversion.Right),
        stereo((pairs) => i32x4ShrS(pairs, i32Const(16))),
      ),
    ),
  };
})();

// pass(w0, w1, w2, w3, tap bytes) → four outputs: the filter applied to the four windows starting at
// byte addresses w0..w3, lane j summing taps j, j+4, j+8, ...; the four lanes are added in the same
// order for every window, so an output is the same float whichever pass computed it. Returns them
// rounded to the nearest integer (ties to even) and saturated to 16 bits, in lanes 0–3.
const PASS = 1;
const pass = ((): FunctionDef => {
  const [w0, w1, w2, w3, tapBytes, k, h, a0, a1, a2, a3, t] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const accumulate = (acc: number, window: number): Code =>
    localSet(
      acc,
      f32x4Add(localGet(acc), f32x4Mul(localGet(h), v128Load(i32Add(localGet(window), localGet(k))))),
    );
  // Lane sums of x and y: [x0+x2, x1+x3, y0+y2, y1+y3]; applied twice, one lane per accumulator.
  const halves = (x: Code, y: Code): Code =>
    f32x4Add(shuffle32(x, y, [0, 1, 4, 5]), shuffle32(x, y, [2, 3, 6, 7]));
  const pairs = (x: Code, y: Code): Code =>
    f32x4Add(shuffle32(x, y, [0, 2, 4, 6]), shuffle32(x, y, [1, 3, 5, 7]));
  return {
    params: [I32, I32, I32, I32, I32],
    results: [V128],
    locals: [I32, V128, V128, V128, V128, V128, V128],
    body: seq(
      loop(
        localSet(h, v128Load(localGet(k), TAPS)),
        accumulate(a0, w0),
        accumulate(a1, w1),
        accumulate(a2, w2),
        accumulate(a3, w3),
        brIf(0, i32LtS(localTee(k, i32Add(localGet(k), i32Const(16))), localGet(tapBytes))),
      ),
      localSet(t, halves(localGet(a0), localGet(a1))),
      localSet(a0, halves(localGet(a2), localGet(a3))),
      localSet(t, i32x4TruncSatF32x4S(f32x4Nearest(pairs(localGet(t), localGet(a0))))),
      i16x8NarrowI32x4S(localGet(t), localGet(t)),
    ),
  };
})();

// filter(first window, count, factor, tap bytes, output byte address, output stride in bytes): `count`
// outputs from the windows starting at history samples first, first + factor, ...
const filter = ((): FunctionDef => {
  const [first, count, factor, tapBytes, out, stride, w, step, r] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const at = (i: number, from: number, by: number): Code =>
    i === 0 ? localGet(from) : i32Add(localGet(from), i32Mul(localGet(by), i32Const(i)));
  const store = (lane: number): Code =>
    i32Store16(at(lane, out, stride), i16x8ExtractLaneS(localGet(r), lane));
  const more = (n: number): Code => i32GtS(localGet(count), i32Const(n));
  return {
    exportName: "filter",
    params: [I32, I32, I32, I32, I32, I32],
    results: [],
    locals: [I32, I32, V128],
    body: seq(
      localSet(w, i32Add(i32Const(HISTORY), i32Shl(localGet(first), i32Const(2)))),
      localSet(step, i32Shl(localGet(factor), i32Const(2))),
      block(
        loop(
          brIf(1, i32LtS(localGet(count), i32Const(4))),
          localSet(
            r,
            call(PASS, at(0, w, step), at(1, w, step), at(2, w, step), at(3, w, step), localGet(tapBytes)),
          ),
          store(0),
          store(1),
          store(2),
          store(3),
          localSet(w, at(4, w, step)),
          localSet(out, at(4, out, stride)),
          localSet(count, i32Add(localGet(count), i32Const(-4))),
          br(0),
        ),
      ),
      // One to three left: one more pass, its spare lanes on the first window, stored as far as needed.
      ifThen(
        more(0),
        localSet(
          r,
          call(
            PASS,
            localGet(w),
            select(at(1, w, step), localGet(w), more(1)),
            select(at(2, w, step), localGet(w), more(2)),
            localGet(w),
            localGet(tapBytes),
          ),
        ),
        store(0),
        ifThen(more(1), store(1)),
        ifThen(more(2), store(2)),
      ),
    ),
  };
})();

/** The module's bytes: built once, when first asked for. */
let moduleBytes: Uint8Array<ArrayBuffer> | undefined;
export function simdModuleBytes(): Uint8Array<ArrayBuffer> {
  moduleBytes ??= encodeModule([convert, pass, filter], PAGES);
  return moduleBytes;
}

type Convert = (frames: number, conversion: Conversion, destination: number) => void;
type Filter = (
  first: number,
  count: number,
  factor: number,
  tapBytes: number,
  out: number,
  stride: number,
) => void;

/** The instantiated kernel and views of its memory (valid for the life of the process: it never grows). */
export interface SimdKernel {
  readonly memory: WebAssembly.Memory;
  readonly convert: Convert;
  readonly filter: Filter;
  readonly taps: Float32Array;
  readonly history: Float32Array;
  readonly input: Int16Array;
  readonly output: Int16Array;
  /** The padded taps now in `taps` (sessions with other taps load theirs). */
  loaded: Float32Array | undefined;
}

/**
 * The kernel, or undefined where this runtime cannot run it (no WebAssembly, or no SIMD: `validate`
 * rejects the module). `validate` is a parameter so that a test can play such a runtime.
 */
export function loadSimdKernel(
  validate: (bytes: Uint8Array<ArrayBuffer>) => boolean = (bytes) => WebAssembly.validate(bytes),
): SimdKernel | undefined {
  // Building the bytes is plain code, outside the try: a fault in it must fail the tests, not pass
  // unseen as a runtime without SIMD.
  const bytes = simdModuleBytes();
  let instance: WebAssembly.Instance;
  try {
    if (!validate(bytes)) return undefined;
    instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  } catch {
    // A runtime without WebAssembly (or without memory for one page): the JavaScript version serves.
    return undefined;
  }
  const { memory, convert: c, filter: f } = instance.exports;
  if (!(memory instanceof WebAssembly.Memory) || typeof c !== "function" || typeof f !== "function") {
    throw new Error("the SIMD kernel lacks its memory or functions");
  }
  const buffer = memory.buffer;
  return {
    memory,
    convert: c as Convert,
    filter: f as Filter,
    taps: new Float32Array(buffer, TAPS, MAX_TAPS),
    history: new Float32Array(buffer, HISTORY, HISTORY_FLOATS),
    input: new Int16Array(buffer, INPUT, INPUT_BYTES / 2),
    output: new Int16Array(buffer, OUTPUT, OUTPUT_BYTES / 2),
    loaded: undefined,
  };
}

let shared: SimdKernel | null | undefined;
/** The process's kernel, loaded on first use; undefined where SIMD is unavailable. */
export function simdKernel(): SimdKernel | undefined {
  if (shared === undefined) shared = loadSimdKernel() ?? null;
  return shared ?? undefined;
}

/** Taps as the kernel takes them: float32, zero-padded to a multiple of four. */
export function paddedTaps(taps: Float64Array): Float32Array {
  const padded = new Float32Array(Math.ceil(taps.length / 4) * 4);
  padded.set(taps);
  return padded;
}

/**
 * One block of a push: frames start..start+frames-1 of `samples` (at most BLOCK_FRAMES), where the first
 * kept sample is `phase` frames in; its `kept` outputs of every channel go, interleaved, to `out` from
 * `index` on.
 */
export interface Block {
  samples: Int16Array;
  start: number;
  frames: number;
  phase: number;
  kept: number;
  out: Int16Array;
  index: number;
}

/** One session's filter state and the code that runs it: WebAssembly SIMD or JavaScript. */
export interface FilterBank {
  filter(block: Block): void;
}

/**
 * One session's filter on the kernel: its taps and, per output channel, the last (taps - 1) samples
 * of its history, which each block starts from.
 */
export class SimdFilterBank implements FilterBank {
  private readonly tails: Float32Array[];
  private readonly conversions: Conversion[];
  private readonly span: number;

  constructor(
    private readonly kernel: SimdKernel,
    private readonly taps: Float32Array,
    tapCount: number,
    private readonly factor: number,
    private readonly inputChannels: 1 | 2,
    private readonly outputChannels: 1 | 2,
  ) {
    this.span = tapCount - 1;
    this.tails = Array.from({ length: outputChannels }, () => new Float32Array(this.span));
    this.conversions =
      outputChannels === 2
        ? [Conversion.Left, Conversion.Right]
        : [inputChannels === 2 ? Conversion.StereoMean : Conversion.Mono];
  }

  filter({ samples, start, frames, phase, kept, out, index }: Block): void {
    const k = this.kernel;
    if (k.loaded !== this.taps) {
      k.taps.set(this.taps);
      k.loaded = this.taps;
    }
    k.input.set(samples.subarray(start * this.inputChannels, (start + frames) * this.inputChannels));
    const span = this.span;
    for (let channel = 0; channel < this.outputChannels; channel++) {
      const tail = this.tails[channel];
      const conversion = this.conversions[channel];
      if (tail === undefined || conversion === undefined) continue;
      k.history.set(tail);
      k.convert(frames, conversion, HISTORY + span * 4);
      if (kept > 0) {
        k.filter(
          phase,
          kept,
          this.factor,
          this.taps.length * 4,
          OUTPUT + channel * 2,
          this.outputChannels * 2,
        );
      }
      tail.set(k.history.subarray(frames, frames + span));
    }
    out.set(k.output.subarray(0, kept * this.outputChannels), index);
  }
}
