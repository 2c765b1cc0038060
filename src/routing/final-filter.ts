import type { TranscriptResult } from "../transcript/result";
import { KeyedThrottle } from "../util/keyed-throttle";
import { realScheduler, type Scheduler } from "../util/scheduler";

export interface FinalFilterOptions {
  /**
   * Also pass partial results, at most one per segment every this many ms (0: every partial);
   * null drops all partials.
   */
  partialIntervalMs: number | null;
  /** Drop results whose text is empty or blank. */
  dropEmpty: boolean;
}

/** The longest partial interval: a caption older than this is no longer live. */
export const MAX_PARTIAL_INTERVAL_MS = 60_000;

/**
 * At most this many segments have partials in flight at once (each holds its latest partial and a
 * timer). The partials of a further segment are dropped, and counted, until older ones close: memory
 * stays bounded whatever the input, and finals always pass.
 */
export const MAX_OPEN_SEGMENTS = 10_000;

/** A setting of filter-final that cannot be used; `setting` names it (the node's catalog has the text). */
export class FilterOptionError extends Error {
  override readonly name = "FilterOptionError";
  constructor(
    readonly setting: "partials" | "partialIntervalMs",
    message: string,
  ) {
    super(message);
  }
}

/** The partials setting of the editor: "drop", or "throttle" with an interval. */
export type PartialsMode = "drop" | "throttle";

/**
 * Reads the node's settings; throws a FilterOptionError naming what is accepted. The interval is a
 * whole number of milliseconds from 0 to MAX_PARTIAL_INTERVAL_MS (a number or a numeric string, as the
 * editor stores it); it is read only when partials are throttled.
 */
export function filterOptions(
  partials: unknown,
  intervalMs: unknown,
  dropEmpty: unknown,
): FinalFilterOptions {
  if (partials !== "drop" && partials !== "throttle") {
    throw new FilterOptionError("partials", 'the partials setting must be "drop" or "throttle"');
  }
  if (partials === "drop") return { partialIntervalMs: null, dropEmpty: dropEmpty !== false };
  const n = typeof intervalMs === "string" && intervalMs.trim() !== "" ? Number(intervalMs) : intervalMs;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > MAX_PARTIAL_INTERVAL_MS) {
    throw new FilterOptionError(
      "partialIntervalMs",
      `the partial interval must be a whole number of milliseconds from 0 to ${MAX_PARTIAL_INTERVAL_MS}`,
    );
  }
  return { partialIntervalMs: n, dropEmpty: dropEmpty !== false };
}

/** What became of one result: sent now, held for the partial interval, or dropped (and why). */
export type FilterOutcome = "passed" | "held" | "dropped-partial" | "dropped-empty";

/**
 * The logic of filter-final. Finals pass; partials either drop or pass throttled per segment, the
 * latest one held back waiting for the interval's end; a final cancels the held partial of its
 * segment, so a stale partial never follows the final it belongs to. A withdrawal (contract 2
 * `withdrawn`) passes whenever partials pass, and cancels its segment's held partial.
 */
export class FinalFilter<M> {
  private readonly throttle: KeyedThrottle<M> | undefined;

  constructor(
    private readonly options: FinalFilterOptions,
    /** Called for a held partial when its interval ends; results that pass at once are the caller's to send. */
    emitHeld: (msg: M) => void,
    scheduler: Scheduler = realScheduler,
  ) {
    if (options.partialIntervalMs) {
      this.throttle = new KeyedThrottle<M>(options.partialIntervalMs, emitHeld, scheduler);
    }
  }

  accept(result: TranscriptResult, msg: M): FilterOutcome {
    const key = segmentKey(result);
    if (result.isFinal || result.withdrawn === true) this.throttle?.cancel(key);
    // A withdrawal goes wherever partials go (it removes one), and its empty text is the point of it.
    if (result.withdrawn === true)
      return this.options.partialIntervalMs === null ? "dropped-partial" : "passed";
    if (this.options.dropEmpty && result.text.trim() === "") return "dropped-empty";
    if (result.isFinal) return "passed";
    if (this.options.partialIntervalMs === null) return "dropped-partial";
    if (!this.throttle) return "passed";
    if (this.throttle.size >= MAX_OPEN_SEGMENTS && !this.throttle.has(key)) return "dropped-partial";
    return this.throttle.push(key, msg) ? "passed" : "held";
  }

  /** Segments that have partials in flight (bounded: a segment is forgotten one quiet interval on). */
  get openSegments(): number {
    return this.throttle?.size ?? 0;
  }

  close(): void {
    this.throttle?.clear();
  }
}

// Sessions are independent streams: the same segment id in two sessions is two segments.
function segmentKey(result: TranscriptResult): string {
  return `${result.sessionId}\u0000${result.segmentId}`;
}
