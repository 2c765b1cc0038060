import { randomUUID } from "node:crypto";

/**
 * Parameters of StartMedicalTranscriptionJob, as the node's editor gives them, checked before any
 * request goes out. Error messages name the parameter and what is accepted; they echo enumerated
 * values only, never names that could identify a patient (job names, keys, file names).
 */

export const MEDIA_FORMATS = ["mp3", "mp4", "wav", "flac", "ogg", "amr", "webm", "m4a"] as const;
export type BatchMediaFormat = (typeof MEDIA_FORMATS)[number];
export const SPECIALTIES = ["PRIMARYCARE"] as const;
export const JOB_TYPES = ["CONVERSATION", "DICTATION"] as const;
export type BatchJobType = (typeof JOB_TYPES)[number];

export interface BatchParams {
  /** A fixed job name, or null to generate a unique one per job. */
  jobName: string | null;
  languageCode: "en-US";
  specialty: "PRIMARYCARE";
  type: BatchJobType;
  /** null: inferred from the file extension or the audio's first bytes. */
  mediaFormat: BatchMediaFormat | null;
  /** null: the service detects it. */
  sampleRate: number | null;
  showSpeakerLabels: boolean;
  /** Only with showSpeakerLabels. */
  maxSpeakerLabels: number | null;
  channelIdentification: boolean;
  contentIdentification: "PHI" | null;
  outputBucketName: string;
  outputKey: string | null;
  outputEncryptionKMSKeyId: string | null;
  vocabularyName: string | null;
}

export class BatchParamError extends Error {
  override readonly name = "BatchParamError";
  readonly code = "INVALID_PARAMETER";
  constructor(
    readonly parameter: string,
    problem: string,
  ) {
    super(`transcribe-medical-batch: ${parameter} ${problem}`);
  }
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: BatchParamError };

export interface BatchParamsInput {
  jobName?: unknown;
  languageCode?: unknown;
  specialty?: unknown;
  type?: unknown;
  mediaFormat?: unknown;
  sampleRate?: unknown;
  showSpeakerLabels?: unknown;
  maxSpeakerLabels?: unknown;
  channelIdentification?: unknown;
  contentIdentification?: unknown;
  outputBucketName?: unknown;
  outputKey?: unknown;
  outputEncryptionKMSKeyId?: unknown;
  vocabularyName?: unknown;
}

const JOB_NAME = /^[0-9a-zA-Z._-]+$/;
/** S3 bucket naming rules (the service's pattern is [a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9]). */
export const BUCKET_NAME = /^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$/;
/** The service's pattern for OutputKey. */
const OUTPUT_KEY = /^[a-zA-Z0-9\-_.!*'()/]{1,1024}$/;
const VOCABULARY = /^[0-9a-zA-Z._-]{1,200}$/;
const KMS_KEY = /^[A-Za-z0-9\-_/:]{1,2048}$/;

const text = (v: unknown): string =>
  typeof v === "string" ? v.trim() : typeof v === "number" ? String(v) : "";
const flag = (v: unknown): boolean => v === true || v === "true";
const fail = (parameter: string, problem: string): { ok: false; error: BatchParamError } => ({
  ok: false,
  error: new BatchParamError(parameter, problem),
});

export function checkJobName(value: string): Checked<string> {
  if (value.length > 200 || !JOB_NAME.test(value)) {
    return fail("the job name", "must be 1 to 200 letters, digits, dots, underscores or hyphens");
  }
  return { ok: true, value };
}

/** A unique job name: a fixed prefix, the time and a random part (no patient data). */
export function generateJobName(now = Date.now()): string {
  return `medstream-${now}-${randomUUID().slice(0, 8)}`;
}

export function checkMediaFormat(value: unknown): Checked<BatchMediaFormat | null> {
  const f = text(value).toLowerCase();
  if (f === "" || f === "auto") return { ok: true, value: null };
  if ((MEDIA_FORMATS as readonly string[]).includes(f)) return { ok: true, value: f as BatchMediaFormat };
  return fail("MediaFormat", `is not supported; accepted: ${MEDIA_FORMATS.join(", ")}`);
}

export function checkBatchParams(input: BatchParamsInput): Checked<BatchParams> {
  let jobName: string | null = null;
  if (text(input.jobName) !== "") {
    const j = checkJobName(text(input.jobName));
    if (!j.ok) return j;
    jobName = j.value;
  }
  const languageCode = text(input.languageCode) || "en-US";
  if (languageCode !== "en-US")
    return fail("LanguageCode", "must be en-US (Transcribe Medical transcribes US English)");
  const specialty = text(input.specialty) || "PRIMARYCARE";
  if (specialty !== "PRIMARYCARE") return fail("Specialty", "must be PRIMARYCARE");
  const type = text(input.type) || "CONVERSATION";
  if (type !== "CONVERSATION" && type !== "DICTATION")
    return fail("Type", "must be CONVERSATION or DICTATION");
  const format = checkMediaFormat(input.mediaFormat);
  if (!format.ok) return format;
  let sampleRate: number | null = null;
  if (text(input.sampleRate) !== "") {
    const n = Number(text(input.sampleRate));
    if (!Number.isInteger(n) || n < 16000 || n > 48000) {
      return fail(
        "MediaSampleRateHertz",
        "must be a whole number of Hz from 16000 to 48000, or empty to detect it",
      );
    }
    sampleRate = n;
  }
  const showSpeakerLabels = flag(input.showSpeakerLabels);
  const channelIdentification = flag(input.channelIdentification);
  if (showSpeakerLabels && channelIdentification) {
    return fail("ShowSpeakerLabels", "cannot be combined with ChannelIdentification; choose one");
  }
  let maxSpeakerLabels: number | null = null;
  if (showSpeakerLabels) {
    const n = text(input.maxSpeakerLabels) === "" ? 2 : Number(text(input.maxSpeakerLabels));
    if (!Number.isInteger(n) || n < 2 || n > 10) {
      return fail("MaxSpeakerLabels", "must be a whole number from 2 to 10");
    }
    maxSpeakerLabels = n;
  }
  const content = text(input.contentIdentification);
  if (content !== "" && content !== "PHI") return fail("ContentIdentificationType", "must be PHI or empty");
  const outputBucketName = text(input.outputBucketName);
  if (outputBucketName === "")
    return fail("OutputBucketName", "is required: the S3 bucket for the transcript");
  if (!BUCKET_NAME.test(outputBucketName)) {
    return fail(
      "OutputBucketName",
      "must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens",
    );
  }
  const outputKey = text(input.outputKey);
  if (outputKey !== "" && !OUTPUT_KEY.test(outputKey)) {
    return fail("OutputKey", "may hold only letters, digits and - _ . ! * ' ( ) /, up to 1024 characters");
  }
  const kms = text(input.outputEncryptionKMSKeyId);
  if (kms !== "" && !KMS_KEY.test(kms)) {
    return fail("OutputEncryptionKMSKeyId", "must be a KMS key id, alias or ARN");
  }
  const vocabulary = text(input.vocabularyName);
  if (vocabulary !== "" && !VOCABULARY.test(vocabulary)) {
    return fail("VocabularyName", "must be 1 to 200 letters, digits, dots, underscores or hyphens");
  }
  return {
    ok: true,
    value: {
      jobName,
      languageCode: "en-US",
      specialty: "PRIMARYCARE",
      type,
      mediaFormat: format.value,
      sampleRate,
      showSpeakerLabels,
      maxSpeakerLabels,
      channelIdentification,
      contentIdentification: content === "PHI" ? "PHI" : null,
      outputBucketName,
      outputKey: outputKey === "" ? null : outputKey,
      outputEncryptionKMSKeyId: kms === "" ? null : kms,
      vocabularyName: vocabulary === "" ? null : vocabulary,
    },
  };
}
