/**
 * Word error rate between the machine transcript (hypothesis) and the text a clinician signed
 * (reference): word-level Levenshtein distance over the reference length, the measure speech
 * recognition is judged by (NIST sclite: substitutions + deletions + insertions over reference words).
 *
 * It is computed at signature, on the event loop of a process that carries live audio sessions, so its
 * work is bounded. The distance is found by following diagonals of the edit matrix (Ukkonen; Landau and
 * Vishkin): for each number of edits d, the furthest point each diagonal reaches, sliding over equal
 * words for free. Memory is linear and time is O(n + d²) when the edits are scattered through the note
 * (a reviewer fixing words here and there), O((n + m)·d) at worst, instead of the O(n·m) of the
 * textbook table. When the texts differ so much that the search would pass `maxSteps`, the document
 * is reported as not measured (docs/review.md says what a reviewer sees) rather than holding the loop.
 */

/**
 * At most this many steps (a diagonal extended or two words compared) for one document: about 15 ms of
 * work on a server core (bench/loop-holds.ts). Enough for every note up to 1,400 words however
 * rewritten (the steps grow as d²), and for a note at the document limit (50,000 words) with 1,400
 * corrections scattered through it (a word error rate of 2.8 %); edits in one passage cost less.
 */
export const DEFAULT_MAX_WER_STEPS = 2_000_000;

export interface WerResult {
  /** Edits (substitutions + deletions + insertions), or null when the texts differ too much to measure. */
  errors: number | null;
  /** Words of the reference (the signed text). */
  referenceWords: number;
  /** errors / referenceWords; 0 for two empty texts; null when not measured. */
  wer: number | null;
}

/**
 * Words for scoring: lower case, punctuation around a word removed ("Metoprolol," = "metoprolol"): each
 * run of non-space characters from its first letter or digit to its last. One pass of one expression
 * over the text (a replace per word took most of a signature's time at 50,000 words).
 */
const SCORING_WORD = /[\p{L}\p{N}](?:\S*[\p{L}\p{N}])?/gu;
export function scoringWords(text: string): string[] {
  return text.toLowerCase().match(SCORING_WORD) ?? [];
}

export function wordErrorRate(
  machineText: string,
  signedText: string,
  maxSteps = DEFAULT_MAX_WER_STEPS,
): WerResult {
  const hyp = scoringWords(machineText);
  const ref = scoringWords(signedText);
  const errors = boundedDistance(ref, hyp, maxSteps);
  return {
    errors,
    referenceWords: ref.length,
    wer: errors === null ? null : ref.length === 0 ? (hyp.length === 0 ? 0 : 1) : errors / ref.length,
  };
}

/** Levenshtein distance of two word lists, or null when it cannot be found within `maxSteps` steps. */
export function boundedDistance(a: readonly string[], b: readonly string[], maxSteps: number): number | null {
  // Words as small integers: the inner loop compares numbers, not strings.
  const ids = new Map<string, number>();
  const idsOf = (words: readonly string[]): Int32Array => {
    const out = new Int32Array(words.length);
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      let id = ids.get(w);
      if (id === undefined) {
        id = ids.size;
        ids.set(w, id);
      }
      out[i] = id;
    }
    return out;
  };
  const x = idsOf(a);
  const y = idsOf(b);
  const n = x.length;
  const m = y.length;
  if (n === 0) return m;
  if (m === 0) return n;
  // reach[k + n] is the furthest row i reached on diagonal k = j - i (j = i + k) with d edits; `prev`
  // holds d - 1. Adjacent cells of the edit table differ by at most one, so a candidate past the end of
  // its diagonal can be clamped to the end.
  const NONE = -1;
  let prev = new Int32Array(n + m + 1).fill(NONE);
  let cur = new Int32Array(n + m + 1).fill(NONE);
  const target = m - n;
  let steps = 0;
  // A slide stops where the budget does, and the budget is checked after every slide: in one round
  // of d every diagonal may slide the length of the text (a passage rewritten, then many repeated
  // words), so a check per round let one round run far past maxSteps (130 ms at 50,000 words).
  const slide = (k: number, from: number): number => {
    let i = from;
    const last = Math.min(n, m - k, from + (maxSteps - steps));
    while (i < last && x[i] === y[i + k]) i++;
    steps += i - from + 1;
    return i;
  };
  const first = slide(0, 0);
  if (first === n && target === 0) return 0;
  if (steps > maxSteps) return null;
  prev[n] = first;
  for (let d = 1; ; d++) {
    const low = Math.max(-n, -d);
    const high = Math.min(m, d);
    for (let k = low; k <= high; k++) {
      const last = Math.min(n, m - k);
      const sub = k >= -(d - 1) && k <= d - 1 && prev[k + n] !== NONE ? prev[k + n] + 1 : NONE;
      const del = k + 1 <= d - 1 && k + 1 <= m && prev[k + 1 + n] !== NONE ? prev[k + 1 + n] + 1 : NONE;
      const ins = k - 1 >= -(d - 1) && k - 1 >= -n && prev[k - 1 + n] !== NONE ? prev[k - 1 + n] : NONE;
      let i = Math.max(sub, del, ins, -k, 0);
      if (i > last) i = last;
      i = slide(k, i);
      cur[k + n] = i;
      if (k === target && i === n) return d;
      if (steps > maxSteps) return null;
    }
    const swap = prev;
    prev = cur;
    cur = swap;
  }
}

/**
 * Terms the reviewer put in that the machine did not write: the signed words minus the machine's
 * words, as multisets (linear). With a vocabulary (the site's drug and term list), only its words
 * count; without one, words of four letters or more that are not common English function words.
 */
export function correctedTerms(
  machineText: string,
  signedText: string,
  vocabulary: ReadonlySet<string>,
  maxTerms = 100,
): Map<string, number> {
  const have = new Map<string, number>();
  for (const w of scoringWords(machineText)) have.set(w, (have.get(w) ?? 0) + 1);
  const out = new Map<string, number>();
  for (const w of scoringWords(signedText)) {
    const left = have.get(w) ?? 0;
    if (left > 0) {
      have.set(w, left - 1);
      continue;
    }
    const counts =
      vocabulary.size > 0 ? vocabulary.has(w) : w.length >= 4 && !COMMON.has(w) && !/^\d+$/.test(w);
    if (!counts) continue;
    if (!out.has(w) && out.size >= maxTerms) continue;
    out.set(w, (out.get(w) ?? 0) + 1);
  }
  return out;
}

const COMMON = new Set(
  (
    "that this with from have they will would there their what when which were been into than then them " +
    "some also only over very your about after again being both could does doing down each more most much " +
    "other same should such these those through under until while where who whom whose here just like"
  ).split(" "),
);
