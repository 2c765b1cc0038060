import { asError } from "../util/guard";
import { realScheduler, type Scheduler } from "../util/scheduler";
import {
  DOCUMENT_LIMITS,
  exceededLimit,
  resultSize,
  SessionCollector,
  type DocumentEndReason,
  type DocumentSize,
  type GateMark,
  type LimitKind,
  type TranscriptDocument,
} from "./document";
import type { DocumentEntity } from "./document-entities";
import type { TranscriptResult } from "./result";

/** Default bound of the sessions one node collects at once. */
export const DEFAULT_MAX_SESSIONS = 100;

export interface DocumentSessionsOptions {
  /** A session with no new result for this long is closed and its document emitted; 0 = never. */
  idleTimeoutMs: number;
  /** Sessions collected at once at most; a result of one more is refused. */
  maxSessions?: number;
  /** Called with documents that complete outside an input (the idle timeout). */
  onIdle: (document: TranscriptDocument) => void;
  /**
   * Called when a document due on the idle timeout could not be built: the session is gone, the
   * others go on.
   */
  onError: (error: DocumentBuildError) => void;
  scheduler?: Scheduler;
}

/**
 * A transcriber's session event (its second output): `ended` (Amazon Transcribe Medical) and
 * `termination` (AssemblyAI) end the session, `error` ends it cut short; other events change nothing.
 */
export function sessionEventEnd(
  payload: unknown,
): { sessionId: string; reason: DocumentEndReason } | "other" | undefined {
  if (typeof payload !== "object" || payload === null) return undefined;
  const p = payload as { event?: unknown; sessionId?: unknown };
  if (typeof p.event !== "string" || typeof p.sessionId !== "string" || "segmentId" in p) return undefined;
  if (p.event === "ended" || p.event === "termination") return { sessionId: p.sessionId, reason: "ended" };
  if (p.event === "error") return { sessionId: p.sessionId, reason: "error" };
  return "other";
}

/** A result refused: on its own it exceeds a document limit, or no session slot is free. */
export class DocumentLimitError extends Error {
  override readonly name = "DocumentLimitError";
  readonly code: "DOCUMENT_RESULT_TOO_LARGE" | "DOCUMENT_SESSIONS_FULL";
  constructor(
    readonly limit: LimitKind | "sessions",
    readonly value: number,
  ) {
    super(
      limit === "sessions"
        ? `already collecting ${value} sessions, the limit: the result of a new session was refused`
        : `the result alone exceeds the limit of ${value} ${limit} per document: it was refused`,
    );
    this.code = limit === "sessions" ? "DOCUMENT_SESSIONS_FULL" : "DOCUMENT_RESULT_TOO_LARGE";
  }
}

/** A document that could not be built (a bug): how many segments it held, never their content. */
export class DocumentBuildError extends Error {
  override readonly name = "DocumentBuildError";
  readonly code = "DOCUMENT_BUILD_FAILED";
  constructor(
    readonly sessionId: string,
    readonly segments: number,
    cause: Error,
  ) {
    super(`a session's document of ${segments} segment(s) could not be built (${cause.name})`, { cause });
  }
}

/**
 * What `add` did with a final: kept it; kept it in a new document after emitting the session's
 * document so far, which had reached a limit; or refused it (a clear error, nothing kept).
 */
export type AddOutcome =
  | { kind: "added" }
  | { kind: "split"; document: TranscriptDocument; limit: LimitKind }
  | { kind: "refused"; error: DocumentLimitError };

interface Entry {
  collector: SessionCollector;
  timer: unknown;
}

/** Per-session collectors, keyed by session id, each with its own idle timer. */
export class DocumentSessions {
  private readonly sessions = new Map<string, Entry>();
  private readonly scheduler: Scheduler;
  readonly maxSessions: number;

  constructor(private readonly options: DocumentSessionsOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
    this.maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  ids(): string[] {
    return [...this.sessions.keys()];
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }

  /** How much of each document limit a session's document takes so far. */
  sizeOf(sessionId: string): DocumentSize | undefined {
    return this.sessions.get(sessionId)?.collector.size;
  }

  /** Throws DocumentBuildError (the session is gone) if a full document cannot be built. */
  add(
    result: TranscriptResult,
    mark: GateMark | undefined,
    entities: readonly DocumentEntity[] = [],
  ): AddOutcome {
    const alone = exceededLimit(resultSize(result, mark, entities));
    if (alone) return { kind: "refused", error: new DocumentLimitError(alone, DOCUMENT_LIMITS[alone]) };
    let entry = this.sessions.get(result.sessionId);
    if (!entry) {
      if (this.sessions.size >= this.maxSessions) {
        return { kind: "refused", error: new DocumentLimitError("sessions", this.maxSessions) };
      }
      entry = { collector: new SessionCollector(result.sessionId), timer: undefined };
      this.sessions.set(result.sessionId, entry);
    }
    const now = this.scheduler.now();
    const added = entry.collector.add(result, mark, now, entities);
    if (added.added) {
      this.arm(result.sessionId, entry);
      return { kind: "added" };
    }
    // The document is full: it leaves with what it holds, and the session goes on in a new one
    // (which the result fits, as it fits a document on its own).
    this.scheduler.clearTimeout(entry.timer);
    this.sessions.delete(result.sessionId);
    const document = build(entry.collector, "limit", now);
    const next: Entry = { collector: new SessionCollector(result.sessionId), timer: undefined };
    this.sessions.set(result.sessionId, next);
    next.collector.add(result, mark, now, entities);
    this.arm(result.sessionId, next);
    return { kind: "split", document, limit: added.limit };
  }

  /**
   * Ends a session now; undefined when it holds nothing (unknown session, or flushed already).
   * Throws DocumentBuildError (the session is gone) if its document cannot be built.
   */
  flush(sessionId: string, reason: DocumentEndReason = "flush"): TranscriptDocument | undefined {
    const entry = this.sessions.get(sessionId);
    if (!entry) return undefined;
    this.scheduler.clearTimeout(entry.timer);
    this.sessions.delete(sessionId);
    return build(entry.collector, reason, this.scheduler.now());
  }

  /** Drops every session and timer (node close); returns how many documents were never emitted. */
  close(): number {
    return this.detach().length;
  }

  /**
   * Stops every timer and gives up the open sessions, to carry them over to another instance (a
   * redeploy) with `adopt`.
   */
  detach(): SessionCollector[] {
    for (const { timer } of this.sessions.values()) this.scheduler.clearTimeout(timer);
    const open = [...this.sessions.values()].map((e) => e.collector);
    this.sessions.clear();
    return open;
  }

  /**
   * Takes over sessions another instance detached; each idle time starts again now. They are
   * adopted even past `maxSessions`: they exist already, and only new sessions are refused.
   */
  adopt(collectors: SessionCollector[]): void {
    for (const collector of collectors) {
      const entry: Entry = { collector, timer: undefined };
      this.sessions.set(collector.sessionId, entry);
      this.arm(collector.sessionId, entry);
    }
  }

  private arm(sessionId: string, entry: Entry): void {
    if (this.options.idleTimeoutMs <= 0) return;
    this.scheduler.clearTimeout(entry.timer);
    entry.timer = this.scheduler.setTimeout(() => {
      if (this.sessions.get(sessionId) !== entry) return;
      this.sessions.delete(sessionId);
      let document: TranscriptDocument;
      try {
        document = build(entry.collector, "idle", this.scheduler.now());
      } catch (err) {
        // Outside any handler: the error goes to the node (and its Catch nodes), not the process.
        this.options.onError(err instanceof DocumentBuildError ? err : asBuildError(entry.collector, err));
        return;
      }
      this.options.onIdle(document);
    }, this.options.idleTimeoutMs);
  }
}

function build(collector: SessionCollector, reason: DocumentEndReason, nowMs: number): TranscriptDocument {
  try {
    return collector.build(reason, nowMs);
  } catch (err) {
    throw asBuildError(collector, err);
  }
}

function asBuildError(collector: SessionCollector, err: unknown): DocumentBuildError {
  return new DocumentBuildError(collector.sessionId, collector.segmentCount, asError(err));
}
