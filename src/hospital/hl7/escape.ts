/**
 * HL7 v2 text handling with the standard delimiters (`|^~\&`). Escaping alone is not enough: a raw
 * CR ends a segment and 0x0B/0x1C break MLLP framing, so text is cleaned before it is escaped.
 */

const ESCAPES = new Map([
  ["\\", "\\E\\"],
  ["|", "\\F\\"],
  ["^", "\\S\\"],
  ["&", "\\T\\"],
  ["~", "\\R\\"],
]);

/**
 * One pass over the text, so the escape character is escaped exactly once and the sequences it
 * introduces are never escaped again (the standard forbids nested escapes).
 */
export function escapeHl7(text: string): string {
  return text.replace(/[\\|^&~]/g, (c) => ESCAPES.get(c) ?? c);
}

const UNESCAPES = new Map([
  ["E", "\\"],
  ["F", "|"],
  ["S", "^"],
  ["T", "&"],
  ["R", "~"],
]);

/** The inverse of escapeHl7, for the delimiter escapes it produces; other sequences stay as they are. */
export function unescapeHl7(text: string): string {
  return text.replace(/\\([EFSTR])\\/g, (whole, code: string) => UNESCAPES.get(code) ?? whole);
}

// C0 controls other than TAB/LF/CR, DEL, C1 controls: none belongs in clinical text, and 0x0B/0x1C
// would end an MLLP frame early.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/g;

/**
 * Normalises line breaks to "\n" (CRLF, CR, U+2028/2029) and removes the other control
 * characters (including the MLLP frame bytes 0x0B and 0x1C).
 */
export function cleanText(text: string): string {
  return text.replace(/\r\n?|[\u2028\u2029]/g, "\n").replace(CONTROL, "");
}

/** A one-line field value: cleaned, line breaks and tabs as spaces, trimmed, escaped. */
export function fieldValue(value: string | number | undefined | null): string {
  if (value === undefined || value === null) return "";
  const text = cleanText(String(value))
    .replace(/[\n\t]+/g, " ")
    .replace(/ {2,}/g, " ")
    .trim();
  return escapeHl7(text);
}

/** Components of one field (`a^b^c`), each escaped; trailing empty components are dropped. */
export function components(...parts: Array<string | number | undefined | null>): string {
  const values = parts.map(fieldValue);
  while (values.length > 0 && values[values.length - 1] === "") values.pop();
  return values.join("^");
}

/**
 * Splits text into paragraphs (one per line) and each paragraph into lines whose escaped length
 * is at most `maxLength`, breaking at spaces; a word longer than that is cut. Runs of spaces and
 * tabs become one space, empty lines are dropped. Returns the raw (unescaped) pieces per paragraph.
 */
export function splitText(text: string, maxLength: number): string[][] {
  if (!Number.isInteger(maxLength) || maxLength < 16) {
    throw new RangeError("the maximum OBX-5 length must be a whole number of at least 16");
  }
  return (
    cleanText(text)
      .split("\n")
      // Only runs and tabs are rewritten: replacing every single space would copy the text for nothing.
      .map((line) => line.replace(/[\t ]{2,}|\t/g, " ").trim())
      .filter((line) => line !== "")
      .map((paragraph) => wrap(paragraph, maxLength))
  );
}

/**
 * Length of `text` (or of `text.slice(from, to)`) once escaped: each delimiter becomes a
 * three-character sequence. Counted, not built, so that wrapping measures every word once.
 */
export function escapedLength(text: string, from = 0, to = text.length): number {
  let length = to - from;
  for (let i = from; i < to; i++) {
    if (isDelimiter(text.charCodeAt(i))) length += 2;
  }
  return length;
}

// \\ | ^ & ~
function isDelimiter(code: number): boolean {
  return code === 0x5c || code === 0x7c || code === 0x5e || code === 0x26 || code === 0x7e;
}

/**
 * Greedy wrapping in one pass over the paragraph (its words are separated by single spaces): each
 * word's escaped length is counted once and the line's kept as a running sum, and a line is a slice
 * of the paragraph, never re-joined. Measuring the growing line for every word was quadratic: one
 * long transcript held the event loop for seconds.
 */
function wrap(paragraph: string, max: number): string[] {
  const lines: string[] = [];
  let lineStart = 0;
  let lineEnd = 0;
  let lineLength = -1; // -1: no line started
  for (let pos = 0; pos <= paragraph.length;) {
    let end = paragraph.indexOf(" ", pos);
    if (end < 0) end = paragraph.length;
    const wordLength = escapedLength(paragraph, pos, end);
    const joined = lineLength < 0 ? wordLength : lineLength + 1 + wordLength;
    if (joined <= max) {
      if (lineLength < 0) lineStart = pos;
      lineEnd = end;
      lineLength = joined;
    } else {
      if (lineLength >= 0) lines.push(paragraph.slice(lineStart, lineEnd));
      // A word too long for a line of its own is cut; its last piece starts the next line.
      [lineStart, lineLength] = wordLength <= max ? [pos, wordLength] : cut(paragraph, pos, end, max, lines);
      lineEnd = end;
    }
    pos = end + 1;
  }
  if (lineLength >= 0) lines.push(paragraph.slice(lineStart, lineEnd));
  return lines;
}

/**
 * Cuts the word `text.slice(from, to)` into greedy pieces of at most `max` escaped characters, by
 * code point so no character is split. Pushes every piece but the last onto `lines`; returns where
 * the last piece starts and its escaped length.
 */
function cut(text: string, from: number, to: number, max: number, lines: string[]): [number, number] {
  let start = from;
  let length = 0;
  for (let i = from; i < to;) {
    const code = text.charCodeAt(i);
    const next = text.charCodeAt(i + 1);
    const units = code >= 0xd800 && code <= 0xdbff && i + 1 < to && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
    const chLength = units + (isDelimiter(code) ? 2 : 0);
    if (length + chLength > max) {
      lines.push(text.slice(start, i));
      start = i;
      length = 0;
    }
    length += chLength;
    i += units;
  }
  return [start, length];
}
