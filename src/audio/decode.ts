import { BYTES_PER_SAMPLE, type SampleFormat } from "./format";
import { ALAW_TO_S16, MULAW_TO_S16 } from "./g711";

/**
 * Converts whole samples of any supported format into signed 16-bit samples (interleaving kept).
 * `bytes.length` must be a multiple of the sample size.
 */
export function toInt16(bytes: Buffer, format: SampleFormat): Int16Array {
  const n = bytes.length / BYTES_PER_SAMPLE[format];
  const out = new Int16Array(n);
  switch (format) {
    case "s16le":
      // Little-endian host (x86, ARM): the bytes are the samples, so one copy does it.
      Buffer.from(out.buffer).set(bytes);
      break;
    case "u8":
      for (let i = 0; i < n; i++) out[i] = ((bytes[i] ?? 128) - 128) << 8;
      break;
    case "s24le":
      // The top 16 of 24 bits: the dropped byte is below the 16-bit noise floor.
      for (let i = 0; i < n; i++) out[i] = bytes.readInt16LE(i * 3 + 1);
      break;
    case "s32le":
      for (let i = 0; i < n; i++) out[i] = bytes.readInt32LE(i * 4) >> 16;
      break;
    case "f32le":
      for (let i = 0; i < n; i++) out[i] = floatToInt16(bytes.readFloatLE(i * 4));
      break;
    case "f64le":
      for (let i = 0; i < n; i++) out[i] = floatToInt16(bytes.readDoubleLE(i * 8));
      break;
    case "mulaw":
      for (let i = 0; i < n; i++) out[i] = MULAW_TO_S16[bytes[i] ?? 0xff] ?? 0;
      break;
    case "alaw":
      for (let i = 0; i < n; i++) out[i] = ALAW_TO_S16[bytes[i] ?? 0xd5] ?? 0;
      break;
  }
  return out;
}

/**
 * Like toInt16, but s16le bytes at an even offset are read in place rather than copied: for a caller
 * that reads the samples at once and keeps none of them.
 */
export function int16View(bytes: Buffer, format: SampleFormat): Int16Array {
  if (format === "s16le" && bytes.byteOffset % 2 === 0) {
    return new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  }
  return toInt16(bytes, format);
}

function floatToInt16(x: number): number {
  if (!(x > -1)) return -32768; // also NaN
  if (x >= 1) return 32767;
  return Math.round(x * 32767);
}

/** Mixes interleaved samples down to one channel (the mean of the channels). */
export function downmix(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const frames = samples.length / channels;
  const out = new Int16Array(frames);
  if (channels === 2) {
    for (let f = 0, i = 0; f < frames; f++, i += 2) out[f] = ((samples[i] ?? 0) + (samples[i + 1] ?? 0)) >> 1;
    return out;
  }
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[f * channels + c] ?? 0;
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/** The little-endian bytes of 16-bit samples, without copying. */
export function int16Bytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}
