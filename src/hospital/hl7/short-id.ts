import { createHash } from "node:crypto";

/**
 * Identifiers this package mints (the document number in TXA-12 / OBR-3, the control id in
 * MSH-10) must fit HL7 v2.5.1 field lengths that are shorter than a UUID with its namespace. Such
 * an identifier is never cut: it is replaced by a deterministic short form, and the builder reports
 * the pair (original, sent) so a flow can keep the mapping.
 *
 * Short form: the first characters of the original, "." and HASH_CHARS characters of the
 * base32-encoded SHA-256 of the whole original (RFC 4648 alphabet, upper case), `budget`
 * characters in all; below HASH_CHARS + 2 the prefix and the dot are left out. The same original
 * always gives the same short form (a resend is recognisable); two originals that share a prefix
 * still differ in the hash (50 bits: a collision is expected after about 2^25 documents with the
 * same prefix). The characters used are letters, digits, "-" and "." only, none an HL7 delimiter.
 */

/** Characters of hash in a short form. */
export const HASH_CHARS = 10;
/** Fewest characters an identifier may be given: a bare hash. */
export const MIN_ID_BUDGET = HASH_CHARS;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(bytes: Uint8Array, chars: number): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < chars) {
      out += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= 0xff;
    if (out.length >= chars) break;
  }
  return out;
}

/** The identifier itself when it has at most `budget` characters, else its short form. */
export function shortIdentifier(value: string, budget: number): string {
  if (value.length <= budget) return value;
  if (!Number.isInteger(budget) || budget < MIN_ID_BUDGET) {
    throw new RangeError(`an identifier needs at least ${MIN_ID_BUDGET} characters`);
  }
  const hash = base32(createHash("sha256").update(value, "utf8").digest(), HASH_CHARS);
  const prefixChars = budget - HASH_CHARS - 1;
  // The prefix keeps only characters that need no escaping, so the short form's length is its wire length.
  const prefix = prefixChars > 0 ? value.replace(/[^0-9A-Za-z-]/g, "").slice(0, prefixChars) : "";
  return prefix ? `${prefix}.${hash}` : hash;
}
