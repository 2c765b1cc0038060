// What handing frames on as views (PcmFramer.push(bytes, owned = true)) saves against copying them,
// alternating the two in one process:
//   npx tsx --expose-gc bench/framer.ts
// Prints the framer alone on 100 ms chunks of 16 kHz mono (3.2 KB), and the live 48 kHz stereo path of
// audio-in (decimator, then framer) per 100 ms chunk, copying or viewing, and with the decimator's
// JavaScript or WebAssembly SIMD filter; medians of alternating runs.
import { Decimator } from "../src/audio/decimator";
import { PcmFramer } from "../src/audio/framer";

// The state a long-running process ends up in (see bench/audio-in.ts): typed-array accesses checked.
const detached = new ArrayBuffer(8);
structuredClone(detached, { transfer: [detached] });

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

function cpuMicros(fn: () => void): number {
  global.gc?.();
  const start = process.cpuUsage();
  fn();
  const used = process.cpuUsage(start);
  return used.user + used.system;
}

const CHUNKS = 200_000;
const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(3200, i));
const framerAlone = (owned: boolean): number =>
  (cpuMicros(() => {
    const framer = new PcmFramer(3200);
    for (let i = 0; i < CHUNKS; i++) framer.push(chunks[i % 64] ?? Buffer.alloc(0), owned);
  }) *
    1000) /
  CHUNKS;

const PIECES = 20_000;
const piece = Int16Array.from({ length: 9600 }, (_, i) => Math.round(8000 * Math.sin(i * 0.01)));
const livePath = (owned: boolean, simd = true): number =>
  cpuMicros(() => {
    const decimator = new Decimator(3, 2, 1, { simd });
    const framer = new PcmFramer(3200);
    for (let i = 0; i < PIECES; i++) {
      const out = decimator.process(piece);
      framer.push(Buffer.from(out.buffer, out.byteOffset, out.byteLength), owned);
    }
  }) / PIECES;

const alone = { copy: [] as number[], view: [] as number[] };
for (let run = 0; run < 15; run++) {
  alone.copy.push(framerAlone(false));
  alone.view.push(framerAlone(true));
}
console.log(
  `framer alone, ns per 100 ms chunk (16 kHz mono): copy ${median(alone.copy).toFixed(0)}, view ${median(alone.view).toFixed(0)}`,
);
const live = { copy: [] as number[], view: [] as number[] };
for (let run = 0; run < 9; run++) {
  live.copy.push(livePath(false));
  live.view.push(livePath(true));
}
console.log(
  `48 kHz stereo -> 16 kHz mono frames, µs per 100 ms chunk: copy ${median(live.copy).toFixed(1)}, view ${median(live.view).toFixed(1)}`,
);
const filters = { js: [] as number[], simd: [] as number[] };
for (let run = 0; run < 9; run++) {
  filters.js.push(livePath(true, false));
  filters.simd.push(livePath(true, true));
}
console.log(
  `48 kHz stereo -> 16 kHz mono frames, µs per 100 ms chunk: JavaScript filter ${median(filters.js).toFixed(1)}, WebAssembly SIMD ${median(filters.simd).toFixed(1)}`,
);
