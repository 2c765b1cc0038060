import type { FileProblemCode } from "./file";

/** How samples are stored in the bytes of an input. */
export type SampleFormat = "u8" | "s16le" | "s24le" | "s32le" | "f32le" | "f64le" | "mulaw" | "alaw";

export const BYTES_PER_SAMPLE: Readonly<Record<SampleFormat, number>> = {
  u8: 1,
  s16le: 2,
  s24le: 3,
  s32le: 4,
  f32le: 4,
  f64le: 8,
  mulaw: 1,
  alaw: 1,
};

export interface PcmFormat {
  sampleRate: number;
  channels: number;
  sampleFormat: SampleFormat;
}

/** Rates an input may have: telephony 8 kHz up to studio 192 kHz. */
export const INPUT_RATE = { min: 8000, max: 192000 } as const;
/** Channels an input may have (interleaved). */
export const MAX_INPUT_CHANNELS = 8;

export type AudioErrorCode =
  | "NO_FORMAT"
  | "BAD_FORMAT"
  | "UNSUPPORTED_ENCODING"
  | "RATE_OUT_OF_RANGE"
  | "CORRUPT_WAV"
  | "TRUNCATED_WAV"
  | "NOT_AUDIO"
  | "FILE_NOT_FOUND"
  | "FFMPEG_MISSING"
  | "DECODE_FAILED"
  | "TOO_MANY_SESSIONS"
  | "TOO_FAR_AHEAD"
  | "QUEUE_FULL"
  | "MESSAGE_TOO_LARGE"
  | "BAD_SESSION_ID"
  | FileProblemCode;

/**
 * The largest Buffer one message may carry (a WAV, raw PCM or a compressed recording): 256 MiB, about
 * 2 hours of 16 kHz mono 16-bit audio. Longer recordings go by file path, which is read in pieces.
 */
export const MAX_MESSAGE_BYTES = 256 * 2 ** 20;

/** A problem with the audio a flow sent; the message says what was wrong and what is accepted. */
export class AudioInputError extends Error {
  override readonly name = "AudioInputError";
  constructor(
    readonly code: AudioErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function bytesPerFrame(format: PcmFormat): number {
  return BYTES_PER_SAMPLE[format.sampleFormat] * format.channels;
}

/** Checks a format's numbers; throws AudioInputError naming the field and the accepted range. */
export function checkPcmFormat(format: PcmFormat, source: string): PcmFormat {
  const { sampleRate, channels } = format;
  if (!Number.isInteger(sampleRate) || sampleRate < INPUT_RATE.min || sampleRate > INPUT_RATE.max) {
    throw new AudioInputError(
      "RATE_OUT_OF_RANGE",
      `${source}: sample rate ${String(sampleRate)} Hz is not supported; accepted: whole numbers from ${INPUT_RATE.min} to ${INPUT_RATE.max} Hz`,
    );
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > MAX_INPUT_CHANNELS) {
    throw new AudioInputError(
      "BAD_FORMAT",
      `${source}: ${String(channels)} channels is not supported; accepted: 1 to ${MAX_INPUT_CHANNELS} interleaved channels`,
    );
  }
  return format;
}
