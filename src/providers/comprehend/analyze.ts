import type { Scheduler } from "../../util/scheduler";
import { deidentify, type PhiSpan } from "./deidentify";
import { entitiesOfAnswer, mergeEntities, type MedicalEntity } from "./entities";
import { EntitiesError } from "./errors";
import { limitOf, MAX_INPUT_BYTES, type Operation } from "./limits";
import { withRetry, type RetryPolicy } from "./retry";
import { offsetMapper, splitText, wellFormed } from "./text";
import { alignWords, timingOf, type TimedWord } from "./words";

/** One request to the service: the operation and a text within its limits; resolves to its answer. */
export type CallOperation = (op: Operation, text: string, signal: AbortSignal) => Promise<unknown>;

export interface AnalyzeOptions {
  /** entities, icd10cm, rxnorm, snomedct, phi: at least one (or `deidentify`). */
  operations: readonly Operation[];
  /** Also run DetectPHI and return the text with PHI replaced by its type. */
  deidentify: boolean;
  retry: RetryPolicy;
  scheduler: Scheduler;
  signal: AbortSignal;
  random?: () => number;
  onRetry?: (code: string) => void;
}

export interface Analysis {
  entities: MedicalEntity[];
  /** The text with PHI replaced by `[TYPE]`, when de-identification was asked for. */
  deidentified?: string;
  /** Requests made (retries included) and retries among them: for status and cost. */
  requests: number;
  retries: number;
}

/**
 * The text as it will be analysed, checked: a string with content, at most MAX_INPUT_BYTES of UTF-8,
 * lone surrogates replaced (see wellFormed). Errors name the problem, never the text.
 */
export function checkText(text: string): string {
  if (text.trim() === "") {
    throw new EntitiesError("EMPTY_TEXT", "The text to analyse is empty (or only white space).");
  }
  if (text.length > MAX_INPUT_BYTES || Buffer.byteLength(text, "utf8") > MAX_INPUT_BYTES) {
    throw new EntitiesError(
      "TEXT_TOO_LARGE",
      `The text to analyse is larger than ${MAX_INPUT_BYTES} bytes (UTF-8), the largest transcript document; send it in parts.`,
    );
  }
  return wellFormed(text);
}

/**
 * Analyses `text` with each operation asked for: the text is split at sentence boundaries within the
 * operation's limits, each piece is sent (one at a time, throttling retried with back-off), and the
 * entities are merged with their offsets shifted back onto the whole text. With `words` (the
 * transcript's words, assembled into `text`), each entity also gets the words, times and speaker it
 * covers.
 */
export async function analyze(
  call: CallOperation,
  rawText: string,
  words: readonly TimedWord[] | null,
  opts: AnalyzeOptions,
): Promise<Analysis> {
  const text = checkText(rawText);
  const ops: Operation[] = [...new Set(opts.operations)];
  if (opts.deidentify && !ops.includes("phi")) ops.push("phi");
  if (ops.length === 0) throw new EntitiesError("BAD_OPTIONS", "No operation is selected.");
  let requests = 0;
  let retries = 0;
  const found: MedicalEntity[] = [];
  for (const op of ops) {
    const limit = limitOf(op);
    for (const chunk of splitText(text, limit)) {
      const answer = await withRetry(
        () => {
          requests++;
          return call(op, chunk.text, opts.signal);
        },
        {
          policy: opts.retry,
          scheduler: opts.scheduler,
          signal: opts.signal,
          ...(opts.random ? { random: opts.random } : {}),
          onRetry: (code) => {
            retries++;
            opts.onRetry?.(code);
          },
        },
      );
      for (const e of entitiesOfAnswer(op, answer, offsetMapper(chunk))) found.push(e);
    }
  }
  const entities = mergeEntities(found);
  if (words && words.length > 0) {
    const spans = alignWords(text, words);
    for (const e of entities) {
      const timing = timingOf(e, words, spans);
      if (timing) e.timing = timing;
    }
  }
  const result: Analysis = { entities, requests, retries };
  if (opts.deidentify) {
    const phi: PhiSpan[] = entities
      .filter((e) => e.category === "PROTECTED_HEALTH_INFORMATION")
      .map((e) => ({ type: e.type, beginOffset: e.beginOffset, endOffset: e.endOffset }));
    result.deidentified = deidentify(text, phi);
  }
  return result;
}
