import { downmix, int16Bytes, toInt16 } from "./decode";
import { AudioInputError, bytesPerFrame, type PcmFormat } from "./format";
import { Resampler } from "./resampler";

export interface OutputFormat {
  sampleRate: number;
  /** "mono" mixes every input down to one channel; "keep" keeps mono or stereo as it comes. */
  channels: "mono" | "keep";
}

/**
 * Turns one input stream, of any supported format and chunked at any byte boundary, into PCM s16le
 * at the output rate and channel count. Holds at most one incomplete sample frame between pushes.
 */
export class PcmNormalizer {
  readonly outputChannels: 1 | 2;
  private readonly frameBytes: number;
  private carry: Buffer = Buffer.alloc(0);
  private readonly resampler: Resampler | undefined;

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
    this.resampler =
      input.sampleRate === output.sampleRate
        ? undefined
        : Resampler.acquire(this.outputChannels, input.sampleRate, output.sampleRate);
  }

  push(bytes: Buffer): Buffer {
    const all = this.carry.length ? Buffer.concat([this.carry, bytes]) : bytes;
    const whole = all.length - (all.length % this.frameBytes);
    this.carry = whole === all.length ? Buffer.alloc(0) : Buffer.from(all.subarray(whole));
    if (whole === 0) return Buffer.alloc(0);
    let samples = toInt16(all.subarray(0, whole), this.input.sampleFormat);
    if (this.outputChannels === 1) samples = downmix(samples, this.input.channels);
    const pcm = int16Bytes(samples);
    return this.resampler ? this.resampler.process(pcm) : pcm;
  }

  close(): void {
    this.resampler?.release();
  }
}
