import { EntitiesError } from "./errors";
import type { Operation } from "./limits";

/** A medical-entities node's settings, checked. */
export interface EntitiesNodeOptions {
  operations: Operation[];
  deidentify: boolean;
  /** Messages analysed at once by one node. */
  concurrency: number;
  /** Messages waiting for a turn; one more is refused with QUEUE_FULL. */
  queueLimit: number;
  /** Bound on each request to the service (connection included), ms. */
  timeoutMs: number;
}

export const CONCURRENCY = { min: 1, max: 10 } as const;
export const QUEUE_LIMIT = { min: 0, max: 10_000 } as const;
export const TIMEOUT_S = { min: 1, max: 120 } as const;

/** A whole number from the editor (which stores what was typed, so text of a number counts). */
function whole(v: unknown, what: string, range: { min: number; max: number }): number {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < range.min || n > range.max) {
    throw new EntitiesError(
      "BAD_OPTIONS",
      `${what} must be a whole number from ${range.min} to ${range.max}`,
    );
  }
  return n;
}

/** Reads the editor's settings; problems name the setting and what is accepted. */
export function entitiesNodeOptions(c: {
  opEntities?: unknown;
  opIcd10cm?: unknown;
  opRxnorm?: unknown;
  opSnomedct?: unknown;
  deidentify?: unknown;
  concurrency?: unknown;
  queueLimit?: unknown;
  timeoutS?: unknown;
}): EntitiesNodeOptions {
  const operations: Operation[] = [];
  if (c.opEntities === true) operations.push("entities");
  if (c.opIcd10cm === true) operations.push("icd10cm");
  if (c.opRxnorm === true) operations.push("rxnorm");
  if (c.opSnomedct === true) operations.push("snomedct");
  const deidentify = c.deidentify === true;
  if (operations.length === 0 && !deidentify) {
    throw new EntitiesError(
      "BAD_OPTIONS",
      "choose at least one of: entities, ICD-10-CM, RxNorm, SNOMED CT, or de-identification",
    );
  }
  return {
    operations,
    deidentify,
    concurrency: whole(c.concurrency, "concurrency", CONCURRENCY),
    queueLimit: whole(c.queueLimit, "queue limit", QUEUE_LIMIT),
    timeoutMs: whole(c.timeoutS, "request timeout (seconds)", TIMEOUT_S) * 1000,
  };
}
