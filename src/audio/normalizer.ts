import { downmix, int16Bytes, int16View, toInt16 } from "./decode";
import { Decimator, decimationFactor } from "./decimator";
import { AudioInputError, bytesPerFrame, type PcmFormat } from "./format";
import { Resampler } from "./resampler";

export interface OutputFormat {
  sampleRate: number;
  /** "mono" mixes every input down to one channel; "keep" keeps mono or stereo as it comes. */
  channels: "mono" | "keep";
}

const EMPTY = Buffer.alloc(0);

/**
 * Turns one input stream, of any supported format and chunked at any byte boundary, into PCM s16le
 * at the output rate and channel count. Holds at most one incomplete sample frame between pushes.
 */
export class PcmNormalizer {
  readonly outputChannels: 1 | 2;
  private readonly frameBytes: number;
  private carry: Buffer = EMPTY;
  private readonly converter: RateConverter | undefined;
  /** s16le in, same rate and channels out: the bytes are already the output. */
  private readonly passThrough: boolean;
  /**
   * Every Buffer push() and flush() return was made by this push (by the converter or the sample
   * conversion), is referenced nowhere else and is never written again: a framer may hand views of it
   * on instead of copies. Not so when passing through, where the output is the caller's bytes.
   */
  readonly outputOwned: boolean;

  constructor(
    readonly input: PcmFormat,
    readonly output: OutputFormat,
  ) {
    if (output.channels === "keep" && input.channels > 2) {
      throw new AudioInputError(
        "BAD_FORMAT",
        `audio has ${input.channels} channels; with "keep channels" accepted: 1 or 2 (or choose "mono")`,
      );
    }
    this.outputChannels = output.channels === "mono" ? 1 : (input.channels as 1 | 2);
    this.frameBytes = bytesPerFrame(input);
    this.converter = rateConverter(input, output.sampleRate, this.outputChannels);
    this.passThrough =
      !this.converter && input.sampleFormat === "s16le" && input.channels === this.outputChannels;
    this.outputOwned = !this.passThrough;
  }

  push(bytes: Buffer): Buffer {
    const all = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const whole = all.length - (all.length % this.frameBytes);
    this.carry = whole === all.length ? EMPTY : Buffer.from(all.subarray(whole));
    if (whole === 0) return EMPTY;
    const bytesIn = all.subarray(0, whole);
    // Live 16 kHz s16le mono, the common case, is not copied here: the framer copies it once into frames.
    if (this.passThrough) return bytesIn;
    // A converter reads its input at once and keeps none of it, so it may read the bytes in place.
    if (this.converter) return this.converter.process(int16View(bytesIn, this.input.sampleFormat));
    const samples = toInt16(bytesIn, this.input.sampleFormat);
    return int16Bytes(this.outputChannels === 1 ? downmix(samples, this.input.channels) : samples);
  }

  /**
   * The end of the input: the audio a rate converter still holds (it runs a few milliseconds behind),
   * followed by a little silence. Empty when there is no converter.
   */
  flush(): Buffer {
    return this.converter?.flush() ?? EMPTY;
  }

  close(): void {
    this.converter?.release();
  }
}

interface RateConverter {
  /** Interleaved input samples in, s16le at the output rate and channel count out. */
  process(samples: Int16Array): Buffer;
  /** What the converter still holds, at the end of the input. */
  flush(): Buffer;
  release(): void;
}

// Speex at quality 4 holds about 2–2.5 ms of input (half its filter); silence of this length pushes it out.
const SPEEX_FLUSH_MS = 4;

/**
 * Our decimator where the rates differ by a whole factor (48 → 16 kHz and the like), mixing down as it
 * filters: twice as fast as Speex was there. The Speex resampler, after the mix-down, for the rest.
 */
function rateConverter(input: PcmFormat, outRate: number, outputChannels: 1 | 2): RateConverter | undefined {
  if (input.sampleRate === outRate) return undefined;
  const factor = decimationFactor(input.sampleRate, outRate);
  if (factor) {
    const decimator = new Decimator(factor, input.channels, outputChannels);
    return {
      process: (samples) => int16Bytes(decimator.process(samples)),
      flush: () => int16Bytes(decimator.flush()),
      release: () => undefined,
    };
  }
  const resampler = Resampler.acquire(outputChannels, input.sampleRate, outRate);
  const silenceFrames = Math.ceil((input.sampleRate * SPEEX_FLUSH_MS) / 1000);
  return {
    process: (samples) =>
      resampler.process(int16Bytes(outputChannels === 1 ? downmix(samples, input.channels) : samples)),
    flush: () => resampler.process(Buffer.alloc(silenceFrames * outputChannels * 2)),
    release: () => resampler.release(),
  };
}
