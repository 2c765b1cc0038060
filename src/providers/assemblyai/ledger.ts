/**
 * The account of one session's audio, in session milliseconds: what was received, what the service has
 * confirmed (a final's words, a Silence acknowledgement, or Termination cover it), what is in flight
 * (sent, not confirmed), what is not sent yet, and what is lost (could no longer be transcribed).
 *
 * The service processes a connection's audio in order, so a confirmation at time T covers everything
 * before T on that connection: confirmed audio is one prefix of the session, `confirmedUntil`, less
 * the stretches lost before it. At the end of a session `received = confirmed + lost`.
 */
import { accountSeconds, type SessionAccount } from "../session-account";

export class AudioLedger {
  private receivedMs = 0;
  private sentUntilMs: number;
  private confirmedUntilMs: number;
  private confirmedMs = 0;
  private lostMs = 0;
  /** Lost stretches after confirmedUntil, oldest first: a later confirmation must not count them. */
  private lostAhead: Array<{ from: number; to: number }> = [];

  constructor(private readonly startMs: number) {
    this.sentUntilMs = startMs;
    this.confirmedUntilMs = startMs;
  }

  /** Audio the session took (not the padding it adds to the last frame). */
  receive(ms: number): void {
    if (ms > 0) this.receivedMs += ms;
  }

  sent(untilMs: number): void {
    if (untilMs > this.sentUntilMs) this.sentUntilMs = untilMs;
  }

  /** The service confirmed the audio up to `untilMs`. */
  confirm(untilMs: number): void {
    const until = Math.min(untilMs, this.endMs);
    if (until <= this.confirmedUntilMs) return;
    let gained = until - this.confirmedUntilMs;
    while (this.lostAhead.length > 0) {
      const first = this.lostAhead[0];
      if (!first || first.from >= until) break;
      const overlap = Math.min(first.to, until) - first.from;
      gained -= overlap;
      if (first.to <= until) this.lostAhead.shift();
      else first.from = until;
    }
    this.confirmedMs += Math.max(0, gained);
    this.confirmedUntilMs = until;
  }

  /** The audio from `fromMs` to `toMs` can no longer be transcribed; returns how much newly counts as lost. */
  lose(fromMs: number, toMs: number): number {
    const lastLost = this.lostAhead[this.lostAhead.length - 1];
    const from = Math.max(fromMs, this.confirmedUntilMs, lastLost?.to ?? fromMs);
    const to = Math.min(toMs, this.endMs);
    if (to <= from) return 0;
    if (lastLost && lastLost.to === from) lastLost.to = to;
    else this.lostAhead.push({ from, to });
    this.lostMs += to - from;
    return to - from;
  }

  /** At an end that cannot be recovered: everything not confirmed is lost. Returns how much that is. */
  loseUnconfirmed(): number {
    return this.lose(this.confirmedUntilMs, this.endMs);
  }

  /** Session milliseconds up to which the service confirmed the audio. */
  get confirmedUntil(): number {
    return this.confirmedUntilMs;
  }

  /** Audio received and neither confirmed nor lost: what a failure now would lose. */
  get unconfirmedMs(): number {
    const lostAhead = this.lostAhead.reduce((sum, r) => sum + r.to - r.from, 0);
    return Math.max(0, this.endMs - this.confirmedUntilMs - lostAhead);
  }

  /** Sent and not confirmed yet. */
  get inFlightMs(): number {
    return Math.max(0, Math.min(this.sentUntilMs, this.endMs) - this.confirmedUntilMs);
  }

  /** Received and not sent yet. */
  get unsentMs(): number {
    return Math.max(0, this.endMs - this.sentUntilMs);
  }

  account(reconnects: number): SessionAccount {
    return {
      receivedSeconds: accountSeconds(this.receivedMs / 1000),
      confirmedSeconds: accountSeconds(this.confirmedMs / 1000),
      lostSeconds: accountSeconds(this.lostMs / 1000),
      reconnects,
    };
  }

  private get endMs(): number {
    return this.startMs + this.receivedMs;
  }
}
