/**
 * HL7 v2 text handling with the standard delimiters (`|^~\&`). Escaping alone is not enough: a raw
 * CR ends a segment and 0x0B/0x1C break MLLP framing, so text is cleaned before it is escaped.
 */

const ESCAPES: Record<string, string> = {
  "\\": "\\E\\",
  "|": "\\F\\",
  "^": "\\S\\",
  "&": "\\T\\",
  "~": "\\R\\",
};

/**
 * One pass over the text, so the escape character is escaped exactly once and the sequences it
 * introduces are never escaped again (the standard forbids nested escapes).
 */
export function escapeHl7(text: string): string {
  return text.replace(/[\\|^&~]/g, (c) => ESCAPES[c] ?? c);
}

/** The inverse of escapeHl7, for the delimiter escapes it produces; other sequences stay as they are. */
export function unescapeHl7(text: string): string {
  return text.replace(/\\([EFSTR])\\/g, (_whole, code: string) => {
    const map: Record<string, string> = { E: "\\", F: "|", S: "^", T: "&", R: "~" };
    return map[code] ?? _whole;
  });
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
  return cleanText(text)
    .split("\n")
    .map((line) => line.replace(/[\t ]+/g, " ").trim())
    .filter((line) => line !== "")
    .map((paragraph) => wrap(paragraph, maxLength));
}

const escapedLength = (s: string): number => escapeHl7(s).length;

function wrap(paragraph: string, max: number): string[] {
  const lines: string[] = [];
  let current = "";
  for (const word of paragraph.split(" ")) {
    const candidate = current === "" ? word : `${current} ${word}`;
    if (escapedLength(candidate) <= max) {
      current = candidate;
      continue;
    }
    if (current !== "") lines.push(current);
    // A word that does not fit on a line of its own is cut, by code point so no character is split.
    let rest = word;
    while (escapedLength(rest) > max) {
      const piece = longestPrefix(rest, max);
      lines.push(piece);
      rest = rest.slice(piece.length);
    }
    current = rest;
  }
  if (current !== "") lines.push(current);
  return lines;
}

function longestPrefix(word: string, max: number): string {
  let piece = "";
  for (const ch of word) {
    if (escapedLength(piece + ch) > max) break;
    piece += ch;
  }
  return piece;
}
