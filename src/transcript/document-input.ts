import {
  checkTranscriptDocument,
  DOCUMENT_LIMITS,
  gateMarkOf,
  type GateMark,
  type TranscriptDocument,
} from "./document";
import { readResultEntities, type DocumentEntity } from "./document-entities";
import { DocumentLimitError, sessionEventEnd } from "./document-sessions";
import type { DocumentEndReason } from "./document";
import type { TranscriptResult } from "./result";
import { checkTranscriptResult } from "./validate";
import { sessionIdProblem } from "../util/session-id";

/**
 * What a message to transcript-document is, worked out once at the edge; the node dispatches on
 * `kind` and never reads `msg` again:
 * - flush: `msg.control === "flush"`, for one session (`msg.topic`) or all (no topic);
 * - bad-control: any other `msg.control`;
 * - note-document: a scribe's document (`payload.note` set), checked whole: passed on as its session's document;
 * - end: a transcriber's session event that ends a session (`ended`, `termination`, `error`);
 * - event: another session event (changes nothing);
 * - partial: a valid result that is not final (ignored);
 * - final: a final result with the confidence gate's mark and the entities found in it;
 * - too-large: a result over a document limit on its own (refused before the schema walks it);
 * - invalid: not a transcript result (the contract check's error), or a session id refused (too long,
 *   control characters);
 * - refused: a scribe's document that fails the document check (counted as refused).
 */
export type DocumentInput =
  | { kind: "flush"; sessionId: string | undefined }
  | { kind: "bad-control" }
  | { kind: "note-document"; document: TranscriptDocument }
  | { kind: "end"; sessionId: string; reason: DocumentEndReason }
  | { kind: "event" }
  | { kind: "partial" }
  | {
      kind: "final";
      result: TranscriptResult;
      mark: GateMark | undefined;
      entities: DocumentEntity[];
    }
  | { kind: "too-large"; error: DocumentLimitError }
  | { kind: "invalid"; error: Error }
  | { kind: "refused"; error: Error };

/** The message properties read: the rest travels on untouched (a flush's properties go on with its document). */
export interface DocumentMessage {
  topic?: unknown;
  payload?: unknown;
  control?: unknown;
  confidenceGate?: unknown;
  /** The medical-entities node's output on a final. */
  entities?: unknown;
}

export function readDocumentInput(msg: DocumentMessage): DocumentInput {
  if (msg.control === "flush") {
    const sessionId = typeof msg.topic === "string" && msg.topic !== "" ? msg.topic : undefined;
    const problem = sessionId === undefined ? undefined : sessionIdProblem(sessionId, "msg.topic of a flush");
    if (problem !== undefined)
      return { kind: "invalid", error: new Error(`transcript-document: ${problem}`) };
    return { kind: "flush", sessionId };
  }
  if (msg.control !== undefined) return { kind: "bad-control" };
  if ((msg.payload as { note?: unknown } | null | undefined)?.note !== undefined) {
    const checked = checkTranscriptDocument(msg.payload);
    return checked.ok
      ? { kind: "note-document", document: checked.value }
      : { kind: "refused", error: checked.error };
  }
  const event = sessionEventEnd(msg.payload);
  if (event === "other") return { kind: "event" };
  if (event !== undefined) {
    const problem = sessionIdProblem(event.sessionId, "msg.payload.sessionId of a session event");
    if (problem !== undefined)
      return { kind: "invalid", error: new Error(`transcript-document: ${problem}`) };
    return { kind: "end", sessionId: event.sessionId, reason: event.reason };
  }
  const words = (msg.payload as { words?: unknown } | null | undefined)?.words;
  if (Array.isArray(words) && words.length > DOCUMENT_LIMITS.words) {
    return { kind: "too-large", error: new DocumentLimitError("words", DOCUMENT_LIMITS.words) };
  }
  const checked = checkTranscriptResult(msg.payload);
  if (!checked.ok) return { kind: "invalid", error: checked.error };
  const result = checked.value;
  if (!result.isFinal) return { kind: "partial" };
  const entities = readResultEntities(
    msg.entities,
    result.segmentId,
    result.text,
    result.words.length,
    DOCUMENT_LIMITS.entities,
  );
  if (entities.length > DOCUMENT_LIMITS.entities) {
    return { kind: "too-large", error: new DocumentLimitError("entities", DOCUMENT_LIMITS.entities) };
  }
  return { kind: "final", result, mark: gateMarkOf(msg.confidenceGate, result.words.length), entities };
}
