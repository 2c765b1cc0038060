import type { EntityTiming, Span } from "./entities";

/** The fields of a transcript word this mapping reads (contract 2 `words`). */
export interface TimedWord {
  text: string;
  startTime: number;
  endTime: number;
  speaker?: string;
  channel?: string;
}

/** Where each word lies in the text: UTF-16 [begin, end), or null when it was not found. */
export type WordSpans = Array<Span | null>;

/**
 * How far past the previous word a word's text is looked for. The texts this package builds put
 * between two words at most a space, or a line break and a speaker label ("spk_1: "); a word that is
 * not found within this window is left unmapped rather than searched for to the end (which would make
 * the mapping quadratic).
 */
export const WORD_SEARCH_WINDOW = 256;

/**
 * Finds the words, in order, in the text they were assembled into (a result's or a document's
 * `text`). Linear: each search starts where the last word ended and looks at most
 * WORD_SEARCH_WINDOW characters ahead.
 */
export function alignWords(text: string, words: readonly TimedWord[]): WordSpans {
  const spans: WordSpans = [];
  let cursor = 0;
  for (const w of words) {
    const t = typeof w.text === "string" ? w.text : "";
    if (t === "") {
      spans.push(null);
      continue;
    }
    const window = text.slice(cursor, cursor + WORD_SEARCH_WINDOW + t.length);
    const at = window.indexOf(t);
    if (at < 0) {
      spans.push(null);
      continue;
    }
    const begin = cursor + at;
    spans.push({ beginOffset: begin, endOffset: begin + t.length });
    cursor = begin + t.length;
  }
  return spans;
}

/**
 * The words an entity's span overlaps, and so when it was said and by whom (the first covered word's
 * speaker and channel). Binary search over the word spans, which are in text order: O(log n) per entity.
 */
export function timingOf(
  span: Span,
  words: readonly TimedWord[],
  spans: WordSpans,
): EntityTiming | undefined {
  // The first word that ends after the span begins.
  let lo = 0;
  let hi = spans.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const s = nearestEnd(spans, mid);
    if (s !== null && s <= span.beginOffset) lo = mid + 1;
    else hi = mid;
  }
  let first = -1;
  let last = -1;
  for (let i = lo; i < spans.length; i++) {
    const s = spans[i];
    if (!s) continue;
    if (s.beginOffset >= span.endOffset) break;
    if (s.endOffset > span.beginOffset) {
      if (first < 0) first = i;
      last = i;
    }
  }
  if (first < 0) return undefined;
  const a = words[first];
  const b = words[last];
  if (!a || !b) return undefined;
  return {
    firstWord: first,
    lastWord: last,
    startTime: a.startTime,
    endTime: b.endTime,
    ...(typeof a.speaker === "string" ? { speaker: a.speaker } : {}),
    ...(typeof a.channel === "string" ? { channel: a.channel } : {}),
  };
}

/** The end of the word at `i`, or of the nearest mapped word before it (null when none is). */
function nearestEnd(spans: WordSpans, i: number): number | null {
  for (let j = i; j >= 0 && j > i - 64; j--) {
    const s = spans[j];
    if (s) return s.endOffset;
  }
  return null;
}
