import {
  AudioInputError,
  INPUT_RATE,
  MAX_INPUT_CHANNELS,
  MAX_MESSAGE_BYTES,
  type PcmFormat,
  type SampleFormat,
} from "./format";
import { checkPath, fileProblemText, sizeText } from "./file";
import { CONTAINER_NAMES, describeNonAudio, sniffContainer } from "./sniff";
import { isWav, parseWav } from "./wav";

/** The parts of a Node-RED message audio-in reads. */
export interface AudioMessage {
  payload?: unknown;
  topic?: unknown;
  control?: unknown;
  audio?: unknown;
  _session?: unknown;
  rate?: unknown;
  bits?: unknown;
  channels?: unknown;
  encoding?: unknown;
}

export type ClassifiedInput =
  | { kind: "pcm"; format: PcmFormat; bytes: Buffer; recording: boolean }
  | { kind: "compressed"; bytes: Buffer; what: string }
  | { kind: "file"; path: string }
  | { kind: "none" };

export interface Classified {
  sessionId: string;
  input: ClassifiedInput;
  /** The message asks to end the session (after its audio, if it carries any). */
  end: boolean;
}

/**
 * Encodings named in msg.audio.encoding (contract-1 style). A Map, not an object: a flow's
 * "toString" or "__proto__" must not find something.
 */
const CONTRACT_ENCODINGS: ReadonlyMap<string, SampleFormat> = new Map([
  ["pcm_s16le", "s16le"],
  ["pcm_s24le", "s24le"],
  ["pcm_s32le", "s32le"],
  ["pcm_f32le", "f32le"],
  ["pcm_u8", "u8"],
  ["pcm_mulaw", "mulaw"],
  ["pcm_alaw", "alaw"],
]);

/** sox-style msg.encoding and msg.bits (little-endian), keyed "encoding/bits". */
const SOX_ENCODINGS: ReadonlyMap<string, SampleFormat> = new Map([
  ["signed-integer/16", "s16le"],
  ["signed-integer/24", "s24le"],
  ["signed-integer/32", "s32le"],
  ["unsigned-integer/8", "u8"],
  ["floating-point/32", "f32le"],
  ["floating-point/64", "f64le"],
  ["mu-law/8", "mulaw"],
  ["a-law/8", "alaw"],
]);
const SOX_ACCEPTED =
  "signed-integer 16/24/32, unsigned-integer 8, floating-point 32/64, mu-law 8, a-law 8 (little-endian)";

/** Times a message may carry in msg.audio (offsetMs, durationMs): up to one year, in milliseconds. */
export const MAX_AUDIO_TIME_MS = 365 * 24 * 3600 * 1000;

const ACCEPTED_INPUT =
  "accepted: a WAV file as a Buffer; raw PCM as a Buffer with msg.audio {sampleRate, channels, encoding} or sox fields " +
  "{rate, bits, channels, encoding}, or with the node's raw input format set; " +
  `${CONTAINER_NAMES} as a Buffer; ` +
  "or a file path as a string";

/** Picks the session a message belongs to: msg.audio.sessionId, msg.topic, or the websocket session. */
export function sessionIdOf(msg: AudioMessage): string {
  const audio = isObject(msg.audio) ? msg.audio : {};
  for (const candidate of [
    audio.sessionId,
    msg.topic,
    isObject(msg._session) ? msg._session.id : undefined,
  ]) {
    if (typeof candidate === "string" && candidate !== "") return candidate;
    if (typeof candidate === "number") return String(candidate);
  }
  return "default";
}

/**
 * The audio bytes of a message that carries no format of its own (no WAV header, no format fields):
 * in a session that is decoding a compressed stream, such a piece continues that stream.
 */
export function unlabelledBytes(msg: AudioMessage): Buffer | undefined {
  const audio = isObject(msg.audio) ? msg.audio : {};
  if (!isBinary(msg.payload) || msg.payload.byteLength === 0) return undefined;
  if (audio.sampleRate !== undefined || audio.encoding !== undefined || msg.rate !== undefined)
    return undefined;
  const bytes = checkSize(toBuffer(msg.payload));
  return isWav(bytes) ? undefined : bytes;
}

export function asksToEnd(msg: AudioMessage): boolean {
  const audio = isObject(msg.audio) ? msg.audio : {};
  return audio.end === true || msg.control === "stop" || msg.control === "end";
}

/** Works out what a message carries; throws AudioInputError saying what was wrong and what is accepted. */
export function classify(msg: AudioMessage, rawDefault: PcmFormat | undefined): Classified {
  const audio = isObject(msg.audio) ? msg.audio : {};
  const end = asksToEnd(msg);
  const sessionId = sessionIdOf(msg);
  const payload = msg.payload;
  checkTimes(audio);

  if (payload === undefined || payload === null || (isBinary(payload) && byteLength(payload) === 0)) {
    if (end) return { sessionId, input: { kind: "none" }, end };
    throw new AudioInputError("NOT_AUDIO", `msg.payload is empty; ${ACCEPTED_INPUT}`);
  }
  if (typeof payload === "string") {
    if (payload.trim() === "")
      throw new AudioInputError("NOT_AUDIO", `msg.payload is an empty string; ${ACCEPTED_INPUT}`);
    // A path that cannot be one (a NUL in it, too long) is refused before a session is opened for it.
    const bad = checkPath(payload);
    if (bad) throw new AudioInputError(bad.code, fileProblemText(bad));
    return { sessionId, input: { kind: "file", path: payload }, end };
  }
  if (!isBinary(payload)) {
    throw new AudioInputError(
      "NOT_AUDIO",
      `msg.payload is ${describe(payload)}, not audio; ${ACCEPTED_INPUT}`,
    );
  }
  const bytes = checkSize(toBuffer(payload));
  if (isWav(bytes)) {
    const wav = parseWav(bytes);
    return { sessionId, input: { kind: "pcm", format: wav.format, bytes: wav.data, recording: true }, end };
  }
  const declared = declaredFormat(msg, audio);
  if (declared) return { sessionId, input: { kind: "pcm", format: declared, bytes, recording: false }, end };
  const container = sniffContainer(bytes);
  if (container)
    return { sessionId, input: { kind: "compressed", bytes, what: `${container.toUpperCase()} audio` }, end };
  if (rawDefault)
    return { sessionId, input: { kind: "pcm", format: rawDefault, bytes, recording: false }, end };
  // Not WAV, no known container, no raw PCM declared: refused, never taken for raw PCM. The error
  // names the kind of data found (text, an image), never its content.
  const found = describeNonAudio(bytes);
  throw new AudioInputError(
    found === "unrecognised binary data" ? "NO_FORMAT" : "NOT_AUDIO",
    `msg.payload is a Buffer of ${found} with no format information; ${ACCEPTED_INPUT}`,
  );
}

function declaredFormat(msg: AudioMessage, audio: Record<string, unknown>): PcmFormat | undefined {
  if (audio.sampleRate !== undefined || audio.encoding !== undefined) {
    const encoding = audio.encoding ?? "pcm_s16le";
    const sampleFormat = typeof encoding === "string" ? CONTRACT_ENCODINGS.get(encoding) : undefined;
    if (!sampleFormat) {
      // The value is not echoed: whatever a flow puts in a field could be an identifier.
      throw new AudioInputError(
        "UNSUPPORTED_ENCODING",
        `msg.audio.encoding is not a supported encoding; accepted: ${[...CONTRACT_ENCODINGS.keys()].join(", ")}`,
      );
    }
    return {
      sampleRate: rateField(audio.sampleRate, "msg.audio.sampleRate"),
      channels: channelsField(audio.channels, "msg.audio.channels"),
      sampleFormat,
    };
  }
  if (msg.rate !== undefined) {
    return {
      sampleRate: rateField(msg.rate, "msg.rate"),
      channels: channelsField(msg.channels, "msg.channels"),
      sampleFormat: soxFormat(msg.encoding, msg.bits),
    };
  }
  return undefined;
}

function soxFormat(encoding: unknown, bits: unknown): SampleFormat {
  const b = bits === undefined ? 16 : numberField(bits, "msg.bits", "bits per sample");
  const e = encoding ?? "signed-integer";
  const f = typeof e === "string" ? SOX_ENCODINGS.get(`${e}/${b}`) : undefined;
  if (!f) {
    throw new AudioInputError(
      "UNSUPPORTED_ENCODING",
      `msg.encoding with msg.bits is not a supported combination; accepted: ${SOX_ACCEPTED}`,
    );
  }
  return f;
}

/**
 * A number a flow sent: a finite JavaScript number, not a string that looks like one. Values are not
 * echoed in the error (a field can hold anything, an identifier too).
 */
function numberField(value: unknown, name: string, unit: string): number {
  if (typeof value !== "number") {
    throw new AudioInputError("BAD_FORMAT", `${name} must be a number (${unit}), not ${describe(value)}`);
  }
  if (!Number.isFinite(value)) {
    throw new AudioInputError("BAD_FORMAT", `${name} must be a finite number (${unit}), not NaN or Infinity`);
  }
  return value;
}

function rateField(value: unknown, name: string): number {
  const n = numberField(value, name, "samples per second");
  if (!Number.isInteger(n) || n < INPUT_RATE.min || n > INPUT_RATE.max) {
    throw new AudioInputError(
      "RATE_OUT_OF_RANGE",
      `${name} is not a supported sample rate; accepted: whole numbers from ${INPUT_RATE.min} to ${INPUT_RATE.max} (Hz)`,
    );
  }
  return n;
}

function channelsField(value: unknown, name: string): number {
  if (value === undefined) return 1;
  const n = numberField(value, name, "interleaved channels");
  if (!Number.isInteger(n) || n < 1 || n > MAX_INPUT_CHANNELS) {
    throw new AudioInputError(
      "BAD_FORMAT",
      `${name} is not a supported channel count; accepted: whole numbers from 1 to ${MAX_INPUT_CHANNELS}`,
    );
  }
  return n;
}

/**
 * The contract-1 fields audio-in does not use on input (it numbers and times its own output) are
 * still checked when present, so that a bad value is reported where it enters, not carried on.
 */
function checkTimes(audio: Record<string, unknown>): void {
  for (const name of ["offsetMs", "durationMs"] as const) {
    const value = audio[name];
    if (value === undefined) continue;
    const n = numberField(value, `msg.audio.${name}`, "milliseconds");
    if (n < 0 || n > MAX_AUDIO_TIME_MS) {
      throw new AudioInputError(
        "BAD_FORMAT",
        `msg.audio.${name} is out of range; accepted: milliseconds from 0 to ${MAX_AUDIO_TIME_MS} (one year)`,
      );
    }
  }
  if (audio.seq !== undefined) {
    const n = numberField(audio.seq, "msg.audio.seq", "a chunk number");
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new AudioInputError(
        "BAD_FORMAT",
        "msg.audio.seq is out of range; accepted: whole numbers from 0",
      );
    }
  }
}

/** A Buffer larger than MAX_MESSAGE_BYTES is refused: longer recordings go by file path. */
function checkSize(bytes: Buffer): Buffer {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new AudioInputError(
      "MESSAGE_TOO_LARGE",
      `msg.payload holds more than ${sizeText(MAX_MESSAGE_BYTES)} of audio, the limit for one message; ` +
        "accepted: send a longer recording as a file path, or live audio in pieces",
    );
  }
  return bytes;
}

type Binary = Buffer | ArrayBuffer | ArrayBufferView;

function isBinary(value: unknown): value is Binary {
  return Buffer.isBuffer(value) || value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function byteLength(value: Binary): number {
  return value.byteLength;
}

function toBuffer(value: Binary): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") return "a string";
  return `a ${typeof value}`;
}
