/**
 * What became of a session's audio, in seconds: every transcriber's end-of-session event carries one
 * (issue #18: never silent about a lost second). At the end of a session
 * `receivedSeconds = confirmedSeconds + lostSeconds`: nothing is left "in flight".
 */
export interface SessionAccount {
  /** Audio the node took for the session (refused chunks not included: they were reported at once). */
  receivedSeconds: number;
  /**
   * Audio the service confirmed: covered by a final result or end of turn, or by the service's own
   * confirmation that the stream's audio was all processed (AssemblyAI's Termination; for Amazon
   * Transcribe, the response stream ending cleanly after the end of audio with no segment left open).
   */
  confirmedSeconds: number;
  /** Audio never transcribed: unconfirmed when the session could not be recovered, or dropped from a full replay buffer. */
  lostSeconds: number;
  /** Connections opened after the first one (reconnects and rollovers). */
  reconnects: number;
}

/** Rounds to milliseconds, so that accounts read cleanly and compare exactly in tests. */
export function accountSeconds(seconds: number): number {
  return Math.round(Math.max(0, seconds) * 1000) / 1000;
}
