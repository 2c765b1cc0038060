import type { TranscriptWord } from "./result";

/** A spoken word (not punctuation) whose confidence the provider reported. */
export type ScoredWord = TranscriptWord & { confidence: number };

export function scoredWords(words: readonly TranscriptWord[]): ScoredWord[] {
  return words.filter((w): w is ScoredWord => w.kind === "word" && typeof w.confidence === "number");
}

/** Mean of the word confidences, or null when no word carries one (the contract's `confidence`). */
export function meanConfidence(words: readonly TranscriptWord[]): number | null {
  const scored = scoredWords(words);
  if (scored.length === 0) return null;
  return scored.reduce((sum, w) => sum + w.confidence, 0) / scored.length;
}
