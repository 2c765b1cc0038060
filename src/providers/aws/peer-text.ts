/** What a peer (the service, a proxy, a fake endpoint) says, made fit to show. */

/** Longest text of a peer's error the node shows (a status, an error to Catch nodes). */
export const MAX_PEER_TEXT = 500;
// AWS access key ids (long-term AKIA, temporary ASIA, and the other unique-id prefixes).
const ACCESS_KEY_ID = /\b(?:AKIA|ASIA|AIDA|AROA|AGPA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{12,}\b/g;
// The parts of a SigV4 Authorization header, and headers that carry a credential, as a peer may echo them.
const AUTH_PARTS = /\b(Credential|Signature|SignedHeaders)=[^\s,;"']+/gi;
const CREDENTIAL_HEADER =
  /\b(x-amz-security-token|authorization|x-api-key|cookie)(["']?\s*[:=]\s*["']?)[^\s"',;]+/gi;
// A run of 40 or more key or token characters: a secret access key is 40, session tokens are longer.
const LONG_TOKEN = /[A-Za-z0-9+/_=-]{40,}/g;
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]+/g;

/**
 * A peer's error text as the node may show it: the service, a proxy or a fake endpoint can echo what it
 * received, headers included. Our own credentials are replaced (`secrets`), and so is anything shaped
 * like one (credentials from the default chain are not known here): access key ids, the parts of an
 * Authorization header, credential headers and long key-like runs. Control characters (line breaks that
 * would forge log lines) become spaces; the text is cut to MAX_PEER_TEXT. Linear in the text.
 */
export function scrubPeerText(text: string, secrets: readonly string[] = []): string {
  let out = text.length > 4 * MAX_PEER_TEXT ? text.slice(0, 4 * MAX_PEER_TEXT) : text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("[redacted]");
  out = out
    .replace(CONTROL, " ")
    .replace(CREDENTIAL_HEADER, "$1$2[redacted]")
    .replace(AUTH_PARTS, "$1=[redacted]")
    .replace(ACCESS_KEY_ID, "[redacted]")
    .replace(LONG_TOKEN, "[redacted]");
  return out.length > MAX_PEER_TEXT ? `${out.slice(0, MAX_PEER_TEXT)}…` : out;
}

/** An error code as the node may show it in its status: a name-shaped code, else "Error". */
export function peerCode(code: string): string {
  return /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(code) && !/^(?:AKIA|ASIA)/.test(code) ? code : "Error";
}
