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
import { sessionIdFault, sessionIdProblem } from "../util/session-id";

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

/** Audio a session takes in: what the session code (session.ts) reads, never the message. */
export type AudioInput =
  /** PCM in a known format; `recording` when it came as a whole WAV rather than a live piece. */
  | { kind: "pcm"; format: PcmFormat; bytes: Buffer; recording: boolean }
  | { kind: "compressed"; bytes: Buffer; what: string }
  | { kind: "file"; path: string };

/** What a message carries, taken on its own (without the state of its session). */
export type StandaloneInput =
  | AudioInput
  /** No audio: the message only asks to end its session. */
  | { kind: "end" }
  /** Refused: `error` says what was wrong and what is accepted (an AudioInputError, or an internal fault). */
  | { kind: "invalid"; error: Error };

/**
 * What a message carries. Bytes with no format of their own (no WAV header, no format fields) depend on
 * their session: in a session decoding a compressed stream they continue it; otherwise they are
 * `alone` (a compressed recording, raw PCM in the node's raw format, or refused).
 */
export type CarriedInput = StandaloneInput | { kind: "unlabelled"; bytes: Buffer; alone: StandaloneInput };

/**
 * An incoming message, classified once where it enters audio-in: everything the session code needs,
 * so that it never reads the message again.
 */
export interface IncomingAudio {
  sessionId: string;
  /** The message asks to end the session (after its audio, if it carries any); a refused one still does. */
  end: boolean;
  /** The websocket session of the message (msg._session), so that frames find their way back. */
  wsSession: unknown;
  input: CarriedInput;
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

/**
 * Classifies a message once, where it enters audio-in: its session, whether it asks to end, and what
 * it carries. A refusal is a value (`input.kind === "invalid"`), so that a bad message that asks to end
 * still ends its session without the message being read again.
 */
export function classifyMessage(msg: AudioMessage, rawDefault: PcmFormat | undefined): IncomingAudio {
  const audio = isObject(msg.audio) ? msg.audio : NO_FIELDS;
  const end = audio.end === true || msg.control === "stop" || msg.control === "end";
  const sessionId = sessionIdOf(msg, audio);
  // A refused id opens, ends and names no session: the message is refused on its own.
  if (sessionId instanceof AudioInputError) {
    return {
      sessionId: "",
      end: false,
      wsSession: msg._session,
      input: { kind: "invalid", error: sessionId },
    };
  }
  // A thrown refusal as a value (no closure per message: this runs for every chunk).
  let alone: StandaloneInput;
  try {
    alone = standaloneInput(msg, audio, end, rawDefault);
  } catch (err) {
    alone = { kind: "invalid", error: err instanceof Error ? err : new Error(String(err)) };
  }
  const bytes = unlabelledBytes(msg, audio);
  return {
    sessionId,
    end,
    wsSession: msg._session,
    input: bytes ? { kind: "unlabelled", bytes, alone } : alone,
  };
}

/**
 * What a message carries on its own, with a refusal thrown: AudioInputError saying what was wrong and
 * what is accepted. The same classification as classifyMessage.
 */
export function classify(msg: AudioMessage, rawDefault: PcmFormat | undefined): IncomingAudio {
  const classified = classifyMessage(msg, rawDefault);
  const input = classified.input.kind === "unlabelled" ? classified.input.alone : classified.input;
  if (input.kind === "invalid") throw input.error;
  return { ...classified, input };
}

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Picks the session a message belongs to: msg.audio.sessionId, msg.topic, or the websocket session,
 * the first one given. An id over the shared bound or holding a control character is refused (never
 * echoed), not passed over for the next one: the flow meant that session.
 */
function sessionIdOf(msg: AudioMessage, audio: Readonly<Record<string, unknown>>): string | AudioInputError {
  // Three candidates in turn, without an array of them: this runs for every chunk.
  const fromAudio = candidateId(audio.sessionId, "msg.audio.sessionId");
  if (fromAudio !== undefined) return fromAudio;
  const fromTopic = candidateId(msg.topic, "msg.topic");
  if (fromTopic !== undefined) return fromTopic;
  const ws = isObject(msg._session) ? candidateId(msg._session.id, "msg._session.id") : undefined;
  return ws ?? "default";
}

/** The session id a candidate field gives (its refusal), or undefined when it names none. */
function candidateId(candidate: unknown, where: string): string | AudioInputError | undefined {
  if (typeof candidate === "string" && candidate !== "") {
    // The error text is built only for a refused id.
    if (sessionIdFault(candidate) === undefined) return candidate;
    const problem = sessionIdProblem(candidate, `audio-in: the session id in ${where}`) ?? "";
    return new AudioInputError("BAD_SESSION_ID", problem);
  }
  if (typeof candidate === "number") return String(candidate);
  return undefined;
}

/**
 * The audio bytes of a message that carries no format of its own (no WAV header, no format fields):
 * in a session that is decoding a compressed stream, such a piece continues that stream. Bytes over
 * MAX_MESSAGE_BYTES are no piece: they are refused on their own.
 */
function unlabelledBytes(msg: AudioMessage, audio: Readonly<Record<string, unknown>>): Buffer | undefined {
  const payload = msg.payload;
  if (!isBinary(payload) || payload.byteLength === 0 || payload.byteLength > MAX_MESSAGE_BYTES)
    return undefined;
  if (audio.sampleRate !== undefined || audio.encoding !== undefined || msg.rate !== undefined)
    return undefined;
  const bytes = toBuffer(payload);
  return isWav(bytes) ? undefined : bytes;
}

/** What a message carries on its own; throws AudioInputError saying what was wrong and what is accepted. */
function standaloneInput(
  msg: AudioMessage,
  audio: Readonly<Record<string, unknown>>,
  end: boolean,
  rawDefault: PcmFormat | undefined,
): StandaloneInput {
  const payload = msg.payload;
  checkTimes(audio);

  if (payload === undefined || payload === null || (isBinary(payload) && byteLength(payload) === 0)) {
    if (end) return { kind: "end" };
    throw new AudioInputError("NOT_AUDIO", `msg.payload is empty; ${ACCEPTED_INPUT}`);
  }
  if (typeof payload === "string") {
    if (payload.trim() === "")
      throw new AudioInputError("NOT_AUDIO", `msg.payload is an empty string; ${ACCEPTED_INPUT}`);
    // A path that cannot be one (a NUL in it, too long) is refused before a session is opened for it.
    const bad = checkPath(payload);
    if (bad) throw new AudioInputError(bad.code, fileProblemText(bad));
    return { kind: "file", path: payload };
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
    return { kind: "pcm", format: wav.format, bytes: wav.data, recording: true };
  }
  const declared = declaredFormat(msg, audio);
  if (declared) return { kind: "pcm", format: declared, bytes, recording: false };
  const container = sniffContainer(bytes);
  if (container) return { kind: "compressed", bytes, what: `${container.toUpperCase()} audio` };
  if (rawDefault) return { kind: "pcm", format: rawDefault, bytes, recording: false };
  // Not WAV, no known container, no raw PCM declared: refused, never taken for raw PCM. The error
  // names the kind of data found (text, an image), never its content.
  const found = describeNonAudio(bytes);
  throw new AudioInputError(
    found === "unrecognised binary data" ? "NO_FORMAT" : "NOT_AUDIO",
    `msg.payload is a Buffer of ${found} with no format information; ${ACCEPTED_INPUT}`,
  );
}

function declaredFormat(msg: AudioMessage, audio: Readonly<Record<string, unknown>>): PcmFormat | undefined {
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
function checkTimes(audio: Readonly<Record<string, unknown>>): void {
  checkTime(audio.offsetMs, "offsetMs");
  checkTime(audio.durationMs, "durationMs");
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

function checkTime(value: unknown, name: "offsetMs" | "durationMs"): void {
  if (value === undefined) return;
  const n = numberField(value, `msg.audio.${name}`, "milliseconds");
  if (n < 0 || n > MAX_AUDIO_TIME_MS) {
    throw new AudioInputError(
      "BAD_FORMAT",
      `msg.audio.${name} is out of range; accepted: milliseconds from 0 to ${MAX_AUDIO_TIME_MS} (one year)`,
    );
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
