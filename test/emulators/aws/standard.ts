/**
 * What the standard Amazon Transcribe streaming endpoint (`POST /stream-transcription`) adds to the
 * medical one: its request validation, and the result fields it alone sends (LanguageCode and
 * LanguageIdentification, Stable items with partial-results stabilisation, PII entities with their
 * type, redaction to "[PII]", vocabulary filtering). Facts: research/aws.md §1.6, the API reference of
 * StartStreamTranscription and the developer guide pages lang-id-stream, pii-redaction-stream and
 * streaming-partial-results. Messages marked "unverified" follow AWS's wording for similar errors but
 * were not captured from the service. The lists below are kept apart from the node's own
 * (src/providers/aws/standard-params.ts) on purpose: an emulator that shared the node's rules would
 * only prove that the node agrees with itself.
 */
import { LanguageCode } from "@aws-sdk/client-transcribe-streaming";
import type { FixtureWord } from "./fixture";
import {
  enumMessage,
  patternMessage,
  SAMPLE_RATE_MESSAGE,
  validateChannels,
  validateSessionId,
} from "./validation";

export const STANDARD_PATH = "/stream-transcription";

const LANGUAGES: readonly string[] = Object.values(LanguageCode);
const ENCODINGS = ["pcm", "ogg-opus", "flac", "g711-alaw", "g711-ulaw", "g729"];
const STABILITIES = ["low", "medium", "high"];
const FILTER_METHODS = ["mask", "remove", "tag"];
const PII_TYPES = [
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
];
const PII_LANGUAGES = [
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
const NAME_PATTERN = /^[0-9a-zA-Z._-]{1,200}$/;

export const STANDARD_MESSAGES = {
  sampleRate: SAMPLE_RATE_MESSAGE,
  // Unverified: the API reference says one of the three is required and more than one fails.
  languageChoice:
    "Specify exactly one of LanguageCode, IdentifyLanguage or IdentifyMultipleLanguages and try your request again.",
  // Unverified texts for the documented rules below.
  optionsNeedIdentify: "LanguageOptions can only be used with IdentifyLanguage or IdentifyMultipleLanguages.",
  identifyNeedsOptions:
    "Language identification requires LanguageOptions with at least two language codes. Add language options and try your request again.",
  oneDialect:
    "LanguageOptions can include only one dialect per language. Remove the extra dialects and try your request again.",
  preferred: "PreferredLanguage must be one of the languages in LanguageOptions.",
  // The API reference: PreferredLanguage only with IdentifyLanguage and LanguageOptions.
  preferredNeedsIdentify: "PreferredLanguage can only be used with IdentifyLanguage.",
  identifyAndRedaction: "Language identification can't be combined with content redaction.",
  identifyAndModel: "Language identification can't be combined with a custom language model.",
  identifyEncoding: "Language identification supports only PCM and FLAC audio.",
  multipleEncoding: "Multi-language identification supports only PCM audio.",
  bothContentTypes:
    "You can't set both ContentIdentificationType and ContentRedactionType in the same request. Remove one and try your request again.",
  entityTypesNeedContent: "PiiEntityTypes requires ContentIdentificationType or ContentRedactionType.",
  piiLanguage: "Content identification and redaction aren't supported for the specified language.",
  filterMethodNeedsFilter: "VocabularyFilterMethod requires a vocabulary filter name.",
  stabilityNeedsEnable: "PartialResultsStability requires EnablePartialResultsStabilization to be true.",
} as const;

const split = (v: string | undefined): string[] =>
  (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");

type Headers = Record<string, string>;
const H = (h: Headers, name: string): string | undefined => h[`x-amzn-transcribe-${name}`];

function validateLanguage(h: Headers): string | null {
  const code = H(h, "language-code");
  const identify = H(h, "identify-language") === "true";
  const multiple = H(h, "identify-multiple-languages") === "true";
  if ([code !== undefined, identify, multiple].filter(Boolean).length !== 1) {
    return STANDARD_MESSAGES.languageChoice;
  }
  if (code !== undefined && !LANGUAGES.includes(code)) return enumMessage(code, "languageCode", LANGUAGES);
  const options = split(H(h, "language-options"));
  if (code !== undefined) return options.length > 0 ? STANDARD_MESSAGES.optionsNeedIdentify : null;
  if (options.length < 2) return STANDARD_MESSAGES.identifyNeedsOptions;
  const bad = options.find((o) => !LANGUAGES.includes(o));
  if (bad !== undefined) return enumMessage(bad, "languageOptions", LANGUAGES);
  if (new Set(options.map((o) => o.split("-")[0])).size !== options.length)
    return STANDARD_MESSAGES.oneDialect;
  const preferred = H(h, "preferred-language");
  if (preferred !== undefined && !identify) return STANDARD_MESSAGES.preferredNeedsIdentify;
  if (preferred !== undefined && !options.includes(preferred)) return STANDARD_MESSAGES.preferred;
  if (H(h, "content-redaction-type") !== undefined) return STANDARD_MESSAGES.identifyAndRedaction;
  if (H(h, "language-model-name") !== undefined) return STANDARD_MESSAGES.identifyAndModel;
  const encoding = H(h, "media-encoding");
  if (identify && encoding !== "pcm" && encoding !== "flac") return STANDARD_MESSAGES.identifyEncoding;
  if (multiple && encoding !== "pcm") return STANDARD_MESSAGES.multipleEncoding;
  return null;
}

function validateContent(h: Headers): string | null {
  const identification = H(h, "content-identification-type");
  const redaction = H(h, "content-redaction-type");
  if (identification !== undefined && redaction !== undefined) return STANDARD_MESSAGES.bothContentTypes;
  for (const [value, member] of [
    [identification, "contentIdentificationType"],
    [redaction, "contentRedactionType"],
  ] as const) {
    if (value !== undefined && value !== "PII") return enumMessage(value, member, ["PII"]);
  }
  const types = H(h, "pii-entity-types");
  if (types !== undefined && identification === undefined && redaction === undefined) {
    return STANDARD_MESSAGES.entityTypesNeedContent;
  }
  const badType = split(types).find((t) => !PII_TYPES.includes(t));
  if (badType !== undefined) return enumMessage(badType, "piiEntityTypes", PII_TYPES);
  const code = H(h, "language-code");
  const languages = code !== undefined ? [code] : split(H(h, "language-options"));
  if ((identification ?? redaction) !== undefined && languages.some((l) => !PII_LANGUAGES.includes(l))) {
    return STANDARD_MESSAGES.piiLanguage;
  }
  return null;
}

function validateOptions(h: Headers): string | null {
  const method = H(h, "vocabulary-filter-method");
  if (method !== undefined && !FILTER_METHODS.includes(method)) {
    return enumMessage(method, "vocabularyFilterMethod", FILTER_METHODS);
  }
  const filters = [...split(H(h, "vocabulary-filter-name")), ...split(H(h, "vocabulary-filter-names"))];
  if (method !== undefined && filters.length === 0) return STANDARD_MESSAGES.filterMethodNeedsFilter;
  for (const [name, member] of [
    ["vocabulary-name", "vocabularyName"],
    ["vocabulary-filter-name", "vocabularyFilterName"],
    ["language-model-name", "languageModelName"],
  ] as const) {
    const v = H(h, name);
    if (v !== undefined && !NAME_PATTERN.test(v)) return patternMessage(v, member);
  }
  const stability = H(h, "partial-results-stability");
  if (stability !== undefined && !STABILITIES.includes(stability)) {
    return enumMessage(stability, "partialResultsStability", STABILITIES);
  }
  if (stability !== undefined && H(h, "enable-partial-results-stabilization") !== "true") {
    return STANDARD_MESSAGES.stabilityNeedsEnable;
  }
  return null;
}

function validateAudio(h: Headers): string | null {
  const rate = Number(H(h, "sample-rate"));
  if (!Number.isInteger(rate) || rate < 8000 || rate > 48000) return STANDARD_MESSAGES.sampleRate;
  const encoding = H(h, "media-encoding") ?? "";
  if (!ENCODINGS.includes(encoding)) return enumMessage(encoding, "mediaEncoding", ENCODINGS);
  return validateChannels(h) ?? validateSessionId(h);
}

/** Start-time validation of StartStreamTranscription; null when valid. */
export function validateStandardRequest(h: Headers): string | null {
  return validateAudio(h) ?? validateLanguage(h) ?? validateContent(h) ?? validateOptions(h);
}

/** The language a stream identifies: the option of the spoken language, else the preferred, else the first. */
export function identifiedLanguage(h: Headers, spoken: string): string | null {
  const fixed = H(h, "language-code");
  if (fixed !== undefined) return fixed;
  const options = split(H(h, "language-options"));
  const base = spoken.split("-")[0];
  return options.find((o) => o.split("-")[0] === base) ?? H(h, "preferred-language") ?? options[0] ?? null;
}

/** Trailing words of a partial that stay unstable, per stability level (high settles soonest). */
const UNSTABLE_TAIL: Record<string, number> = { high: 1, medium: 2, low: 3 };

export interface SegmentView {
  headers: Headers;
  final: boolean;
  /** The words heard so far and the item each became, in order. */
  words: Array<{ word: FixtureWord; item: Record<string, unknown> }>;
  /** The language identified for this segment, and whether enough speech was heard to report it. */
  language: string | null;
  languageKnown: boolean;
}

/**
 * Adds what the standard service says about a segment to its result and alternative (items are
 * changed in place); returns the items that remain (a "remove" vocabulary filter drops some).
 */
export function standardFeatures(
  v: SegmentView,
  result: Record<string, unknown>,
  alt: Record<string, unknown>,
): Array<Record<string, unknown>> {
  const h = v.headers;
  let kept = v.words;
  if (H(h, "enable-partial-results-stabilization") === "true") {
    const tail = v.final ? 0 : (UNSTABLE_TAIL[H(h, "partial-results-stability") ?? "high"] ?? 1);
    const spoken = kept.filter((w) => !w.word.punctuation).length;
    let index = 0;
    for (const w of kept) {
      if (!w.word.punctuation) index++;
      w.item.Stable = index <= spoken - tail;
    }
  }
  const filtered = H(h, "vocabulary-filter-name") ?? H(h, "vocabulary-filter-names");
  if (filtered !== undefined) {
    const method = H(h, "vocabulary-filter-method") ?? "mask";
    for (const w of kept.filter((x) => x.word.filtered)) {
      if (method === "mask") w.item.Content = "***";
      else if (method === "tag") w.item.VocabularyFilterMatch = true;
    }
    if (method === "remove") kept = kept.filter((w) => !w.word.filtered);
  }
  const redact = H(h, "content-redaction-type") === "PII";
  const identify = H(h, "content-identification-type") === "PII";
  const types = split(H(h, "pii-entity-types"));
  const names = types.length === 0 || types.includes("ALL") || types.includes("NAME");
  // PII is identified or redacted only once a segment is complete; partials carry it as heard.
  if (v.final && (redact || identify) && names) {
    const pii = kept.filter((w) => w.word.phi);
    alt.Entities = pii.map(({ word, item }) => ({
      StartTime: item.StartTime,
      EndTime: item.EndTime,
      Category: "PII",
      Type: "NAME",
      Content: redact ? "[PII]" : word.text,
      Confidence: word.confidence,
    }));
    if (redact) for (const w of pii) w.item.Content = "[PII]";
  }
  if (v.language !== null && v.languageKnown) {
    result.LanguageCode = v.language;
    const options = split(H(h, "language-options"));
    if (options.length > 0) {
      const others = options.filter((o) => o !== v.language);
      result.LanguageIdentification = [
        { LanguageCode: v.language, Score: 0.92 },
        ...others.map((o) => ({ LanguageCode: o, Score: Math.round((0.08 / others.length) * 1000) / 1000 })),
      ];
    }
  }
  return kept.map((w) => w.item);
}
