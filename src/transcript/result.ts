/**
 * Contract 2: the normalised transcript result that every transcriber emits and everything
 * downstream (filter-final, confidence-gate, documents, delivery) reads.
 *
 * The JSON Schema beside this file (`result.schema.json`) is the published form of these types;
 * a test keeps the two in step.
 */

/** Known providers; the contract stays open to others. */
export type ProviderId = "aws-transcribe-medical" | "aws-transcribe" | "assemblyai" | (string & {});

export type WordKind = "word" | "punctuation";

export interface TranscriptWord {
  text: string;
  /** Seconds from the start of the session. */
  startTime: number;
  endTime: number;
  /** 0..1, or null where the provider gives none (for example AWS partials). */
  confidence: number | null;
  kind: WordKind;
  speaker?: string;
  channel?: string;
  /**
   * Present when the provider says whether a word of a partial can still change: true once it will
   * not (Amazon Transcribe partial-results stabilisation, AssemblyAI `word_is_final`), so a live
   * caption can show stable words early. Words of a final result are always stable.
   */
  stable?: boolean;
  /** The word matched the provider's vocabulary filter (Amazon Transcribe, filter method "tag"). */
  vocabularyFilterMatch?: boolean;
}

export interface TranscriptEntity {
  /** "PHI" from Amazon Transcribe Medical, "PII" from Amazon Transcribe. */
  category: string;
  /** The kind of PII, for example "NAME" or "SSN" (Amazon Transcribe). */
  type?: string;
  text: string;
  startTime: number;
  endTime: number;
  confidence: number | null;
}

export interface TranscriptResult {
  provider: ProviderId;
  sessionId: string;
  /** Stable across the partials and the final of one segment. */
  segmentId: string;
  isFinal: boolean;
  /**
   * True: what was shown of this segment's partials is withdrawn, and nothing more comes under its
   * segmentId. A transcriber sends it when the connection is lost while the segment was open (the
   * audio is transcribed again, under a new segment) or when the session ends before its final. It
   * comes with `isFinal: false`, empty text and no words; see `withdrawal()`.
   */
  withdrawn?: boolean;
  text: string;
  /** Mean of the word confidences; null when the provider gives none. */
  confidence: number | null;
  /** Seconds from the start of the session (not of the provider connection), at most one year. */
  startTime: number;
  endTime: number;
  words: TranscriptWord[];
  speaker?: string;
  channel?: string;
  entities?: TranscriptEntity[];
  /**
   * BCP-47 language tag, for example "en-US": the configured language, or the one the service
   * identified ("und" while it has not identified one yet).
   */
  language: string;
}

export interface TranscriptResultMessage {
  /** Session id, equal to `payload.sessionId`. */
  topic: string;
  payload: TranscriptResult;
  /** The provider's own event, only when the node is configured to keep it. */
  raw?: unknown;
}

/**
 * The result that withdraws an open segment's partials (contract 2 `withdrawn`): no text, no words,
 * the segment's id and times, so that a live display removes what it showed.
 */
export function withdrawal(
  partial: Pick<
    TranscriptResult,
    "provider" | "sessionId" | "segmentId" | "startTime" | "endTime" | "language"
  >,
): TranscriptResult {
  return {
    provider: partial.provider,
    sessionId: partial.sessionId,
    segmentId: partial.segmentId,
    isFinal: false,
    withdrawn: true,
    text: "",
    confidence: null,
    startTime: partial.startTime,
    endTime: partial.endTime,
    words: [],
    language: partial.language,
  };
}
