/**
 * Text handling for Comprehend Medical requests: splitting a long text at sentence boundaries within
 * an operation's limits, and mapping the service's code-point offsets back to JavaScript string
 * indexes (UTF-16 code units) of the whole text. Everything here is linear in the text.
 */

/** A piece of the text sent in one request; `start` is its UTF-16 index in the whole text. */
export interface Chunk {
  text: string;
  start: number;
}

export interface SplitLimit {
  /** Most UTF-8 bytes per chunk, or null for none. */
  maxBytes: number | null;
  maxCodePoints: number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * The text with every lone surrogate replaced by U+FFFD. A lone surrogate cannot be encoded as UTF-8
 * (the service would refuse the request with InvalidEncodingException); the replacement has the same
 * UTF-16 length, so every index into the text stays valid.
 */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\uFFFD");
}

function utf8Bytes(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

function isSpace(cp: number): boolean {
  return cp === 0x20 || cp === 0x09 || cp === 0x0a || cp === 0x0d || cp === 0xa0 || cp === 0x2028;
}

/**
 * Splits `text` (well formed) into chunks within `limit`, cutting after a sentence end (".", "?" or
 * "!" followed by white space, or a line break), else after white space, else between two code
 * points. A cut is only taken in the second half of a chunk, so every chunk but the last holds at
 * least half the limit: the number of requests stays near the minimum and the scan stays linear.
 * Chunks are never empty; all-white-space chunks are dropped (the service refuses them as empty
 * of content and they hold no entity). Their texts, at their starts, make up the text.
 */
export function splitText(text: string, limit: SplitLimit): Chunk[] {
  const chunks: Chunk[] = [];
  const maxBytes = limit.maxBytes ?? Number.POSITIVE_INFINITY;
  let start = 0;
  while (start < text.length) {
    let i = start;
    let bytes = 0;
    let cps = 0;
    let sentenceCut = -1;
    let spaceCut = -1;
    let prev = -1;
    let cut = text.length;
    while (i < text.length) {
      const cp = text.codePointAt(i) ?? 0;
      const width = cp > 0xffff ? 2 : 1;
      const b = utf8Bytes(cp);
      if (bytes + b > maxBytes || cps + 1 > limit.maxCodePoints) {
        const half = start + (i - start) / 2;
        cut = sentenceCut >= half ? sentenceCut : spaceCut >= half ? spaceCut : i;
        break;
      }
      bytes += b;
      cps += 1;
      i += width;
      if (isSpace(cp)) {
        spaceCut = i;
        if (cp === 0x0a || prev === 0x2e || prev === 0x3f || prev === 0x21) sentenceCut = i;
      }
      prev = cp;
    }
    if (i >= text.length) cut = text.length;
    const piece = text.slice(start, cut);
    if (piece.trim() !== "") chunks.push({ text: piece, start });
    start = cut;
  }
  return chunks;
}

/**
 * Maps code-point offsets within `chunk` (as the service gives them) to UTF-16 indexes in the whole
 * text. Offsets past the end are clamped to it: the service's answer is not trusted to be in range.
 */
export function offsetMapper(chunk: Chunk): (codePointOffset: number) => number {
  const { text, start } = chunk;
  // Without surrogate pairs, a code point is a code unit (the usual case: no table needed).
  if (!/[\uD800-\uDBFF]/.test(text)) {
    return (o) => start + Math.min(Math.max(0, Math.trunc(o) || 0), text.length);
  }
  const units: number[] = [];
  for (let i = 0; i < text.length;) {
    units.push(i);
    i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
  }
  units.push(text.length);
  return (o) => start + (units[Math.min(Math.max(0, Math.trunc(o) || 0), units.length - 1)] ?? text.length);
}

/** Code points of a text (what the infer operations' limit counts). */
export function codePointLength(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c > 0xdbff || i + 1 >= text.length) n++;
    else {
      const d = text.charCodeAt(i + 1);
      n++;
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
  }
  return n;
}
