import {
  configNumber,
  InvalidParamsError,
  MAX_SAMPLE_RATE,
  MEDIA_ENCODINGS,
  MIN_SAMPLE_RATE,
  oneOf,
  VOCABULARY_PATTERN,
  type MediaEncoding,
} from "../aws/params";

/**
 * The settings of a HealthScribe stream (StartMedicalScribeStream and its configuration event), checked
 * before any stream opens: a misconfigured node is refused at deploy with a message naming the setting
 * and what the service accepts, never the value (role ARNs and bucket names are the hospital's own).
 */
export const NOTE_TEMPLATES = [
  "HISTORY_AND_PHYSICAL",
  "GIRPP",
  "BIRP",
  "SIRP",
  "DAP",
  "BEHAVIORAL_SOAP",
  "PHYSICAL_SOAP",
] as const;
export type NoteTemplate = (typeof NOTE_TEMPLATES)[number];

/**
 * Who speaks on which channel. "diarize": one channel, the service tells clinician from patient;
 * "clinician-patient": channel 0 is the clinician, channel 1 the patient; "patient-clinician" the reverse.
 */
export const CHANNEL_LAYOUTS = ["diarize", "clinician-patient", "patient-clinician"] as const;
export type ChannelLayout = (typeof CHANNEL_LAYOUTS)[number];
export type ParticipantRole = "CLINICIAN" | "PATIENT";

export const PRONOUNS = ["HE_HIM", "SHE_HER", "THEY_THEM"] as const;
export type Pronoun = (typeof PRONOUNS)[number];

export const VOCABULARY_FILTER_METHODS = ["mask", "remove", "tag"] as const;
export type VocabularyFilterMethod = (typeof VOCABULARY_FILTER_METHODS)[number];

/** HealthScribe streams only US English (MedicalScribeLanguageCode). */
export const SCRIBE_LANGUAGE = "en-US";

/** arn:partition:iam::account:role/name-with-path (the API reference's format). */
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
/** S3 bucket naming rules: 3-63 lowercase letters, digits, dots and hyphens, starting and ending alphanumeric. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** A KMS key id, key ARN, alias name or alias ARN (the forms KmsKeyId accepts). */
const KMS_KEY =
  /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias\/[\w/-]{1,250}|arn:aws(-[a-z]+)*:kms:[a-z0-9-]+:\d{12}:(key\/[\w-]{1,100}|alias\/[\w/-]{1,250}))$/;
/** KMS encryption context: a handful of short pairs (KMS itself caps the context at 8 KiB). */
export const MAX_KMS_CONTEXT_PAIRS = 10;
const MAX_KMS_CONTEXT_TEXT = 8192;

/** What a user configures (raw, as it comes from a node's settings). */
export interface ScribeParamsInput {
  template: unknown;
  channelLayout: unknown;
  outputBucket: unknown;
  roleArn: unknown;
  kmsKeyId?: unknown;
  /** JSON text of an object of string values, or empty. */
  kmsContext?: unknown;
  pronouns?: unknown;
  sampleRate: unknown;
  mediaEncoding: unknown;
  vocabularyName?: unknown;
  vocabularyFilterName?: unknown;
  vocabularyFilterMethod?: unknown;
}

export interface ScribeParams {
  template: NoteTemplate;
  /** The role of each channel by index; empty when the service diarizes one channel. */
  channelRoles: ParticipantRole[];
  outputBucket: string;
  roleArn: string;
  encryption: { kmsKeyId: string; context: Record<string, string> | null } | null;
  pronouns: Pronoun | null;
  sampleRate: number;
  mediaEncoding: MediaEncoding;
  /** Interleaved channels of the audio: 2 with channel definitions, else 1. */
  channels: 1 | 2;
  channelIdentification: boolean;
  vocabularyName: string | null;
  vocabularyFilter: { name: string; method: VocabularyFilterMethod } | null;
}

export type CheckedScribeParams =
  { ok: true; value: ScribeParams } | { ok: false; error: InvalidParamsError };

const NODE_TYPE = "scribe-medical";

const fail = (field: string, problem: string): CheckedScribeParams => ({
  ok: false,
  error: new InvalidParamsError(field, problem, NODE_TYPE),
});

const text = (v: unknown): string | null =>
  v === undefined || v === null ? "" : typeof v === "string" ? v.trim() : null;

/** An optional setting: "" when empty, the trimmed text when it matches `pattern`, else null. */
const optional = (v: unknown, pattern: RegExp): string | null => {
  const t = text(v);
  return t === null || (t !== "" && !pattern.test(t)) ? null : t;
};

const NAME_RULE = "1 to 200 characters of letters, digits, '.', '_' or '-'";

/** The encryption context: a JSON object of string values, bounded; null when empty. */
function kmsContextOf(v: unknown): Record<string, string> | null | undefined {
  const t = text(v);
  if (t === null || t.length > MAX_KMS_CONTEXT_TEXT) return undefined;
  if (t === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return undefined;
  const entries = Object.entries(parsed);
  if (entries.length === 0 || entries.length > MAX_KMS_CONTEXT_PAIRS) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of entries) {
    if (typeof value !== "string" || key === "" || value === "") return undefined;
    // Own data property even for "__proto__" (JSON.parse makes one; an assignment would not).
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Validates a configuration; an error names the setting and what is accepted, never the value. */
export function checkScribeParams(input: ScribeParamsInput): CheckedScribeParams {
  const template = input.template === "" || input.template === undefined ? NOTE_TEMPLATES[0] : input.template;
  if (!oneOf(NOTE_TEMPLATES, template)) {
    return fail("template", `note template must be one of ${NOTE_TEMPLATES.join(", ")}`);
  }
  if (!oneOf(CHANNEL_LAYOUTS, input.channelLayout)) {
    return fail(
      "channelLayout",
      `channels must be one of ${CHANNEL_LAYOUTS.join(", ")} (diarize: one channel; otherwise two, the first role named on channel 0)`,
    );
  }
  const bucket = text(input.outputBucket);
  if (bucket === null || !BUCKET.test(bucket) || bucket.includes("..")) {
    return fail(
      "outputBucket",
      "output bucket must be an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-'; no s3:// prefix, no key)",
    );
  }
  const role = text(input.roleArn);
  if (role === null || !ROLE_ARN.test(role)) {
    return fail(
      "roleArn",
      "role ARN must be an IAM role ARN such as arn:aws:iam::111122223333:role/HealthScribeOutput (the role HealthScribe assumes to write the note to the bucket)",
    );
  }
  const kmsKeyId = optional(input.kmsKeyId, KMS_KEY);
  if (kmsKeyId === null) {
    return fail(
      "kmsKeyId",
      "KMS key must be empty (S3-managed encryption only), a key id, a key ARN, alias/name or an alias ARN",
    );
  }
  const context = kmsContextOf(input.kmsContext);
  if (context === undefined) {
    return fail(
      "kmsContext",
      `KMS encryption context must be empty or a JSON object of 1 to ${MAX_KMS_CONTEXT_PAIRS} non-empty text values, such as {"department":"cardiology"}`,
    );
  }
  if (context !== null && kmsKeyId === "") {
    return fail("kmsContext", "a KMS encryption context needs a KMS key");
  }
  const pronouns = input.pronouns === undefined || input.pronouns === null ? "" : input.pronouns;
  if (pronouns !== "" && !oneOf(PRONOUNS, pronouns)) {
    return fail("pronouns", `patient pronouns must be empty or one of ${PRONOUNS.join(", ")}`);
  }
  const rate = configNumber(input.sampleRate);
  if (!Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
    return fail(
      "sampleRate",
      `sample rate must be a whole number of Hz from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (HealthScribe accepts 16 kHz to 48 kHz)`,
    );
  }
  if (!oneOf(MEDIA_ENCODINGS, input.mediaEncoding)) {
    return fail("mediaEncoding", `media encoding must be one of ${MEDIA_ENCODINGS.join(", ")}`);
  }
  const vocab = optional(input.vocabularyName, VOCABULARY_PATTERN);
  if (vocab === null) return fail("vocabularyName", `vocabulary name must be ${NAME_RULE}`);
  const filter = optional(input.vocabularyFilterName, VOCABULARY_PATTERN);
  if (filter === null) return fail("vocabularyFilterName", `vocabulary filter name must be ${NAME_RULE}`);
  const method =
    input.vocabularyFilterMethod === undefined || input.vocabularyFilterMethod === ""
      ? "mask"
      : input.vocabularyFilterMethod;
  if (!oneOf(VOCABULARY_FILTER_METHODS, method)) {
    return fail(
      "vocabularyFilterMethod",
      `vocabulary filter method must be one of ${VOCABULARY_FILTER_METHODS.join(", ")}`,
    );
  }
  const channelRoles: ParticipantRole[] =
    input.channelLayout === "clinician-patient"
      ? ["CLINICIAN", "PATIENT"]
      : input.channelLayout === "patient-clinician"
        ? ["PATIENT", "CLINICIAN"]
        : [];
  return {
    ok: true,
    value: {
      template,
      channelRoles,
      outputBucket: bucket,
      roleArn: role,
      encryption: kmsKeyId === "" ? null : { kmsKeyId, context },
      pronouns: pronouns === "" ? null : pronouns,
      sampleRate: rate,
      mediaEncoding: input.mediaEncoding,
      channels: channelRoles.length === 2 ? 2 : 1,
      channelIdentification: channelRoles.length === 2,
      vocabularyName: vocab === "" ? null : vocab,
      vocabularyFilter: filter === "" ? null : { name: filter, method },
    },
  };
}
