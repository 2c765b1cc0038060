/**
 * Application-level liveness of one AssemblyAI connection: is the service still transcribing, whatever
 * the socket says? A stalled service can keep answering WebSocket pings while it sends no result.
 *
 * How the service behaves (research-liveness §5, research/assemblyai.md §2.4):
 * - in silence it sends nothing, unless `acknowledge_silence` is on (U3 Pro models): then a `Silence`
 *   message about once a second;
 * - during speech, U3 Pro sends SpeechStarted, an early partial (~0.8 s), partials about every 3 s
 *   (continuous partials, on by default except with speaker labels) and a partial or final at each pause
 *   of at least min_turn_silence; a pause-free monologue with continuous partials off gets nothing until
 *   it pauses. Universal-Streaming sends a partial per word.
 * - `ForceEndpoint` with a turn open is answered with its final in about 270 ms; with no turn open the
 *   answer is not documented (maybe nothing).
 *
 * So any server message is evidence of life, and audio is owed an answer only when it could carry
 * speech (the speech-energy detector says so), or always once the connection has acknowledged silence.
 * When owed audio became due more than `stallMs` ago and nothing came since, the connection is probed
 * with ForceEndpoint (an alive service with an open turn answers with its final); no message within
 * `probeMs` means stalled. Audio becomes due when a service transcribing at real time could have heard
 * it (never before it was sent): replayed audio sent ahead of real time is not expected back sooner.
 *
 * Pure logic on a clock the caller passes in; the session owns the timer and the socket.
 */

export interface LivenessOptions {
  /** Owed audio due longer than this with nothing heard: probe (0 turns the watchdog off). */
  stallMs: number;
  /** No message within this after the probe: stalled. */
  probeMs: number;
  /** At least this much owed audio before a probe: a click or a cough is not a reason (default 300 ms). */
  minOwedMs?: number;
}

export type LivenessVerdict = "alive" | "probe" | "stalled";

export class Liveness {
  private owedSince: number | undefined;
  private owedMs = 0;
  private probedAt: number | undefined;
  private acknowledgesSilence = false;
  private readonly minOwedMs: number;

  constructor(private readonly o: LivenessOptions) {
    this.minOwedMs = o.minOwedMs ?? 300;
  }

  /** A new connection: nothing owed, silence acknowledgements not seen yet. */
  reset(): void {
    this.owedSince = undefined;
    this.owedMs = 0;
    this.probedAt = undefined;
    this.acknowledgesSilence = false;
  }

  /** Any message from the service. */
  heard(kind: "silence" | "other" = "other"): void {
    this.owedSince = undefined;
    this.owedMs = 0;
    this.probedAt = undefined;
    if (kind === "silence") this.acknowledgesSilence = true;
  }

  /** A frame went out; `dueAt` is when a real-time service could have heard all of it. */
  sent(dueAt: number, durationMs: number, speech: boolean): void {
    if (!speech && !this.acknowledgesSilence) return;
    this.owedSince ??= dueAt;
    this.owedMs += durationMs;
  }

  probed(now: number): void {
    this.probedAt = now;
  }

  check(now: number): LivenessVerdict {
    if (this.o.stallMs <= 0) return "alive";
    if (this.probedAt !== undefined) return now - this.probedAt >= this.o.probeMs ? "stalled" : "alive";
    if (this.owedSince === undefined || this.owedMs < this.minOwedMs) return "alive";
    return now - this.owedSince >= this.o.stallMs ? "probe" : "alive";
  }

  /** When `check` can next give another verdict; undefined while nothing is owed. */
  nextCheckAt(): number | undefined {
    if (this.o.stallMs <= 0) return undefined;
    if (this.probedAt !== undefined) return this.probedAt + this.o.probeMs;
    if (this.owedSince === undefined || this.owedMs < this.minOwedMs) return undefined;
    return this.owedSince + this.o.stallMs;
  }
}
