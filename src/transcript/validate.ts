import validateSchema from "./generated/result-validator";
import type { TranscriptResult } from "./result";
import { sessionIdFault } from "../util/session-id";

/** Why a value is not a transcript result; the message names the field and never echoes its value. */
export class NotATranscriptResultError extends Error {
  override readonly name = "NotATranscriptResultError";
  readonly code = "NOT_A_TRANSCRIPT_RESULT";
  constructor(
    /** JSON pointer of the offending field inside msg.payload ("" for the payload itself). */
    readonly field: string,
    readonly problem: string,
  ) {
    super(
      `msg.payload is not a transcript result: ${field ? `payload${field.replace(/\//g, ".")}` : "payload"} ${problem}. ` +
        "Accepted: the result messages of transcribe-medical, transcribe-standard or assemblyai-medical (contract 2 in the README).",
    );
  }
}

export type CheckedResult =
  { ok: true; value: TranscriptResult } | { ok: false; error: NotATranscriptResultError };

/** Checks a value against the published transcript-result JSON Schema. */
export function checkTranscriptResult(value: unknown): CheckedResult {
  // The session id is a key downstream (filter-final, confidence-gate, transcript-document): bounded
  // before the schema walks it, so a huge one costs nothing.
  const sessionId = (value as { sessionId?: unknown } | null | undefined)?.sessionId;
  const fault = typeof sessionId === "string" ? sessionIdFault(sessionId) : undefined;
  if (fault !== undefined) return { ok: false, error: new NotATranscriptResultError("/sessionId", fault) };
  if (validateSchema(value)) return { ok: true, value: value as TranscriptResult };
  const first = validateSchema.errors?.[0];
  if (!first) return { ok: false, error: new NotATranscriptResultError("", "does not match the schema") };
  let field = first.instancePath;
  let problem = (first.message ?? "is invalid").replace(/,/g, " or ");
  if (first.keyword === "required" && typeof first.params.missingProperty === "string") {
    field = `${field}/${first.params.missingProperty}`;
    problem = "is missing";
  } else if (first.keyword === "enum" && Array.isArray(first.params.allowedValues)) {
    problem = `must be one of ${first.params.allowedValues.map((v) => JSON.stringify(v)).join(", ")}`;
  } else if (first.keyword === "const" || (first.keyword === "maxItems" && field.endsWith("/words"))) {
    // Only a withdrawal (withdrawn: true) pins values: it carries no final, no text and no words.
    problem = `must be ${first.keyword === "const" ? JSON.stringify(first.params.allowedValue) : "empty"} in a withdrawal (withdrawn: true)`;
  } else if (first.keyword === "pattern") {
    problem = field.endsWith("/language") ? "must be a language tag such as en-US" : "must not be empty";
  }
  return { ok: false, error: new NotATranscriptResultError(field, problem) };
}
