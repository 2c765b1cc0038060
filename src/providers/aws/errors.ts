import { peerCode, scrubPeerText } from "./peer-text";
import { knownServiceMessage } from "./service-messages";

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
  /**
   * Self-explaining text for logs and Catch errors: our own words, or the service's message when it is a
   * known one (never credentials, transcript, or what a peer might echo).
   */
  message: string;
  /** The service's own message, scrubbed of credentials, when it sent one: for `msg.payload` only. */
  serviceMessage?: string;
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

/** A proxy's refusal of the tunnel (proxy.ts, in our own words): its settings or policy, which a retry repeats. */
const PROXY_REFUSALS = new Set(["ProxyAuthenticationRequired", "ProxyForbidden"]);

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
  const rawName = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
  const name = peerCode(rawName);
  const raw = typeof e.message === "string" ? e.message : String(err);
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const code = typeof e.code === "string" ? e.code : "";
  if (PROXY_REFUSALS.has(rawName)) {
    return { kind: "fatal", code: rawName, message: scrubPeerText(raw, secrets), newSessionId: false };
  }
  // The service's own errors (modeled exceptions, HTTP answers) carry its words; other errors are the
  // SDK's or Node's (a reset stream, a timeout), written by them, not echoed from a peer.
  const fromService =
    "$fault" in e ||
    status !== undefined ||
    AUTH_ERRORS.has(rawName) ||
    RETRYABLE_ERRORS.has(rawName) ||
    rawName === "BadRequestException";
  const scrubbed = scrubPeerText(redact(raw, secrets), secrets);
  const message = fromService
    ? (knownServiceMessage(raw) ??
      "the service's message is not shown here (it may repeat what it was sent): see msg.payload.error.serviceMessage")
    : scrubbed;
  const failure = (kind: FailureKind): StreamFailure => ({
    kind,
    code: name,
    message,
    ...(fromService ? { serviceMessage: scrubbed } : {}),
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

/** Our watchdog saw audio (or audio carrying speech) go out and no event come back for too long. */
export function stalled(ms: number, what = "audio"): StreamFailure {
  return {
    kind: "retry",
    code: "StreamStalled",
    message: `no answer from the service for ${ms} ms while ${what} was sent`,
    newSessionId: false,
  };
}

/** No answer to the stream request (`to` the request, by default) or to the end of the audio. */
export function noAnswer(ms: number, to = "to the stream request"): StreamFailure {
  return {
    kind: "retry",
    code: "StreamStalled",
    message: `no answer from the service ${to} within ${ms} ms`,
    newSessionId: false,
  };
}

/**
 * The stream ended after our end of the audio, but not as a complete one does (`why`): the last
 * segment's final may be lost, so the unconfirmed audio is replayed.
 */
export function unconfirmedEnd(why: string): StreamFailure {
  return {
    kind: "retry",
    code: "StreamEnded",
    message: `the stream ended before the service confirmed the end of the audio: ${why}`,
    newSessionId: false,
  };
}

/** A throw inside the session's own code: it ends that session (named by class only: its text may hold PHI). */
export function internalFailure(err: Error): StreamFailure {
  return {
    kind: "fatal",
    code: "InternalError",
    message: `an internal ${err.name} ended the session; please report it`,
    newSessionId: false,
  };
}

/** Bounded backoff: exponential from `baseMs`, capped at `maxMs`. `attempt` counts from 1. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
