/**
 * Streaming sample-rate conversion with the Speex resampler, compiled to WebAssembly by the npm
 * package speex-resampler. We drive its WebAssembly module directly rather than through the
 * package's `SpeexResampler` class, which sizes its output buffer by rounding and ignores how much
 * input Speex consumed (so it drops samples whenever Speex needs one more output slot), and never
 * frees a resampler. Here every input sample is consumed, and `release()` frees the native state.
 *
 * Quality 4 of 10: on speech it matches sox's own high-quality conversion (correlation above 0.999)
 * at well over twice the speed of the default 7 (bench/audio-in.ts measures it).
 */
export const RESAMPLER_QUALITY = 4;

interface SpeexModule {
  HEAPU8: Uint8Array;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _speex_resampler_init(
    channels: number,
    inRate: number,
    outRate: number,
    quality: number,
    errPtr: number,
  ): number;
  _speex_resampler_process_interleaved_int(
    state: number,
    inPtr: number,
    inLenPtr: number,
    outPtr: number,
    outLenPtr: number,
  ): number;
  _speex_resampler_destroy(state: number): void;
  getValue(ptr: number, type: "i32"): number;
  setValue(ptr: number, value: number, type: "i32"): void;
}

let speex: SpeexModule | undefined;
let ready: Promise<void> | undefined;

type Listener = (...args: unknown[]) => void;
const PROCESS_HOOKS = ["uncaughtException", "unhandledRejection"];

function processListeners(): Map<string, Set<Listener>> {
  return new Map(
    PROCESS_HOOKS.map((event) => [event, new Set(process.listeners(event as "exit") as Listener[])]),
  );
}

/** Loads the WebAssembly module once; every resampler waits for it. */
export function resamplerReady(): Promise<void> {
  if (!ready) {
    // Emscripten's glue hooks process-wide error events (and would print its whole source on any
    // unhandled rejection in Node-RED); the host's own handling is put back as it was.
    const before = processListeners();
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the package's own WebAssembly factory
    const factory = require("speex-resampler/app/speex_wasm") as { default: () => Promise<SpeexModule> };
    const loading = factory.default();
    for (const [event, listeners] of processListeners()) {
      for (const listener of listeners)
        if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
    ready = loading.then((m) => {
      speex = m;
    });
  }
  return ready;
}

/** Frames handed to the WebAssembly resampler at once (about 0.2 s at 44.1 kHz). */
const MAX_SLICE_FRAMES = 8192;

/** Bytes of WebAssembly memory the resamplers use (it only grows; a leak would show here). */
export function resamplerMemoryBytes(): number {
  return speex?.HEAPU8.length ?? 0;
}

function loaded(): SpeexModule {
  if (!speex) throw new Error("await resamplerReady() before creating a resampler");
  return speex;
}

export class Resampler {
  private readonly state: number;
  // Two 32-bit words: samples per channel in (then consumed), and room out (then written).
  private readonly lengths: number;
  private inPtr = 0;
  private inBytes = 0;
  private outPtr = 0;
  private outBytes = 0;
  private released = false;
  private readonly frameBytes: number;

  private constructor(
    channels: number,
    private readonly inRate: number,
    private readonly outRate: number,
    quality: number,
  ) {
    const m = loaded();
    this.frameBytes = channels * 2;
    this.lengths = m._malloc(8);
    this.state = m._speex_resampler_init(channels, inRate, outRate, quality, this.lengths);
    const err = m.getValue(this.lengths, "i32");
    if (!this.state || err !== 0) {
      m._free(this.lengths);
      throw new Error(
        `the Speex resampler refused ${inRate} Hz to ${outRate} Hz, ${channels} channels (error ${err})`,
      );
    }
  }

  /** A resampler for one stream; needs `await resamplerReady()` first. Other qualities are for the bench. */
  static acquire(channels: number, inRate: number, outRate: number, quality = RESAMPLER_QUALITY): Resampler {
    return new Resampler(channels, inRate, outRate, quality);
  }

  /** Interleaved s16le in (whole sample frames), interleaved s16le out at the new rate. */
  process(pcm: Buffer): Buffer {
    if (pcm.length === 0 || this.released) return Buffer.alloc(0);
    // In bounded slices: WebAssembly memory only ever grows, so one long recording sent as a single
    // Buffer would otherwise keep its size reserved for the life of the process.
    const sliceBytes = MAX_SLICE_FRAMES * this.frameBytes;
    if (pcm.length <= sliceBytes) return this.processSlice(pcm);
    const out: Buffer[] = [];
    for (let at = 0; at < pcm.length; at += sliceBytes) {
      out.push(this.processSlice(pcm.subarray(at, Math.min(pcm.length, at + sliceBytes))));
    }
    return Buffer.concat(out);
  }

  private processSlice(pcm: Buffer): Buffer {
    const m = loaded();
    const frames = pcm.length / this.frameBytes;
    const roomFrames = Math.ceil((frames * this.outRate) / this.inRate) + 8;
    this.reserve(pcm.length, roomFrames * this.frameBytes);
    m.HEAPU8.set(pcm, this.inPtr);
    const out: Buffer[] = [];
    let consumed = 0;
    while (consumed < frames) {
      m.setValue(this.lengths, frames - consumed, "i32");
      m.setValue(this.lengths + 4, roomFrames, "i32");
      const err = m._speex_resampler_process_interleaved_int(
        this.state,
        this.inPtr + consumed * this.frameBytes,
        this.lengths,
        this.outPtr,
        this.lengths + 4,
      );
      if (err !== 0) throw new Error(`the Speex resampler failed (error ${err})`);
      const used = m.getValue(this.lengths, "i32");
      const written = m.getValue(this.lengths + 4, "i32");
      // HEAPU8 is read afresh: the module's memory may have grown and been replaced.
      out.push(Buffer.from(m.HEAPU8.subarray(this.outPtr, this.outPtr + written * this.frameBytes)));
      consumed += used;
      if (used === 0 && written === 0) break;
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** Frees the native resampler and its buffers. */
  release(): void {
    if (this.released) return;
    this.released = true;
    const m = loaded();
    m._speex_resampler_destroy(this.state);
    m._free(this.lengths);
    if (this.inPtr) m._free(this.inPtr);
    if (this.outPtr) m._free(this.outPtr);
  }

  private reserve(inBytes: number, outBytes: number): void {
    const m = loaded();
    if (inBytes > this.inBytes) {
      if (this.inPtr) m._free(this.inPtr);
      this.inPtr = m._malloc(inBytes);
      this.inBytes = inBytes;
    }
    if (outBytes > this.outBytes) {
      if (this.outPtr) m._free(this.outPtr);
      this.outPtr = m._malloc(outBytes);
      this.outBytes = outBytes;
    }
  }
}
