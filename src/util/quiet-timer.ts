import type { Scheduler } from "./scheduler";

/**
 * Calls `onQuiet` once `ms` have passed since the last `touch()`. Touching sets no timer of its own (it
 * runs for every chunk of every session): one timer runs per interval and, when it fires, looks at the
 * time of the last touch, waiting out the rest if there was one since.
 */
export class QuietTimer {
  private lastTouch = 0;
  private timer: unknown;
  private waiting = false;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly ms: number,
    private readonly onQuiet: () => void,
  ) {}

  /** Waiting for the quiet time (touched, and neither fired, paused nor stopped since). */
  get active(): boolean {
    return this.waiting;
  }

  /** Activity now: the quiet time starts again. */
  touch(): void {
    this.lastTouch = this.scheduler.now();
    this.waiting = true;
    if (this.timer === undefined) this.arm(this.ms);
  }

  /** Nothing fires until the next touch; cheaper than `stop` (the timer is left to lapse). */
  pause(): void {
    this.waiting = false;
  }

  /** Nothing fires until the next touch, and no timer is left running. */
  stop(): void {
    this.waiting = false;
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = undefined;
      if (!this.waiting) return;
      const quiet = this.scheduler.now() - this.lastTouch;
      if (quiet < this.ms) {
        this.arm(this.ms - quiet);
        return;
      }
      this.waiting = false;
      this.onQuiet();
    }, ms);
  }
}
