/**
 * What a failed or ended provider stream means for the session: retry with backoff (the service or
 * network hiccuped), or stop and tell the user (configuration or credentials are wrong, and
 * retrying would only repeat the same rejection).
 */
export type FailureKind = "fatal" | "retry";

export interface StreamFailure {
  kind: FailureKind;
  /** Exception class name as the SDK reports it, or a name of ours for ends without an error. */
  code: string;
  /** Self-explaining text for the user: the service's message, never credentials or transcript. */
  message: string;
  /** A ConflictException means another stream uses our session id: take a new one. */
  newSessionId: boolean;
}

const AUTH_ERRORS = new Set([
  "InvalidSignatureException",
  "UnrecognizedClientException",
  "AccessDeniedException",
  "ExpiredTokenException",
  "InvalidClientTokenId",
  "SignatureDoesNotMatch",
  "MissingAuthenticationTokenException",
  "IncompleteSignatureException",
  "CredentialsProviderError",
  "NotAuthorized",
]);

const RETRYABLE_ERRORS = new Set([
  "LimitExceededException",
  "InternalFailureException",
  "ServiceUnavailableException",
  "ConflictException",
  "TimeoutError",
  "ThrottlingException",
]);

/** The two BadRequests that describe the stream, not the request, and pass on a new stream. */
const RETRYABLE_BAD_REQUEST = [/no new audio was received/i, /stream is too big/i, /signature expired/i];

const NETWORK = /abnormally aborted|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket hang up|GOAWAY|ERR_HTTP2/i;

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

/** Replaces every secret (access key id, secret, token) that might be echoed in a message. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join("***");
  return out;
}

/** Classifies an error thrown by `send()` or by the result iteration. */
export function classifyError(err: unknown, secrets: readonly string[] = []): StreamFailure {
  const e: ErrorLike = typeof err === "object" && err !== null ? err : {};
  const name = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
  const raw = typeof e.message === "string" ? e.message : String(err);
  const message = redact(raw, secrets);
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e.code === "string" ? e.code : "";
  const failure = (kind: FailureKind): StreamFailure => ({
    kind,
    code: name,
    message,
    newSessionId: name === "ConflictException",
  });
  if (name === "BadRequestException") {
    return failure(RETRYABLE_BAD_REQUEST.some((re) => re.test(raw)) ? "retry" : "fatal");
  }
  if (AUTH_ERRORS.has(name) || status === 401 || status === 403) return failure("fatal");
  if (/region is missing|invalid region|credential/i.test(raw)) return failure("fatal");
  if (RETRYABLE_ERRORS.has(name) || status === 429 || (status !== undefined && status >= 500)) {
    return failure("retry");
  }
  if (NETWORK.test(raw) || NETWORK.test(code)) return failure("retry");
  // Unknown failures are retried, but only within the bounded attempts of the session.
  return failure("retry");
}

/** The result stream ended without an error although we had not ended the audio. */
export function unexpectedEnd(): StreamFailure {
  return {
    kind: "retry",
    code: "StreamEnded",
    message: "the service ended the stream before the audio ended",
    newSessionId: false,
  };
}

/** Our watchdog saw audio go out and no event come back for too long. */
export function stalled(ms: number): StreamFailure {
  return {
    kind: "retry",
    code: "StreamStalled",
    message: `no answer from the service for ${ms} ms while audio was sent`,
    newSessionId: false,
  };
}

/** Bounded backoff: exponential from `baseMs`, capped at `maxMs`. `attempt` counts from 1. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
