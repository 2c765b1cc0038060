import { AudioInputError, bytesPerFrame, checkPcmFormat, type PcmFormat, type SampleFormat } from "./format";

const WAVE_FORMAT = {
  PCM: 0x0001,
  IEEE_FLOAT: 0x0003,
  ALAW: 0x0006,
  MULAW: 0x0007,
  EXTENSIBLE: 0xfffe,
} as const;
// Writers that stream a WAV before they know its length put 0 or 0xFFFFFFFF there.
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);

export interface WavAudio {
  format: PcmFormat;
  /** The sample bytes of the data chunk (a view into the input). */
  data: Buffer;
}

export function isWav(buffer: Buffer): boolean {
  return (
    buffer.length >= 12 &&
    buffer.toString("latin1", 0, 4) === "RIFF" &&
    buffer.toString("latin1", 8, 12) === "WAVE"
  );
}

const ACCEPTED =
  "accepted: PCM 8/16/24/32-bit integer, 32/64-bit float, G.711 mu-law or A-law, including WAVE_FORMAT_EXTENSIBLE";

export interface WavHeader {
  format: PcmFormat;
  /** Where the sample bytes start. */
  dataOffset: number;
  /** Bytes of samples the header announces; undefined when the writer did not know (a stream). */
  dataSize: number | undefined;
}

/**
 * Reads a RIFF/WAVE header up to the start of the data chunk, skipping any chunks before it
 * (LIST, fact, ...). Returns undefined while the buffer does not yet hold the whole header.
 */
export function parseWavHeader(buffer: Buffer): WavHeader | undefined {
  if (buffer.length < 12) return undefined;
  if (!isWav(buffer)) throw corrupt("it does not start with a RIFF/WAVE header");
  let fmt: { code: number; channels: number; rate: number; bits: number } | undefined;
  let offset = 12;
  while (offset + 8 <= buffer.length) {
    const id = buffer.toString("latin1", offset, offset + 4);
    const size = buffer.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === "data") {
      if (!fmt) throw corrupt("its data chunk comes before the fmt chunk");
      const format = checkPcmFormat(
        { sampleRate: fmt.rate, channels: fmt.channels, sampleFormat: sampleFormatOf(fmt.code, fmt.bits) },
        "WAV",
      );
      return { format, dataOffset: body, dataSize: UNKNOWN_SIZES.has(size) ? undefined : size };
    }
    if (body + size > buffer.length) return undefined;
    if (id === "fmt ") {
      if (size < 16) throw corrupt("its fmt chunk is shorter than 16 bytes");
      fmt = {
        code: buffer.readUInt16LE(body),
        channels: buffer.readUInt16LE(body + 2),
        rate: buffer.readUInt32LE(body + 4),
        bits: buffer.readUInt16LE(body + 14),
      };
      if (fmt.code === WAVE_FORMAT.EXTENSIBLE) {
        if (size < 40) throw corrupt("its WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes");
        // The sub-format GUID starts with the plain format code.
        fmt.code = buffer.readUInt16LE(body + 24);
      }
    }
    // Chunks are word-aligned: an odd size is followed by a pad byte.
    offset = body + size + (size % 2);
  }
  return undefined;
}

/** Parses a whole RIFF/WAVE file: its format and the sample bytes of its data chunk. */
export function parseWav(buffer: Buffer): WavAudio {
  const header = parseWavHeader(buffer);
  if (!header)
    throw corrupt(buffer.length < 44 ? "it is too short to hold a header" : "it has no data chunk");
  const available = buffer.length - header.dataOffset;
  const length = header.dataSize ?? available;
  if (length > available) {
    throw new AudioInputError(
      "TRUNCATED_WAV",
      `WAV is truncated: its header announces ${length} bytes of audio but only ${available} follow; send the whole file`,
    );
  }
  const frame = bytesPerFrame(header.format);
  return {
    format: header.format,
    data: buffer.subarray(header.dataOffset, header.dataOffset + length - (length % frame)),
  };
}

function sampleFormatOf(code: number, bits: number): SampleFormat {
  if (code === WAVE_FORMAT.PCM) {
    const byBits: Partial<Record<number, SampleFormat>> = { 8: "u8", 16: "s16le", 24: "s24le", 32: "s32le" };
    const f = byBits[bits];
    if (f) return f;
  } else if (code === WAVE_FORMAT.IEEE_FLOAT) {
    if (bits === 32) return "f32le";
    if (bits === 64) return "f64le";
  } else if (code === WAVE_FORMAT.MULAW && bits === 8) {
    return "mulaw";
  } else if (code === WAVE_FORMAT.ALAW && bits === 8) {
    return "alaw";
  }
  throw new AudioInputError(
    "UNSUPPORTED_ENCODING",
    `WAV encoding not supported (format code 0x${code.toString(16).padStart(4, "0")}, ${bits} bits); ${ACCEPTED}`,
  );
}

function corrupt(why: string): AudioInputError {
  return new AudioInputError("CORRUPT_WAV", `WAV is corrupt: ${why}`);
}
