// The longest the event loop is held while audio-in frames one message of the largest size it accepts.
//   npx tsx bench/audio-in-large.ts          (about a minute)
// A whole WAV Buffer of MAX_MESSAGE_BYTES (256 MiB) goes through AudioSessions in fast mode (the
// worst case: nothing waits for the pacer), and a smaller one in each format whose conversion costs
// most per input byte. Prints the longest single stall of the event loop (the longest gap between the
// ticks of a 1 ms interval; garbage collection included) and the time to frame the whole message.
// The target is a stall under 50 ms. Before audio-in framed large Buffers in slices, the stall was the
// whole message: 1.6 s for the 256 MiB WAV, 3.1 s for 32 MiB of mu-law.
import { MAX_MESSAGE_BYTES } from "../src/audio/format";
import { AudioSessions, type AudioInOptions } from "../src/audio/sessions";

const options: AudioInOptions = {
  sampleRate: 16000,
  channels: "mono",
  frameMs: 100,
  realTime: false,
  maxAheadMs: 60_000,
  idleTimeoutMs: 0,
  maxSessions: 10,
  endAfterRecording: true,
  rawDefault: undefined,
  compressedStream: false,
};

interface Case {
  what: string;
  rate: number;
  channels: number;
  bits: number;
  code: number;
  bytes: number;
}

/** A WAV of `bytes` bytes in all: header, then a repeating 440 Hz tone (so converters do real work). */
function bigWav(c: Case): Buffer {
  const data = c.bytes - 44;
  const wav = Buffer.allocUnsafe(c.bytes);
  wav.write("RIFF", 0, "latin1");
  wav.writeUInt32LE(Math.min(0xffffffff, c.bytes - 8), 4);
  wav.write("WAVEfmt ", 8, "latin1");
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(c.code, 20);
  wav.writeUInt16LE(c.channels, 22);
  wav.writeUInt32LE(c.rate, 24);
  const block = (c.channels * c.bits) / 8;
  wav.writeUInt32LE(c.rate * block, 28);
  wav.writeUInt16LE(block, 32);
  wav.writeUInt16LE(c.bits, 34);
  wav.write("data", 36, "latin1");
  wav.writeUInt32LE(data, 40);
  const period = Buffer.alloc(c.rate * block); // one second
  for (let i = 0; i < c.rate; i++) {
    const x = Math.sin((2 * Math.PI * 440 * i) / c.rate) * 0.5;
    for (let ch = 0; ch < c.channels; ch++) {
      const at = i * block + (ch * c.bits) / 8;
      if (c.code === 3) period.writeFloatLE(x, at);
      else if (c.code === 7) period[at] = 0x55 ^ (i & 0x7f);
      else period.writeInt16LE(Math.round(x * 32767), at);
    }
  }
  wav.fill(period, 44);
  return wav;
}

async function measure(c: Case): Promise<void> {
  const wav = bigWav(c);
  let frames = 0;
  const sessions = new AudioSessions(options, (chunk) => {
    // What the node does per frame: a new message object.
    const msg = { topic: chunk.audio.sessionId, payload: chunk.payload, audio: chunk.audio };
    if (msg.payload.length > 0) frames++;
  });
  global.gc?.();
  // The longest gap between two ticks of a 1 ms interval: how long the event loop was held at once.
  let last = performance.now();
  let longestGap = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  const syncStart = performance.now();
  const handled = sessions.handle({ topic: "large", payload: wav });
  const syncMs = performance.now() - syncStart;
  await handled;
  const totalMs = performance.now() - started;
  // One more turn, so that a stall at the very end is recorded too.
  await new Promise((resolve) => setTimeout(resolve, 5));
  clearInterval(ticker);
  sessions.close();
  const audioS = (c.bytes - 44) / ((c.rate * c.channels * c.bits) / 8);
  console.log(
    `${c.what.padEnd(34)} ${(c.bytes / 2 ** 20).toFixed(0).padStart(4)} MiB  ${audioS.toFixed(0).padStart(6)} s audio  ` +
      `${frames.toString().padStart(7)} frames  whole message ${(totalMs / 1000).toFixed(1).padStart(5)} s  ` +
      `first call ${syncMs.toFixed(1).padStart(5)} ms  longest event-loop stall ${longestGap.toFixed(1).padStart(6)} ms`,
  );
}

async function main(): Promise<void> {
  const small = 32 * 2 ** 20;
  const cases: Case[] = [
    {
      what: "48 kHz stereo 16-bit (the maximum)",
      rate: 48000,
      channels: 2,
      bits: 16,
      code: 1,
      bytes: MAX_MESSAGE_BYTES,
    },
    { what: "16 kHz mono 16-bit (pass-through)", rate: 16000, channels: 1, bits: 16, code: 1, bytes: small },
    { what: "44.1 kHz mono 16-bit (Speex)", rate: 44100, channels: 1, bits: 16, code: 1, bytes: small },
    { what: "8 kHz mu-law (upsampled to 16 kHz)", rate: 8000, channels: 1, bits: 8, code: 7, bytes: small },
    { what: "192 kHz 8-channel float", rate: 192000, channels: 8, bits: 32, code: 3, bytes: small },
  ];
  // Warm-up: the resampler's WebAssembly and the JIT.
  await measure({ ...cases[2], what: "(warm-up)", bytes: 2 * 2 ** 20 });
  for (const c of cases) await measure(c);
}

void main();
