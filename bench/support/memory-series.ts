// RSS and heap sampled over a long run, and what a reader checks in them: the cost per live session at
// the peak, and whether memory drifts upward while the load stays the same (a slow leak shows there
// long before it ends a process).

const MIB = 2 ** 20;

export interface MemorySample {
  /** Minutes since the measured part of the run began. */
  minute: number;
  rssMib: number;
  heapMib: number;
  sessions: number;
}

/** Least-squares slope of y over x (per unit of x); 0 for fewer than two points. */
export function slope(points: ReadonlyArray<readonly [number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (const [x, y] of points) {
    sx += x;
    sy += y;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export class MemorySeries {
  readonly samples: MemorySample[] = [];
  private readonly t0: number;
  private next: number;

  /** `baselineRssMib`: RSS before the first measured session. */
  constructor(
    readonly baselineRssMib: number,
    private readonly everyMs: number,
    now: number,
  ) {
    this.t0 = now;
    this.next = now;
  }

  /** Records a sample when one is due; cheap to call on every tick. */
  maybeSample(now: number, sessions: number): void {
    if (now < this.next) return;
    this.next += this.everyMs;
    const m = process.memoryUsage();
    this.samples.push({
      minute: (now - this.t0) / 60_000,
      rssMib: m.rss / MIB,
      heapMib: m.heapUsed / MIB,
      sessions,
    });
  }

  /**
   * The summary lines: RSS per live session at the sample with the most sessions, the RSS and heap
   * slopes (MiB per hour) over the samples from `fromFraction` of the run on (the warm-up of the JIT and
   * of the pools is not drift), and the series in `rows` evenly spaced samples.
   */
  report(fromFraction = 0.1, rows = 12): string[] {
    if (this.samples.length === 0) return ["  memory: no samples"];
    const peak = this.samples.reduce((a, b) => (b.sessions > a.sessions ? b : a));
    const perSession = peak.sessions > 0 ? (peak.rssMib - this.baselineRssMib) / peak.sessions : Number.NaN;
    const last = this.samples[this.samples.length - 1].minute;
    const steady = this.samples.filter((s) => s.minute >= last * fromFraction);
    const perHour = (pick: (s: MemorySample) => number): string =>
      (slope(steady.map((s) => [s.minute / 60, pick(s)] as const)) || 0).toFixed(1);
    const lines = [
      `  memory: RSS ${this.baselineRssMib.toFixed(0)} MiB before the first session; at the peak of ${peak.sessions} live sessions ${peak.rssMib.toFixed(0)} MiB (${perSession.toFixed(2)} MiB per session)`,
      `  memory drift from ${(fromFraction * 100).toFixed(0)} % of the run on (least squares): RSS ${perHour((s) => s.rssMib)} MiB/h, heap ${perHour((s) => s.heapMib)} MiB/h`,
    ];
    const step = Math.max(1, Math.floor(this.samples.length / rows));
    const shown = this.samples.filter((_, i) => i % step === 0);
    lines.push(
      `  minute · sessions · RSS MiB · heap MiB: ${shown
        .map((s) => `${s.minute.toFixed(1)}·${s.sessions}·${s.rssMib.toFixed(0)}·${s.heapMib.toFixed(0)}`)
        .join("  ")}`,
    );
    return lines;
  }
}
