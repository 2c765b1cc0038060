/**
 * The per-word and per-frame cost of the exactly-once machinery, printed (run with `npx tsx
 * bench/exactly-once.ts`): DeliveredWords over replays of growing length (linear: the cost per word
 * stays flat as the replay grows), and SpeechEnergy per 100 ms frame of 16 kHz audio.
 */
import { SpeechEnergy } from "../src/audio/speech-energy";
import { DeliveredWords } from "../src/transcript/replay-dedup";
import type { TranscriptResult, TranscriptWord } from "../src/transcript/result";

function result(words: number, shiftSeconds: number): TranscriptResult {
  const list: TranscriptWord[] = Array.from({ length: words }, (_, i) => ({
    // Seven words over and over: the hardest case for an alignment, every word has look-alikes nearby.
    text: `w${i % 7}`,
    startTime: i * 0.3 + shiftSeconds,
    endTime: i * 0.3 + 0.25 + shiftSeconds,
    confidence: 0.9,
    kind: "word",
  }));
  return {
    provider: "bench",
    sessionId: "s",
    segmentId: "x",
    isFinal: true,
    text: "",
    confidence: 0.9,
    startTime: 0,
    endTime: words * 0.3,
    words: list,
    language: "en",
  };
}

function time(fn: () => void, rounds: number): number {
  fn();
  const started = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) fn();
  return Number(process.hrtime.bigint() - started) / 1e3 / rounds;
}

console.log("DeliveredWords.fresh: a replay of N words, all delivered before, shifted by 0.3 s");
for (const n of [1000, 10000, 100000]) {
  const dw = new DeliveredWords({ windowSeconds: 1e9, maxWords: 1e9 });
  dw.record(result(n, 0));
  const replay = result(n, 0.3);
  const us = time(() => void dw.fresh(replay), n >= 100000 ? 3 : 20);
  console.log(
    `  N = ${String(n).padStart(6)}: ${(us / 1000).toFixed(1)} ms, ${((us * 1000) / n).toFixed(0)} ns per word`,
  );
}

const energy = new SpeechEnergy({ sampleRate: 16000, encoding: "pcm_s16le" });
const frames = Array.from({ length: 100 }, (_, k) => {
  const b = Buffer.allocUnsafe(3200);
  for (let i = 0; i < 1600; i++) b.writeInt16LE(Math.round(Math.sin(i * 0.1 + k) * 3000 * (k % 3)), i * 2);
  return b;
});
const perFrame =
  time(() => {
    for (const f of frames) energy.frame(f);
  }, 200) / frames.length;
console.log(
  `SpeechEnergy.frame: ${perFrame.toFixed(2)} µs per 100 ms frame (${((perFrame * 10 * 600) / 1e4).toFixed(1)} % of one core for 600 real-time sessions)`,
);
