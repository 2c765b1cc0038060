/** Maps AssemblyAI Turn messages to contract 2 (the transcript result). */
import { meanConfidence } from "../../transcript/confidence";
import type { TranscriptResult, TranscriptWord } from "../../transcript/result";
import type { TurnMessage } from "./messages";

export const PROVIDER = "assemblyai";

export interface TurnContext {
  sessionId: string;
  /** Tells this session instance apart from an earlier one with the same session id (a reopened session). */
  instance: string;
  /** Which connection of the session this turn came from (0 for the first, +1 per reconnect). */
  connection: number;
  /** Session milliseconds at which this connection's audio clock starts (the replay offset). */
  offsetMs: number;
  /** Language when the turn carries no language_code. */
  language: string;
  /** The turn's key on this connection (TurnSegments); its turn_order when absent. */
  turnKey?: string;
}

const seconds = (ms: number): number => Math.round(ms) / 1000;

/**
 * Stable across the partials and the final of one turn: one segment per session instance, connection and
 * turn_order (or the key TurnSegments gives a turn_order the service reused). The instance part keeps a reopened session (same session id, turn_order again from 0) from
 * reusing the segment ids of the earlier one, which a document collecting by segmentId would overwrite.
 */
export function segmentId(
  sessionId: string,
  instance: string,
  connection: number,
  turn: number | string,
): string {
  return `${sessionId}/${instance}/${connection}/${turn}`;
}

/** A BCP-47 primary tag from the service's language_code (for example "en" or "es"). */
function language(code: string | undefined, fallback: string): string {
  return code && /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/.test(code) ? code : fallback;
}

/**
 * One Turn message as a transcript result, or null when there is nothing to deliver (an empty turn).
 * Final only on end_of_turn: turn_is_formatted alone is not an end of turn. Words a replay transcribes
 * again are left out afterwards, by the session (DeliveredWords).
 */
export function mapTurn(turn: TurnMessage, ctx: TurnContext): TranscriptResult | null {
  const words: TranscriptWord[] = turn.words.map((w) => {
    const word: TranscriptWord = {
      text: w.text,
      startTime: seconds(ctx.offsetMs + w.start),
      endTime: seconds(ctx.offsetMs + w.end),
      confidence: w.confidence,
      kind: "word",
      stable: w.word_is_final,
    };
    if (w.speaker) word.speaker = w.speaker;
    return word;
  });
  const text = turn.transcript.trim();
  if (!text && words.length === 0) return null;
  const first = words[0];
  const last = words[words.length - 1];
  const result: TranscriptResult = {
    provider: PROVIDER,
    sessionId: ctx.sessionId,
    segmentId: segmentId(ctx.sessionId, ctx.instance, ctx.connection, ctx.turnKey ?? turn.turn_order),
    isFinal: turn.end_of_turn,
    text,
    confidence: meanConfidence(words),
    startTime: first ? first.startTime : seconds(ctx.offsetMs),
    endTime: last ? last.endTime : seconds(ctx.offsetMs),
    words,
    language: language(turn.language_code, ctx.language),
  };
  if (turn.speaker_label) result.speaker = turn.speaker_label;
  return result;
}
