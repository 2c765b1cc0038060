// audio-in throughput and per-session cost, with baselines measured in the same run.
//   npx tsx bench/audio-in.ts            (about a minute; needs sox, espeak-ng and ffmpeg)
// Prints, for 60 s of speech at 48 kHz stereo: audio-in's WAV path and ffmpeg path as multiples of
// real time on one core, against (a) framing alone (16 kHz mono input: no decode, no resampling),
// (b) the rate converters on the same samples, with their frequency response, and (c) ffmpeg
// converting by itself; and (d) the decimator's WebAssembly SIMD filter against its JavaScript one,
// alone and through audio-in's WAV path, alternating in this process (medians of ROUNDS runs).
import { execFileSync, spawn } from "node:child_process";
import { createReadStream, readFileSync } from "node:fs";
import { create, ConverterType } from "@alexanderolsen/libsamplerate-js";
import { Decimator, decimatorTaps, PASSBAND, STOPBAND_DB, useSimdByDefault } from "../src/audio/decimator";
import { kaiserLowpass } from "../src/audio/kaiser-lowpass";
import { AudioSessions, type AudioInOptions } from "../src/audio/sessions";
import { Resampler, resamplerReady } from "../src/audio/resampler";
import { levelDb, samplesOf, soxWav, speechWav, tone, toneAmplitude } from "../test/support/audio-fixtures";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SECONDS = 60;
// Runs per variant where two are compared by alternating them (the machine's load moves between runs).
const ROUNDS = 11;
// Tones that would alias at 16 kHz: close together just above 8 kHz, where filters are weakest.
const STOPBAND_TONES = [8005, 8020, 8050, 8100, 8200, 8400, 8700, 9000, 10000, 12000, 16000, 20000, 23900];
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
  for (let i = 0; i < runs; i++) {
    // Garbage left by the previous run would be collected on other threads during this one.
    global.gc?.();
    min = Math.min(min, await cpuSeconds(fn));
  }
  return min;
}

async function throughput(payload: Buffer | string, runs = 3): Promise<number> {
  const seconds = await best(async () => {
    let frames = 0;
    const sessions = new AudioSessions(options, () => frames++);
    await sessions.handle({ topic: "bench", payload });
    if (frames < SECONDS * 10) throw new Error(`only ${frames} frames`);
  }, runs);
  return SECONDS / seconds;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;

function row(name: string, x: number, baseline?: number, of = "baseline"): void {
  const ratio = baseline ? `  (${(x / baseline).toFixed(2)} of ${of})` : "";
  console.log(`${name.padEnd(58)} ${x.toFixed(0).padStart(6)}x real time${ratio}`);
}

async function main(): Promise<void> {
  // Once any ArrayBuffer in a process has been detached (a WebAssembly memory that grew, a
  // transferred buffer), V8 checks every typed-array access for it for the rest of the process's
  // life. A long-running Node-RED gets there sooner or later, so the figures are taken in that state.
  const detached = new ArrayBuffer(8);
  structuredClone(detached, { transfer: [detached] });
  await resamplerReady();
  await sessionMemory(tone(440, 0.1, 48000, 2));
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

  // The rate converters on the same 48 kHz samples mixed down to mono (one also from stereo), in 100 ms chunks.
  const mono48 = new Int16Array((in48.length - 44) / 4);
  for (let i = 0, j = 44; j < in48.length; i++, j += 4)
    mono48[i] = (in48.readInt16LE(j) + in48.readInt16LE(j + 2)) >> 1;
  const stereo48 = samplesOf(in48.subarray(44));
  console.log("\nrate converters, 48 kHz -> 16 kHz mono, 100 ms chunks; gain in dB at 1 / 6.4 / 7 kHz,");
  console.log("and the loudest tone from 8 kHz up (it would alias), measured with tones:");
  const taps = decimatorTaps(3).length;
  const decimator = (channels: number, simd: boolean) => () => {
    const d = new Decimator(3, channels, 1, { simd });
    return (x: Int16Array) => d.process(x);
  };
  const decimatorAlone = await converterRow(
    `decimator (ours): ${taps} taps, ${STOPBAND_DB} dB, SIMD`,
    decimator(1, true),
  );
  await converterRow(
    "decimator, stereo in, mixing down as it filters, SIMD",
    decimator(2, true),
    stereo48,
    2,
  );
  await converterRow("decimator, JavaScript (the fallback)", decimator(1, false));
  await converterRow("decimator, stereo in, JavaScript", decimator(2, false), stereo48, 2);
  const deeper = kaiserLowpass({ passbandEdge: PASSBAND / 6, stopbandEdge: 1 / 6, attenuationDb: 80 });
  await converterRow(`decimator at 80 dB (${deeper.length} taps, for comparison)`, () => {
    const d = new Decimator(3, 1, 1, { taps: deeper });
    return (x) => d.process(x);
  });
  for (const quality of [4, 3, 2]) {
    await converterRow(`speex quality ${quality}${quality === 4 ? " (used before)" : ""}`, () => {
      const r = Resampler.acquire(1, 48000, 16000, quality);
      return (x) => samplesOf(r.process(Buffer.from(x.buffer, x.byteOffset, x.byteLength)));
    });
  }
  for (const [name, type] of [
    ["libsamplerate-js SRC_SINC_FASTEST", ConverterType.SRC_SINC_FASTEST],
    ["libsamplerate-js SRC_SINC_MEDIUM_QUALITY", ConverterType.SRC_SINC_MEDIUM_QUALITY],
  ] as const) {
    const src = await create(1, 48000, 16000, { converterType: type });
    // Its WebAssembly takes and gives Float32; converting from and to 16-bit is part of its cost.
    await converterRow(name, () => (x) => {
      const f32 = new Float32Array(x.length);
      for (let i = 0; i < x.length; i++) f32[i] = x[i] / 32768;
      const y = src.full(f32);
      const out = new Int16Array(y.length);
      for (let i = 0; i < y.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(y[i] * 32768)));
      return out;
    });
    src.destroy();
  }
  console.log("");
  row("audio-in: WAV 48 kHz stereo -> 16 kHz mono frames", wavPath, decimatorAlone, "decimator alone");

  // The two filters alternating, one run of each per round: alone (100 ms chunks), and through
  // audio-in's WAV path (useSimdByDefault switches the decimators audio-in makes).
  console.log(`\nWebAssembly SIMD against JavaScript, alternating, median of ${ROUNDS} runs each:`);
  const decimatorOnly = async (channels: number, simd: boolean): Promise<number> => {
    const input = channels === 2 ? stereo48 : mono48;
    const convert = decimator(channels, simd)();
    return (
      SECONDS /
      (await best(() => {
        for (let o = 0; o < input.length; o += 4800 * channels)
          convert(input.subarray(o, o + 4800 * channels));
      }, 1))
    );
  };
  const variants = {
    "decimator alone, mono in": (simd: boolean) => decimatorOnly(1, simd),
    "decimator alone, stereo in": (simd: boolean) => decimatorOnly(2, simd),
    "audio-in: WAV 48 kHz stereo -> 16 kHz mono frames": async (simd: boolean) => {
      useSimdByDefault(simd);
      const x = await throughput(in48, 1);
      useSimdByDefault(true);
      return x;
    },
  };
  const medians: Record<string, { js: number; simd: number }> = {};
  for (const [name, measure] of Object.entries(variants)) {
    const js: number[] = [];
    const simd: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      js.push(await measure(false));
      simd.push(await measure(true));
    }
    medians[name] = { js: median(js), simd: median(simd) };
    console.log(
      `${name.padEnd(52)} JS ${median(js).toFixed(0).padStart(5)}x, SIMD ${median(simd).toFixed(0).padStart(5)}x  (${(median(simd) / median(js)).toFixed(2)}x)`,
    );
  }
  const path = medians["audio-in: WAV 48 kHz stereo -> 16 kHz mono frames"];
  const stereoAlone = medians["decimator alone, stereo in"];
  if (path && stereoAlone) {
    console.log(
      `WAV path with SIMD: ${(path.simd / stereoAlone.simd).toFixed(2)} of the SIMD decimator alone (stereo in); with JS: ${(path.js / stereoAlone.js).toFixed(2)}`,
    );
  }

  /**
   * Prints one converter's speed (on `input`, in 100 ms chunks) and its response to tones of as
   * many channels; returns the speed. `make` gives a fresh converter: a function of one chunk.
   */
  async function converterRow(
    name: string,
    make: () => (x: Int16Array) => Int16Array,
    input: Int16Array = mono48,
    channels = 1,
  ): Promise<number> {
    const chunk = 4800 * channels;
    const seconds = await best(() => {
      const convert = make();
      for (let o = 0; o < input.length; o += chunk) convert(input.subarray(o, o + chunk));
    });
    const x = SECONDS / seconds;
    const gain = (freq: number) =>
      20 *
      Math.log10(
        toneAmplitude(make()(samplesOf(tone(freq, 0.5, 48000, channels, 16000))), freq, 16000, 200) / 16000,
      );
    let worst = -Infinity;
    for (const freq of STOPBAND_TONES) {
      worst = Math.max(
        worst,
        levelDb(make()(samplesOf(tone(freq, 0.25, 48000, channels, 32000))), 32000, 200),
      );
    }
    const response = [1000, 6400, 7000].map((f) => gain(f).toFixed(1).padStart(6)).join("");
    console.log(
      `${name.padEnd(50)} ${x.toFixed(0).padStart(5)}x ${response}  ${worst.toFixed(1).padStart(6)}`,
    );
    return x;
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
  const ffmpegAlone = (): void => {
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
  };
  // What audio-in adds to ffmpeg, step by step: ffmpeg with audio-in's arguments, fed and read through
  // pipes by this process (the bytes counted, nothing framed).
  const ffmpegPiped = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const ff = spawn(
        "ffmpeg",
        [
          "-i",
          "-",
          "-analyzeduration",
          "0",
          "-loglevel",
          "0",
          "-vn",
          "-f",
          "wav",
          "-acodec",
          "pcm_s16le",
        ].concat(["-ar", "16000", "-ac", "1", "pipe:1"]),
        { stdio: ["pipe", "pipe", "ignore"] },
      );
      let bytes = 0;
      ff.stdout.on("data", (c: Buffer) => (bytes += c.length));
      ff.on("error", reject);
      ff.on("close", () => (bytes > 0 ? resolve() : reject(new Error("ffmpeg gave nothing"))));
      createReadStream(mp3, { highWaterMark: 64 * 1024 }).pipe(ff.stdin);
    });
  const audioIn = async (): Promise<void> => {
    const sessions = new AudioSessions(options, () => undefined);
    await sessions.handle({ topic: "mp3", payload: mp3 });
  };
  // Once per process, audio-in checks that ffmpeg runs (`ffmpeg -version`, about 0.1 s here): not a
  // cost per file, so a first, unmeasured run pays it. Then the three alternate, and each figure is the
  // median of 5 runs: wall time on a shared machine swings by tens of percent from one run to the next.
  await audioIn();
  const runs: Record<"alone" | "piped" | "audioIn", number[]> = { alone: [], piped: [], audioIn: [] };
  for (let round = 0; round < 5; round++) {
    runs.alone.push(await wall(ffmpegAlone));
    runs.piped.push(await wall(ffmpegPiped));
    runs.audioIn.push(await wall(audioIn));
  }
  const alone = SECONDS / median(runs.alone);
  row("baseline: ffmpeg alone, MP3 -> 16 kHz mono s16le (wall)", alone);
  row("ffmpeg with audio-in's arguments, through pipes (wall)", SECONDS / median(runs.piped), alone);
  row("audio-in: MP3 file -> 16 kHz mono frames (wall)", SECONDS / median(runs.audioIn), alone);

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
}

/**
 * What 1000 open sessions (48 kHz stereo in, 100 ms each) add to the process's resident memory.
 * Measured first, in a fresh process: after the runs above, RSS would mostly show when the allocator
 * hands the memory they freed back to the system.
 */
async function sessionMemory(piece: Buffer): Promise<void> {
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
    `memory: ${N} open sessions add ${((after.rss - before.rss) / 1e6).toFixed(1)} MB RSS, ${(perSession / 1024).toFixed(1)} KiB per session\n`,
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
        Promise.resolve(
          sessions.handle({ topic: `live-${i}`, payload: piece, rate: 48000, channels: 2, bits: 16 }),
        ),
      ),
    );
  }
  const cpu = process.cpuUsage(cpu0);
  const load = (cpu.user + cpu.system) / 1000 / (Date.now() - started);
  sessions.close();
  return { load, lagMs };
}

void main();
