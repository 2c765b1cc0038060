/**
 * Test helpers for exactly-once checks against the AssemblyAI emulator: dictations whose every word is
 * unique (so a delivered word names its fixture word), a clock that runs faster than real time, and the
 * check of what a session delivered against the emulator's own ledger of the finals it sent.
 */
import { strict as assert } from "node:assert";
import type { SessionAccount } from "../../../src/providers/session-account";
import { normaliseWord } from "../../../src/transcript/replay-dedup";
import type { TranscriptResult } from "../../../src/transcript/result";
import type { Scheduler } from "../../../src/util/scheduler";
import {
  voicedPcm,
  wordId,
  type Fixture,
  type FixtureTurn,
  type FixtureWord,
  type VoicedOptions,
} from "./fixture";
import type { LedgerFinal } from "./server";

/** Distinct words (none a concatenation of others), long ones among them for split spellings. */
const WORDS = (
  "patient denies chest pain shortness breath nausea vomiting hypertension controlled lisinopril " +
  "metformin hemoglobin elevated creatinine stable electrocardiogram sinus rhythm without ischemic " +
  "changes abdomen tender palpation epigastric region ultrasound ordered gallbladder evaluate " +
  "cholecystitis continue current medications followup clinic fortnight return precautions reviewed " +
  "understanding verbalized allergies penicillin rash childhood immunizations updated influenza " +
  "vaccine administered deltoid tolerated procedure discharge instructions"
).split(" ");

export interface DictationOptions {
  /** Words per turn (default 6). */
  perTurn?: number;
  turns?: number;
  startMs?: number;
  wordMs?: number;
  /** Between the words of a turn. */
  gapMs?: number;
  /** Between turns (a pause that ends the turn when at least min_turn_silence). */
  pauseMs?: number;
}

/** A dictation of unique words: turns of `perTurn` words, the last of each ending with a period. */
export function dictation(o: DictationOptions = {}): Fixture {
  const perTurn = o.perTurn ?? 6;
  const count = o.turns ?? 4;
  const wordMs = o.wordMs ?? 250;
  const gapMs = o.gapMs ?? 60;
  const pauseMs = o.pauseMs ?? 1000;
  let at = o.startMs ?? 200;
  let w = 0;
  const turns: FixtureTurn[] = [];
  for (let t = 0; t < count; t++) {
    const words: FixtureWord[] = [];
    for (let i = 0; i < perTurn; i++) {
      const base = WORDS[w % WORDS.length] ?? "word";
      // Past the list, a numbered variant keeps every word unique.
      const text = w < WORDS.length ? base : `${base}${Math.floor(w / WORDS.length)}`;
      w++;
      const last = i === perTurn - 1;
      words.push({
        text: `${i === 0 ? text[0]?.toUpperCase() + text.slice(1) : text}${last ? "." : ""}`,
        startMs: at,
        endMs: at + wordMs,
        confidence: 0.9,
      });
      at += wordMs + (last ? pauseMs : gapMs);
    }
    turns.push({ words });
  }
  return { turns };
}

/** Where the fixture's audio ends (ms), with `tailMs` of silence after the last word. */
export function audioEndMs(fixture: Fixture, tailMs = 1200): number {
  const last = fixture.turns.at(-1)?.words.at(-1);
  return Math.ceil(((last?.endMs ?? 0) + tailMs) / 100) * 100;
}

/** A clock `factor` times faster than real time: a 60 s encounter runs in 60/factor s. */
export class FastClock implements Scheduler {
  private readonly t0 = performance.now();
  constructor(readonly factor: number) {}
  now(): number {
    return (performance.now() - this.t0) * this.factor;
  }
  /** An epoch time (ms, as the emulator records arrivals) on this clock. */
  scaled(epochMs: number): number {
    return (epochMs - performance.timeOrigin - this.t0) * this.factor;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    return setTimeout(fn, ms / this.factor);
  }
  clearTimeout(handle: unknown): void {
    clearTimeout(handle as NodeJS.Timeout);
  }
  /** Resolves once this clock reaches `at`. */
  async until(at: number): Promise<void> {
    while (this.now() < at)
      await new Promise((r) => setTimeout(r, Math.max(1, (at - this.now()) / this.factor)));
  }
}

/** The fixture's words in order, normalised, with their ids. */
function fixtureWords(fixture: Fixture): Array<{ id: string; norm: string; word: FixtureWord }> {
  return fixture.turns.flatMap((t, ti) =>
    t.words.map((word, wi) => ({ id: wordId(ti, wi), norm: normaliseWord(word.text), word })),
  );
}

export interface Delivery {
  /** Fixture word ids delivered, in order, once each unless a test fails. */
  delivered: string[];
  /** Fixture word ids the service put in a final (on any connection). */
  emitted: Set<string>;
}

/**
 * Attributes the delivered finals' words to fixture words. Words are unique, but a replay may spell
 * them split or joined, so the delivered text is read as one string of normalised letters and cut
 * into fixture words in order; anything that cannot be cut so (a duplicate, a foreign word) fails.
 */
export function attribute(fixture: Fixture, results: TranscriptResult[], ledger: LedgerFinal[]): Delivery {
  const all = fixtureWords(fixture);
  const byNorm = new Map(all.map((w) => [w.norm, w]));
  const text = results
    .filter((r) => r.isFinal)
    .flatMap((r) => r.words.map((w) => normaliseWord(w.text)))
    .join("");
  const delivered: string[] = [];
  let at = 0;
  while (at < text.length) {
    let found: string | undefined;
    // Longest match first: no fixture word is a prefix of another one that follows in the text.
    for (let len = Math.min(40, text.length - at); len > 0; len--) {
      const w = byNorm.get(text.slice(at, at + len));
      if (w) {
        found = w.id;
        at += len;
        break;
      }
    }
    assert.ok(found, `delivered text has something no fixture word spells at …${text.slice(at, at + 30)}`);
    delivered.push(found);
  }
  const emitted = new Set(ledger.flatMap((f) => f.words.flatMap((w) => w.fixture)));
  return { delivered, emitted };
}

/**
 * Every word the service transcribed was delivered exactly once and in order; words it never got to
 * (an unrecoverable session) are covered by the account's lost seconds.
 */
export function assertExactlyOnce(
  fixture: Fixture,
  results: TranscriptResult[],
  ledger: LedgerFinal[],
  account: SessionAccount,
  o: { everyWord?: boolean; startMs?: number } = {},
): Delivery {
  const d = attribute(fixture, results, ledger);
  const counts = new Map<string, number>();
  for (const id of d.delivered) counts.set(id, (counts.get(id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id]) => id);
  assert.deepEqual(twice, [], "no word delivered twice");
  const all = fixtureWords(fixture);
  const order = new Map(all.map((w, i) => [w.id, i]));
  const positions = d.delivered.map((id) => order.get(id) ?? -1);
  assert.ok(
    positions.every((p, i) => i === 0 || p > (positions[i - 1] ?? -1)),
    "words delivered in order",
  );
  for (const id of d.delivered)
    assert.ok(d.emitted.has(id), `word ${id} delivered but never sent by the service`);
  const missing = all.filter((w) => !counts.has(w.id));
  if (o.everyWord !== false) {
    assert.deepEqual(
      missing.map((w) => w.id),
      [],
      "every spoken word delivered",
    );
    assert.equal(account.lostSeconds, 0, "nothing lost");
  } else {
    // What was not delivered lies in the audio the account says was lost: the session's unconfirmed tail.
    const confirmedEnd = (o.startMs ?? 0) / 1000 + account.confirmedSeconds;
    for (const w of missing) {
      assert.ok(
        w.word.endMs / 1000 > confirmedEnd - 0.001,
        `undelivered word ${w.id} (${w.word.endMs} ms) lies in confirmed audio (to ${confirmedEnd} s)`,
      );
    }
    if (missing.length > 0) assert.ok(account.lostSeconds > 0, "lost audio reported");
  }
  assert.ok(
    Math.abs(account.receivedSeconds - account.confirmedSeconds - account.lostSeconds) < 0.002,
    `received = confirmed + lost (${JSON.stringify(account)})`,
  );
  return d;
}

/** Where a live source writes: a session's push. */
export interface AudioSink {
  push(audio: Buffer): { ok: boolean };
  end(): Promise<void>;
}

/**
 * A live source: 100 ms of voiced audio every 100 ms of the clock, then the end of the session. Audio
 * the session refuses (it failed) is counted, not written again.
 */
export async function liveSource(
  sink: AudioSink,
  clock: FastClock,
  fixture: Fixture,
  toMs: number,
  voice: VoicedOptions = {},
  during?: (ms: number) => void,
): Promise<{ refused: number }> {
  const started = clock.now();
  let refused = 0;
  for (let t = 0; t < toMs; t += 100) {
    await clock.until(started + t);
    during?.(t);
    if (!sink.push(voicedPcm(fixture, t, 100, voice)).ok) refused++;
  }
  await sink.end();
  return { refused };
}
