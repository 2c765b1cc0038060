import { realScheduler, type Scheduler } from "../../util/scheduler";

export interface FhirSendOptions {
  /** The FHIR base URL; the transaction is POSTed to it. */
  baseUrl: string;
  /** Extra request headers, e.g. Authorization (never logged). */
  headers: Record<string, string>;
  timeoutMs: number;
  /** Further attempts after the first for network errors, timeouts, 429 and 5xx. */
  retries: number;
  backoffMs: number;
  backoffMaxMs: number;
  scheduler?: Scheduler;
  fetch?: typeof fetch;
}

/** One OperationOutcome issue; diagnostics may echo content, so it goes to the message only. */
export interface FhirIssue {
  severity?: string;
  code?: string;
  diagnostics?: string;
  details?: string;
}

export type FhirRejectReason = "http-error" | "timeout" | "network" | "bad-response" | "closed";

export type FhirOutcome =
  | {
      status: "delivered";
      httpStatus: number;
      attempts: number;
      /** Per entry: the status and Location the server gave (transaction-response). */
      entries: Array<{ status?: string; location?: string }>;
      response: unknown;
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
    };

export type FhirEvent =
  | { type: "send"; attempt: number; bytes: number }
  | { type: "response"; attempt: number; httpStatus: number }
  | { type: "attempt-failed"; attempt: number; reason: FhirRejectReason; httpStatus?: number }
  | { type: "retry"; attempt: number; delayMs: number };

type Attempt =
  | { ok: true; httpStatus: number; body: unknown }
  | { ok: false; reason: FhirRejectReason; httpStatus?: number; body?: unknown; retryAfterMs?: number };

/** Reads the issues of an OperationOutcome (or of each entry outcome of a transaction-response). */
export function operationOutcomeIssues(body: unknown): FhirIssue[] {
  if (typeof body !== "object" || body === null) return [];
  const b = body as { resourceType?: unknown; issue?: unknown };
  if (b.resourceType !== "OperationOutcome" || !Array.isArray(b.issue)) return [];
  return (b.issue as unknown[]).map((i) => {
    const issue = (typeof i === "object" && i !== null ? i : {}) as Record<string, unknown>;
    const details = issue.details as { text?: unknown } | undefined;
    return {
      ...(typeof issue.severity === "string" ? { severity: issue.severity } : {}),
      ...(typeof issue.code === "string" ? { code: issue.code } : {}),
      ...(typeof issue.diagnostics === "string" ? { diagnostics: issue.diagnostics } : {}),
      ...(typeof details?.text === "string" ? { details: details.text } : {}),
    };
  });
}

/** POSTs transaction Bundles with bounded retries; close() aborts what is in flight. */
export class FhirSender {
  private readonly scheduler: Scheduler;
  private readonly controllers = new Set<AbortController>();
  private readonly timers = new Set<unknown>();
  private closed = false;

  constructor(private readonly options: FhirSendOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
  }

  async post(bundle: unknown, onEvent: (e: FhirEvent) => void = () => undefined): Promise<FhirOutcome> {
    const body = JSON.stringify(bundle);
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return this.closedOutcome(attempt - 1);
      onEvent({ type: "send", attempt, bytes: Buffer.byteLength(body) });
      const result = await this.attempt(body);
      if (result.ok) {
        onEvent({ type: "response", attempt, httpStatus: result.httpStatus });
        return {
          status: "delivered",
          httpStatus: result.httpStatus,
          attempts: attempt,
          entries: entriesOf(result.body),
          response: result.body,
        };
      }
      if (result.httpStatus !== undefined)
        onEvent({ type: "response", attempt, httpStatus: result.httpStatus });
      onEvent({
        type: "attempt-failed",
        attempt,
        reason: result.reason,
        ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
      });
      const retryable =
        result.reason === "network" ||
        result.reason === "timeout" ||
        (result.reason === "http-error" && (result.httpStatus === 429 || (result.httpStatus ?? 0) >= 500));
      if (!retryable || attempt > this.options.retries || this.closed) {
        if (this.closed) return this.closedOutcome(attempt);
        const issues = operationOutcomeIssues(result.body);
        return {
          status: "rejected",
          ...(result.httpStatus !== undefined ? { httpStatus: result.httpStatus } : {}),
          attempts: attempt,
          reason: result.reason,
          detail: describe(result.reason, result.httpStatus, issues, this.options.timeoutMs),
          issues,
          ...(result.body !== undefined ? { response: result.body } : {}),
        };
      }
      const backoff = Math.min(this.options.backoffMs * 2 ** (attempt - 1), this.options.backoffMaxMs);
      const delayMs = Math.min(Math.max(backoff, result.retryAfterMs ?? 0), this.options.backoffMaxMs);
      onEvent({ type: "retry", attempt: attempt + 1, delayMs });
      await this.sleep(delayMs);
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.controllers) c.abort();
    this.controllers.clear();
    for (const t of this.timers) this.scheduler.clearTimeout(t);
    this.timers.clear();
  }

  private async attempt(body: string): Promise<Attempt> {
    const controller = new AbortController();
    this.controllers.add(controller);
    let timedOut = false;
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
      });
      const textBody = await response.text();
      let parsed: unknown;
      try {
        parsed = textBody ? JSON.parse(textBody) : undefined;
      } catch {
        parsed = undefined;
      }
      if (response.ok) {
        if (parsed === undefined) return { ok: false, reason: "bad-response", httpStatus: response.status };
        return { ok: true, httpStatus: response.status, body: parsed };
      }
      const retryAfter = Number(response.headers.get("retry-after"));
      return {
        ok: false,
        reason: "http-error",
        httpStatus: response.status,
        body: parsed,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      };
    } catch {
      if (this.closed) return { ok: false, reason: "closed" };
      return { ok: false, reason: timedOut ? "timeout" : "network" };
    } finally {
      this.scheduler.clearTimeout(timer);
      this.timers.delete(timer);
      this.controllers.delete(controller);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle: unknown = this.scheduler.setTimeout(() => {
        this.timers.delete(handle);
        resolve();
      }, ms);
      this.timers.add(handle);
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

function entriesOf(body: unknown): Array<{ status?: string; location?: string }> {
  const entries = (body as { entry?: unknown } | null)?.entry;
  if (!Array.isArray(entries)) return [];
  return (entries as Array<{ response?: { status?: unknown; location?: unknown } }>).map((e) => ({
    ...(typeof e.response?.status === "string" ? { status: e.response.status } : {}),
    ...(typeof e.response?.location === "string" ? { location: e.response.location } : {}),
  }));
}

function describe(
  reason: FhirRejectReason,
  httpStatus: number | undefined,
  issues: FhirIssue[],
  timeoutMs: number,
): string {
  if (reason === "timeout") return `no response within ${timeoutMs} ms`;
  if (reason === "network") return "could not reach the FHIR server";
  if (reason === "bad-response") return `HTTP ${httpStatus ?? "?"} without a FHIR JSON body`;
  if (reason === "closed") return "the FHIR sender was closed";
  const codes = issues.map((i) => `${i.severity ?? "?"}/${i.code ?? "?"}`).join(", ");
  return `HTTP ${httpStatus ?? "?"}${issues.length ? `, OperationOutcome: ${codes}` : ""}`;
}
