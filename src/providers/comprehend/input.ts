import { checkTranscriptDocument, DOCUMENT_LIMITS } from "../../transcript/document";
import { EntitiesError } from "./errors";
import type { TimedWord } from "./words";

/**
 * What a medical-entities node is given, classified once at the edge:
 * - a contract-2 transcript result: a final is analysed (its words give entities times and speakers);
 *   a partial or a withdrawal is skipped (analysing partials would cost a request per partial);
 * - a transcript document (the transcript-document node's output);
 * - a plain string (a dictation or note from elsewhere): analysed without times.
 */
export type EntitiesInput =
  | { kind: "text"; text: string; words: TimedWord[] | null; source: "result" | "document" | "string" }
  | { kind: "skip" };

const ACCEPTED =
  "Accepted: a final transcript result (contract 2), a transcript document (transcript-document node) or a string.";

function notText(what: string): EntitiesError {
  return new EntitiesError("NOT_TEXT", `msg.payload ${what}. ${ACCEPTED}`);
}

/** The words that can be mapped: each with a text and finite times; others are skipped, never trusted. */
function wordsOf(v: unknown): TimedWord[] {
  if (!Array.isArray(v)) throw notText("has no words array");
  if (v.length > DOCUMENT_LIMITS.words) {
    throw notText(`has more than ${DOCUMENT_LIMITS.words} words (the transcript document limit)`);
  }
  const out: TimedWord[] = [];
  for (const w of v as unknown[]) {
    if (typeof w !== "object" || w === null) continue;
    const r = w as Record<string, unknown>;
    if (typeof r.text !== "string") continue;
    const start = r.startTime;
    const end = r.endTime;
    if (
      typeof start !== "number" ||
      typeof end !== "number" ||
      !Number.isFinite(start) ||
      !Number.isFinite(end)
    ) {
      continue;
    }
    out.push({
      text: r.text,
      startTime: start,
      endTime: end,
      ...(typeof r.speaker === "string" ? { speaker: r.speaker } : {}),
      ...(typeof r.channel === "string" ? { channel: r.channel } : {}),
    });
  }
  return out;
}

export function classifyInput(payload: unknown): EntitiesInput {
  if (typeof payload === "string") return { kind: "text", text: payload, words: null, source: "string" };
  if (Buffer.isBuffer(payload)) throw notText("is a Buffer (audio or bytes), not text");
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw notText(
      `is ${Array.isArray(payload) ? "an array" : payload === null ? "null" : `a ${typeof payload}`}`,
    );
  }
  const p = payload as Record<string, unknown>;
  if (typeof p.isFinal === "boolean") {
    if (p.withdrawn === true || !p.isFinal) return { kind: "skip" };
    if (typeof p.text !== "string") throw notText("is a transcript result without a text");
    return { kind: "text", text: p.text, words: wordsOf(p.words), source: "result" };
  }
  if (typeof p.documentId === "string") {
    const checked = checkTranscriptDocument(payload);
    if (!checked.ok) throw new EntitiesError("NOT_TEXT", checked.error.message);
    return { kind: "text", text: checked.value.text, words: wordsOf(p.words), source: "document" };
  }
  throw notText(
    "is an object that is neither a transcript result (isFinal) nor a transcript document (documentId)",
  );
}
