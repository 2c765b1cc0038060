// What Node-RED's copy of a message for a second wire costs, per audio chunk:
//   npx tsx bench/clone-message.ts
// Node-RED 4 deep-copies a message (RED.util.cloneMessage, Buffers included) for every wire of a
// send() after the first. Prints the CPU per copy of an audio-in chunk message (contract 1) of 100 ms
// at 16 kHz mono (3.2 KB) and at 48 kHz stereo (19.2 KB), best of 5 runs of 20 000 copies.
import { util } from "@node-red/util";

// The state a long-running process ends up in (see bench/audio-in.ts): typed-array accesses checked.
const detached = new ArrayBuffer(8);
structuredClone(detached, { transfer: [detached] });

const COPIES = 20_000;
for (const [label, bytes] of [
  ["100 ms, 16 kHz mono", 3200],
  ["100 ms, 48 kHz stereo", 19200],
] as const) {
  const msg = {
    topic: "s1",
    _msgid: "0123456789abcdef",
    payload: Buffer.alloc(bytes, 1),
    audio: {
      sessionId: "s1",
      seq: 1,
      sampleRate: 16000,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: 100,
      durationMs: 100,
    },
  };
  let best = Infinity;
  for (let run = 0; run < 5; run++) {
    const start = process.cpuUsage();
    for (let i = 0; i < COPIES; i++) util.cloneMessage(msg);
    const used = process.cpuUsage(start);
    best = Math.min(best, (used.user + used.system) / COPIES);
  }
  console.log(`${label} (${bytes} B payload): ${best.toFixed(2)} µs of CPU per copy`);
}
