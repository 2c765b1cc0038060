import { FFmpeg } from "prism-media";
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

  constructor(
    private readonly events: FfmpegEvents,
    what: string,
    target: FfmpegTarget,
  ) {
    if (!ffmpegAvailable()) throw new AudioInputError("FFMPEG_MISSING", FFMPEG_MISSING_MESSAGE);
    this.ff = new FFmpeg({
      args: [...ARGS, "-ar", String(target.sampleRate), ...(target.mono ? ["-ac", "1"] : [])],
    });
    this.ff.on("data", (chunk: Buffer) => this.onData(chunk));
    this.ff.on("end", () =>
      this.finish(
        this.decodedBytes > 0
          ? undefined
          : new AudioInputError(
              "DECODE_FAILED",
              `${what} could not be decoded by ffmpeg: it is not audio, or it is corrupt`,
            ),
      ),
    );
    this.ff.on("error", (err: Error & { code?: string }) =>
      // EPIPE: ffmpeg gave up on the input and closed its stdin; its stdout end reports the outcome.
      err.code === "EPIPE"
        ? undefined
        : this.finish(new AudioInputError("DECODE_FAILED", `ffmpeg failed: ${err.message}`)),
    );
  }

  /** False when ffmpeg's input is full: wait for `drain` before writing more. */
  write(bytes: Buffer): boolean {
    return this.ended ? true : this.ff.write(bytes);
  }

  once(event: "drain", fn: () => void): void {
    this.ff.once(event, fn);
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
    this.events.onEnd(error);
  }
}
