import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Synthetic audio made on the spot with Debian's espeak-ng, sox and ffmpeg (installed by .ci/run):
 * no recording, no patient, nothing downloaded. Files are cached for the test process.
 */
const dir = join(tmpdir(), `audio-fixtures-${process.pid}`);
mkdirSync(dir, { recursive: true });
// Made again by each test process, so removed when it exits (a few MB per run would pile up in /tmp).
process.once("exit", () => rmSync(dir, { recursive: true, force: true }));

export const SENTENCE =
  "Patient reports chest pain radiating to the left arm. Start metoprolol twenty five milligrams twice daily.";

function make(name: string, build: (out: string) => void): string {
  const out = join(dir, name);
  if (!existsSync(out)) build(out);
  return out;
}

/** espeak-ng speaking the sentence: 22050 Hz mono 16-bit WAV. */
export function speechWav(): string {
  return make("speech.wav", (out) => execFileSync("espeak-ng", ["-w", out, SENTENCE]));
}

/** The speech converted by sox to another WAV layout, e.g. ["-r", "48000", "-c", "2", "-b", "24"]. */
export function soxWav(name: string, args: string[]): string {
  return make(`${name}.wav`, (out) => execFileSync("sox", [speechWav(), ...args, out]));
}

/** The speech encoded by ffmpeg, e.g. ("mp3", ["-c:a", "libmp3lame", "-b:a", "64k"]). */
export function ffmpegFile(name: string, args: string[]): string {
  return make(name, (out) =>
    execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-i", speechWav(), ...args, out]),
  );
}

/** What sox makes of a file at `rate` Hz, mono, 16-bit: the reference our output is compared with. */
export function soxReference(file: string, rate: number, channels = 1): Int16Array {
  const raw = execFileSync(
    "sox",
    [
      file,
      "-t",
      "raw",
      "-r",
      String(rate),
      "-c",
      String(channels),
      "-b",
      "16",
      "-e",
      "signed-integer",
      "-L",
      "-",
    ],
    {
      maxBuffer: 1 << 28,
    },
  );
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2).slice();
}

export function readFixture(file: string): Buffer {
  return readFileSync(file);
}

export function samplesOf(pcm: Buffer): Int16Array {
  return new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
}

/**
 * The best normalised correlation of two signals over lags up to `maxLag` samples (codecs and
 * resamplers delay the signal a little), computed over their common length.
 */
export function bestCorrelation(a: Int16Array, b: Int16Array, maxLag: number): { r: number; lag: number } {
  let best = { r: -1, lag: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    const start = Math.max(0, -lag);
    const end = Math.min(a.length, b.length - lag);
    for (let i = start; i < end; i++) {
      const x = a[i] ?? 0;
      const y = b[i + lag] ?? 0;
      sab += x * y;
      saa += x * x;
      sbb += y * y;
    }
    const r = saa && sbb ? sab / Math.sqrt(saa * sbb) : 0;
    if (r > best.r) best = { r, lag };
  }
  return best;
}

/**
 * The amplitude of the `freq` Hz sine in `samples` (a least-squares fit of one sine), leaving out
 * `skip` samples at each end where a filter is still filling or emptying.
 */
export function toneAmplitude(samples: Int16Array, freq: number, rate: number, skip = 0): number {
  let c = 0;
  let s = 0;
  let n = 0;
  for (let i = skip; i < samples.length - skip; i++, n++) {
    const phase = (2 * Math.PI * freq * i) / rate;
    c += (samples[i] ?? 0) * Math.cos(phase);
    s += (samples[i] ?? 0) * Math.sin(phase);
  }
  return n ? (2 * Math.hypot(c, s)) / n : 0;
}

/** The RMS level of `samples` in dB relative to a sine of `amplitude`, leaving out `skip` at each end. */
export function levelDb(samples: Int16Array, amplitude: number, skip = 0): number {
  let sum = 0;
  let n = 0;
  for (let i = skip; i < samples.length - skip; i++, n++) sum += (samples[i] ?? 0) ** 2;
  return 20 * Math.log10(Math.sqrt(sum / Math.max(1, n)) / (amplitude / Math.SQRT2));
}

/** A sine tone as interleaved s16le samples. */
export function tone(freq: number, seconds: number, rate: number, channels = 1, amplitude = 8000): Buffer {
  const frames = Math.round(seconds * rate);
  const out = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
    for (let c = 0; c < channels; c++) out.writeInt16LE(v, (i * channels + c) * 2);
  }
  return out;
}

/** A minimal PCM WAV around given bytes, with optional extra chunks before `data`. */
export function wavOf(
  data: Buffer,
  fmt: { rate: number; channels: number; bits: number; code?: number },
  extraChunks: Array<[string, Buffer]> = [],
): Buffer {
  const fmtChunk = Buffer.alloc(16);
  const blockAlign = fmt.channels * Math.ceil(fmt.bits / 8);
  fmtChunk.writeUInt16LE(fmt.code ?? 1, 0);
  fmtChunk.writeUInt16LE(fmt.channels, 2);
  fmtChunk.writeUInt32LE(fmt.rate, 4);
  fmtChunk.writeUInt32LE(fmt.rate * blockAlign, 8);
  fmtChunk.writeUInt16LE(blockAlign, 12);
  fmtChunk.writeUInt16LE(fmt.bits, 14);
  const chunk = (id: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.write(id, 0, "latin1");
    head.writeUInt32LE(body.length, 4);
    return Buffer.concat([head, body, body.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  };
  const body = Buffer.concat([
    chunk("fmt ", fmtChunk),
    ...extraChunks.map(([id, b]) => chunk(id, b)),
    chunk("data", data),
  ]);
  const riff = Buffer.alloc(12);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(body.length + 4, 4);
  riff.write("WAVE", 8, "latin1");
  return Buffer.concat([riff, body]);
}
