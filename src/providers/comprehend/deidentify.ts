import type { Span } from "./entities";

/** A PHI span and its type as DetectPHI names it (NAME, DATE, AGE, ID, ADDRESS, PHONE_OR_FAX, ...). */
export interface PhiSpan extends Span {
  type: string;
}

/** The label a PHI type is replaced by: its name in brackets, `[PHI]` for a type that is not a plain name. */
export function phiLabel(type: string): string {
  return /^[A-Z][A-Z_]{0,39}$/.test(type) ? `[${type}]` : "[PHI]";
}

/**
 * The text with every PHI span replaced by its label (`[NAME]`, `[DATE]`, ...). Overlapping or nested
 * spans are replaced once, by the label of the one that starts first (the longer one when two start
 * together), so that no part of either is left. Spans outside the text are clamped. Linear after sorting.
 */
export function deidentify(text: string, spans: readonly PhiSpan[]): string {
  const sorted = spans
    .map((s) => ({
      type: s.type,
      beginOffset: Math.max(0, Math.min(s.beginOffset, text.length)),
      endOffset: Math.max(0, Math.min(s.endOffset, text.length)),
    }))
    .filter((s) => s.endOffset > s.beginOffset)
    .sort((a, b) => a.beginOffset - b.beginOffset || b.endOffset - a.endOffset);
  const parts: string[] = [];
  let cursor = 0;
  let i = 0;
  while (i < sorted.length) {
    const first = sorted[i];
    if (!first) break;
    let end = first.endOffset;
    i++;
    // Swallow every span that overlaps the one being replaced.
    while (i < sorted.length && (sorted[i]?.beginOffset ?? Infinity) < end) {
      end = Math.max(end, sorted[i]?.endOffset ?? end);
      i++;
    }
    if (first.beginOffset >= cursor) parts.push(text.slice(cursor, first.beginOffset));
    parts.push(phiLabel(first.type));
    cursor = Math.max(cursor, end);
  }
  parts.push(text.slice(cursor));
  return parts.join("");
}
