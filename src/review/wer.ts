/**
 * Word error rate between the machine transcript (hypothesis) and the text a clinician signed
 * (reference): word-level Levenshtein distance over the reference length, the measure speech
 * recognition is judged by (NIST sclite: substitutions + deletions + insertions over reference words).
 *
 * Memory is linear (one band of the matrix at a time) and time is O(n·d) for d edits (Ukkonen's
 * band, doubled until the distance fits inside it): a reviewer fixes a few words of a long note, so
 * that is close to linear. A note so rewritten that the band would pass `maxCells` is reported as not
 * measurable rather than spending minutes on it.
 */

/** At most this many matrix cells are computed for one document (about 0.3 s of work). */
export const DEFAULT_MAX_WER_CELLS = 50_000_000;

export interface WerResult {
  /** Edits (substitutions + deletions + insertions), or null when the texts differ too much to measure. */
  errors: number | null;
  /** Words of the reference (the signed text). */
  referenceWords: number;
  /** errors / referenceWords; 0 for two empty texts; null when not measured. */
  wer: number | null;
}

/** Words for scoring: lower case, punctuation around a word removed ("Metoprolol," = "metoprolol"). */
export function scoringWords(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(/\s+/)) {
    const word = raw.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
    if (word !== "") out.push(word);
  }
  return out;
}

export function wordErrorRate(
  machineText: string,
  signedText: string,
  maxCells = DEFAULT_MAX_WER_CELLS,
): WerResult {
  const hyp = scoringWords(machineText);
  const ref = scoringWords(signedText);
  const errors = boundedDistance(ref, hyp, maxCells);
  return {
    errors,
    referenceWords: ref.length,
    wer: errors === null ? null : ref.length === 0 ? (hyp.length === 0 ? 0 : 1) : errors / ref.length,
  };
}

/** Levenshtein distance of two word lists, or null when it cannot be found within `maxCells` cells. */
export function boundedDistance(a: readonly string[], b: readonly string[], maxCells: number): number | null {
  // Common prefix and suffix cost nothing and are the usual case: most of a note is unchanged.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const x = a.slice(start, endA);
  const y = b.slice(start, endB);
  if (x.length === 0) return y.length;
  if (y.length === 0) return x.length;
  let band = Math.max(Math.abs(x.length - y.length), 8);
  let spent = 0;
  for (;;) {
    const rows = x.length + 1;
    const cells = rows * (2 * band + 1);
    if (spent + cells > maxCells) return null;
    spent += cells;
    const d = bandDistance(x, y, band);
    if (d <= band) return d;
    if (band >= Math.max(x.length, y.length)) return d;
    band *= 2;
  }
}

/**
 * Distance within the band |i - j| <= k; cells outside count as infinite. If the true distance is at
 * most k, the result is exact (every path leaving the band costs more than k).
 */
function bandDistance(x: readonly string[], y: readonly string[], k: number): number {
  const INF = Number.MAX_SAFE_INTEGER;
  const width = 2 * k + 1;
  // prev[t] / cur[t] hold column j = i - k + t of rows i-1 and i.
  let prev = new Array<number>(width).fill(INF);
  let cur = new Array<number>(width).fill(INF);
  for (let t = 0; t < width; t++) {
    const j = t - k;
    if (j >= 0 && j <= y.length) prev[t] = j;
  }
  for (let i = 1; i <= x.length; i++) {
    for (let t = 0; t < width; t++) {
      const j = i - k + t;
      if (j < 0 || j > y.length) {
        cur[t] = INF;
        continue;
      }
      if (j === 0) {
        cur[t] = i;
        continue;
      }
      // Row i-1 column j-1 is prev[t]; row i-1 column j is prev[t+1]; row i column j-1 is cur[t-1].
      const diagonal = prev[t] === INF ? INF : prev[t] + (x[i - 1] === y[j - 1] ? 0 : 1);
      const up = t + 1 < width && prev[t + 1] !== INF ? prev[t + 1] + 1 : INF;
      const left = t > 0 && cur[t - 1] !== INF ? cur[t - 1] + 1 : INF;
      cur[t] = Math.min(diagonal, up, left);
    }
    const swap = prev;
    prev = cur;
    cur = swap;
  }
  const t = y.length - x.length + k;
  return t >= 0 && t < width ? prev[t] : INF;
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
