import { backstop } from "../../util/backstop";
import { asError, runGuarded, settleGuarded } from "../../util/guard";
import { guardedScheduler, realScheduler, type Scheduler } from "../../util/scheduler";
import { Redactor } from "../redact";
import { describeConnectError, isTlsError, tlsRefusal, type TlsRefusal } from "../tls-options";

/** Default bound of the queue to one server: transactions waiting or in flight. */
export const DEFAULT_QUEUE_MESSAGES = 1000;
/** Default bound of the queue to one server: bytes of the transactions waiting or in flight. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024;
/** The most of a server's response body read; the rest is not read. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** OperationOutcome issues kept from one response. */
export const MAX_ISSUES = 100;

export interface FhirSendOptions {
  /** The FHIR base URL; the transaction is POSTed to it. */
  baseUrl: string;
  /** Extra request headers, e.g. Authorization (never logged). */
  headers: Record<string, string>;
  /**
   * Credential values (token, password, user): redacted, with every header value, from whatever
   * the server answers before it reaches a message.
   */
  secrets?: string[];
  /** One attempt at most: connecting, the response headers and the body. */
  timeoutMs: number;
  /** Further attempts after the first for network errors, timeouts, 429 and 5xx. */
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  /** Transactions waiting or in flight at most (default 1000); more are refused with "queue-full". */
  maxQueue?: number;
  /** Bytes of the transactions waiting or in flight at most (default 64 MiB). */
  maxQueueBytes?: number;
  /** Response bytes read at most (default 1 MiB). */
  maxResponseBytes?: number;
  scheduler?: Scheduler;
  fetch?: typeof fetch;
  /** Where an error inside the sender's own machinery goes (a bug); the sender goes on. */
  onError?: (err: Error) => void;
}

/** One OperationOutcome issue (redacted); diagnostics may echo content, so it goes to the message only. */
export interface FhirIssue {
  severity?: string;
  code?: string;
  diagnostics?: string;
  details?: string;
}

export type FhirRejectReason =
  | "http-error"
  /** A 2xx whose body is an OperationOutcome with an error or fatal issue: the server says it failed. */
  | "outcome-error"
  | "timeout"
  | "network"
  /** This node could not verify the server's TLS certificate (expired, wrong host, unknown CA). */
  | "tls-certificate"
  /** The server refused our TLS client certificate (unknown CA, expired, required and none set). */
  | "tls-client-certificate"
  | "closed"
  | "queue-full"
  | "internal-error";

export interface FhirEntryResponse {
  status?: string;
  location?: string;
}

export type FhirOutcome =
  | {
      status: "delivered";
      httpStatus: number;
      attempts: number;
      /** Per readable entry: the status and Location the server gave (transaction-response). */
      entries: FhirEntryResponse[];
      /** The server's response, redacted; undefined when it could not be read. */
      response: unknown;
      /**
       * What could not be read of the response (PHI-free fixed wording): the server accepted the
       * transaction all the same, its HTTP status says so.
       */
      notes: string[];
    }
  | {
      status: "rejected";
      httpStatus?: number;
      attempts: number;
      reason: FhirRejectReason;
      /** PHI-free: HTTP status and issue codes only. */
      detail: string;
      issues: FhirIssue[];
      response?: unknown;
      /** With "tls-certificate" / "tls-client-certificate": the TLS code, e.g. CERT_HAS_EXPIRED. */
      tlsCode?: string;
    };

export type FhirEvent =
  | { type: "send"; attempt: number; bytes: number }
  | { type: "response"; attempt: number; httpStatus: number }
  | { type: "attempt-failed"; attempt: number; reason: FhirRejectReason; httpStatus?: number }
  | { type: "retry"; attempt: number; delayMs: number };

/** Whether a final outcome was one worth trying again later (network, timeout, 408, 429, 5xx). */
export function isRetryableFhir(outcome: FhirOutcome): boolean {
  return outcome.status === "rejected" && retryable(outcome.reason, outcome.httpStatus);
}

/** Network errors, timeouts and the statuses that say "not now" (408, 429, 5xx) are tried again. */
function retryable(reason: FhirRejectReason, httpStatus: number | undefined): boolean {
  return (
    reason === "network" ||
    reason === "timeout" ||
    (reason === "http-error" && (httpStatus === 408 || httpStatus === 429 || (httpStatus ?? 0) >= 500))
  );
}

/** Issue severities of an OperationOutcome that say the request failed. */
const FAILED = new Set(["error", "fatal"]);

/**
 * Whether a 409 / 412 answers a conditional create of a document already on the server: every
 * entry of the transaction is a create (no update, no If-Match), one carries `ifNoneExist`, and the
 * status is 412 (its criteria matched more than one resource) or 409 with an issue of type
 * `duplicate`. The document is there, so it is not sent again and not reported as a failure.
 */
export function alreadyHeld(body: string, httpStatus: number | undefined, issues: FhirIssue[]): boolean {
  if (httpStatus !== 412 && !(httpStatus === 409 && issues.some((i) => i.code === "duplicate"))) return false;
  let entries: unknown;
  try {
    entries = (JSON.parse(body) as { entry?: unknown }).entry;
  } catch {
    return false;
  }
  if (!Array.isArray(entries) || entries.length === 0) return false;
  const requests = (entries as unknown[]).map((e) =>
    typeof e === "object" && e !== null
      ? (e as { request?: { method?: unknown; ifNoneExist?: unknown } }).request
      : undefined,
  );
  return (
    requests.every((r) => r?.method === "POST") &&
    requests.some((r) => typeof r?.ifNoneExist === "string" && r.ifNoneExist !== "")
  );
}

/**
 * The transaction with Bundle.identifier set to the document's identifier: with the entries'
 * ifNoneExist, what lets a server recognise a resend of the same document.
 */
export function identifiedBundle<B extends object>(
  bundle: B,
  identifier: { system: string; value: string },
): B {
  return { ...bundle, identifier };
}

/** A response body as read: parsed JSON (redacted), or why not. */
interface Body {
  value: unknown;
  problem?: string;
}

type Attempt =
  | { ok: true; httpStatus: number; body: Body }
  | {
      ok: false;
      reason: FhirRejectReason;
      httpStatus?: number;
      body?: Body;
      retryAfterMs?: number;
      /** For a network failure that is a TLS one: what failed, in fixed words (tls-options.ts). */
      tls?: string;
      /** A certificate either side refused: not retried (see outcomes.ts for the queue). */
      refusal?: TlsRefusal;
    };

interface Job {
  body: string;
  bytes: number;
  onEvent: (e: FhirEvent) => void;
  resolve: (outcome: FhirOutcome) => void;
}

// FHIR codes (IssueSeverity, IssueType) are lower-case words with hyphens; anything else from a
// server is not a code and stays out of the detail text.
const CODE = /^[a-z][a-z-]{0,39}$/;

/** Reads the issues of an OperationOutcome, at most MAX_ISSUES; the value is redacted already. */
export function operationOutcomeIssues(body: unknown): FhirIssue[] {
  if (typeof body !== "object" || body === null) return [];
  const b = body as { resourceType?: unknown; issue?: unknown };
  if (b.resourceType !== "OperationOutcome" || !Array.isArray(b.issue)) return [];
  return (b.issue as unknown[]).slice(0, MAX_ISSUES).map((i) => {
    const issue = (typeof i === "object" && i !== null ? i : {}) as Record<string, unknown>;
    const details = (typeof issue.details === "object" && issue.details !== null ? issue.details : {}) as {
      text?: unknown;
    };
    return {
      ...(typeof issue.severity === "string" ? { severity: issue.severity } : {}),
      ...(typeof issue.code === "string" ? { code: issue.code } : {}),
      ...(typeof issue.diagnostics === "string" ? { diagnostics: issue.diagnostics } : {}),
      ...(typeof details.text === "string" ? { details: details.text } : {}),
    };
  });
}

/**
 * POSTs transaction Bundles to one server, one at a time and in order, with bounded retries. The
 * queue is bounded in transactions and bytes; past either bound `post` answers "queue-full" at
 * once. close() aborts what is in flight and settles what waits.
 */
export class FhirSender {
  private readonly scheduler: Scheduler;
  private readonly controllers = new Set<AbortController>();
  private readonly timers = new Set<unknown>();
  private readonly queue: Job[] = [];
  private readonly redactor: Redactor;
  private readonly onError: (err: Error) => void;
  private pendingBytes = 0;
  private busy = false;
  private closed = false;
  /** Wakes a retry wait when the sender is closed. */
  private wake: (() => void) | undefined;
  readonly maxQueue: number;
  readonly maxQueueBytes: number;

  constructor(private readonly options: FhirSendOptions) {
    this.onError = options.onError ?? backstop;
    // A throw in any of the sender's timers reaches onError, never the process.
    this.scheduler = guardedScheduler(options.scheduler ?? realScheduler, this.onError);
    this.maxQueue = options.maxQueue ?? DEFAULT_QUEUE_MESSAGES;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_QUEUE_BYTES;
    const headerValues = Object.values(options.headers).flatMap((v) => [v, v.replace(/^\S+\s+/, "")]);
    this.redactor = new Redactor([...(options.secrets ?? []), ...headerValues]);
  }

  /** Transactions waiting or in flight. */
  get queued(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /** Bytes of the transactions waiting or in flight. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  /** Queues a transaction; resolves with its final outcome, never rejects. */
  post(bundle: unknown, onEvent: (e: FhirEvent) => void = () => undefined): Promise<FhirOutcome> {
    return this.postText(JSON.stringify(bundle), onEvent);
  }

  /**
   * Queues a transaction already serialised: the durable queue resends the exact bytes it stored,
   * so a resend carries the same Bundle.identifier and ifNoneExist.
   */
  postText(body: string, onEvent: (e: FhirEvent) => void = () => undefined): Promise<FhirOutcome> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(this.closedOutcome(0));
        return;
      }
      const bytes = Buffer.byteLength(body, "utf8");
      if (this.queued >= this.maxQueue || this.pendingBytes + bytes > this.maxQueueBytes) {
        resolve({
          status: "rejected",
          attempts: 0,
          reason: "queue-full",
          detail:
            this.queued >= this.maxQueue
              ? `the queue to the server holds ${this.queued} transactions, its limit`
              : `the queue to the server would exceed its limit of ${this.maxQueueBytes} bytes`,
          issues: [],
        });
        return;
      }
      this.pendingBytes += bytes;
      this.queue.push({
        body,
        bytes,
        onEvent: (e) => runGuarded(() => onEvent(e), this.onError),
        resolve: (outcome) => {
          this.pendingBytes -= bytes;
          resolve(outcome);
        },
      });
      settleGuarded(this.pump(), this.onError);
    });
  }

  close(): void {
    this.closed = true;
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
    for (const t of this.timers) this.scheduler.clearTimeout(t);
    this.timers.clear();
    this.wake?.();
    for (const job of this.queue.splice(0)) job.resolve(this.closedOutcome(0));
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        let outcome: FhirOutcome;
        try {
          outcome = await this.deliver(job);
        } catch (err) {
          // A bug, not the server: the transaction is reported undelivered and the queue goes on.
          this.onError(asError(err));
          outcome = {
            status: "rejected",
            attempts: 0,
            reason: "internal-error",
            detail: "an internal error ended the delivery; see the Node-RED log",
            issues: [],
          };
        }
        job.resolve(outcome);
      }
    } finally {
      this.busy = false;
    }
  }

  private async deliver(job: Job): Promise<FhirOutcome> {
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return this.closedOutcome(attempt - 1);
      job.onEvent({ type: "send", attempt, bytes: job.bytes });
      const result = await this.attempt(job.body);
      if (result.ok) {
        job.onEvent({ type: "response", attempt, httpStatus: result.httpStatus });
        const { entries, notes } = readEntries(result.body.value);
        const shape = shapeNote(result.body.value);
        return {
          status: "delivered",
          httpStatus: result.httpStatus,
          attempts: attempt,
          entries,
          response: result.body.value,
          notes: [...(result.body.problem ? [result.body.problem] : []), ...(shape ? [shape] : []), ...notes],
        };
      }
      if (result.httpStatus !== undefined)
        job.onEvent({ type: "response", attempt, httpStatus: result.httpStatus });
      job.onEvent({
        type: "attempt-failed",
        attempt,
        reason: result.reason,
        ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
      });
      const issues = operationOutcomeIssues(result.body?.value);
      if (result.reason === "http-error" && alreadyHeld(job.body, result.httpStatus, issues)) {
        return {
          status: "delivered",
          httpStatus: result.httpStatus ?? 0,
          attempts: attempt,
          entries: [],
          response: result.body?.value,
          notes: [
            `the server already holds this document (HTTP ${result.httpStatus ?? "?"} to the conditional create): not created again`,
          ],
        };
      }
      if (!retryable(result.reason, result.httpStatus) || attempt > this.options.retries || this.closed) {
        if (this.closed) return this.closedOutcome(attempt);
        return {
          status: "rejected",
          ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
          attempts: attempt,
          reason: result.reason,
          detail:
            result.refusal?.detail ??
            (result.tls
              ? `could not reach the FHIR server over TLS: ${result.tls}`
              : describe(result.reason, result.httpStatus, issues, this.options.timeoutMs)),
          issues,
          ...(result.body?.value !== undefined ? { response: result.body.value } : {}),
          ...(result.refusal ? { tlsCode: result.refusal.code } : {}),
        };
      }
      const backoff = Math.min(this.options.backoffMs * 2 ** (attempt - 1), this.options.backoffMaxMs);
      const delayMs = Math.min(Math.max(backoff, result.retryAfterMs ?? 0), this.options.backoffMaxMs);
      job.onEvent({ type: "retry", attempt: attempt + 1, delayMs });
      await this.sleep(delayMs);
    }
  }

  private async attempt(body: string): Promise<Attempt> {
    const controller = new AbortController();
    this.controllers.add(controller);
    let timedOut = false;
    // One timer for the whole exchange: a server that sends its headers and then trickles (or
    // never ends) its body is cut off as surely as one that never answers.
    const timer = this.scheduler.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.options.timeoutMs);
    this.timers.add(timer);
    try {
      const response = await (this.options.fetch ?? fetch)(this.options.baseUrl.replace(/\/+$/, ""), {
        method: "POST",
        headers: {
          "content-type": "application/fhir+json",
          accept: "application/fhir+json",
          ...this.options.headers,
        },
        body,
        signal: controller.signal,
        // A redirect is not followed: fetch would turn the POST of a 301/302/303 into a GET whose 200
        // would pass for a stored document, and carry the document to another address on a 307/308.
        redirect: "manual",
      });
      const parsed = await this.readBody(response);
      if (response.ok) {
        const failed = operationOutcomeIssues(parsed.value).some((i) => FAILED.has(i.severity ?? ""));
        if (!failed) return { ok: true, httpStatus: response.status, body: parsed };
        return { ok: false, reason: "outcome-error", httpStatus: response.status, body: parsed };
      }
      const retryAfterMs = retryAfter(response.headers.get("retry-after"), this.scheduler.now());
      return {
        ok: false,
        reason: "http-error",
        httpStatus: response.status,
        body: parsed,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    } catch (err) {
      if (this.closed) return { ok: false, reason: "closed" };
      if (timedOut) return { ok: false, reason: "timeout" };
      // Global fetch wraps the socket's error in `cause`; the TLS fetch throws it as it is.
      const cause = (err as { cause?: unknown } | null)?.cause ?? err;
      // A certificate either side refused is a configuration error, not a passing fault.
      const refusal = tlsRefusal(cause);
      if (refusal) return { ok: false, reason: refusal.reason, refusal };
      return {
        ok: false,
        reason: "network",
        ...(isTlsError(cause) ? { tls: describeConnectError(cause) } : {}),
      };
    } finally {
      this.scheduler.clearTimeout(timer);
      this.timers.delete(timer);
      this.controllers.delete(controller);
    }
  }

  /**
   * Reads at most maxResponseBytes of the body, parses it, redacts it. A body that is too large,
   * not JSON or nested too deep becomes a problem note: the HTTP status still decides the outcome.
   */
  private async readBody(response: Response): Promise<Body> {
    const max = this.options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
    const tooLarge = {
      value: undefined,
      problem: `the response body exceeded ${max} bytes and was not read`,
    };
    const declared = Number(response.headers.get("content-length"));
    if (declared > max) {
      settleGuarded(response.body?.cancel() ?? Promise.resolve(), () => undefined);
      return tooLarge;
    }
    const text = await readBounded(response, max);
    if (text === undefined) return tooLarge;
    if (text.trim() === "") return { value: undefined, problem: "the response body is empty" };
    let parsed: unknown;
    try {
      // Keys are redacted in the text, values again once decoded.
      parsed = JSON.parse(this.redactor.text(text));
    } catch {
      return { value: undefined, problem: "the response body is not JSON" };
    }
    const value = this.redactor.json(parsed);
    if (value === undefined && parsed !== undefined) {
      return { value: undefined, problem: "the response body is nested too deeply to be FHIR" };
    }
    return { value };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle: unknown = this.scheduler.setTimeout(() => {
        this.timers.delete(handle);
        this.wake = undefined;
        resolve();
      }, ms);
      this.timers.add(handle);
      this.wake = resolve;
    });
  }

  private closedOutcome(attempts: number): FhirOutcome {
    return {
      status: "rejected",
      attempts,
      reason: "closed",
      detail: "the FHIR sender was closed",
      issues: [],
    };
  }
}

/** The body's text, or undefined once it passes `max` bytes (reading stops there). */
async function readBounded(response: Response, max: number): Promise<string | undefined> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      settleGuarded(reader.cancel(), () => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString("utf8");
}

/**
 * Retry-After as delta-seconds or as an HTTP-date (RFC 9110 §10.2.3), in ms from now; undefined
 * when absent or unreadable. A date in the past means at once.
 */
export function retryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/**
 * The entries of a transaction-response the server sent with its 2xx. An entry that is not an
 * object, has no status, or gives a Location that is not a URI reference cannot be read; the rest
 * are kept, and a note counts what was not.
 */
export function readEntries(body: unknown): { entries: FhirEntryResponse[]; notes: string[] } {
  const list = typeof body === "object" && body !== null ? (body as { entry?: unknown }).entry : undefined;
  if (!Array.isArray(list)) return { entries: [], notes: [] };
  const entries: FhirEntryResponse[] = [];
  let unreadable = 0;
  for (const item of list as unknown[]) {
    const response =
      typeof item === "object" && item !== null ? (item as { response?: unknown }).response : undefined;
    const r = typeof response === "object" && response !== null ? (response as Record<string, unknown>) : {};
    const status = typeof r.status === "string" && r.status.trim() !== "" ? r.status : undefined;
    const location = isUriReference(r.location) ? r.location : undefined;
    if (status === undefined || (r.location !== undefined && location === undefined)) unreadable++;
    if (status !== undefined || location !== undefined) {
      entries.push({
        ...(status !== undefined ? { status } : {}),
        ...(location !== undefined ? { location } : {}),
      });
    }
  }
  const notes =
    unreadable > 0
      ? [
          `${unreadable} of ${list.length} response entries could not be read (no status, or a Location that is not a URI)`,
        ]
      : [];
  return { entries, notes };
}

const RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;

/**
 * A note when a 2xx body is JSON but not a transaction-response: a server that stored the Bundle
 * itself as a resource (a base URL ending in `/Bundle`) answers so, and the document then exists only
 * inside that Bundle. Only codes are quoted (a resource type, a Bundle type), never content.
 */
export function shapeNote(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const { resourceType, type } = body as { resourceType?: unknown; type?: unknown };
  if (resourceType === "Bundle" && type === "transaction-response") return undefined;
  const kind =
    typeof resourceType !== "string" || !RESOURCE_TYPE.test(resourceType)
      ? "JSON that is not a FHIR resource"
      : resourceType === "Bundle"
        ? `a Bundle of type ${typeof type === "string" && CODE.test(type) ? type : "?"}`
        : `a ${resourceType}`;
  return `the server answered with ${kind}, not a transaction-response: check that the base URL is the server's FHIR base`;
}

/** A Location a client can follow: a relative reference (Type/id/_history/v) or an absolute URL. */
function isUriReference(value: unknown): value is string {
  if (typeof value !== "string" || value === "" || value.length > 4096) return false;
  // eslint-disable-next-line no-control-regex -- whitespace and controls never belong in a URI
  if (/[\s\u0000-\u001f\u007f]/.test(value)) return false;
  try {
    new URL(value, "http://relative.invalid/");
    return true;
  } catch {
    return false;
  }
}

const OUTCOME_ERROR = "a success status with an OperationOutcome that reports an error";
const REDIRECT = "a redirect, not followed: set the base URL to the address the server names";
/** What the statuses a misconfigured destination gets mean, for the detail a user reads. */
const STATUS_MEANING = new Map<number, string>([
  [401, "the server did not accept the credentials"],
  [403, "the credentials may not write here"],
  [404, "no FHIR endpoint at the base URL"],
]);

function describe(
  reason: FhirRejectReason,
  httpStatus: number | undefined,
  issues: FhirIssue[],
  timeoutMs: number,
): string {
  if (reason === "timeout") return `no complete response within ${timeoutMs} ms`;
  if (reason === "network") return "could not reach the FHIR server";
  if (reason === "tls-certificate" || reason === "tls-client-certificate")
    return "the TLS handshake with the FHIR server failed";
  if (reason === "closed") return "the FHIR sender was closed";
  const code = (c: string | undefined): string => (c !== undefined && CODE.test(c) ? c : "?");
  const shown = issues.slice(0, 10).map((i) => `${code(i.severity)}/${code(i.code)}`);
  if (issues.length > shown.length) shown.push(`${issues.length - shown.length} more`);
  const meaning = reason === "outcome-error" ? OUTCOME_ERROR : STATUS_MEANING.get(httpStatus ?? 0);
  const redirect = httpStatus !== undefined && httpStatus >= 300 && httpStatus < 400 ? REDIRECT : undefined;
  const why = meaning ?? redirect;
  return `HTTP ${httpStatus ?? "?"}${why ? ` (${why})` : ""}${issues.length ? `, OperationOutcome: ${shown.join(", ")}` : ""}`;
}
