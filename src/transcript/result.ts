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
  text: string;
  /** Mean of the word confidences; null when the provider gives none. */
  confidence: number | null;
  /** Seconds from the start of the session (not of the provider connection). */
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
