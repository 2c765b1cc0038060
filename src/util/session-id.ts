/**
 * One bound and one check for the session ids every node takes from a message (msg.audio.sessionId,
 * msg.topic, msg.payload.sessionId). Session ids are keys: a node holds them in its session table,
 * hashes them for idTag and carries them on every message it sends, so a flow must not make them huge.
 *
 * 256 UTF-16 code units hold any UUID, encounter or visit number, SIP Call-ID or telephony call id
 * with room to spare. The length is checked before anything else reads the string, so a 100 MB id
 * costs no more than a short one; the id itself is never echoed (it is PHI).
 */
export const MAX_SESSION_ID_LENGTH = 256;

/** What every node accepts as a session id, for its error texts. */
export const SESSION_ID_ACCEPTED = `Accepted: a string of 1 to ${MAX_SESSION_ID_LENGTH} characters without control characters.`;

// C0 and C1 control characters (NUL, line breaks, escapes) and lone UTF-16 surrogates: never part of
// an identifier, and trouble in every document or log downstream. With the `u` flag a well-formed
// surrogate pair is one code point and does not match.
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const BAD_ID_CHARACTER = /[\u0000-\u001f\u007f-\u009f\ud800-\udfff]/u;

/**
 * What is wrong with a session id, as the end of a sentence whose subject is the field ("is 300
 * characters long, over the limit of 256"), or undefined when it is fine to use. Blank ids are the
 * caller's to judge (some fall back to another field). The text never holds the value.
 */
export function sessionIdFault(id: string): string | undefined {
  if (id.length > MAX_SESSION_ID_LENGTH) {
    return `is ${id.length} characters long, over the limit of ${MAX_SESSION_ID_LENGTH}`;
  }
  return BAD_ID_CHARACTER.test(id) ? "holds a control character" : undefined;
}

/**
 * Why a session id read from `where` (e.g. "msg.topic") is refused, as a whole error text naming the
 * field, the limit and what is accepted; undefined when it is fine to use.
 */
export function sessionIdProblem(id: string, where: string): string | undefined {
  const fault = sessionIdFault(id);
  return fault === undefined ? undefined : `${where} ${fault}. ${SESSION_ID_ACCEPTED}`;
}

/**
 * One candidate for the session a message names (callers try a fixed few in order of preference, e.g.
 * msg.audio.sessionId then msg.topic, without an array of them per chunk): the id; its refusal, when it
 * is over the bound or holds a control character (refused, not passed over: the flow meant it); or
 * undefined when it names no session (not a string, or blank), so that the next candidate is tried.
 */
export function sessionIdCandidate(id: unknown, where: string): string | { problem: string } | undefined {
  if (typeof id !== "string") return undefined;
  // The bound first: trim must not read a huge string.
  if (id.length <= MAX_SESSION_ID_LENGTH && id.trim() === "") return undefined;
  const problem = sessionIdProblem(id, where);
  return problem === undefined ? id : { problem };
}
