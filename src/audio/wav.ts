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

/** The largest fmt chunk read (a plain one is 16 bytes, WAVE_FORMAT_EXTENSIBLE 40). */
export const MAX_WAV_FMT_BYTES = 1024;
/** Chunks before the data chunk (LIST, fact, bext, JUNK…): real files have a handful. */
export const MAX_WAV_CHUNKS = 256;

interface Fmt {
  code: number;
  channels: number;
  rate: number;
  bits: number;
}

/**
 * Reads a RIFF/WAVE header that arrives in pieces, up to the start of the data chunk. The chunks
 * before it (LIST, fact, bext, JUNK…) are skipped as they pass, never held, so a file with a huge
 * chunk before its audio costs no memory; only a chunk header or the fmt chunk is held between
 * pieces. Work is linear in the bytes pushed, and the number of chunks is bounded.
 */
export class WavHeaderReader {
  // Bytes of a chunk header (or the RIFF header, or the fmt body) not yet complete.
  private held: Buffer = Buffer.alloc(0);
  // Bytes of the current chunk's body (and pad byte) still to pass over.
  private skip = 0;
  // The fmt chunk's body is being gathered into `held`: its size.
  private fmtSize = 0;
  private riff = false;
  private fmt: Fmt | undefined;
  private chunks = 0;
  // Bytes pushed so far, to tell where the data starts.
  private consumed = 0;

  /**
   * Takes the next bytes. Returns the header, and the bytes after it (the start of the audio), once
   * the data chunk begins; undefined while more is needed. Throws AudioInputError when it is not a
   * WAV, or corrupt.
   */
  push(bytes: Buffer): { header: WavHeader; rest: Buffer } | undefined {
    let at = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, bytes.length - at);
        this.skip -= n;
        at += n;
        if (this.skip > 0) break;
      }
      const need = !this.riff ? 12 : this.fmtSize > 0 ? this.fmtSize : 8;
      const missing = need - this.held.length;
      if (bytes.length - at < missing) {
        this.hold(bytes.subarray(at));
        break;
      }
      // Whole: from the bytes in place when nothing is held (no copy), else joined with what is.
      const unit =
        this.held.length === 0
          ? bytes.subarray(at, at + need)
          : Buffer.concat([this.held, bytes.subarray(at, at + missing)]);
      at += missing;
      this.held = Buffer.alloc(0);
      const data = this.take(unit);
      if (data) {
        const dataOffset = this.consumed + at;
        this.consumed += bytes.length;
        return { header: { ...data, dataOffset }, rest: bytes.subarray(at) };
      }
    }
    this.consumed += bytes.length;
    return undefined;
  }

  private hold(bytes: Buffer): void {
    if (bytes.length > 0) this.held = Buffer.concat([this.held, bytes]);
  }

  /** Reads one whole unit (RIFF header, chunk header or fmt body); the header once data begins. */
  private take(unit: Buffer): Omit<WavHeader, "dataOffset"> | undefined {
    if (!this.riff) {
      if (!isWav(unit)) throw corrupt("it does not start with a RIFF/WAVE header");
      this.riff = true;
      return undefined;
    }
    if (this.fmtSize > 0) {
      this.fmt = readFmt(unit);
      // The pad byte after an odd-sized chunk.
      this.skip = unit.length % 2;
      this.fmtSize = 0;
      return undefined;
    }
    if (++this.chunks > MAX_WAV_CHUNKS) {
      throw corrupt(`it has more than ${MAX_WAV_CHUNKS} chunks before its audio`);
    }
    const id = unit.toString("latin1", 0, 4);
    const size = unit.readUInt32LE(4);
    if (id === "data") {
      if (!this.fmt) throw corrupt("its data chunk comes before the fmt chunk");
      const fmt = this.fmt;
      const format = checkPcmFormat(
        { sampleRate: fmt.rate, channels: fmt.channels, sampleFormat: sampleFormatOf(fmt.code, fmt.bits) },
        "WAV",
      );
      return { format, dataSize: UNKNOWN_SIZES.has(size) ? undefined : size };
    }
    if (id === "fmt ") {
      if (size < 16) throw corrupt("its fmt chunk is shorter than 16 bytes");
      if (size > MAX_WAV_FMT_BYTES) throw corrupt(`its fmt chunk is longer than ${MAX_WAV_FMT_BYTES} bytes`);
      this.fmtSize = size;
      return undefined;
    }
    // Chunks are word-aligned: an odd size is followed by a pad byte.
    this.skip = size + (size % 2);
    return undefined;
  }
}

function readFmt(body: Buffer): Fmt {
  const fmt: Fmt = {
    code: body.readUInt16LE(0),
    channels: body.readUInt16LE(2),
    rate: body.readUInt32LE(4),
    bits: body.readUInt16LE(14),
  };
  if (fmt.code === WAVE_FORMAT.EXTENSIBLE) {
    if (body.length < 40) throw corrupt("its WAVE_FORMAT_EXTENSIBLE fmt chunk is shorter than 40 bytes");
    // The sub-format GUID starts with the plain format code.
    fmt.code = body.readUInt16LE(24);
  }
  return fmt;
}

/**
 * Reads a RIFF/WAVE header up to the start of the data chunk, skipping any chunks before it
 * (LIST, fact, ...). Returns undefined while the buffer does not yet hold the whole header.
 */
export function parseWavHeader(buffer: Buffer): WavHeader | undefined {
  return new WavHeaderReader().push(buffer)?.header;
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
      `WAV is truncated: its header announces ${length} bytes of audio but only ${available} follow; accepted: a whole WAV file`,
    );
  }
  const frame = bytesPerFrame(header.format);
  return {
    format: header.format,
    data: buffer.subarray(header.dataOffset, header.dataOffset + length - (length % frame)),
  };
}

const PCM_BY_BITS: ReadonlyMap<number, SampleFormat> = new Map([
  [8, "u8"],
  [16, "s16le"],
  [24, "s24le"],
  [32, "s32le"],
]);

function sampleFormatOf(code: number, bits: number): SampleFormat {
  if (code === WAVE_FORMAT.PCM) {
    const f = PCM_BY_BITS.get(bits);
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
  return new AudioInputError("CORRUPT_WAV", `WAV is corrupt: ${why}; accepted: a whole RIFF/WAVE file`);
}
