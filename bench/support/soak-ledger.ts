/**
 * The soak's account, kept as it goes. A session's record (what it delivered, word by word, and its
 * events) is checked against what the emulators produced for it soon after it ends, and then forgotten:
 * the measuring process holds the sessions in flight and a tally, never every session of the run.
 * Before this, an hour of 7 288 sessions kept about 2 KiB each in the bench itself (15 MiB of the
 * 20.6 MiB the heap grew), which the soak then reported as the product's growth.
 */
import type { Provider, StreamReport } from "./emulator-process";
import { CHUNK_MS, sessionMark } from "./tagged-audio";

/** Examples kept per kind of failure (the count is always exact). */
const EXAMPLES = 20;

export interface SoakSession {
  n: number;
  provider: Provider;
  topic: string;
  chunks: number;
  sent: number;
  /** Ended by the redeploy rather than by its source. */
  cut: boolean;
  endedAt: number | undefined;
  /** Terminal event from the transcriber (ended, termination, error), and when it came. */
  terminal: string | undefined;
  terminalAt: number | undefined;
  /** Delivered words: script start ms → times delivered. */
  delivered: Map<number, number>;
  refused: boolean;
  /** The transcriber's session events, in short (for the report of a session that never ends). */
  history: string[];
}

/** A session about to start: nothing sent, delivered or heard of yet. */
export function newSession(n: number, provider: Provider, topic: string, chunks: number): SoakSession {
  return {
    n,
    provider,
    topic,
    chunks,
    sent: 0,
    cut: false,
    endedAt: undefined,
    terminal: undefined,
    terminalAt: undefined,
    delivered: new Map(),
    refused: false,
    history: [],
  };
}

export class Tally {
  count = 0;
  readonly examples: string[] = [];

  add(what: string): void {
    this.count++;
    if (this.examples.length < EXAMPLES) this.examples.push(what);
  }
}

export class SoakLedger {
  private readonly live = new Map<string, SoakSession>();
  /** Per session mark (`sessionMark`): each word an emulator put in a final → the first time it did (epoch ms). */
  private readonly produced = new Map<number, Map<number, number>>();
  /** Session numbers with a stream open at the emulators in the latest report. */
  private open = new Set<number>();
  readonly lost = new Tally();
  readonly duplicated = new Tally();
  readonly phantom = new Tally();
  readonly hung = new Tally();
  deliveredWords = 0;
  settled = 0;

  /** `spoken`: the script words (start ms) wholly inside the first `ms` of a session's audio. */
  constructor(private readonly spoken: (provider: Provider, ms: number) => number[]) {}

  /** Sessions not yet settled. */
  get size(): number {
    return this.live.size;
  }

  /** Sessions whose produced words are held (settled sessions' are dropped). */
  get producedFor(): number {
    return this.produced.size;
  }

  sessions(): IterableIterator<SoakSession> {
    return this.live.values();
  }

  add(s: SoakSession): void {
    this.live.set(s.topic, s);
  }

  get(topic: unknown): SoakSession | undefined {
    return typeof topic === "string" ? this.live.get(topic) : undefined;
  }

  /** A word delivered at `startMs` of session `topic`; one for a settled session is a failure. */
  deliver(topic: unknown, startMs: number): SoakSession | undefined {
    const s = this.get(topic);
    if (s) s.delivered.set(startMs, (s.delivered.get(startMs) ?? 0) + 1);
    else this.phantom.add(`a word at ${startMs} ms delivered after its session was accounted`);
    return s;
  }

  /** Adds what the emulators report (repeats are harmless: a word keeps its first time). */
  fold(streams: readonly StreamReport[]): void {
    const open = new Set<number>();
    for (const stream of streams) {
      if (stream.open) open.add(stream.session);
      if (stream.finals.length === 0) continue;
      const words = this.produced.get(stream.session) ?? new Map<number, number>();
      this.produced.set(stream.session, words);
      for (const f of stream.finals) {
        for (const w of f.wordStartsMs) words.set(w, Math.min(words.get(w) ?? Infinity, f.at));
      }
    }
    this.open = open;
  }

  /**
   * Settles the sessions that ended (their transcriber said so) at or before `cutoff` and have no stream
   * open at the emulators: call after a `fold` of a report asked for a while after `cutoff`, so that their
   * last finals are in. Cut sessions wait for `settleAll` (their words arrive after the redeploy).
   */
  settleEnded(cutoff: number, redeployAt: number): number {
    let n = 0;
    for (const s of this.live.values()) {
      if (s.cut || s.terminalAt === undefined || s.terminalAt > cutoff || this.open.has(sessionMark(s.n)))
        continue;
      this.settle(s, redeployAt);
      n++;
    }
    return n;
  }

  /** Settles every session left; words produced for sessions already settled were never delivered. */
  settleAll(redeployAt: number): void {
    for (const s of [...this.live.values()]) this.settle(s, redeployAt);
    for (const [n, words] of this.produced) {
      if (n === 0) continue;
      for (const w of words.keys()) this.lost.add(`session ${n}: word at ${w} ms produced after its account`);
    }
    this.produced.clear();
  }

  private settle(s: SoakSession, redeployAt: number): void {
    const made = this.produced.get(sessionMark(s.n)) ?? new Map<number, number>();
    const name = `${s.topic}${s.cut ? " (cut)" : ""}`;
    for (const [w, times] of s.delivered) {
      this.deliveredWords += times;
      if (times > 1) this.duplicated.add(`${name} word at ${w} ms ×${times}`);
      if (!made.has(w)) this.phantom.add(`${name} word at ${w} ms`);
    }
    for (const [w, at] of made) {
      if (s.delivered.has(w)) continue;
      this.lost.add(
        `${name} produced word at ${w} ms${s.cut && at >= redeployAt ? " during the redeploy" : ""}`,
      );
    }
    if (!s.cut && !s.refused) {
      for (const w of this.spoken(s.provider, s.chunks * CHUNK_MS)) {
        if (!s.delivered.has(w)) this.lost.add(`${name} spoken word at ${w} ms never transcribed`);
      }
    }
    if (s.terminal === undefined) this.hung.add(`${name} [${s.history.join(", ")}]`);
    this.produced.delete(sessionMark(s.n));
    this.live.delete(s.topic);
    this.settled++;
  }
}
