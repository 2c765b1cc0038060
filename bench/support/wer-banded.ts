// The word-level edit distance src/review/wer.ts used until the diagonal search replaced it: Ukkonen's band,
// doubled until the distance fits, with a cap on the matrix cells. Kept as the "before" of bench/loop-holds.ts
// and the reference the new search is tested against (test/unit/review/logic.test.ts).

/** The cap the banded search had: about 0.3 s of work. */
export const OLD_MAX_WER_CELLS = 50_000_000;

/** Levenshtein distance of two word lists, or null when it cannot be found within `maxCells` cells. */
export function bandedDistance(a: readonly string[], b: readonly string[], maxCells: number): number | null {
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
