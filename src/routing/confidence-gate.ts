import { meanConfidence, scoredWords } from "../transcript/confidence";
import type { TranscriptResult } from "../transcript/result";

/**
 * - `mean`: the segment's mean word confidence must reach the threshold.
 * - `min`: every word must reach the threshold (the weakest word decides).
 * - `share`: at most `maxLowShare` of the words may fall below the threshold.
 */
export type GateMode = "mean" | "min" | "share";
export const GATE_MODES: readonly GateMode[] = ["mean", "min", "share"];

export interface GateOptions {
  mode: GateMode;
  /** 0..1 */
  threshold: number;
  /** 0..1, used by the `share` mode. */
  maxLowShare: number;
}

export interface LowConfidenceWord {
  text: string;
  startTime: number;
  endTime: number;
  confidence: number;
}

export type GateReason = "confident" | "below-threshold" | "no-confidence";

export interface GateDecision {
  route: "pass" | "review";
  reason: GateReason;
  mode: GateMode;
  threshold: number;
  /** The figure compared: mean, lowest word confidence, or share of low words; null without data. */
  score: number | null;
  /** Words below the threshold, in spoken order, so a reviewer sees where to look. */
  lowConfidenceWords: LowConfidenceWord[];
  wordCount: number;
}

export class GateOptionError extends Error {
  override readonly name = "GateOptionError";
}

/**
 * Validates a threshold or share from config or from a message; returns the number or throws. A value
 * from a message is described by its kind only (`echo: false`): whatever a flow put there (a session
 * id, a patient number) must not reach an error text.
 */
export function parseUnitInterval(value: unknown, what: string, { echo = true } = {}): number {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new GateOptionError(`${what} must be a number from 0 to 1 (got ${describe(value, echo)})`);
  }
  return n;
}

function describe(value: unknown, echo: boolean): string {
  if (value === null) return "null";
  if (typeof value === "string") {
    if (value.trim() === "") return "an empty string";
    const n = Number(value);
    if (!Number.isFinite(n)) return "a non-numeric string";
    return echo ? value.trim() : `a numeric string ${n < 0 ? "below 0" : "above 1"}`;
  }
  if (typeof value === "number") {
    if (echo || Number.isNaN(value)) return String(value);
    if (!Number.isFinite(value)) return "an infinite number";
    return `a number ${value < 0 ? "below 0" : "above 1"}`;
  }
  return typeof value;
}

export function evaluateGate(result: TranscriptResult, options: GateOptions): GateDecision {
  const { mode, threshold, maxLowShare } = options;
  const scored = scoredWords(result.words);
  const low = scored
    .filter((w) => w.confidence < threshold)
    .map(({ text, startTime, endTime, confidence }) => ({ text, startTime, endTime, confidence }));
  const base = { mode, threshold, lowConfidenceWords: low, wordCount: scored.length };

  let score: number | null;
  let confident: boolean;
  switch (mode) {
    case "mean":
      // The contract's own figure when the provider sent one; otherwise derived from the words.
      score = result.confidence ?? meanConfidence(result.words);
      confident = score !== null && score >= threshold;
      break;
    case "min":
      score = scored.length ? scored.reduce((lowest, w) => Math.min(lowest, w.confidence), 1) : null;
      confident = score !== null && score >= threshold;
      break;
    case "share":
      score = scored.length ? low.length / scored.length : null;
      confident = score !== null && score <= maxLowShare;
      break;
  }
  if (score === null) return { ...base, route: "review", reason: "no-confidence", score };
  return {
    ...base,
    route: confident ? "pass" : "review",
    reason: confident ? "confident" : "below-threshold",
    score,
  };
}
