/**
 * The request parameters of standard Amazon Transcribe streaming (StartStreamTranscription), checked
 * before any stream opens, so a misconfigured node is refused at deploy with a message naming the
 * setting and what the service accepts, instead of a BadRequestException on every session.
 * Rules: ../../../../shared/research/aws.md §1.6 and the API reference of StartStreamTranscription.
 */
import { LanguageCode } from "@aws-sdk/client-transcribe-streaming";
import { configNumber, flag, InvalidParamsError, oneOf, VOCABULARY_PATTERN } from "./params";
import type { StreamFormat } from "./stream-format";
import { shownValue } from "../../util/settings";

const NODE = "transcribe-standard";

/** Every language the streaming API knows (the SDK's enum follows the service model). */
export const STREAMING_LANGUAGES: readonly LanguageCode[] = Object.values(LanguageCode);
/** Language identification does not cover these (Transcribe developer guide, "lang-id"). */
export const NOT_IDENTIFIABLE: readonly string[] = ["sv-SE", "vi-VN"];
/** Languages with streaming PII identification and redaction (developer guide, "pii-redaction-stream"). */
export const PII_LANGUAGES: readonly string[] = [
  "en-AB",
  "en-AU",
  "en-CA",
  "en-GB",
  "en-IE",
  "en-IN",
  "en-NZ",
  "en-US",
  "en-WL",
  "en-ZA",
  "es-US",
  "es-ES",
  "fr-FR",
  "fr-CA",
  "pt-PT",
  "pt-BR",
  "it-IT",
  "de-DE",
  "de-CH",
];
export const PII_ENTITY_TYPES = [
  "ADDRESS",
  "AGE",
  "BANK_ACCOUNT_NUMBER",
  "BANK_ROUTING",
  "CREDIT_DEBIT_CVV",
  "CREDIT_DEBIT_EXPIRY",
  "CREDIT_DEBIT_NUMBER",
  "DATE_TIME",
  "EMAIL",
  "LICENSE_PLATE",
  "NAME",
  "PASSPORT_NUMBER",
  "PASSWORD",
  "PHONE",
  "PIN",
  "SSN",
  "USERNAME",
  "VEHICLE_IDENTIFICATION_NUMBER",
  "ALL",
] as const;
export const STANDARD_ENCODINGS = ["pcm", "flac", "ogg-opus"] as const;
export const STABILITIES = ["low", "medium", "high"] as const;
export const FILTER_METHODS = ["mask", "remove", "tag"] as const;
export const LANGUAGE_MODES = ["fixed", "identify", "identify-multiple"] as const;
export const MIN_STANDARD_RATE = 8000;
export const MAX_STANDARD_RATE = 48000;

export type Stability = (typeof STABILITIES)[number];
export type FilterMethod = (typeof FILTER_METHODS)[number];
export type StandardEncoding = (typeof STANDARD_ENCODINGS)[number];

export type LanguageSetting =
  | { mode: "fixed"; code: LanguageCode }
  | { mode: "identify" | "identify-multiple"; options: LanguageCode[]; preferred: LanguageCode | null };

export interface StandardParams extends StreamFormat {
  language: LanguageSetting;
  mediaEncoding: StandardEncoding;
  /** Partial-results stabilisation level, or null when off. */
  stability: Stability | null;
  showSpeakerLabel: boolean;
  /** One name with a fixed language; one or more (one per language) with identification. */
  vocabularyNames: string[];
  vocabularyFilterNames: string[];
  vocabularyFilterMethod: FilterMethod;
  pii: { mode: "identify" | "redact"; entityTypes: string[] } | null;
  languageModelName: string | null;
}

/** What a user configures (raw, as it comes from a node's settings). */
export interface StandardParamsInput {
  languageMode?: unknown;
  languageCode?: unknown;
  languageOptions?: unknown;
  preferredLanguage?: unknown;
  sampleRate: unknown;
  mediaEncoding: unknown;
  stability?: unknown;
  showSpeakerLabel?: unknown;
  channelIdentification?: unknown;
  vocabularyNames?: unknown;
  vocabularyFilterNames?: unknown;
  vocabularyFilterMethod?: unknown;
  pii?: unknown;
  piiEntityTypes?: unknown;
  languageModelName?: unknown;
}

export type CheckedStandardParams =
  { ok: true; value: StandardParams } | { ok: false; error: InvalidParamsError };

type Step<T> = { ok: true; value: T } | { ok: false; error: InvalidParamsError };

const fail = (field: string, problem: string): { ok: false; error: InvalidParamsError } => ({
  ok: false,
  error: new InvalidParamsError(field, problem, NODE),
});

const text = (v: unknown): string => (typeof v === "string" ? v.trim() : "");

/** "a, b c" or ["a", "b"] → ["a", "b"]: lists come from a text field or from a flow's JSON. */
const list = (v: unknown): string[] =>
  (Array.isArray(v) ? v.map(String) : text(v).split(/[\s,]+/)).map((s) => s.trim()).filter((s) => s !== "");

/**
 * A bad value as the user typed it when it is a short word, else by its kind and length only: a
 * configured value is never echoed at length, nor a part of it (it may hold a path or a name).
 */
const quote = (v: string): string => shownValue(v);

const languageOf = (code: string): string => code.split("-")[0] ?? code;

function checkLanguage(input: StandardParamsInput): Step<LanguageSetting> {
  const mode = input.languageMode === undefined || input.languageMode === "" ? "fixed" : input.languageMode;
  if (!oneOf(LANGUAGE_MODES, mode)) {
    return fail("languageMode", `language mode must be one of ${LANGUAGE_MODES.join(", ")}`);
  }
  if (mode === "fixed") {
    const code = text(input.languageCode);
    if (!oneOf(STREAMING_LANGUAGES, code)) {
      return fail(
        "languageCode",
        `language ${quote(code)} is not a streaming language of Amazon Transcribe. Accepted: a code such as en-US, es-US, fr-FR, de-DE (see the help for the list), or language identification`,
      );
    }
    return { ok: true, value: { mode, code } };
  }
  const options = list(input.languageOptions);
  const unknown = options.find((o) => !oneOf(STREAMING_LANGUAGES, o));
  if (unknown !== undefined) {
    return fail("languageOptions", `language option ${quote(unknown)} is not a streaming language code`);
  }
  const notIdentifiable = options.find((o) => NOT_IDENTIFIABLE.includes(o));
  if (notIdentifiable !== undefined) {
    return fail(
      "languageOptions",
      `language identification does not support ${notIdentifiable}; set it as a fixed language instead`,
    );
  }
  if (options.length < 2) {
    return fail(
      "languageOptions",
      "language identification needs at least two language options, such as en-US, es-US",
    );
  }
  const seen = new Map<string, string>();
  for (const o of options) {
    const other = seen.get(languageOf(o));
    if (other !== undefined) {
      return fail(
        "languageOptions",
        `language options may hold one dialect per language: ${other} and ${o} are both ${languageOf(o)}`,
      );
    }
    seen.set(languageOf(o), o);
  }
  const preferred = text(input.preferredLanguage);
  if (preferred !== "" && mode === "identify-multiple") {
    return fail(
      "preferredLanguage",
      "a preferred language works with single-language identification only; leave it empty to identify several languages",
    );
  }
  if (preferred !== "" && !options.includes(preferred)) {
    return fail(
      "preferredLanguage",
      `the preferred language must be one of the language options (${options.join(", ")})`,
    );
  }
  return {
    ok: true,
    value: {
      mode,
      options: options as LanguageCode[],
      preferred: preferred === "" ? null : (preferred as LanguageCode),
    },
  };
}

function checkNames(field: string, what: string, names: string[], language: LanguageSetting): Step<string[]> {
  const bad = names.find((n) => !VOCABULARY_PATTERN.test(n));
  if (bad !== undefined) {
    return fail(
      field,
      `${what} name ${quote(bad)} must be 1 to 200 characters of letters, digits, '.', '_' or '-'`,
    );
  }
  if (language.mode === "fixed" && names.length > 1) {
    return fail(
      field,
      `with a fixed language give one ${what} name; several (one per language) need language identification`,
    );
  }
  return { ok: true, value: names };
}

function checkPii(input: StandardParamsInput, language: LanguageSetting): Step<StandardParams["pii"]> {
  const mode = text(input.pii);
  const types = list(input.piiEntityTypes).map((t) => t.toUpperCase());
  if (mode === "" || mode === "none") {
    if (types.length > 0)
      return fail("piiEntityTypes", "PII entity types need PII identification or redaction");
    return { ok: true, value: null };
  }
  if (mode !== "identify" && mode !== "redact") return fail("pii", "PII must be none, identify or redact");
  const badType = types.find((t) => !oneOf(PII_ENTITY_TYPES, t));
  if (badType !== undefined) {
    return fail(
      "piiEntityTypes",
      `PII entity type ${quote(badType)} is unknown. Accepted: ${PII_ENTITY_TYPES.join(", ")}`,
    );
  }
  if (mode === "redact" && language.mode !== "fixed") {
    return fail(
      "pii",
      "PII redaction cannot be combined with language identification; use identification, or a fixed language",
    );
  }
  const languages = language.mode === "fixed" ? [language.code] : language.options;
  const unsupported = languages.find((l) => !PII_LANGUAGES.includes(l));
  if (unsupported !== undefined) {
    return fail(
      "pii",
      `PII ${mode === "redact" ? "redaction" : "identification"} is not available for ${unsupported}. Accepted languages: ${PII_LANGUAGES.join(", ")}`,
    );
  }
  return { ok: true, value: { mode, entityTypes: types } };
}

function checkFormat(
  input: StandardParamsInput,
  language: LanguageSetting,
): Step<Omit<StreamFormat, "channels"> & { mediaEncoding: StandardEncoding }> {
  const rate = configNumber(input.sampleRate);
  if (!Number.isInteger(rate) || rate < MIN_STANDARD_RATE || rate > MAX_STANDARD_RATE) {
    return fail(
      "sampleRate",
      `sample rate must be a whole number of Hz from ${MIN_STANDARD_RATE} to ${MAX_STANDARD_RATE}`,
    );
  }
  const encoding = input.mediaEncoding;
  if (!oneOf(STANDARD_ENCODINGS, encoding)) {
    return fail("mediaEncoding", `media encoding must be one of ${STANDARD_ENCODINGS.join(", ")}`);
  }
  // Streaming language identification takes PCM and FLAC; multi-language identification PCM only.
  if (language.mode === "identify" && encoding === "ogg-opus") {
    return fail("mediaEncoding", "language identification accepts pcm or flac audio, not ogg-opus");
  }
  if (language.mode === "identify-multiple" && encoding !== "pcm") {
    return fail("mediaEncoding", "multi-language identification accepts pcm audio only");
  }
  return {
    ok: true,
    value: {
      sampleRate: rate,
      mediaEncoding: encoding,
      channelIdentification: flag(input.channelIdentification),
    },
  };
}

/** Validates a configuration; the error names the setting, never echoes more than the start of a bad value. */
export function checkStandardParams(input: StandardParamsInput): CheckedStandardParams {
  const language = checkLanguage(input);
  if (!language.ok) return language;
  const lang = language.value;
  const format = checkFormat(input, lang);
  if (!format.ok) return format;
  const stabilityRaw = text(input.stability);
  const stability = stabilityRaw === "" || stabilityRaw === "off" ? null : stabilityRaw;
  if (stability !== null && !oneOf(STABILITIES, stability)) {
    return fail("stability", `partial-results stability must be off, ${STABILITIES.join(", ")}`);
  }
  const vocabularies = checkNames("vocabularyNames", "vocabulary", list(input.vocabularyNames), lang);
  if (!vocabularies.ok) return vocabularies;
  const filters = checkNames(
    "vocabularyFilterNames",
    "vocabulary filter",
    list(input.vocabularyFilterNames),
    lang,
  );
  if (!filters.ok) return filters;
  const method = text(input.vocabularyFilterMethod) || "mask";
  if (!oneOf(FILTER_METHODS, method)) {
    return fail(
      "vocabularyFilterMethod",
      `vocabulary filter method must be one of ${FILTER_METHODS.join(", ")}`,
    );
  }
  const pii = checkPii(input, lang);
  if (!pii.ok) return pii;
  const model = text(input.languageModelName);
  if (model !== "" && !VOCABULARY_PATTERN.test(model)) {
    return fail(
      "languageModelName",
      "language model name must be 1 to 200 characters of letters, digits, '.', '_' or '-'",
    );
  }
  if (model !== "" && lang.mode !== "fixed") {
    return fail(
      "languageModelName",
      "a custom language model cannot be combined with language identification; set a fixed language",
    );
  }
  return {
    ok: true,
    value: {
      ...format.value,
      channels: format.value.channelIdentification ? 2 : 1,
      language: lang,
      stability,
      showSpeakerLabel: flag(input.showSpeakerLabel),
      vocabularyNames: vocabularies.value,
      vocabularyFilterNames: filters.value,
      vocabularyFilterMethod: method,
      pii: pii.value,
      languageModelName: model === "" ? null : model,
    },
  };
}
