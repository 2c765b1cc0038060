/**
 * The request parameters of StartMedicalStreamTranscription, checked before any stream opens so
 * that a misconfigured node is refused at deploy with a message naming what is wrong and what the
 * service accepts (instead of a BadRequestException on every session).
 */
export const SPECIALTIES = [
  "PRIMARYCARE",
  "CARDIOLOGY",
  "NEUROLOGY",
  "ONCOLOGY",
  "RADIOLOGY",
  "UROLOGY",
] as const;
export const TYPES = ["CONVERSATION", "DICTATION"] as const;
export const MEDIA_ENCODINGS = ["pcm", "flac", "ogg-opus"] as const;
export const MIN_SAMPLE_RATE = 16000;
export const MAX_SAMPLE_RATE = 48000;
/** The service's own pattern and length limits for a custom vocabulary name. */
export const VOCABULARY_PATTERN = /^[0-9a-zA-Z._-]{1,200}$/;

export type Specialty = (typeof SPECIALTIES)[number];
export type MedicalType = (typeof TYPES)[number];
export type MediaEncoding = (typeof MEDIA_ENCODINGS)[number];

/** What a user configures (raw, as it comes from a node's settings). */
export interface MedicalParamsInput {
  specialty: unknown;
  type: unknown;
  sampleRate: unknown;
  mediaEncoding: unknown;
  showSpeakerLabel?: unknown;
  channelIdentification?: unknown;
  channels?: unknown;
  contentIdentification?: unknown;
  vocabularyName?: unknown;
}

export interface MedicalParams {
  specialty: Specialty;
  type: MedicalType;
  sampleRate: number;
  mediaEncoding: MediaEncoding;
  showSpeakerLabel: boolean;
  channelIdentification: boolean;
  /** Interleaved channels of the audio: 2 with channel identification, else 1. */
  channels: 1 | 2;
  contentIdentification: "PHI" | null;
  vocabularyName: string | null;
}

export class InvalidParamsError extends Error {
  override readonly name = "InvalidParamsError";
  readonly code = "INVALID_PARAMS";
  constructor(
    readonly field: string,
    problem: string,
    nodeType = "transcribe-medical",
  ) {
    super(`${nodeType}: ${problem}`);
  }
}

export type CheckedParams = { ok: true; value: MedicalParams } | { ok: false; error: InvalidParamsError };

export const oneOf = <T extends string>(list: readonly T[], v: unknown): v is T =>
  typeof v === "string" && (list as readonly string[]).includes(v);

export const flag = (v: unknown): boolean => v === true || v === "true";

/**
 * A configured number: a number, or the text the editor stored; anything else (an object, an array)
 * is NaN, without calling a conversion a hostile value could make throw.
 */
export const configNumber = (v: unknown): number =>
  typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;

const fail = (field: string, problem: string): CheckedParams => ({
  ok: false,
  error: new InvalidParamsError(field, problem),
});

/** Validates a configuration; the error names the setting, never echoes more than the bad value. */
export function checkMedicalParams(input: MedicalParamsInput): CheckedParams {
  if (!oneOf(SPECIALTIES, input.specialty)) {
    return fail("specialty", `specialty must be one of ${SPECIALTIES.join(", ")}`);
  }
  if (!oneOf(TYPES, input.type)) return fail("type", `type must be one of ${TYPES.join(", ")}`);
  const rate = configNumber(input.sampleRate);
  if (!Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    return fail(
      "sampleRate",
      `sample rate must be a whole number of Hz from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (Transcribe Medical accepts 16 kHz and up)`,
    );
  }
  if (!oneOf(MEDIA_ENCODINGS, input.mediaEncoding)) {
    return fail("mediaEncoding", `media encoding must be one of ${MEDIA_ENCODINGS.join(", ")}`);
  }
  const showSpeakerLabel = flag(input.showSpeakerLabel);
  const channelIdentification = flag(input.channelIdentification);
  const channels =
    input.channels === undefined || input.channels === "" ? undefined : configNumber(input.channels);
  if (channelIdentification && showSpeakerLabel) {
    return fail(
      "channelIdentification",
      "speaker labels and channel identification cannot be used together; choose one",
    );
  }
  if (channelIdentification && channels !== undefined && channels !== 2) {
    return fail("channels", "channel identification needs audio with exactly 2 channels");
  }
  if (!channelIdentification && channels !== undefined && channels !== 1) {
    return fail("channels", "audio with 2 channels needs channel identification; otherwise send 1 channel");
  }
  const content = input.contentIdentification;
  if (content !== undefined && content !== "" && content !== null && content !== "PHI") {
    return fail("contentIdentification", "content identification must be PHI or none");
  }
  const vocab = typeof input.vocabularyName === "string" ? input.vocabularyName.trim() : "";
  if (vocab !== "" && !VOCABULARY_PATTERN.test(vocab)) {
    return fail(
      "vocabularyName",
      "vocabulary name must be 1 to 200 characters of letters, digits, '.', '_' or '-'",
    );
  }
  return {
    ok: true,
    value: {
      specialty: input.specialty,
      type: input.type,
      sampleRate: rate,
      mediaEncoding: input.mediaEncoding,
      showSpeakerLabel,
      channelIdentification,
      channels: channelIdentification ? 2 : 1,
      contentIdentification: content === "PHI" ? "PHI" : null,
      vocabularyName: vocab === "" ? null : vocab,
    },
  };
}

/** Bytes per second of the PCM audio the node sends (s16le, interleaved). */
export function pcmBytesPerSecond(p: Pick<MedicalParams, "sampleRate" | "channels">): number {
  return p.sampleRate * p.channels * 2;
}

/**
 * Concurrent sessions (provider streams) one transcriber node opens. The default is the service's
 * default quota of concurrent streams per account and region (25): on an account with the default
 * quota one node never opens a stream the service would refuse mid-session (LimitExceededException,
 * retried while its audio queues up), and a flow that sends many session ids cannot open a stream for
 * each. Nodes that share an account share its quota: their limits should add up to it.
 */
export const DEFAULT_MAX_SESSIONS = 25;
/** Far above any quota AWS grants by default; a bound so that a typo cannot mean "unlimited". */
export const MAX_MAX_SESSIONS = 1000;

/** The node's session limit, or an error naming what is accepted; empty or absent means the default. */
export function checkMaxSessions(
  v: unknown,
  nodeType: string,
): { ok: true; value: number } | { ok: false; error: InvalidParamsError } {
  // A number, or the text of one (the editor stores what was typed); anything else is refused.
  const n =
    v === undefined || v === null || v === ""
      ? DEFAULT_MAX_SESSIONS
      : typeof v === "number" || (typeof v === "string" && /^\s*\d{1,6}\s*$/.test(v))
        ? Number(v)
        : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_MAX_SESSIONS) {
    return {
      ok: false,
      error: new InvalidParamsError(
        "maxSessions",
        `the session limit must be a whole number from 1 to ${MAX_MAX_SESSIONS} (default ${DEFAULT_MAX_SESSIONS}, the AWS default quota of concurrent streams)`,
        nodeType,
      ),
    };
  }
  return { ok: true, value: n };
}
