/**
 * What the HealthScribe streaming endpoint checks: the three request headers and the configuration event
 * (model constraints from the SDK and the API reference; research/healthscribe.md §1–2). Messages follow
 * AWS's validation wording; those marked "not verified" are the emulator's own.
 */
import { enumMessage, validateSessionId } from "../aws/validation";
import { NOTE_TEMPLATES, type NoteTemplate, type ParticipantRole } from "./note";

type Headers = Record<string, string>;

export const ENCODINGS = ["pcm", "ogg-opus", "flac"] as const;
const LANGUAGES = ["en-US"];
const ROLES = ["CLINICIAN", "PATIENT"];
const FILTER_METHODS = ["mask", "remove", "tag"];

// ResourceAccessRoleArn and OutputBucketName constraints (API reference).
const ROLE_ARN =
  /^arn:(aws|aws-cn|aws-us-gov|aws-iso-{0,1}[a-z]{0,1}):iam::[0-9]{0,63}:role\/[A-Za-z0-9:_/+=,@.-]{0,1024}$/;
const BUCKET = /^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$/;

/** Start-time validation of the headers; null when valid. */
export function validateScribeRequest(h: Headers): string | null {
  const language = h["x-amzn-transcribe-language-code"] ?? "";
  if (!LANGUAGES.includes(language)) return enumMessage(language, "languageCode", LANGUAGES);
  const rateText = h["x-amzn-transcribe-sample-rate"] ?? "";
  const rate = Number(rateText);
  if (!Number.isInteger(rate) || rate < 16000 || rate > 48000) {
    const bound = rate > 48000 ? "less than or equal to 48000" : "greater than or equal to 16000";
    return `1 validation error detected: Value '${rateText}' at 'mediaSampleRateHertz' failed to satisfy constraint: Member must have value ${bound}`;
  }
  const encoding = h["x-amzn-transcribe-media-encoding"] ?? "";
  if (!(ENCODINGS as readonly string[]).includes(encoding)) {
    return enumMessage(encoding, "mediaEncoding", ENCODINGS);
  }
  return validateSessionId(h);
}

/** A configuration event the emulator accepted, classified once. */
export interface ScribeConfiguration {
  roleArn: string;
  bucket: string;
  template: NoteTemplate;
  /** Channel number → role; empty when the service diarizes (no ChannelDefinitions). */
  channels: ReadonlyMap<number, ParticipantRole>;
  /** The event as received, canonical (sorted keys): a resumed stream must send the same. */
  canonical: string;
}

/** A value as AWS's validation messages quote it. */
const quoted = (v: unknown): string => (typeof v === "string" ? v : (JSON.stringify(v) ?? "null"));

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates a MedicalScribeConfigurationEvent body: the configuration, or the BadRequest message. */
export function classifyConfiguration(body: unknown): ScribeConfiguration | { message: string } {
  if (!isRecord(body)) return { message: "The configuration event is not a JSON object." };
  const role = body.ResourceAccessRoleArn;
  if (typeof role !== "string") {
    return {
      message:
        "1 validation error detected: Value null at 'resourceAccessRoleArn' failed to satisfy constraint: Member must not be null",
    };
  }
  if (role.length < 20 || role.length > 2048 || !ROLE_ARN.test(role)) {
    return {
      message: `1 validation error detected: Value at 'resourceAccessRoleArn' failed to satisfy constraint: Member must satisfy regular expression pattern: ${ROLE_ARN.source}`,
    };
  }
  const settings = isRecord(body.PostStreamAnalyticsSettings)
    ? body.PostStreamAnalyticsSettings.ClinicalNoteGenerationSettings
    : undefined;
  if (!isRecord(settings)) {
    return {
      message:
        "1 validation error detected: Value null at 'postStreamAnalyticsSettings' failed to satisfy constraint: Member must not be null",
    };
  }
  const bucket = settings.OutputBucketName;
  if (typeof bucket !== "string" || bucket.length > 64 || !BUCKET.test(bucket)) {
    return {
      message: `1 validation error detected: Value '${quoted(bucket)}' at 'postStreamAnalyticsSettings.clinicalNoteGenerationSettings.outputBucketName' failed to satisfy constraint: Member must satisfy regular expression pattern: ${BUCKET.source}`,
    };
  }
  const template = settings.NoteTemplate ?? "HISTORY_AND_PHYSICAL";
  const known = NOTE_TEMPLATES.find((t) => t === template);
  if (known === undefined) {
    return {
      message: enumMessage(
        quoted(template),
        "postStreamAnalyticsSettings.clinicalNoteGenerationSettings.noteTemplate",
        NOTE_TEMPLATES,
      ),
    };
  }
  const channels = classifyChannels(body.ChannelDefinitions);
  if ("message" in channels) return channels;
  if (
    body.EncryptionSettings !== undefined &&
    !(isRecord(body.EncryptionSettings) && typeof body.EncryptionSettings.KmsKeyId === "string")
  ) {
    return {
      message:
        "1 validation error detected: Value null at 'encryptionSettings.kmsKeyId' failed to satisfy constraint: Member must not be null",
    };
  }
  const method = body.VocabularyFilterMethod;
  if (method !== undefined && !FILTER_METHODS.includes(quoted(method))) {
    return { message: enumMessage(quoted(method), "vocabularyFilterMethod", FILTER_METHODS) };
  }
  if (body.VocabularyFilterName !== undefined && method === undefined) {
    // Documented: a filter name needs a method; the wording is the emulator's (not verified).
    return { message: "If you include VocabularyFilterName, you must also include VocabularyFilterMethod." };
  }
  return { roleArn: role, bucket, template: known, channels: channels.map, canonical: canonicalJson(body) };
}

function classifyChannels(
  defs: unknown,
): { map: ReadonlyMap<number, ParticipantRole> } | { message: string } {
  const map = new Map<number, ParticipantRole>();
  if (defs === undefined) return { map };
  // Exactly two, channels 0 and 1, one clinician and one patient (not verified: the message is the emulator's).
  const refused = {
    message:
      "ChannelDefinitions must define exactly two channels, 0 and 1, one with ParticipantRole CLINICIAN and one with PATIENT.",
  };
  if (!Array.isArray(defs) || defs.length !== 2) return refused;
  for (const d of defs as unknown[]) {
    if (!isRecord(d)) return refused;
    const id = d.ChannelId;
    const role = d.ParticipantRole;
    if ((id !== 0 && id !== 1) || map.has(id)) return refused;
    if (typeof role !== "string" || !ROLES.includes(role)) {
      return { message: enumMessage(quoted(role), "channelDefinitions.member.participantRole", ROLES) };
    }
    map.set(id, role as ParticipantRole);
  }
  if (new Set(map.values()).size !== 2) return refused;
  return { map };
}

/** JSON with object keys sorted, so two events with the same content compare equal. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (isRecord(v)) {
    const keys = Object.keys(v).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}
