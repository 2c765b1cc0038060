import { randomUUID } from "node:crypto";
import type { ClinicalNote } from "./clinical-note";
import { entityChars, placeEntity, type DocumentEntity } from "./document-entities";
import { checkNote } from "./note-check";
import type { TranscriptResult, TranscriptWord } from "./result";
import { sessionIdFault } from "../util/session-id";

/**
 * The transcript document: everything a session said, assembled from its final results once the
 * session ends. `transcript-document` emits it as `msg.payload`; `hl7-mdm` and `fhir-document`
 * read it. Times inside are seconds from the start of the session, as in contract 2.
 */
export interface TranscriptDocument {
  /** Stable id (UUID v4) for this document: TXA-12, the FHIR identifier. Keep it on every retry. */
  documentId: string;
  sessionId: string;
  /** The provider of the results (the first one seen, should a session mix them). */
  provider: string;
  language: string;
  /** ISO 8601 UTC: the estimated wall-clock start of the session (first arrival minus its end time). */
  startedAt: string;
  /** ISO 8601 UTC: when the document was assembled. */
  completedAt: string;
  /** Seconds of speech covered: end of the last segment minus start of the first. */
  durationSeconds: number;
  /** Why the document was emitted. */
  endReason: DocumentEndReason;
  /** The full text: one line per speaker turn ("speaker: text" when the session had several speakers). */
  text: string;
  turns: DocumentTurn[];
  segments: DocumentSegment[];
  /** Every word with its timing and confidence, in spoken order. */
  words: TranscriptWord[];
  /** The segments a confidence gate sent to review: what a reviewer must check first. */
  review: ReviewItem[];
  quality: DocumentQuality;
  /**
   * The clinical note, when the session came from an ambient scribe (AWS HealthScribe): then `text` is
   * the note's text (`noteText`) and `segments` the conversation it was drawn from.
   */
  note?: ClinicalNote;
  /**
   * Medical entities found in the finals (the medical-entities node's `msg.entities` on each final),
   * in text order, with offsets into this document's `text`. Absent when no final carried any.
   * Machine-derived and unverified.
   */
  entities?: DocumentEntity[];
}

/**
 * flush: a flush message; idle: the idle timeout; ended: the transcriber's session-ended event
 * (`ended`, `termination`); error: the transcriber's session `error` event (the text may be cut short);
 * limit: the session reached a document limit (`DOCUMENT_LIMITS`) and goes on in a new document.
 */
export type DocumentEndReason = "flush" | "idle" | "ended" | "error" | "limit";

/**
 * What one document holds at most. They bound the memory of a session and the time any node spends
 * on one document (bench/hospital.ts measures a document at these limits). A session that reaches
 * one is emitted with what it holds (endReason "limit") and goes on in a new document.
 */
export const DOCUMENT_LIMITS = {
  /** Entries of `words` (words and punctuation): about five and a half hours of speech. */
  words: 50_000,
  /** Final segments. */
  segments: 20_000,
  /**
   * UTF-8 bytes of text: the segments' texts and the texts of their words together (a transcript's
   * words are counted twice, so 50,000 words of clinical speech take about 750 KiB), with speaker
   * labels and segment ids. A document's `text` never exceeds it.
   */
  bytes: 1024 * 1024,
  /**
   * Medical entities (`entities`): about one per five words at the word limit. Their strings count
   * towards `bytes` too.
   */
  entities: 10_000,
} as const;

/** A document limit that was reached: which, and its value. */
export type LimitKind = keyof typeof DOCUMENT_LIMITS;

export interface DocumentTurn {
  /** Speaker label from the provider, or "ch_<n>" for a channel, or undefined for one voice. */
  speaker?: string;
  startTime: number;
  endTime: number;
  text: string;
}

export interface DocumentSegment {
  segmentId: string;
  speaker?: string;
  startTime: number;
  endTime: number;
  text: string;
  confidence: number | null;
  /** True when a confidence gate sent this segment to review. */
  review: boolean;
}

export interface ReviewItem {
  segmentId: string;
  startTime: number;
  endTime: number;
  /** The gate's reason, for example "below-threshold" or "no-confidence". */
  reason: string;
  lowConfidenceWords: Array<{ text: string; startTime: number; endTime: number; confidence: number }>;
}

export interface DocumentQuality {
  /** Mean of all scored word confidences; null without any. */
  meanConfidence: number | null;
  minConfidence: number | null;
  wordCount: number;
  segmentCount: number;
  reviewSegmentCount: number;
}

/** What a confidence gate attached to a message (`msg.confidenceGate`); only these fields are read. */
export interface GateMark {
  passed: boolean;
  reason?: string;
  lowConfidenceWords?: ReviewItem["lowConfidenceWords"];
}

/**
 * Reads `msg.confidenceGate` defensively: anything that is not a gate decision counts as no mark. A
 * gate flags words of the result, so no more than `maxWords` (the result's word count) are read.
 */
export function gateMarkOf(value: unknown, maxWords: number = DOCUMENT_LIMITS.words): GateMark | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.passed !== "boolean") return undefined;
  const words = Array.isArray(v.lowConfidenceWords)
    ? (v.lowConfidenceWords as unknown[])
        .slice(0, maxWords)
        .filter(isLowWord)
        .map(({ text, startTime, endTime, confidence }) => ({ text, startTime, endTime, confidence }))
    : [];
  return {
    passed: v.passed,
    reason: typeof v.reason === "string" ? v.reason : undefined,
    lowConfidenceWords: words,
  };
}

function isLowWord(w: unknown): w is ReviewItem["lowConfidenceWords"][number] {
  if (typeof w !== "object" || w === null) return false;
  const o = w as Record<string, unknown>;
  return (
    typeof o.text === "string" &&
    isSeconds(o.startTime) &&
    isSeconds(o.endTime) &&
    typeof o.confidence === "number" &&
    o.confidence >= 0 &&
    o.confidence <= 1
  );
}

/** Contract 2's times: finite seconds from 0 to one year. */
const MAX_SECONDS = 31_536_000;
function isSeconds(value: unknown): value is number {
  return typeof value === "number" && value >= 0 && value <= MAX_SECONDS;
}

interface Collected {
  result: TranscriptResult;
  mark: GateMark | undefined;
  size: DocumentSize;
  /** Offsets into `result.text`, word indexes into `result.words`. */
  entities: readonly DocumentEntity[];
}

/** How much of each limit a document (or one result) takes. */
export interface DocumentSize {
  words: number;
  segments: number;
  bytes: number;
  entities: number;
}

/** The size a final result (with its entities) adds to a document. Linear in the result. */
export function resultSize(
  result: TranscriptResult,
  mark: GateMark | undefined,
  entities: readonly DocumentEntity[] = [],
): DocumentSize {
  // Each segment may add its speaker label, ": " and a line break to the document's text.
  let bytes =
    utf8(result.segmentId) + utf8(result.text) + 3 + 2 * (utf8(result.speaker) + utf8(result.channel));
  for (const w of result.words) bytes += utf8(w.text) + utf8(w.speaker) + utf8(w.channel);
  if (mark) {
    bytes += utf8(mark.reason);
    for (const w of mark.lowConfidenceWords ?? []) bytes += utf8(w.text);
  }
  // UTF-16 units, not bytes: a bound (an entity's strings are short, mostly ASCII).
  for (const e of entities) bytes += entityChars(e);
  return { words: result.words.length, segments: 1, bytes, entities: entities.length };
}

/**
 * The fields of a result a document uses, copied: contract 2 lets a message carry other properties,
 * which must neither count against nor escape the limits by being kept.
 */
function compact(r: TranscriptResult): TranscriptResult {
  return {
    provider: r.provider,
    sessionId: r.sessionId,
    segmentId: r.segmentId,
    isFinal: r.isFinal,
    text: r.text,
    confidence: r.confidence,
    startTime: r.startTime,
    endTime: r.endTime,
    words: r.words.map(compactWord),
    ...(r.speaker !== undefined ? { speaker: r.speaker } : {}),
    ...(r.channel !== undefined ? { channel: r.channel } : {}),
    language: r.language,
  };
}

function compactWord(w: TranscriptWord): TranscriptWord {
  // Assignments rather than conditional spreads: this runs for every word of every final.
  const word: TranscriptWord = {
    text: w.text,
    startTime: w.startTime,
    endTime: w.endTime,
    confidence: w.confidence,
    kind: w.kind,
  };
  if (w.speaker !== undefined) word.speaker = w.speaker;
  if (w.channel !== undefined) word.channel = w.channel;
  if (w.stable !== undefined) word.stable = w.stable;
  if (w.vocabularyFilterMatch !== undefined) word.vocabularyFilterMatch = w.vocabularyFilterMatch;
  return word;
}

/**
 * UTF-8 bytes of a text, counted in JavaScript: for the many short texts of words this is several
 * times faster than a call into Buffer.byteLength for each.
 */
function utf8(text: string | undefined): number {
  if (text === undefined) return 0;
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) bytes += 1;
    else {
      // Three bytes, or four for a surrogate pair (two units); a lone surrogate is written as U+FFFD.
      bytes += 2;
      const next = text.charCodeAt(i + 1);
      if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return bytes;
}

/** The first limit `size` exceeds, if any. */
export function exceededLimit(size: DocumentSize): LimitKind | undefined {
  if (size.words > DOCUMENT_LIMITS.words) return "words";
  if (size.segments > DOCUMENT_LIMITS.segments) return "segments";
  if (size.bytes > DOCUMENT_LIMITS.bytes) return "bytes";
  if (size.entities > DOCUMENT_LIMITS.entities) return "entities";
  return undefined;
}

/** What `SessionCollector.add` did: added the result, or not, because of which limit. */
export type AddResult = { added: true } | { added: false; limit: LimitKind };

/** The finals of one session, as they arrive, until the document is built. */
export class SessionCollector {
  /** Chosen at the first result, so a document built twice from one session keeps its id. */
  readonly documentId: string;
  private readonly bySegment = new Map<string, Collected>();
  private firstArrivalMs: number | undefined;
  private firstEndTime = 0;
  private readonly total: DocumentSize = { words: 0, segments: 0, bytes: 0, entities: 0 };

  constructor(
    readonly sessionId: string,
    documentId: string = randomUUID(),
  ) {
    this.documentId = documentId;
  }

  get segmentCount(): number {
    return this.bySegment.size;
  }

  /** How much of each limit the document takes so far. */
  get size(): DocumentSize {
    return { ...this.total };
  }

  /**
   * Adds a final result, unless the document would then exceed one of `DOCUMENT_LIMITS` (it is
   * left as it was). A later final for the same segment replaces the earlier one (a provider may
   * correct itself, and its entities with it); partials are the caller's to drop. `entities`: those
   * found in this final (readResultEntities), offsets into its text.
   */
  add(
    result: TranscriptResult,
    mark: GateMark | undefined,
    nowMs: number,
    entities: readonly DocumentEntity[] = [],
  ): AddResult {
    const size = resultSize(result, mark, entities);
    const previous = this.bySegment.get(result.segmentId)?.size;
    const next: DocumentSize = {
      words: this.total.words + size.words - (previous?.words ?? 0),
      segments: this.total.segments + size.segments - (previous?.segments ?? 0),
      bytes: this.total.bytes + size.bytes - (previous?.bytes ?? 0),
      entities: this.total.entities + size.entities - (previous?.entities ?? 0),
    };
    const limit = exceededLimit(next);
    if (limit) return { added: false, limit };
    if (this.firstArrivalMs === undefined) {
      this.firstArrivalMs = nowMs;
      this.firstEndTime = result.endTime;
    }
    this.bySegment.set(result.segmentId, { result: compact(result), mark, size, entities });
    Object.assign(this.total, next);
    return { added: true };
  }

  build(endReason: DocumentEndReason, nowMs: number): TranscriptDocument {
    return assembleDocument({
      documentId: this.documentId,
      sessionId: this.sessionId,
      collected: [...this.bySegment.values()],
      startedAtMs: (this.firstArrivalMs ?? nowMs) - this.firstEndTime * 1000,
      nowMs,
      endReason,
    });
  }
}

interface AssembleInput {
  documentId: string;
  sessionId: string;
  collected: Collected[];
  startedAtMs: number;
  nowMs: number;
  endReason: DocumentEndReason;
}

function assembleDocument(input: AssembleInput): TranscriptDocument {
  // Results may arrive out of order (two channels, a reconnect): the document follows spoken time.
  const ordered = [...input.collected].sort(
    (a, b) => a.result.startTime - b.result.startTime || a.result.endTime - b.result.endTime,
  );
  const segments = ordered.map(({ result, mark }) => toSegment(result, mark));
  const placed: Placement[] = [];
  const turns = toTurns(segments, placed);
  const several = new Set(turns.map((t) => t.speaker ?? "")).size > 1;
  const labels = turns.map((t) => (several ? `${t.speaker ?? "unknown"}: ` : ""));
  // One loop for the words and their statistics, no intermediate arrays: at 50,000 words this is
  // most of the document's cost.
  const words: TranscriptWord[] = [];
  const stats = { count: 0, sum: 0, min: Infinity };
  for (const { result } of ordered) {
    for (const w of result.words) {
      words.push(w);
      if (w.kind === "word" && typeof w.confidence === "number") {
        stats.count++;
        stats.sum += w.confidence;
        if (w.confidence < stats.min) stats.min = w.confidence;
      }
    }
  }
  const first = ordered[0]?.result;
  const last = ordered.reduce((end, { result }) => Math.max(end, result.endTime), 0);
  return {
    documentId: input.documentId,
    sessionId: input.sessionId,
    provider: first?.provider ?? "unknown",
    language: first?.language ?? "und",
    startedAt: new Date(Math.round(input.startedAtMs)).toISOString(),
    completedAt: new Date(input.nowMs).toISOString(),
    durationSeconds: first ? round3(last - first.startTime) : 0,
    endReason: input.endReason,
    text: turns.map((t, i) => `${labels[i] ?? ""}${t.text}`).join("\n"),
    turns,
    segments,
    words,
    review: ordered.flatMap(({ result, mark }) =>
      mark && !mark.passed
        ? [
            {
              segmentId: result.segmentId,
              startTime: result.startTime,
              endTime: result.endTime,
              reason: mark.reason ?? "review",
              lowConfidenceWords: mark.lowConfidenceWords ?? [],
            },
          ]
        : [],
    ),
    quality: {
      meanConfidence: stats.count ? stats.sum / stats.count : null,
      minConfidence: stats.count ? stats.min : null,
      wordCount: stats.count,
      segmentCount: segments.length,
      reviewSegmentCount: segments.filter((s) => s.review).length,
    },
    ...entitiesField(ordered, placed, turns, labels),
  };
}

/** Where a segment's (trimmed) text sits: in which turn, from which character of the turn's text. */
type Placement = { turn: number; offset: number } | undefined;

/**
 * The entities of the finals, moved into the document's text: each turn starts after the lines
 * before it (and its speaker label), each segment at its place in its turn, and trimming removed the
 * white space before a final's text. Word indexes move by the words of the finals before. Linear.
 */
function entitiesField(
  ordered: readonly Collected[],
  placed: readonly Placement[],
  turns: readonly DocumentTurn[],
  labels: readonly string[],
): { entities?: DocumentEntity[] } {
  if (!ordered.some((c) => c.entities.length > 0)) return {};
  const turnStart: number[] = [];
  let cursor = 0;
  turns.forEach((t, i) => {
    cursor += (labels[i] ?? "").length;
    turnStart.push(cursor);
    cursor += t.text.length + 1;
  });
  const entities: DocumentEntity[] = [];
  let wordBase = 0;
  ordered.forEach(({ result, entities: found }, i) => {
    const place = placed[i];
    if (place && found.length > 0) {
      const lead = result.text.length - result.text.trimStart().length;
      const kept = result.text.trim().length;
      const shift = (turnStart[place.turn] ?? 0) + place.offset - lead;
      for (const e of found) {
        const moved = placeEntity(e, shift, lead, lead + kept, wordBase);
        if (moved) entities.push(moved);
      }
    }
    wordBase += result.words.length;
  });
  return { entities };
}

function toSegment(result: TranscriptResult, mark: GateMark | undefined): DocumentSegment {
  const speaker = speakerOf(result);
  return {
    segmentId: result.segmentId,
    ...(speaker !== undefined ? { speaker } : {}),
    startTime: result.startTime,
    endTime: result.endTime,
    text: result.text.trim(),
    confidence: result.confidence,
    review: mark !== undefined && !mark.passed,
  };
}

/** The segment's speaker, else its first word's, else its channel: whatever tells voices apart. */
function speakerOf(result: TranscriptResult): string | undefined {
  const fromWord = result.words.find((w) => w.speaker !== undefined)?.speaker;
  const channel = result.channel ?? result.words.find((w) => w.channel !== undefined)?.channel;
  return result.speaker ?? fromWord ?? (channel !== undefined ? `ch_${channel}` : undefined);
}

/**
 * Consecutive segments of one speaker form a turn; empty segments add nothing. `placed` gets, for each
 * segment, where its text sits in the turns (undefined for an empty one).
 */
function toTurns(segments: DocumentSegment[], placed: Placement[] = []): DocumentTurn[] {
  const turns: DocumentTurn[] = [];
  for (const s of segments) {
    if (s.text === "") {
      placed.push(undefined);
      continue;
    }
    const previous = turns[turns.length - 1];
    if (previous && previous.speaker === s.speaker) {
      placed.push({ turn: turns.length - 1, offset: previous.text.length + 1 });
      previous.text = `${previous.text} ${s.text}`;
      previous.endTime = Math.max(previous.endTime, s.endTime);
    } else {
      placed.push({ turn: turns.length, offset: 0 });
      turns.push({
        ...(s.speaker !== undefined ? { speaker: s.speaker } : {}),
        startTime: s.startTime,
        endTime: s.endTime,
        text: s.text,
      });
    }
  }
  return turns;
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

/** Why a value is not a transcript document; names the field and what is accepted, never its value. */
export class NotATranscriptDocumentError extends Error {
  override readonly name = "NotATranscriptDocumentError";
  readonly code = "NOT_A_TRANSCRIPT_DOCUMENT";
  constructor(
    readonly field: string,
    readonly problem = "is missing or of the wrong type",
  ) {
    super(
      `msg.payload is not a transcript document: payload.${field} ${problem}. ` +
        "Accepted: the output of the transcript-document node.",
    );
  }
}

export type CheckedDocument =
  { ok: true; value: TranscriptDocument } | { ok: false; error: NotATranscriptDocumentError };

/** Longest documentId and provider accepted (a UUID has 36 characters). */
const MAX_ID_CHARS = 128;
const LANGUAGE = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,8}$/;
/** An ISO 8601 instant with a zone, as toISOString() writes it (FHIR `instant`, HL7 DTM). */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const EARLIEST = Date.UTC(1900, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59);

/**
 * The fields the delivery builders rely on, each checked at the edge (type, range, size); the rest
 * is carried along unread. A document from a flow may be anything, so nothing is trusted.
 */
export function checkTranscriptDocument(value: unknown): CheckedDocument {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: new NotATranscriptDocumentError("documentId") };
  }
  const v = value as Record<string, unknown>;
  const fail = (field: string, problem?: string): CheckedDocument => ({
    ok: false,
    error: new NotATranscriptDocumentError(field, problem),
  });
  const strings = ["documentId", "sessionId", "provider", "language", "startedAt", "completedAt", "text"];
  for (const field of strings) {
    if (typeof v[field] !== "string") return fail(field);
  }
  for (const field of ["documentId", "provider"]) {
    const id = v[field] as string;
    if (id.trim() === "" || id.length > MAX_ID_CHARS) {
      return fail(field, `must be a non-empty string of at most ${MAX_ID_CHARS} characters`);
    }
  }
  const sessionFault = sessionIdFault(v.sessionId as string);
  if (sessionFault !== undefined) return fail("sessionId", sessionFault);
  if (!LANGUAGE.test(v.language as string)) return fail("language", "must be a language tag such as en-US");
  for (const field of ["startedAt", "completedAt"]) {
    const text = v[field] as string;
    const ms = INSTANT.test(text) ? Date.parse(text) : NaN;
    if (!(ms >= EARLIEST && ms <= LATEST)) {
      return fail(
        field,
        "must be an ISO 8601 date and time with a zone (such as 2026-01-15T14:30:00.000Z), from 1900 to 9999",
      );
    }
  }
  const text = v.text as string;
  // A UTF-8 byte is never fewer than a UTF-16 code unit: the cheap check first.
  if (text.length > DOCUMENT_LIMITS.bytes || Buffer.byteLength(text, "utf8") > DOCUMENT_LIMITS.bytes) {
    return fail("text", `must be at most ${DOCUMENT_LIMITS.bytes} bytes (UTF-8)`);
  }
  const duration = v.durationSeconds;
  if (typeof duration !== "number" || !(duration >= 0 && duration <= MAX_SECONDS)) {
    return fail("durationSeconds", `must be a number of seconds from 0 to ${MAX_SECONDS}`);
  }
  if (!Array.isArray(v.review)) return fail("review");
  // A scribe's note is walked by every delivery builder and the review page: checked here, once.
  const noteProblem = v.note === undefined ? undefined : checkNote(v.note);
  if (noteProblem) return fail(noteProblem.field, noteProblem.problem);
  return { ok: true, value: value as TranscriptDocument };
}
