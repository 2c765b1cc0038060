import type { TranscriptResult } from "../../transcript/result";
import { PRONOUNS, type Pronoun } from "./params";

/** PRONOUNS as a Set: a flow's "toString" must find nothing. */
const PRONOUN_SET: ReadonlySet<string> = new Set(PRONOUNS);

export type SessionContextRead =
  { ok: true; pronouns: Pronoun | null | undefined } | { ok: false; problem: string };

/**
 * The patient context a session's first message may carry: `msg.scribe.patientPronouns`, one of
 * HE_HIM, SHE_HER, THEY_THEM (HealthScribe's MedicalScribeContext.PatientContext.Pronouns), or null
 * for none whatever the node's setting. `undefined`: the message says nothing, the node's setting
 * holds. Anything else is refused with the accepted values, never the value (it is PHI).
 */
export function readSessionContext(msg: { scribe?: unknown }): SessionContextRead {
  const scribe = msg.scribe;
  if (scribe === undefined || scribe === null) return { ok: true, pronouns: undefined };
  const accepted = `Accepted: msg.scribe = { patientPronouns: ${PRONOUNS.map((p) => `"${p}"`).join(", ")} or null }.`;
  if (typeof scribe !== "object" || Array.isArray(scribe)) {
    return { ok: false, problem: `msg.scribe must be an object. ${accepted}` };
  }
  if (!Object.hasOwn(scribe, "patientPronouns")) return { ok: true, pronouns: undefined };
  const value = (scribe as { patientPronouns?: unknown }).patientPronouns;
  if (value === null) return { ok: true, pronouns: null };
  if (typeof value === "string" && PRONOUN_SET.has(value)) return { ok: true, pronouns: value as Pronoun };
  return { ok: false, problem: `msg.scribe.patientPronouns is not one of the accepted values. ${accepted}` };
}

/** What is odd about a session's live segment times, once noticed. */
export type TimeProblem = "backwards" | "beyond-audio";

/**
 * Checks the live finals of one session against the assumption that HealthScribe's segment times
 * are milliseconds from the session's start (the SDK documentation; not confirmed on the service).
 * Were they seconds, times would crawl far behind the audio; were they microseconds, or relative to
 * each stream, they would run far ahead of it or jump back. A final that starts more than
 * BACKWARDS_SLACK_S before the previous final of its channel, or ends more than the audio received
 * allows (half as much again and BEYOND_SLACK_S), is noticed once: the caller warns once per session.
 */
export class SegmentTimeCheck {
  private readonly lastStart = new Map<string, number>();
  private noticed = false;

  constructor(private readonly startSeconds: number) {}

  /** The first problem of the session's times, once; undefined otherwise (and ever after). */
  check(result: TranscriptResult, audioSeconds: number): TimeProblem | undefined {
    if (this.noticed || !result.isFinal || result.withdrawn === true) return undefined;
    const channel = result.channel ?? "";
    const previous = this.lastStart.get(channel);
    this.lastStart.set(channel, Math.max(previous ?? 0, result.startTime));
    let problem: TimeProblem | undefined;
    if (previous !== undefined && result.startTime < previous - BACKWARDS_SLACK_S) problem = "backwards";
    else if (result.endTime - this.startSeconds > audioSeconds * 1.5 + BEYOND_SLACK_S)
      problem = "beyond-audio";
    if (problem !== undefined) this.noticed = true;
    return problem;
  }
}

/** Finals of one channel may overlap a little (a segment closes after the next one opened). */
export const BACKWARDS_SLACK_S = 2;
/** Audio reaches the service a little after the node counts it; results never lead it by more. */
export const BEYOND_SLACK_S = 10;
