/**
 * Exactly once across a replay. A transcriber that reconnects sends the audio no final covered yet into a
 * new connection, and the service transcribes it again: the words it had already finalised come back,
 * with timestamps the service derives anew (shifted by a few hundred milliseconds) and sometimes split
 * or joined differently ("blood pressure" / "bloodpressure"). `DeliveredWords` remembers the words of
 * the finals already delivered and strips them from the new connection's results.
 *
 * A new word is a repeat of a delivered one only when both agree: in audio time (their starts within the
 * tolerance) and in words (the same normalised text, or the same text split into up to 3 words on either
 * side), in order, one to one. So a phrase genuinely spoken twice ("no, no") is never swallowed: each
 * delivered word absorbs at most one new word (or the pieces of one split word).
 *
 * Provider-independent: results are contract 2, times in session seconds. Work is linear in words
 * (both lists are in time order and only words within the tolerance are compared); memory is bounded
 * by a window of delivered words per channel.
 */
import { meanConfidence } from "./confidence";
import type { TranscriptResult, TranscriptWord } from "./result";

export interface DeliveredWordsOptions {
  /** How far the starts of a word and of its repeat may lie apart (default 0.5 s). */
  toleranceSeconds?: number;
  /** Delivered words older than this behind the newest are forgotten (default 120 s). */
  windowSeconds?: number;
  /** Bound on the words kept per channel, whatever the window (default 4000). */
  maxWords?: number;
}

interface Delivered {
  /** Normalised text: lower case, letters and digits only. */
  norm: string;
  start: number;
  end: number;
}

/** The delivered words of one channel, oldest first; `head` skips the forgotten ones. */
interface ChannelWords {
  words: Delivered[];
  head: number;
  /** End of the latest delivered word (session seconds). */
  covered: number;
  /** Delivered words ending at or before this are not in the replayed audio (see replayFrom). */
  floor: number;
}

/** Channels a stream may carry: AWS has two at most; more keys than this share one list. */
const MAX_CHANNELS = 16;
/** The most words taken together on either side when a word is split or joined differently. */
const MAX_GROUP = 6;

/** Case and punctuation do not make a word new: "Pain." and "pain" are the same word. */
export function normaliseWord(text: string): string {
  return text.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, "");
}

/** The text of a list of words: separated by spaces, punctuation items attached to the word before. */
export function textOfWords(words: readonly TranscriptWord[]): string {
  let text = "";
  for (const w of words) text = w.kind === "punctuation" || text === "" ? text + w.text : `${text} ${w.text}`;
  return text;
}

export class DeliveredWords {
  private readonly tolerance: number;
  private readonly window: number;
  private readonly maxWords: number;
  private readonly channels = new Map<string, ChannelWords>();
  private floor = Number.NEGATIVE_INFINITY;

  constructor(opts: DeliveredWordsOptions = {}) {
    this.tolerance = positive(opts.toleranceSeconds, 0.5);
    this.window = positive(opts.windowSeconds, 120);
    this.maxWords = Math.max(1, Math.floor(positive(opts.maxWords, 4000)));
  }

  /** Remembers the words of a final that was delivered (what went out, after `fresh`). */
  record(final: TranscriptResult): void {
    const ch = this.channel(channelKey(final), true);
    if (!ch) return;
    for (const w of final.words) {
      const norm = normaliseWord(w.text);
      if (!norm) continue;
      insertInOrder(ch.words, ch.head, { norm, start: w.startTime, end: w.endTime });
      if (w.endTime > ch.covered) ch.covered = w.endTime;
    }
    if (final.words.length === 0 && final.endTime > ch.covered) ch.covered = final.endTime;
    this.prune(ch);
  }

  /**
   * A new connection replays audio from `seconds` (session time) on: delivered words that end at or
   * before it cannot come back, so they never absorb a new word (a phrase repeated across the replay's
   * start stays). Applies to every channel.
   */
  replayFrom(seconds: number): void {
    this.floor = seconds;
    for (const ch of this.channels.values()) ch.floor = seconds;
  }

  /** End of the latest delivered word on the channel (session seconds); 0 when none was delivered. */
  coveredUntil(channel?: string): number {
    const ch = this.channels.get(channel ?? "");
    return ch && Number.isFinite(ch.covered) ? ch.covered : 0;
  }

  /**
   * The part of a result (final or partial) that was not delivered yet: the same object when all of it
   * is new, a copy with the new words (text, confidence and times recomputed), or null when nothing is
   * new. Punctuation items go with the word before them.
   */
  fresh(result: TranscriptResult): TranscriptResult | null {
    const ch = this.channels.get(channelKey(result));
    if (!ch || ch.head >= ch.words.length) return result;
    const words = result.words;
    if (words.length === 0) {
      // Nothing to compare by words: by time alone.
      return result.endTime <= ch.covered && result.startTime < ch.covered ? null : result;
    }
    const firstStart = words[0]?.startTime ?? result.startTime;
    if (firstStart > ch.covered + this.tolerance) return result;
    const keep = this.align(ch, words);
    if (keep.every(Boolean)) return result;
    return rebuild(result, keep);
  }

  /**
   * Marks each new word kept (true) or a repeat (false). Two pointers walk both lists in time order;
   * for each new word only the delivered words whose start lies within the tolerance are tried.
   */
  private align(ch: ChannelWords, words: readonly TranscriptWord[]): boolean[] {
    const keep = new Array<boolean>(words.length).fill(true);
    const norms = words.map((w) => normaliseWord(w.text));
    const D = ch.words;
    const tol = this.tolerance;
    // The first delivered word that can still be in the replay and is not too early for the first new word.
    let d = lowerBoundStart(D, ch.head, (words[0]?.startTime ?? 0) - tol);
    let n = 0;
    while (n < words.length) {
      const word = words[n];
      if (!word || !norms[n]) {
        n++;
        continue;
      }
      while (d < D.length && (D[d]?.start ?? 0) < word.startTime - tol) d++;
      let matched = false;
      for (let k = d; k < D.length && (D[k]?.start ?? 0) <= word.startTime + tol; k++) {
        if ((D[k]?.end ?? 0) <= ch.floor) continue;
        const sizes = matchAt(norms, n, D, k);
        if (!sizes) continue;
        const [a, b] = sizes;
        // The matched new words (and any punctuation among them) are repeats.
        let taken = 0;
        let i = n;
        while (i < words.length && taken < a) {
          keep[i] = false;
          if (norms[i]) taken++;
          i++;
        }
        n = i;
        d = k + b;
        matched = true;
        break;
      }
      if (!matched) n++;
    }
    // Punctuation (and any item without letters or digits) follows the word before it; leading
    // punctuation follows the first word.
    let previous = firstSpoken(norms) < words.length ? keep[firstSpoken(norms)] : true;
    for (let i = 0; i < words.length; i++) {
      if (norms[i]) previous = keep[i];
      else keep[i] = previous ?? true;
    }
    return keep;
  }

  private channel(key: string, create: boolean): ChannelWords | undefined {
    let ch = this.channels.get(key);
    if (!ch && create) {
      if (this.channels.size >= MAX_CHANNELS) return this.channels.values().next().value;
      ch = { words: [], head: 0, covered: Number.NEGATIVE_INFINITY, floor: this.floor };
      this.channels.set(key, ch);
    }
    return ch;
  }

  private prune(ch: ChannelWords): void {
    const oldest = ch.covered - this.window;
    while (ch.head < ch.words.length && (ch.words[ch.head]?.end ?? 0) < oldest) ch.head++;
    if (ch.words.length - ch.head > this.maxWords) ch.head = ch.words.length - this.maxWords;
    if (ch.head > 1024 && ch.head * 2 > ch.words.length) {
      ch.words = ch.words.slice(ch.head);
      ch.head = 0;
    }
  }
}

function positive(v: number | undefined, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) && v > 0 ? v : fallback;
}

function channelKey(r: TranscriptResult): string {
  return r.channel ?? "";
}

function firstSpoken(norms: readonly string[]): number {
  const i = norms.findIndex((n) => n !== "");
  return i < 0 ? norms.length : i;
}

/** Inserts keeping start order; finals arrive in order, so this is an append but for overlaps. */
function insertInOrder(list: Delivered[], head: number, entry: Delivered): void {
  let i = list.length;
  while (i > head && (list[i - 1]?.start ?? 0) > entry.start) i--;
  if (i === list.length) list.push(entry);
  else list.splice(i, 0, entry);
}

/** The first index from `from` whose start is at or after `t` (binary search). */
function lowerBoundStart(list: readonly Delivered[], from: number, t: number): number {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid]?.start ?? 0) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Whether new words from `n` spell the same as delivered words from `k`, as [new count, delivered count]:
 * one word each, or a word split or joined differently on either side ("blood pressure" against
 * "bloodpressure", "hemog lobin elev ated" against "hemoglobin elevated"). The shorter spelling takes
 * the next word on its side while it is a prefix of the other, up to MAX_GROUP words a side; the first
 * equal pair wins, so a word matches one word whenever it can. Punctuation items (empty) are skipped.
 */
function matchAt(
  norms: readonly string[],
  n: number,
  D: readonly Delivered[],
  k: number,
): readonly [number, number] | undefined {
  let a = "";
  let b = "";
  let i = n;
  let j = k;
  let taken = 0;
  let given = 0;
  for (;;) {
    if (a.length <= b.length) {
      while (i < norms.length && !norms[i]) i++;
      const next = norms[i];
      if (next === undefined || taken === MAX_GROUP) return undefined;
      a += next;
      i++;
      taken++;
    } else {
      const next = D[j]?.norm;
      if (next === undefined || given === MAX_GROUP) return undefined;
      b += next;
      j++;
      given++;
    }
    if (a.length === b.length && given > 0 && taken > 0) return a === b ? [taken, given] : undefined;
    if (!(a.length < b.length ? b.startsWith(a) : a.startsWith(b))) return undefined;
  }
}

function rebuild(result: TranscriptResult, keep: readonly boolean[]): TranscriptResult | null {
  const words = result.words.filter((_, i) => keep[i]);
  // Never start with a stray mark; nothing spoken left means nothing new.
  while (words[0] && !normaliseWord(words[0].text)) words.shift();
  const first = words[0];
  const last = words[words.length - 1];
  if (!first || !last) return null;
  const lastKept = keep[result.words.length - 1] === true;
  const out: TranscriptResult = {
    ...result,
    words,
    text: textOfWords(words),
    confidence: meanConfidence(words),
    startTime: first.startTime,
    endTime: lastKept ? Math.max(result.endTime, last.endTime) : last.endTime,
  };
  if (result.entities) {
    const entities = result.entities.filter((e) => e.startTime >= first.startTime - 1e-6);
    if (entities.length > 0) out.entities = entities;
    else delete out.entities;
  }
  return out;
}
