/**
 * What a peer sends back may echo what we sent it, credentials included: a FHIR server's
 * OperationOutcome quoting the Authorization header is common. Everything read from a peer's
 * answer passes through a Redactor before it reaches a message, a log, a status or an error.
 */

export const REDACTED = "[REDACTED]";

/** Credentials shorter than this cannot be told from ordinary text and are not searched for. */
export const MIN_SECRET_CHARS = 4;

/** Deepest nesting of a peer's JSON kept: FHIR resources nest a dozen levels; more is not FHIR. */
export const MAX_JSON_DEPTH = 64;

// An Authorization scheme followed by its credentials, as a header echo shows them.
const SCHEME_CREDENTIALS = /\b(Bearer|Basic)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)/gi;
// A JSON Web Token: three base64url parts, the first two starting with '{"' encoded.
const JWT = /\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/**
 * A token has digits, symbols or mixed case; an English word after "Basic" ("Basic validation
 * failed") has none and stays.
 */
function looksLikeCredential(run: string): boolean {
  const core = run.replace(/[.,]+$/, "");
  return /[0-9+/=_~-]/.test(core) || (/[a-z]/.test(core) && /[A-Z]/.test(core.slice(1)));
}

export class Redactor {
  private readonly needles: string[];

  /**
   * `secrets`: every configured credential value (a token, a password, a user name, a whole header
   * value). Each is searched for as written, URI-encoded and JSON-escaped.
   */
  constructor(secrets: readonly string[]) {
    const needles = new Set<string>();
    for (const secret of secrets) {
      if (secret.length < MIN_SECRET_CHARS) continue;
      needles.add(secret);
      needles.add(encodeURIComponent(secret));
      needles.add(JSON.stringify(secret).slice(1, -1));
      needles.add(JSON.stringify(secret).slice(1, -1).replace(/\//g, "\\/"));
    }
    // Longest first, so that a secret containing another is removed whole.
    this.needles = [...needles].sort((a, b) => b.length - a.length);
  }

  /** The text with every credential and every token-shaped run replaced. Linear in the text. */
  text(value: string): string {
    let out = value;
    for (const needle of this.needles) {
      if (out.includes(needle)) out = out.split(needle).join(REDACTED);
    }
    return out
      .replace(SCHEME_CREDENTIALS, (whole, scheme: string, space: string, credential: string) =>
        looksLikeCredential(credential) ? `${scheme}${space}${REDACTED}` : whole,
      )
      .replace(JWT, REDACTED);
  }

  /**
   * A parsed JSON value with every string in it redacted, in place (keys were redacted in the raw
   * text already). Undefined when it nests deeper than MAX_JSON_DEPTH: such a value would overflow
   * the stack of whatever handles the message next (a clone, a debug node, JSON.stringify).
   * Iterative, so that the walk itself cannot overflow.
   */
  json(value: unknown): unknown {
    if (typeof value === "string") return this.text(value);
    if (typeof value !== "object" || value === null) return value;
    const stack: Array<{ node: Record<string, unknown> | unknown[]; depth: number }> = [
      { node: value as Record<string, unknown>, depth: 1 },
    ];
    for (let top = stack.pop(); top; top = stack.pop()) {
      const { node, depth } = top;
      if (depth > MAX_JSON_DEPTH) return undefined;
      const container = node as Record<string, unknown>;
      for (const key of Object.keys(container)) {
        const child = container[key];
        if (typeof child === "string") container[key] = this.text(child);
        else if (typeof child === "object" && child !== null) {
          stack.push({ node: child as Record<string, unknown>, depth: depth + 1 });
        }
      }
    }
    return value;
  }
}
