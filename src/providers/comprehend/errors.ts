/**
 * Errors of the medical-entities work as typed values. A service error's own message is never passed
 * on: Comprehend Medical may quote the text it was given (PHI) in it. Each known error name maps to a
 * fixed text written here; anything else is reported by its class only.
 */

export type EntitiesErrorCode =
  // Input (the flow's message):
  | "NOT_TEXT"
  | "EMPTY_TEXT"
  | "TEXT_TOO_LARGE"
  | "BAD_OPTIONS"
  // The service (its exception names, as the SDK gives them):
  | "TooManyRequestsException"
  | "ThrottlingException"
  | "InvalidRequestException"
  | "ValidationException"
  | "TextSizeLimitExceededException"
  | "InvalidEncodingException"
  | "ServiceUnavailableException"
  | "InternalServerException"
  | "AccessDeniedException"
  | "UnrecognizedClientException"
  | "InvalidSignatureException"
  | "ExpiredTokenException"
  // The way there:
  | "TIMEOUT"
  | "NETWORK"
  | "ABORTED"
  | "SERVICE_ERROR";

export class EntitiesError extends Error {
  override readonly name = "EntitiesError";
  constructor(
    readonly code: EntitiesErrorCode,
    message: string,
    /** True for errors worth trying again after a pause (throttling, the service busy or failing). */
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** Fixed texts for the service's errors: what happened and what to do, never what the service said. */
const SERVICE_TEXTS: ReadonlyMap<string, { text: string; retryable: boolean }> = new Map([
  [
    "TooManyRequestsException",
    {
      text: "Comprehend Medical throttled the request (too many requests); retried with back-off and still throttled. Lower the node's concurrency or ask AWS for a higher quota.",
      retryable: true,
    },
  ],
  [
    "ThrottlingException",
    {
      text: "Comprehend Medical throttled the request; retried with back-off and still throttled. Lower the node's concurrency or ask AWS for a higher quota.",
      retryable: true,
    },
  ],
  [
    "InvalidRequestException",
    {
      text: "Comprehend Medical refused the request as invalid (InvalidRequestException).",
      retryable: false,
    },
  ],
  [
    "ValidationException",
    { text: "Comprehend Medical refused the request as invalid (ValidationException).", retryable: false },
  ],
  [
    "TextSizeLimitExceededException",
    {
      text: "Comprehend Medical refused a piece of the text as too large (TextSizeLimitExceededException).",
      retryable: false,
    },
  ],
  [
    "InvalidEncodingException",
    {
      text: "Comprehend Medical refused the text as not valid UTF-8 (InvalidEncodingException).",
      retryable: false,
    },
  ],
  [
    "ServiceUnavailableException",
    {
      text: "Comprehend Medical is unavailable (ServiceUnavailableException); retried with back-off and still unavailable.",
      retryable: true,
    },
  ],
  [
    "InternalServerException",
    {
      text: "Comprehend Medical failed with an internal error (InternalServerException); retried with back-off and still failing.",
      retryable: true,
    },
  ],
  [
    "AccessDeniedException",
    {
      text: "AWS denied access to Comprehend Medical: the credentials need comprehendmedical:DetectEntitiesV2 (and DetectPHI, InferICD10CM, InferRxNorm, InferSNOMEDCT as configured), and the service must be offered in the region.",
      retryable: false,
    },
  ],
  [
    "UnrecognizedClientException",
    { text: "AWS does not recognise the access key of the AWS config node.", retryable: false },
  ],
  [
    "InvalidSignatureException",
    {
      text: "AWS refused the request signature: check the secret access key of the AWS config node.",
      retryable: false,
    },
  ],
  [
    "ExpiredTokenException",
    { text: "The session token of the AWS config node has expired.", retryable: false },
  ],
]);

interface SdkErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EPIPE", "ETIMEDOUT"]);

/**
 * An error from the SDK (or the way to the service) as an EntitiesError. Reads only the error's name,
 * code and HTTP status: its message may hold the text that was sent.
 */
export function classifyServiceError(err: unknown): EntitiesError {
  if (err instanceof EntitiesError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as SdkErrorShape;
  const name = typeof e.name === "string" ? e.name : "";
  const known = SERVICE_TEXTS.get(name);
  if (known) return new EntitiesError(name as EntitiesErrorCode, known.text, known.retryable);
  if (name === "AbortError") return new EntitiesError("ABORTED", "The request was cancelled (node stopped).");
  if (name === "TimeoutError" || e.code === "ETIMEDOUT") {
    return new EntitiesError("TIMEOUT", "Comprehend Medical did not answer in time.", true);
  }
  if (typeof e.code === "string" && NETWORK_CODES.has(e.code)) {
    return new EntitiesError(
      "NETWORK",
      `Comprehend Medical could not be reached (${e.code}): check the region, endpoint and network.`,
      true,
    );
  }
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : null;
  // A 5xx or 429 without a known name (a proxy, a load balancer): worth one more try.
  const retryable = status !== null && (status === 429 || status >= 500);
  return new EntitiesError(
    "SERVICE_ERROR",
    `Comprehend Medical request failed (${status !== null ? `HTTP ${status}` : "no HTTP status"}${
      /^[A-Za-z]{1,64}$/.test(name) ? `, ${name}` : ""
    }).`,
    retryable,
  );
}
