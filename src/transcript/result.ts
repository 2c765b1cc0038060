/**
 * Contract 2: the normalised transcript result that every transcriber emits and everything
 * downstream (filter-final, confidence-gate, documents, delivery) reads.
 *
 * The JSON Schema beside this file (`result.schema.json`) is the published form of these types;
 * a test keeps the two in step.
 */

/** Known providers; the contract stays open to others. */
export type ProviderId = "aws-transcribe-medical" | "assemblyai" | (string & {});

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
}

export interface TranscriptEntity {
  /** For example "PHI" from Amazon Transcribe Medical. */
  category: string;
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
  /** BCP-47 language tag, for example "en-US". */
  language: string;
}

export interface TranscriptResultMessage {
  /** Session id, equal to `payload.sessionId`. */
  topic: string;
  payload: TranscriptResult;
  /** The provider's own event, only when the node is configured to keep it. */
  raw?: unknown;
}
