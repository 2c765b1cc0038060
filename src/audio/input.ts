import { AudioInputError, checkPcmFormat, type PcmFormat, type SampleFormat } from "./format";
import { sniffContainer } from "./sniff";
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

/** Encodings named in msg.audio.encoding (contract-1 style). */
const CONTRACT_ENCODINGS: Readonly<Record<string, SampleFormat>> = {
  pcm_s16le: "s16le",
  pcm_s24le: "s24le",
  pcm_s32le: "s32le",
  pcm_f32le: "f32le",
  pcm_u8: "u8",
  pcm_mulaw: "mulaw",
  pcm_alaw: "alaw",
};

const ACCEPTED_INPUT =
  "accepted: a WAV file as a Buffer; raw PCM as a Buffer with msg.audio {sampleRate, channels, encoding} or sox fields " +
  "{rate, bits, channels, encoding}, or with the node's raw input format set; MP3, Ogg/Opus, WebM, FLAC or M4A as a Buffer; " +
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
  const bytes = toBuffer(msg.payload);
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

  if (payload === undefined || payload === null || (isBinary(payload) && byteLength(payload) === 0)) {
    if (end) return { sessionId, input: { kind: "none" }, end };
    throw new AudioInputError("NOT_AUDIO", `msg.payload is empty; ${ACCEPTED_INPUT}`);
  }
  if (typeof payload === "string") {
    if (payload.trim() === "")
      throw new AudioInputError("NOT_AUDIO", `msg.payload is an empty string; ${ACCEPTED_INPUT}`);
    return { sessionId, input: { kind: "file", path: payload }, end };
  }
  if (!isBinary(payload)) {
    throw new AudioInputError(
      "NOT_AUDIO",
      `msg.payload is ${describe(payload)}, not audio; ${ACCEPTED_INPUT}`,
    );
  }
  const bytes = toBuffer(payload);
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
  throw new AudioInputError(
    "NO_FORMAT",
    `msg.payload is a Buffer with no format information; ${ACCEPTED_INPUT}`,
  );
}

function declaredFormat(msg: AudioMessage, audio: Record<string, unknown>): PcmFormat | undefined {
  if (audio.sampleRate !== undefined || audio.encoding !== undefined) {
    const encoding = audio.encoding ?? "pcm_s16le";
    const sampleFormat = typeof encoding === "string" ? CONTRACT_ENCODINGS[encoding] : undefined;
    if (!sampleFormat) {
      throw new AudioInputError(
        "UNSUPPORTED_ENCODING",
        `msg.audio.encoding ${JSON.stringify(encoding)} is not supported; accepted: ${Object.keys(CONTRACT_ENCODINGS).join(", ")}`,
      );
    }
    return checkPcmFormat(
      {
        sampleRate: numberField(audio.sampleRate, "msg.audio.sampleRate"),
        channels: channelsField(audio.channels, "msg.audio.channels"),
        sampleFormat,
      },
      "msg.audio",
    );
  }
  if (msg.rate !== undefined) {
    return checkPcmFormat(
      {
        sampleRate: numberField(msg.rate, "msg.rate"),
        channels: channelsField(msg.channels, "msg.channels"),
        sampleFormat: soxFormat(msg.encoding, msg.bits),
      },
      "msg.rate/bits/channels/encoding",
    );
  }
  return undefined;
}

function soxFormat(encoding: unknown, bits: unknown): SampleFormat {
  const b = bits === undefined ? 16 : Number(bits);
  const e = encoding ?? "signed-integer";
  const table: Readonly<Record<string, Partial<Record<number, SampleFormat>>>> = {
    "signed-integer": { 16: "s16le", 24: "s24le", 32: "s32le" },
    "unsigned-integer": { 8: "u8" },
    "floating-point": { 32: "f32le", 64: "f64le" },
    "mu-law": { 8: "mulaw" },
    "a-law": { 8: "alaw" },
  };
  const f = typeof e === "string" ? table[e]?.[b] : undefined;
  if (!f) {
    throw new AudioInputError(
      "UNSUPPORTED_ENCODING",
      `msg.encoding ${JSON.stringify(e)} with msg.bits ${JSON.stringify(bits ?? 16)} is not supported; accepted: ` +
        "signed-integer 16/24/32, unsigned-integer 8, floating-point 32/64, mu-law 8, a-law 8 (little-endian)",
    );
  }
  return f;
}

function numberField(value: unknown, name: string): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n)) {
    throw new AudioInputError(
      "BAD_FORMAT",
      `${name} must be a number of samples per second (got ${describe(value)})`,
    );
  }
  return n;
}

function channelsField(value: unknown, name: string): number {
  return value === undefined ? 1 : numberField(value, name);
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
