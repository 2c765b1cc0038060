import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import type { Readable, Writable } from "node:stream";
import { guard } from "../util/guard";
import { AudioInputError } from "./format";
import { parseWavHeader, type WavHeader } from "./wav";

export const FFMPEG_MISSING_MESSAGE =
  "ffmpeg is not installed, and it is needed to decode compressed audio (MP3, Ogg/Opus, WebM/Opus, FLAC, M4A). " +
  "Install it on the Node-RED host (Debian/Ubuntu: sudo apt-get install ffmpeg; other systems: https://ffmpeg.org/download.html). " +
  "WAV and raw PCM work without it.";

/** The ffmpeg command: `FFMPEG_PATH` when the host sets it, else `ffmpeg` on the PATH. */
function ffmpegCommand(): string {
  const configured = process.env.FFMPEG_PATH;
  return configured !== undefined && configured !== "" ? configured : "ffmpeg";
}

let available: boolean | undefined;
/** Whether the ffmpeg command runs (looked up once per process: it blocks for a few milliseconds). */
export function ffmpegAvailable(): boolean {
  if (available === undefined) {
    const probe = spawnSync(ffmpegCommand(), ["-version"], {
      stdio: "ignore",
      windowsHide: true,
      timeout: 10_000,
    });
    available = probe.error === undefined && probe.status === 0;
  }
  return available;
}

/** What ffmpeg is relied on to read (it reads more, but these are the ones tested). */
export const DECODABLE =
  "accepted: MP3, Ogg/Opus, WebM/Opus, FLAC or M4A audio (or WAV, which needs no ffmpeg)";

// ffmpeg decodes to WAV on a pipe, so the stream says its own format; it also resamples (and mixes
// down, for mono output) on the way, which its native resampler does faster than ours. Channels are
// otherwise kept, and the normaliser checks them as it does for WAV and PCM.
const ARGS = ["-analyzeduration", "0", "-loglevel", "0", "-vn", "-f", "wav", "-acodec", "pcm_s16le"];

export interface FfmpegTarget {
  sampleRate: number;
  mono: boolean;
}
const MAX_HEADER_BYTES = 1 << 16;

export interface FfmpegEvents {
  /** The decoded stream's format, once, before any audio. */
  onFormat(header: WavHeader): void;
  onAudio(pcm: Buffer): void;
  /** Decoding ended: cleanly, or with an error that says why. */
  onEnd(error?: AudioInputError): void;
}

/** One ffmpeg child process decoding one compressed stream, written to in pieces of any size. */
export class FfmpegDecoder {
  private readonly ff: ChildProcessByStdio<Writable, Readable, null>;
  private header: Buffer | undefined = Buffer.alloc(0);
  private decodedBytes = 0;
  private ended = false;
  // Writers waiting for ffmpeg's input to drain.
  private writers: Array<() => void> = [];

  constructor(
    private readonly events: FfmpegEvents,
    what: string,
    target: FfmpegTarget,
  ) {
    if (!ffmpegAvailable()) throw new AudioInputError("FFMPEG_MISSING", FFMPEG_MISSING_MESSAGE);
    // Input on stdin, WAV on stdout; its log is off (-loglevel 0) and stderr ignored, so nothing it
    // could say about the input reaches a log.
    this.ff = spawn(
      ffmpegCommand(),
      ["-i", "-", ...ARGS, "-ar", String(target.sampleRate), ...(target.mono ? ["-ac", "1"] : []), "pipe:1"],
      { stdio: ["pipe", "pipe", "ignore"], windowsHide: true },
    );
    // Stream events run outside any caller's handler: a throw in one ends this decoding, not the process.
    const guarded = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) =>
      guard(fn, (err) =>
        this.finish(
          new AudioInputError("DECODE_FAILED", `decoding ${what} failed inside audio-in (${err.name})`),
        ),
      );
    const { stdin, stdout } = this.ff;
    stdout.on(
      "data",
      guarded((chunk: Buffer) => this.onData(chunk)),
    );
    stdout.on(
      "end",
      guarded(() =>
        this.finish(
          this.decodedBytes > 0
            ? undefined
            : new AudioInputError(
                "DECODE_FAILED",
                `${what} could not be decoded by ffmpeg: it is not audio, or it is corrupt; ${DECODABLE}`,
              ),
        ),
      ),
    );
    const failed = guarded((err: Error & { code?: string }) =>
      // EPIPE: ffmpeg gave up on the input and closed its stdin; its stdout end reports the outcome.
      // Only the error's code is told: a message could quote what ffmpeg read.
      err.code === "EPIPE"
        ? undefined
        : this.finish(
            new AudioInputError(
              "DECODE_FAILED",
              `ffmpeg failed (${typeof err.code === "string" ? err.code : err.name})`,
            ),
          ),
    );
    stdin.on("error", failed);
    stdout.on("error", failed);
    // The process itself: it could not be started (ENOENT after an uninstall), or was killed.
    this.ff.on("error", failed);
    stdin.on(
      "drain",
      guarded(() => this.wakeWriters()),
    );
  }

  /** Decoding has ended (cleanly, with an error, or destroyed): writes are dropped. */
  get finished(): boolean {
    return this.ended;
  }

  /** Resolves when ffmpeg's input has room again, or decoding has ended. */
  drained(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => this.writers.push(resolve));
  }

  private wakeWriters(): void {
    const writers = this.writers;
    this.writers = [];
    for (const resolve of writers) resolve();
  }

  /** False when ffmpeg's input is full: wait for `drain` before writing more. */
  write(bytes: Buffer): boolean {
    return this.ended ? true : this.ff.stdin.write(bytes);
  }

  /** No more input: ffmpeg decodes what it has, then ends. */
  end(): void {
    if (!this.ended) this.ff.stdin.end();
  }

  pause(): void {
    this.ff.stdout.pause();
  }

  resume(): void {
    this.ff.stdout.resume();
  }

  /** Stops at once: kills the child process, and ends (without error) whoever waits for it. */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.kill();
    this.wakeWriters();
    this.events.onEnd();
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    if (this.header) {
      const buffered = Buffer.concat([this.header, chunk]);
      let parsed: WavHeader | undefined;
      try {
        parsed = parseWavHeader(buffered);
      } catch (err) {
        this.finish(err as AudioInputError);
        return;
      }
      if (!parsed) {
        if (buffered.length > MAX_HEADER_BYTES)
          this.finish(new AudioInputError("DECODE_FAILED", "ffmpeg output has no WAV header"));
        else this.header = buffered;
        return;
      }
      this.header = undefined;
      this.events.onFormat(parsed);
      chunk = buffered.subarray(parsed.dataOffset);
    }
    if (chunk.length === 0) return;
    this.decodedBytes += chunk.length;
    this.events.onAudio(chunk);
  }

  private finish(error?: AudioInputError): void {
    if (this.ended) return;
    this.ended = true;
    if (error) this.kill();
    this.wakeWriters();
    this.events.onEnd(error);
  }

  /** Ends the child process and its pipes; nothing it does afterwards is read. */
  private kill(): void {
    this.ff.stdin.destroy();
    this.ff.stdout.destroy();
    this.ff.kill("SIGKILL");
  }
}
