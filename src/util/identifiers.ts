import { createHmac, randomBytes } from "node:crypto";

/**
 * A flow's identifiers (session ids, file paths, encounter and patient numbers) are PHI: they never go
 * into a log, a status or an error text. Where support needs to tell two sessions apart, they get this
 * tag instead: the first 8 hex digits of an HMAC under a key drawn at random when the process starts.
 * The same id gets the same tag for the life of the process (so a log can be followed); a tag cannot be
 * turned back into the id, not even by trying every medical record number, because the key never
 * leaves the process.
 */
export function idTag(id: string): string {
  return `#${createHmac("sha256", KEY).update(id).digest("hex").slice(0, 8)}`;
}

const KEY = randomBytes(32);
