import { SESSION_ID_ACCEPTED, sessionIdCandidate } from "../../util/session-id";
import type { StreamFormat } from "./stream-format";

/** Why an input message cannot be streamed; names what is wrong and what is accepted. */
export class BadAudioInputError extends Error {
  override readonly name = "BadAudioInputError";
  readonly code = "BAD_AUDIO_INPUT";
  constructor(problem: string, nodeType: string) {
    super(`${nodeType}: ${problem}`);
  }
}

/**
 * Latest `msg.audio.offsetMs` accepted: 300 days. Result times are the offset plus the audio after it,
 * and contract 2 bounds them to one year.
 */
export const MAX_OFFSET_MS = 300 * 24 * 3600 * 1000;
/** Contract 1: a chunk holds at most 1000 ms of audio. */
export const MAX_DURATION_MS = 1000;

export type CheckedInput =
  | {
      ok: true;
      sessionId: string;
      audio: Buffer;
      end: boolean;
      /** Session time of the chunk's first sample (contract 1 `audio.offsetMs`; 0 when absent). */
      offsetMs: number;
    }
  | { ok: false; error: BadAudioInputError };

interface InputMessage {
  topic?: unknown;
  payload?: unknown;
  audio?: unknown;
  /** sox-compatible flat fields (contract 1 accepts them on input). */
  rate?: unknown;
  channels?: unknown;
  encoding?: unknown;
  bits?: unknown;
}

const kindOf = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

/**
 * The session id of a message: `msg.audio.sessionId`, else (absent or blank) `msg.topic`. A string of
 * 1 to MAX_SESSION_ID_LENGTH characters, not blank, without control characters. The length is checked
 * before anything else reads the string, so a huge id costs no more; the id is never echoed (it is PHI).
 */
function sessionIdOf(msg: InputMessage, info: Record<string, unknown>): string | { problem: string } {
  const own = info.sessionId;
  if (own !== undefined && own !== null && typeof own !== "string") {
    return { problem: `msg.audio.sessionId must be a string, not ${kindOf(own)}. ${SESSION_ID_ACCEPTED}` };
  }
  // Two candidates in turn, without an array of them: this runs for every chunk.
  const picked = sessionIdCandidate(own, "msg.audio.sessionId") ?? sessionIdCandidate(msg.topic, "msg.topic");
  return (
    picked ?? {
      problem:
        "msg.audio.sessionId (or msg.topic) must name the audio session. Accepted: the chunks of audio-in (contract 1).",
    }
  );
}

/**
 * A numeric field: absent (undefined or null), a finite number, or a string of decimal digits (some
 * audio nodes send "16000"). Anything else, including a value that would throw on conversion (a
 * symbol, an object with a hostile valueOf), is `NaN`. Never coerces with Number() on an object.
 */
function numberField(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "number") return Number.isFinite(v) ? v : Number.NaN;
  if (typeof v === "string" && /^\d{1,12}(\.\d{1,6})?$/.test(v)) return Number(v);
  return Number.NaN;
}

/** Sample rates worth naming back in an error (a common rate says nothing about anyone). */
const COMMON_RATES = new Set([8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000]);
/** Encodings worth naming back in an error; any other value is described, not shown. */
const KNOWN_ENCODINGS = new Set([
  "pcm_s16le",
  "pcm_s16be",
  "pcm_s24le",
  "pcm_s32le",
  "pcm_f32le",
  "pcm_u8",
  "s16le",
  "s16be",
  "f32le",
  "mulaw",
  "ulaw",
  "alaw",
  "signed-integer",
  "unsigned-integer",
  "floating-point",
  "mu-law",
  "a-law",
  "flac",
  "opus",
  "ogg-opus",
  "mp3",
  "wav",
]);

/** Checks one contract-1 audio chunk against the node's configuration. Never echoes the audio. */
export function checkAudioInput(
  msg: InputMessage,
  params: StreamFormat,
  nodeType = "transcribe-medical",
): CheckedInput {
  const fail = (problem: string): CheckedInput => ({
    ok: false,
    error: new BadAudioInputError(problem, nodeType),
  });
  const info =
    typeof msg.audio === "object" && msg.audio !== null && !Array.isArray(msg.audio)
      ? (msg.audio as Record<string, unknown>)
      : {};
  const sessionId = sessionIdOf(msg, info);
  if (typeof sessionId !== "string") return fail(sessionId.problem);
  const end = info.end === true;

  const offset = numberField(info.offsetMs);
  if (offset !== undefined && !(offset >= 0 && offset <= MAX_OFFSET_MS)) {
    return fail(
      `msg.audio.offsetMs must be a number of milliseconds from 0 to ${MAX_OFFSET_MS} (300 days): the session time of the chunk's first sample.`,
    );
  }
  const duration = numberField(info.durationMs);
  if (duration !== undefined && !(duration >= 0 && duration <= MAX_DURATION_MS)) {
    return fail(
      `msg.audio.durationMs must be a number of milliseconds from 0 to ${MAX_DURATION_MS} (the audio in the chunk).`,
    );
  }
  const seq = numberField(info.seq);
  if (seq !== undefined && !(Number.isSafeInteger(seq) && seq >= 0)) {
    return fail("msg.audio.seq must be a whole number from 0 (the chunk's position in its session).");
  }
  const offsetMs = offset ?? 0;

  const payload = msg.payload;
  if (!Buffer.isBuffer(payload)) {
    if (end && (payload === undefined || payload === null || payload === "")) {
      return { ok: true, sessionId, audio: Buffer.alloc(0), end, offsetMs };
    }
    return fail(
      `msg.payload must be a Buffer of audio, not ${kindOf(payload)}. Accepted: PCM signed 16-bit little-endian chunks from audio-in (contract 1).`,
    );
  }

  const rawRate = info.sampleRate ?? msg.rate;
  const rate = numberField(rawRate);
  if (rate !== undefined && !(Number.isInteger(rate) && rate >= 1 && rate <= 384_000)) {
    return fail("the audio's sample rate (msg.audio.sampleRate or msg.rate) must be a whole number of Hz.");
  }
  const rawChannels = info.channels ?? msg.channels;
  const channels = numberField(rawChannels);
  if (channels !== undefined && !(Number.isInteger(channels) && channels >= 1 && channels <= 64)) {
    return fail("the audio's channel count (msg.audio.channels or msg.channels) must be a whole number.");
  }
  if (params.mediaEncoding !== "pcm") return { ok: true, sessionId, audio: payload, end, offsetMs };

  const encoding = info.encoding ?? msg.encoding;
  const bits = numberField(msg.bits);
  const soxPcm = msg.encoding === "signed-integer" && (bits === undefined || bits === 16);
  if (encoding !== undefined && encoding !== "pcm_s16le" && !soxPcm) {
    const named =
      typeof encoding === "string" && KNOWN_ENCODINGS.has(encoding)
        ? JSON.stringify(encoding)
        : `of an unknown kind (${kindOf(encoding)})`;
    const sox = msg.encoding === "signed-integer" ? ` with ${String(bits)}-bit samples` : "";
    return fail(
      `audio encoding ${named}${sox} is not accepted with media encoding pcm. Accepted: pcm_s16le (16-bit signed little-endian PCM); put audio-in in front to convert.`,
    );
  }
  if (rate !== undefined && rate !== params.sampleRate) {
    const shown = COMMON_RATES.has(rate) ? `${rate} Hz` : "another rate";
    return fail(
      `the audio's sample rate ${shown} differs from the node's ${params.sampleRate} Hz. Set the node to the audio's rate, or resample with audio-in.`,
    );
  }
  if (channels !== undefined && channels !== params.channels) {
    const shown = channels <= 8 ? String(channels) : "more";
    return fail(
      params.channels === 2
        ? `channel identification needs 2-channel audio, this chunk has ${shown}.`
        : `the audio has ${shown} channels; send 1 channel, or turn on channel identification for 2.`,
    );
  }
  const frameBytes = params.channels * 2;
  if (payload.length % frameBytes !== 0) {
    return fail(
      `msg.payload holds ${payload.length} bytes, not whole 16-bit samples for ${params.channels} channel(s).`,
    );
  }
  const maxBytes = params.sampleRate * frameBytes;
  if (payload.length > maxBytes) {
    const ms = Math.round((payload.length / maxBytes) * 1000);
    return fail(
      `a chunk holds ${ms} ms of audio; Amazon Transcribe accepts at most 1000 ms per chunk (50 to 200 ms recommended). Use audio-in to frame the audio.`,
    );
  }
  return { ok: true, sessionId, audio: payload, end, offsetMs };
}
