import { realScheduler, type Scheduler } from "../util/scheduler";
import { SessionCollector, type DocumentEndReason, type GateMark, type TranscriptDocument } from "./document";
import type { TranscriptResult } from "./result";

export interface DocumentSessionsOptions {
  /** A session with no new result for this long is closed and its document emitted; 0 = never. */
  idleTimeoutMs: number;
  /** Called with documents that complete outside an input (the idle timeout). */
  onIdle: (document: TranscriptDocument) => void;
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

/** Per-session collectors, keyed by session id, each with its own idle timer. */
export class DocumentSessions {
  private readonly sessions = new Map<string, { collector: SessionCollector; timer: unknown }>();
  private readonly scheduler: Scheduler;

  constructor(private readonly options: DocumentSessionsOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  ids(): string[] {
    return [...this.sessions.keys()];
  }

  add(result: TranscriptResult, mark: GateMark | undefined): void {
    let entry = this.sessions.get(result.sessionId);
    if (!entry) {
      entry = { collector: new SessionCollector(result.sessionId), timer: undefined };
      this.sessions.set(result.sessionId, entry);
    }
    entry.collector.add(result, mark, this.scheduler.now());
    this.arm(result.sessionId, entry);
  }

  /** Ends a session now; undefined when it holds nothing (unknown session, or flushed already). */
  flush(sessionId: string, reason: DocumentEndReason = "flush"): TranscriptDocument | undefined {
    const entry = this.sessions.get(sessionId);
    if (!entry) return undefined;
    this.scheduler.clearTimeout(entry.timer);
    this.sessions.delete(sessionId);
    return entry.collector.build(reason, this.scheduler.now());
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

  /** Takes over sessions another instance detached; each idle time starts again now. */
  adopt(collectors: SessionCollector[]): void {
    for (const collector of collectors) {
      const entry = { collector, timer: undefined as unknown };
      this.sessions.set(collector.sessionId, entry);
      this.arm(collector.sessionId, entry);
    }
  }

  private arm(sessionId: string, entry: { collector: SessionCollector; timer: unknown }): void {
    if (this.options.idleTimeoutMs <= 0) return;
    this.scheduler.clearTimeout(entry.timer);
    entry.timer = this.scheduler.setTimeout(() => {
      this.sessions.delete(sessionId);
      this.options.onIdle(entry.collector.build("idle", this.scheduler.now()));
    }, this.options.idleTimeoutMs);
  }
}
