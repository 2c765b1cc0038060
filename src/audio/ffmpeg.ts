import { FFmpeg } from "prism-media";
import { guard } from "../util/guard";
import { AudioInputError } from "./format";
import { parseWavHeader, type WavHeader } from "./wav";

export const FFMPEG_MISSING_MESSAGE =
  "ffmpeg is not installed, and it is needed to decode compressed audio (MP3, Ogg/Opus, WebM/Opus, FLAC, M4A). " +
  "Install it on the Node-RED host (Debian/Ubuntu: sudo apt-get install ffmpeg; other systems: https://ffmpeg.org/download.html). " +
  "WAV and raw PCM work without it.";

let available: boolean | undefined;
/** Whether an ffmpeg command can be found (looked up once, as prism-media does). */
export function ffmpegAvailable(): boolean {
  if (available === undefined) {
    try {
      FFmpeg.getInfo();
      available = true;
    } catch {
      available = false;
    }
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
  private readonly ff: FFmpeg;
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
    this.ff = new FFmpeg({
      args: [...ARGS, "-ar", String(target.sampleRate), ...(target.mono ? ["-ac", "1"] : [])],
    });
    // Stream events run outside any caller's handler: a throw in one ends this decoding, not the process.
    const guarded = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) =>
      guard(fn, (err) =>
        this.finish(
          new AudioInputError("DECODE_FAILED", `decoding ${what} failed inside audio-in (${err.name})`),
        ),
      );
    this.ff.on(
      "data",
      guarded((chunk: Buffer) => this.onData(chunk)),
    );
    this.ff.on(
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
    this.ff.on(
      "error",
      guarded((err: Error & { code?: string }) =>
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
      ),
    );
    this.ff.on(
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
    return this.ended ? true : this.ff.write(bytes);
  }

  /** No more input: ffmpeg decodes what it has, then ends. */
  end(): void {
    if (!this.ended) this.ff.end();
  }

  // prism-media's wrapper does not forward pause/resume: they go to ffmpeg's stdout itself.
  pause(): void {
    this.ff.process?.stdout?.pause();
  }

  resume(): void {
    this.ff.process?.stdout?.resume();
  }

  /** Stops at once: kills the child process, and ends (without error) whoever waits for it. */
  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.ff.destroy();
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
    if (error) this.ff.destroy();
    this.wakeWriters();
    this.events.onEnd(error);
  }
}
