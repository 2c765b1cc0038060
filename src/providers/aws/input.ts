import type { StreamFormat } from "./service";

/** Why an input message cannot be streamed; names what is wrong and what is accepted. */
export class BadAudioInputError extends Error {
  override readonly name = "BadAudioInputError";
  readonly code = "BAD_AUDIO_INPUT";
  constructor(problem: string, nodeType: string) {
    super(`${nodeType}: ${problem}`);
  }
}

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
    typeof msg.audio === "object" && msg.audio !== null ? (msg.audio as Record<string, unknown>) : {};
  const sessionId =
    typeof info.sessionId === "string" && info.sessionId.trim() !== ""
      ? info.sessionId
      : typeof msg.topic === "string" && msg.topic.trim() !== ""
        ? msg.topic
        : null;
  if (sessionId === null) {
    return fail(
      "msg.audio.sessionId (or msg.topic) must name the audio session. Accepted: the chunks of audio-in (contract 1).",
    );
  }
  const end = info.end === true;
  const offsetMs =
    typeof info.offsetMs === "number" && Number.isFinite(info.offsetMs) && info.offsetMs > 0
      ? info.offsetMs
      : 0;
  const payload = msg.payload;
  if (!Buffer.isBuffer(payload)) {
    if (end && (payload === undefined || payload === null || payload === "")) {
      return { ok: true, sessionId, audio: Buffer.alloc(0), end, offsetMs };
    }
    return fail(
      `msg.payload must be a Buffer of audio, not ${kindOf(payload)}. Accepted: PCM signed 16-bit little-endian chunks from audio-in (contract 1).`,
    );
  }
  if (params.mediaEncoding !== "pcm") return { ok: true, sessionId, audio: payload, end, offsetMs };

  const encoding = info.encoding ?? msg.encoding;
  const soxPcm = msg.encoding === "signed-integer" && (msg.bits === undefined || Number(msg.bits) === 16);
  if (encoding !== undefined && encoding !== "pcm_s16le" && !soxPcm) {
    return fail(
      `audio encoding ${JSON.stringify(typeof encoding === "string" ? encoding.slice(0, 40) : typeof encoding)} is not accepted with media encoding pcm. Accepted: pcm_s16le (16-bit signed little-endian PCM); put audio-in in front to convert.`,
    );
  }
  const rate = info.sampleRate ?? msg.rate;
  if (rate !== undefined && Number(rate) !== params.sampleRate) {
    return fail(
      `the audio's sample rate ${Number(rate)} Hz differs from the node's ${params.sampleRate} Hz. Set the node to the audio's rate, or resample with audio-in.`,
    );
  }
  const channels = info.channels ?? msg.channels;
  if (channels !== undefined && Number(channels) !== params.channels) {
    return fail(
      params.channels === 2
        ? `channel identification needs 2-channel audio, this chunk has ${Number(channels)}.`
        : `the audio has ${Number(channels)} channels; send 1 channel, or turn on channel identification for 2.`,
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
