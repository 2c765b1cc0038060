import { randomUUID } from "node:crypto";
import { meanConfidence, scoredWords } from "./confidence";
import type { TranscriptResult, TranscriptWord } from "./result";

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
}

/**
 * flush: a flush message; idle: the idle timeout; ended: the transcriber's session-ended event
 * (`ended`, `termination`); error: the transcriber's session `error` event (the text may be cut short).
 */
export type DocumentEndReason = "flush" | "idle" | "ended" | "error";

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

/** Reads `msg.confidenceGate` defensively: anything that is not a gate decision counts as no mark. */
export function gateMarkOf(value: unknown): GateMark | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.passed !== "boolean") return undefined;
  const words = Array.isArray(v.lowConfidenceWords)
    ? (v.lowConfidenceWords as unknown[]).filter(isLowWord)
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
    typeof o.startTime === "number" &&
    typeof o.endTime === "number" &&
    typeof o.confidence === "number"
  );
}

interface Collected {
  result: TranscriptResult;
  mark: GateMark | undefined;
}

/** The finals of one session, as they arrive, until the document is built. */
export class SessionCollector {
  /** Chosen at the first result, so a document built twice from one session keeps its id. */
  readonly documentId: string;
  private readonly bySegment = new Map<string, Collected>();
  private firstArrivalMs: number | undefined;
  private firstEndTime = 0;

  constructor(
    readonly sessionId: string,
    documentId: string = randomUUID(),
  ) {
    this.documentId = documentId;
  }

  get segmentCount(): number {
    return this.bySegment.size;
  }

  /**
   * Adds a final result. A later final for the same segment replaces the earlier one (a provider
   * may correct itself); partials are the caller's to drop.
   */
  add(result: TranscriptResult, mark: GateMark | undefined, nowMs: number): void {
    if (this.firstArrivalMs === undefined) {
      this.firstArrivalMs = nowMs;
      this.firstEndTime = result.endTime;
    }
    this.bySegment.set(result.segmentId, { result, mark });
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
  const turns = toTurns(segments);
  const several = new Set(turns.map((t) => t.speaker ?? "")).size > 1;
  const words = ordered.flatMap(({ result }) => result.words);
  const scored = scoredWords(words);
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
    text: turns.map((t) => (several ? `${t.speaker ?? "unknown"}: ${t.text}` : t.text)).join("\n"),
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
      meanConfidence: meanConfidence(words),
      minConfidence: scored.length ? scored.reduce((m, w) => Math.min(m, w.confidence), Infinity) : null,
      wordCount: scored.length,
      segmentCount: segments.length,
      reviewSegmentCount: segments.filter((s) => s.review).length,
    },
  };
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

/** Consecutive segments of one speaker form a turn; empty segments add nothing. */
function toTurns(segments: DocumentSegment[]): DocumentTurn[] {
  const turns: DocumentTurn[] = [];
  for (const s of segments) {
    if (s.text === "") continue;
    const previous = turns[turns.length - 1];
    if (previous && previous.speaker === s.speaker) {
      previous.text = `${previous.text} ${s.text}`;
      previous.endTime = Math.max(previous.endTime, s.endTime);
    } else {
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

/** Why a value is not a transcript document; names the field, never its value. */
export class NotATranscriptDocumentError extends Error {
  override readonly name = "NotATranscriptDocumentError";
  readonly code = "NOT_A_TRANSCRIPT_DOCUMENT";
  constructor(readonly field: string) {
    super(
      `msg.payload is not a transcript document: payload.${field} is missing or of the wrong type. ` +
        "Accepted: the output of the transcript-document node.",
    );
  }
}

export type CheckedDocument =
  { ok: true; value: TranscriptDocument } | { ok: false; error: NotATranscriptDocumentError };

/** The fields the delivery builders rely on; the rest is carried along unread. */
export function checkTranscriptDocument(value: unknown): CheckedDocument {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, error: new NotATranscriptDocumentError("documentId") };
  }
  const v = value as Record<string, unknown>;
  const strings = ["documentId", "sessionId", "provider", "language", "startedAt", "completedAt", "text"];
  for (const field of strings) {
    if (typeof v[field] !== "string") return { ok: false, error: new NotATranscriptDocumentError(field) };
  }
  if (typeof v.documentId === "string" && v.documentId.trim() === "") {
    return { ok: false, error: new NotATranscriptDocumentError("documentId") };
  }
  for (const field of ["startedAt", "completedAt"]) {
    if (Number.isNaN(Date.parse(v[field] as string))) {
      return { ok: false, error: new NotATranscriptDocumentError(field) };
    }
  }
  if (typeof v.durationSeconds !== "number") {
    return { ok: false, error: new NotATranscriptDocumentError("durationSeconds") };
  }
  if (!Array.isArray(v.review)) return { ok: false, error: new NotATranscriptDocumentError("review") };
  return { ok: true, value: value as TranscriptDocument };
}
