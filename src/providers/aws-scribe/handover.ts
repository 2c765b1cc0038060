import type { SessionCollector } from "../../transcript/document";
import type { Pronoun } from "./params";

/**
 * Sessions a scribe node stopped (a redeploy) and its next instance carries on: paused ones are resumed
 * under the same HealthScribe id when their audio continues (or ended, so that their note comes, when it
 * does not), ended ones are polled for their note. Node-RED stops one instance of a node and starts the
 * next in the same process, so a module-wide map keyed by node id carries them; the collected finals go
 * with them, so that the note's document still holds the whole conversation.
 */
export interface HandedSession {
  sessionId: string;
  providerSessionId: string;
  /** "paused": its streams ended without END_OF_SESSION; "ended": END_OF_SESSION went out, the note is due. */
  stage: "paused" | "ended";
  collector: SessionCollector;
  /** Session time (s) of the session's first audio. */
  startSeconds: number;
  handedAtMs: number;
  /** The session's own patient pronouns (null: none), when its first message gave them. */
  pronouns?: Pronoun | null;
}

/** HealthScribe resumes a session within 5 hours of its first stream; after that nothing can be done with it. */
export const HANDOVER_TTL_MS = 5 * 3_600_000;
/** Handed sessions kept per node at most (the oldest goes first): a bound whatever a flow does. */
export const MAX_HANDED_PER_NODE = 1000;

const handed = new Map<string, Map<string, HandedSession>>();

/** Keeps `s` for the next instance of node `nodeId`; returns the sessions dropped to stay within the bound. */
export function handOver(nodeId: string, s: HandedSession): HandedSession[] {
  let mine = handed.get(nodeId);
  if (!mine) {
    mine = new Map();
    handed.set(nodeId, mine);
  }
  mine.delete(s.sessionId);
  mine.set(s.sessionId, s);
  const dropped: HandedSession[] = [];
  for (const [id, old] of mine) {
    if (mine.size <= MAX_HANDED_PER_NODE) break;
    mine.delete(id);
    dropped.push(old);
  }
  return dropped;
}

/** Everything handed to node `nodeId` (taken: a second call returns nothing), less what expired at `nowMs`. */
export function takeHandedOver(
  nodeId: string,
  nowMs: number,
): { live: HandedSession[]; expired: HandedSession[] } {
  const mine = handed.get(nodeId);
  handed.delete(nodeId);
  const live: HandedSession[] = [];
  const expired: HandedSession[] = [];
  for (const s of mine?.values() ?? []) (nowMs - s.handedAtMs < HANDOVER_TTL_MS ? live : expired).push(s);
  return { live, expired };
}
