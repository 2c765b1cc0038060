import { closeSync, fsyncSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { openDestinations } from "./destination";

/**
 * What the admin endpoint does (nodes/mllp-endpoint/queue-admin.ts puts it behind Node-RED's admin
 * auth): list the queued messages of every destination by metadata only, retry now, and discard one
 * message with an entry in the destination's discard audit log. Message content never leaves here.
 */

/** The discard audit log, beside the journal: one JSON line per discard, appended and fsynced. */
export const AUDIT_FILE = "discard-audit.log";
/** Longest reason kept in the audit log. */
export const MAX_REASON_CHARS = 500;

export interface QueuedMessageInfo {
  seq: number;
  /** MSH-10 for HL7, the document id for FHIR. */
  controlId: string;
  bytes: number;
  ageMs: number;
  /** Attempts so far, kept across restarts. */
  attempts: number;
  /** How long ago the first failed attempt was (when one failed). */
  firstAttemptAgeMs?: number;
  lastError?: string;
  sending: boolean;
}

export interface DestinationInfo {
  id: string;
  name: string;
  kind: string;
  depth: number;
  bytes: number;
  maxMessages: number;
  maxBytes: number;
  diskBytes: number;
  messages: QueuedMessageInfo[];
}

export interface AdminAnswer {
  status: number;
  body: unknown;
}

/** Every open destination and its queued messages (metadata only); `limit` messages each at most. */
export function listQueues(now: number, limit = 1000): DestinationInfo[] {
  const out: DestinationInfo[] = [];
  for (const d of openDestinations.values()) {
    const q = d.current;
    if (!q) continue;
    const sending = q.sending;
    out.push({
      id: d.id,
      name: d.name,
      kind: d.kind,
      depth: q.depth,
      bytes: q.bytes,
      maxMessages: q.maxMessages,
      maxBytes: q.maxBytes,
      diskBytes: q.diskBytes,
      messages: q
        .list()
        .slice(0, limit)
        .map((i) => ({
          seq: i.seq,
          controlId: i.key,
          bytes: i.bytes,
          ageMs: Math.max(0, now - i.enqueuedAt),
          attempts: i.attempts,
          ...(i.firstAttemptAt !== undefined
            ? { firstAttemptAgeMs: Math.max(0, now - i.firstAttemptAt) }
            : {}),
          ...(i.lastError !== undefined ? { lastError: i.lastError } : {}),
          sending: sending === i,
        })),
    });
  }
  return out;
}

export function retryNow(id: string): AdminAnswer {
  const q = openDestinations.get(id)?.current;
  if (!q) return { status: 404, body: { error: "no open queue with that destination id" } };
  q.retryNow();
  return { status: 200, body: { retried: q.depth } };
}

/** Appends one line to the audit log and fsyncs it (synchronously: it is rare, and must not be lost). */
export function appendAudit(dir: string, entry: Record<string, unknown>): void {
  const fd = openSync(join(dir, AUDIT_FILE), "a", 0o600);
  try {
    writeSync(fd, `${JSON.stringify(entry)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Discards one queued message. The audit line (who, when, which control id, why) is written first,
 * so no discard is ever without one; a discard that then fails gets a second line saying so.
 */
export async function discardMessage(
  id: string,
  seq: number,
  user: string,
  reason: string,
  now: Date,
): Promise<AdminAnswer> {
  const destination = openDestinations.get(id);
  const q = destination?.current;
  if (!destination || !q) return { status: 404, body: { error: "no open queue with that destination id" } };
  const item = q.list().find((i) => i.seq === seq);
  if (!item) return { status: 404, body: { error: "no queued message with that seq" } };
  if (q.sending === item) {
    return { status: 409, body: { error: "the message is being sent right now; discard it while it waits" } };
  }
  const why = reason.trim().slice(0, MAX_REASON_CHARS);
  if (!why) return { status: 400, body: { error: 'a reason is required (body: {"reason": "..."})' } };
  const entry = {
    time: now.toISOString(),
    user,
    action: "discard",
    destination: destination.name,
    destinationId: id,
    seq,
    controlId: item.key,
    bytes: item.bytes,
    enqueuedAt: new Date(item.enqueuedAt).toISOString(),
    reason: why,
  };
  try {
    appendAudit(destination.dir, entry);
  } catch {
    return { status: 500, body: { error: "the audit log could not be written: nothing was discarded" } };
  }
  const result = await q.discard(seq, `discarded by ${user}: ${why}`);
  if (!result.ok) {
    try {
      appendAudit(destination.dir, {
        ...entry,
        time: new Date().toISOString(),
        action: "discard-failed",
        outcome: result.reason,
      });
    } catch {
      // The first line says a discard was asked; the queue still holds the message.
    }
    return {
      status: result.reason === "unknown" ? 404 : 409,
      body: { error: `not discarded (${result.reason})` },
    };
  }
  return { status: 200, body: { discarded: { seq, controlId: item.key } } };
}
