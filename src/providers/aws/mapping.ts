import type {
  MedicalItem,
  MedicalResult,
  MedicalTranscriptEvent,
} from "@aws-sdk/client-transcribe-streaming";
import { meanConfidence } from "../../transcript/confidence";
import type { TranscriptEntity, TranscriptResult, TranscriptWord } from "../../transcript/result";

export const AWS_PROVIDER = "aws-transcribe-medical";
/** Transcribe Medical streams only US English. */
export const AWS_LANGUAGE = "en-US";

/** Turns a time of the current provider stream into a time of the session (seconds). */
export type ToSessionTime = (streamSeconds: number) => number;

/** Seconds rounded to the millisecond: offsets added in floating point must not leak as 1.2000000000000002. */
export const roundSeconds = (s: number): number => Math.max(0, Math.round(s * 1000) / 1000);

const num = (v: number | undefined): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);

const confidenceOf = (v: number | undefined): number | null =>
  typeof v === "number" && Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : null;

function mapItem(
  item: MedicalItem,
  toSession: ToSessionTime,
  channel: string | undefined,
): TranscriptWord | null {
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
  return word;
}

/** The one speaker of a segment, when every word that names one names the same. */
function soleSpeaker(words: readonly TranscriptWord[]): string | undefined {
  const speakers = new Set(words.map((w) => w.speaker).filter((s): s is string => s !== undefined));
  return speakers.size === 1 ? [...speakers][0] : undefined;
}

/** One MedicalResult as a contract-2 result, or null when it carries nothing to say. */
export function mapMedicalResult(
  result: MedicalResult,
  sessionId: string,
  toSession: ToSessionTime,
): TranscriptResult | null {
  const alt = result.Alternatives?.[0];
  const text = alt?.Transcript ?? "";
  if (!alt || text.trim() === "" || typeof result.ResultId !== "string") return null;
  const channel = typeof result.ChannelId === "string" ? result.ChannelId : undefined;
  const words = (alt.Items ?? [])
    .map((item) => mapItem(item, toSession, channel))
    .filter((w): w is TranscriptWord => w !== null);
  const out: TranscriptResult = {
    provider: AWS_PROVIDER,
    sessionId,
    segmentId: result.ResultId,
    isFinal: result.IsPartial !== true,
    text,
    confidence: meanConfidence(words),
    startTime: roundSeconds(toSession(num(result.StartTime))),
    endTime: roundSeconds(toSession(num(result.EndTime))),
    words,
    language: AWS_LANGUAGE,
  };
  const speaker = soleSpeaker(words);
  if (speaker !== undefined) out.speaker = speaker;
  if (channel !== undefined) out.channel = channel;
  const entities: TranscriptEntity[] = (alt.Entities ?? []).map((e) => ({
    category: typeof e.Category === "string" && e.Category.trim() !== "" ? e.Category : "PHI",
    text: e.Content ?? "",
    startTime: roundSeconds(toSession(num(e.StartTime))),
    endTime: roundSeconds(toSession(num(e.EndTime))),
    confidence: confidenceOf(e.Confidence),
  }));
  if (entities.length > 0) out.entities = entities;
  return out;
}

/** Every non-empty result of a TranscriptEvent; the service often sends events with no results. */
export function mapTranscriptEvent(
  event: MedicalTranscriptEvent,
  sessionId: string,
  toSession: ToSessionTime,
): TranscriptResult[] {
  return (event.Transcript?.Results ?? [])
    .map((r) => mapMedicalResult(r, sessionId, toSession))
    .filter((r): r is TranscriptResult => r !== null);
}
