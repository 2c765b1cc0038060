// audio-in throughput and per-session cost, with baselines measured in the same run.
//   npx tsx bench/audio-in.ts            (about a minute; needs sox, espeak-ng and ffmpeg)
// Prints, for 60 s of speech at 48 kHz stereo: audio-in's WAV path and ffmpeg path as multiples of
// real time on one core, against (a) framing alone (16 kHz mono input: no decode, no resampling),
// (b) the resampler candidates on the same samples, and (c) ffmpeg converting by itself.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { create, ConverterType } from "@alexanderolsen/libsamplerate-js";
import { AudioSessions, type AudioInOptions } from "../src/audio/sessions";
import { Resampler, resamplerReady } from "../src/audio/resampler";
import { soxWav, speechWav } from "../test/support/audio-fixtures";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SECONDS = 60;
const options: AudioInOptions = {
  sampleRate: 16000,
  channels: "mono",
  frameMs: 100,
  realTime: false,
  maxAheadMs: 3_600_000,
  idleTimeoutMs: 0,
  maxSessions: 10_000,
  endAfterRecording: true,
  rawDefault: undefined,
  compressedStream: false,
};

function cpuSeconds(fn: () => void | Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  return Promise.resolve(fn()).then(() => {
    const used = process.cpuUsage(start);
    return (used.user + used.system) / 1e6;
  });
}

async function best(fn: () => void | Promise<void>, runs = 3): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) min = Math.min(min, await cpuSeconds(fn));
  return min;
}

async function throughput(payload: Buffer | string): Promise<number> {
  const seconds = await best(async () => {
    let frames = 0;
    const sessions = new AudioSessions(options, () => frames++);
    await sessions.handle({ topic: "bench", payload });
    if (frames < SECONDS * 10) throw new Error(`only ${frames} frames`);
  });
  return SECONDS / seconds;
}

function row(name: string, x: number, baseline?: number, of = "baseline"): void {
  const ratio = baseline ? `  (${(x / baseline).toFixed(2)} of ${of})` : "";
  console.log(`${name.padEnd(58)} ${x.toFixed(0).padStart(6)}x real time${ratio}`);
}

async function main(): Promise<void> {
  await resamplerReady();
  const wav48 = readFileSync(soxWav("bench-48k-stereo", ["-r", "48000", "-c", "2"]));
  const wav16 = readFileSync(soxWav("bench-16k-mono", ["-r", "16000", "-c", "1"]));
  const seconds48 = (wav48.length - 44) / (48000 * 4);
  console.log(
    `input: espeak-ng speech, ${seconds48.toFixed(1)} s; timing: process CPU, best of 3, one core\n`,
  );
  // Scale every run to SECONDS of audio by repeating the buffer's data chunk.
  const scale = (wav: Buffer, bytesPerSecond: number) => {
    const data = wav.subarray(44);
    const reps = Math.ceil((SECONDS * bytesPerSecond) / data.length);
    const body = Buffer.concat(Array.from({ length: reps }, () => data)).subarray(
      0,
      SECONDS * bytesPerSecond,
    );
    const head = Buffer.from(wav.subarray(0, 44));
    head.writeUInt32LE(body.length, 40);
    head.writeUInt32LE(body.length + 36, 4);
    return Buffer.concat([head, body]);
  };
  const in48 = scale(wav48, 48000 * 4);
  const in16 = scale(wav16, 16000 * 2);

  const framing = await throughput(in16);
  row("baseline: framing only (WAV 16 kHz mono in)", framing);
  const wavPath = await throughput(in48);
  row("audio-in: WAV 48 kHz stereo -> 16 kHz mono frames", wavPath, framing);

  // The resampler candidates on the same mono 48 kHz samples, in 100 ms chunks.
  const mono48 = Buffer.alloc((in48.length - 44) / 2);
  for (let i = 0, j = 44; j < in48.length; i += 2, j += 4)
    mono48.writeInt16LE((in48.readInt16LE(j) + in48.readInt16LE(j + 2)) >> 1, i);
  const chunk = 4800 * 2;
  console.log("\nresampler candidates, 48 kHz -> 16 kHz mono, 100 ms chunks:");
  const speex = await best(() => {
    const r = Resampler.acquire(1, 48000, 16000);
    for (let o = 0; o < mono48.length; o += chunk) r.process(mono48.subarray(o, o + chunk));
    r.release();
  });
  row("speex (ours, quality 4) via speex-resampler's WebAssembly", SECONDS / speex);
  const f32 = new Float32Array(mono48.length / 2);
  for (let i = 0; i < f32.length; i++) f32[i] = mono48.readInt16LE(i * 2) / 32768;
  for (const [name, type] of [
    ["libsamplerate-js SRC_SINC_FASTEST", ConverterType.SRC_SINC_FASTEST],
    ["libsamplerate-js SRC_SINC_MEDIUM_QUALITY", ConverterType.SRC_SINC_MEDIUM_QUALITY],
  ] as const) {
    const src = await create(1, 48000, 16000, { converterType: type });
    const t = await best(() => {
      for (let o = 0; o < f32.length; o += 4800) src.full(f32.subarray(o, o + 4800));
    });
    src.destroy();
    row(name, SECONDS / t, SECONDS / speex, "speex");
  }

  console.log("\ncompressed audio (ffmpeg child process; its CPU is counted too):");
  const mp3 = join(tmpdir(), `bench-${process.pid}.mp3`);
  const loop = ["-stream_loop", "-1", "-i", speechWav(), "-t", String(SECONDS)];
  execFileSync("ffmpeg", ["-loglevel", "error", "-y", ...loop, "-c:a", "libmp3lame", "-b:a", "64k", mp3]);
  // Wall time: the ffmpeg child's CPU is not in this process's cpuUsage.
  const wall = async (fn: () => void | Promise<void>) => {
    const t0 = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  const ffmpegAlone = await wall(() => {
    execFileSync("ffmpeg", [
      "-loglevel",
      "error",
      "-i",
      mp3,
      "-f",
      "s16le",
      "-ar",
      "16000",
      "-ac",
      "1",
      "-y",
      "/dev/null",
    ]);
  });
  row("baseline: ffmpeg alone, MP3 -> 16 kHz mono s16le (wall)", SECONDS / ffmpegAlone);
  const ours = await wall(async () => {
    const sessions = new AudioSessions(options, () => undefined);
    await sessions.handle({ topic: "mp3", payload: mp3 });
  });
  row("audio-in: MP3 file -> 16 kHz mono frames (wall)", SECONDS / ours, SECONDS / ffmpegAlone);

  console.log("\nconcurrent live sessions (48 kHz stereo in, 100 ms pieces every 100 ms, for 5 s):");
  const piece = in48.subarray(44, 44 + 48000 * 4 * 0.1);
  let sustained = 0;
  for (const n of [50, 100, 200, 400, 800]) {
    const { load, lagMs } = await live(n, piece);
    console.log(
      `${String(n).padStart(4)} sessions: CPU ${(load * 100).toFixed(0)}% of one core, worst frame ${lagMs.toFixed(0)} ms late`,
    );
    if (load < 0.9 && lagMs < 200) sustained = n;
    else break;
  }
  console.log(`-> sustained in real time (under 90% of a core, no frame 200 ms late): ${sustained} sessions`);

  global.gc?.();
  const before = process.memoryUsage();
  const many = new AudioSessions({ ...options, realTime: true }, () => undefined);
  const N = 1000;
  for (let i = 0; i < N; i++)
    await many.handle({ topic: `s${i}`, payload: piece, rate: 48000, channels: 2, bits: 16 });
  global.gc?.();
  const after = process.memoryUsage();
  const perSession = (after.rss - before.rss) / N;
  console.log(
    `memory: ${N} open sessions add ${((after.rss - before.rss) / 1e6).toFixed(1)} MB RSS, ${(perSession / 1024).toFixed(1)} KiB per session`,
  );
  many.close();
}

/** Feeds `n` sessions live for 5 s; returns the CPU load and how late the latest frame left. */
async function live(n: number, piece: Buffer): Promise<{ load: number; lagMs: number }> {
  const started = Date.now();
  let lagMs = 0;
  // A frame is due when the piece that completes it arrives: the session's first piece plus its offset.
  const firstPiece = new Map<string, number>();
  const sessions = new AudioSessions({ ...options, realTime: true, idleTimeoutMs: 0 }, (c) => {
    const t0 = firstPiece.get(c.audio.sessionId) ?? Date.now();
    lagMs = Math.max(lagMs, Date.now() - t0 - c.audio.offsetMs);
  });
  const cpu0 = process.cpuUsage();
  for (let tick = 0; tick < 50; tick++) {
    const due = started + tick * 100;
    await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
    if (tick === 0) for (let i = 0; i < n; i++) firstPiece.set(`live-${i}`, Date.now());
    await Promise.all(
      Array.from({ length: n }, (_, i) =>
        sessions.handle({ topic: `live-${i}`, payload: piece, rate: 48000, channels: 2, bits: 16 }),
      ),
    );
  }
  const cpu = process.cpuUsage(cpu0);
  const load = (cpu.user + cpu.system) / 1000 / (Date.now() - started);
  sessions.close();
  return { load, lagMs };
}

void main();
