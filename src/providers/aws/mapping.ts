// The standard shapes are a superset of the medical ones (all extra fields optional), so one mapping
// serves both services.
import type { Item, Result, TranscriptEvent } from "@aws-sdk/client-transcribe-streaming";
import { meanConfidence } from "../../transcript/confidence";
import type { TranscriptEntity, TranscriptResult, TranscriptWord } from "../../transcript/result";

/** What a result says of itself that the event does not: which service, and the configured language. */
export interface MappingContext {
  provider: string;
  /** The result's language when it names none (the configured one, or "und" before identification). */
  language: string;
  /** Category of an entity that names none: PHI for Medical, PII for standard Transcribe. */
  entityCategory: string;
}

/** Turns a time of the current provider stream into a time of the session (seconds). */
export type ToSessionTime = (streamSeconds: number) => number;

/** Seconds rounded to the millisecond: offsets added in floating point must not leak as 1.2000000000000002. */
export const roundSeconds = (s: number): number => Math.max(0, Math.round(s * 1000) / 1000);

const num = (v: number | undefined): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

const confidenceOf = (v: number | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : null;

function mapItem(item: Item, toSession: ToSessionTime, channel: string | undefined): TranscriptWord | null {
  // Only words and punctuation carry text; "speaker-change" markers (and any future item type) do not.
  const kind = item.Type === "pronunciation" ? "word" : item.Type === "punctuation" ? "punctuation" : null;
  if (kind === null || typeof item.Content !== "string") return null;
  const word: TranscriptWord = {
    text: item.Content,
    startTime: roundSeconds(toSession(num(item.StartTime))),
    endTime: roundSeconds(toSession(num(item.EndTime))),
    confidence: confidenceOf(item.Confidence),
    kind,
  };
  if (typeof item.Speaker === "string" && item.Speaker !== "") word.speaker = item.Speaker;
  if (channel !== undefined) word.channel = channel;
  // Only with partial-results stabilisation does the service say whether a word can still change.
  if (typeof item.Stable === "boolean") word.stable = item.Stable;
  if (item.VocabularyFilterMatch === true) word.vocabularyFilterMatch = true;
  return word;
}

/** The one speaker of a segment, when every word that names one names the same. */
function soleSpeaker(words: readonly TranscriptWord[]): string | undefined {
  const speakers = new Set(words.map((w) => w.speaker).filter((s): s is string => s !== undefined));
  return speakers.size === 1 ? [...speakers][0] : undefined;
}

/** One result of either service as a contract-2 result, or null when it carries nothing to say. */
export function mapResult(
  result: Result,
  sessionId: string,
  toSession: ToSessionTime,
  ctx: MappingContext,
): TranscriptResult | null {
  const alt = result.Alternatives?.[0];
  const text = alt?.Transcript ?? "";
  if (!alt || text.trim() === "" || typeof result.ResultId !== "string") return null;
  const channel = typeof result.ChannelId === "string" ? result.ChannelId : undefined;
  const words = (alt.Items ?? [])
    .map((item) => mapItem(item, toSession, channel))
    .filter((w): w is TranscriptWord => w !== null);
  const out: TranscriptResult = {
    provider: ctx.provider,
    sessionId,
    segmentId: result.ResultId,
    isFinal: result.IsPartial !== true,
    text,
    confidence: meanConfidence(words),
    startTime: roundSeconds(toSession(num(result.StartTime))),
    endTime: roundSeconds(toSession(num(result.EndTime))),
    words,
    // With language identification every result names the language the service settled on.
    language:
      typeof result.LanguageCode === "string" && result.LanguageCode.length > 0
        ? result.LanguageCode
        : ctx.language,
  };
  const speaker = soleSpeaker(words);
  if (speaker !== undefined) out.speaker = speaker;
  if (channel !== undefined) out.channel = channel;
  const entities: TranscriptEntity[] = (alt.Entities ?? []).map((e) => {
    const entity: TranscriptEntity = {
      category: typeof e.Category === "string" && e.Category.trim() !== "" ? e.Category : ctx.entityCategory,
      text: e.Content ?? "",
      startTime: roundSeconds(toSession(num(e.StartTime))),
      endTime: roundSeconds(toSession(num(e.EndTime))),
      confidence: confidenceOf(e.Confidence),
    };
    if (typeof e.Type === "string" && e.Type !== "") entity.type = e.Type;
    return entity;
  });
  if (entities.length > 0) out.entities = entities;
  return out;
}

/** Every non-empty result of a TranscriptEvent; the service often sends events with no results. */
export function mapTranscriptEvent(
  event: TranscriptEvent,
  sessionId: string,
  toSession: ToSessionTime,
  ctx: MappingContext,
): TranscriptResult[] {
  return (event.Transcript?.Results ?? [])
    .map((r) => mapResult(r, sessionId, toSession, ctx))
    .filter((r): r is TranscriptResult => r !== null);
}
