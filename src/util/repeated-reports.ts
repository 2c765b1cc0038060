import type { Scheduler } from "./scheduler";

/** How often repeats of a report are summarised: about once a minute. */
export const REPEAT_SUMMARY_MS = 60_000;
/**
 * Keys (kinds of report, or sessions) followed at once. Beyond it, new keys are counted together under
 * OTHER_KEY, so that a flow sending ever new session ids cannot grow the map.
 */
export const MAX_REPEAT_KEYS = 1000;
export const OTHER_KEY = "\u0000other";

/** The repeats a summary reports: how many since the last report, how much audio they carried. */
export interface Repeats<D> {
  times: number;
  /** Seconds of audio the repeats carried (0 when the report is not about audio). */
  seconds: number;
  /** Milliseconds the repeats were counted over. */
  overMs: number;
  /** The detail of the last repeat (for example the session it concerned). */
  last: D;
}

interface Slot<D> {
  timer: unknown;
  since: number;
  times: number;
  seconds: number;
  last: D;
}

/**
 * The one rule for reports that can repeat (the same refusal for every chunk of a stream, the same
 * misconfiguration for every message): the first occurrence of a key is reported in full by the
 * caller; repeats are counted, and summarised through `summarise` when the interval ends, then once per
 * interval for as long as they go on. A key whose interval passes with no repeat is forgotten: its
 * next occurrence is reported in full again.
 */
export class RepeatedReports<D = undefined> {
  private readonly slots = new Map<string, Slot<D>>();

  constructor(
    private readonly summarise: (key: string, repeats: Repeats<D>) => void,
    private readonly scheduler: Scheduler,
    private readonly intervalMs: number = REPEAT_SUMMARY_MS,
    private readonly maxKeys: number = MAX_REPEAT_KEYS,
  ) {}

  /**
   * Records one occurrence. True: the first of its key for now, to be reported in full by the caller;
   * false: counted into the next summary.
   */
  occurred(key: string, last: D, seconds = 0): boolean {
    const k = this.slots.has(key) || this.slots.size < this.maxKeys ? key : OTHER_KEY;
    const slot = this.slots.get(k);
    if (slot) {
      slot.times++;
      slot.seconds += seconds;
      slot.last = last;
      return false;
    }
    this.open(k, last);
    return true;
  }

  /** Summarises a key's repeats now (when what it concerns ends) and forgets it. */
  flush(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.scheduler.clearTimeout(slot.timer);
    this.slots.delete(key);
    this.report(key, slot);
  }

  /** Summarises every key's repeats now and forgets them all (when the node closes). */
  close(): void {
    for (const key of [...this.slots.keys()]) this.flush(key);
  }

  get size(): number {
    return this.slots.size;
  }

  /** Whether a key is followed (its first occurrence reported, its interval running). */
  has(key: string): boolean {
    return this.slots.has(key);
  }

  /** The detail of a key's latest occurrence, while it is followed. */
  lastOf(key: string): D | undefined {
    return this.slots.get(key)?.last;
  }

  private open(key: string, last: D): void {
    const slot: Slot<D> = { timer: undefined, since: this.scheduler.now(), times: 0, seconds: 0, last };
    slot.timer = this.scheduler.setTimeout(() => this.intervalEnded(key, slot), this.intervalMs);
    this.slots.set(key, slot);
  }

  private intervalEnded(key: string, slot: Slot<D>): void {
    if (this.slots.get(key) !== slot) return;
    if (slot.times === 0) {
      this.slots.delete(key);
      return;
    }
    // Repeats go on being counted into the next interval's summary; the first of a new burst after
    // a quiet interval is reported in full again.
    this.report(key, slot);
    slot.since = this.scheduler.now();
    slot.times = 0;
    slot.seconds = 0;
    slot.timer = this.scheduler.setTimeout(() => this.intervalEnded(key, slot), this.intervalMs);
  }

  private report(key: string, slot: Slot<D>): void {
    if (slot.times === 0) return;
    this.summarise(key, {
      times: slot.times,
      seconds: slot.seconds,
      overMs: this.scheduler.now() - slot.since,
      last: slot.last,
    });
  }
}

/** The summary's words, after the text of the report itself: "(repeated 29 more times in 60 s ...)". */
export function repeatsText(text: string, repeats: Repeats<unknown>): string {
  const times = repeats.times === 1 ? "1 more time" : `${repeats.times} more times`;
  const over = `${Math.max(1, Math.round(repeats.overMs / 1000))} s`;
  const audio = repeats.seconds > 0 ? `, ${repeats.seconds.toFixed(1)} s of audio` : "";
  return `${text} (repeated ${times} in ${over}${audio}; the first was reported in full)`;
}
