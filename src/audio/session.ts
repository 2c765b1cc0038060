import { createReadStream } from "node:fs";
import { realScheduler, type Scheduler } from "../util/scheduler";
import { AUDIO_ENCODING, pcmBytesFor, type AudioChunkInfo } from "./chunk";
import { FfmpegDecoder } from "./ffmpeg";
import { AudioInputError, type PcmFormat } from "./format";
import { PcmFramer } from "./framer";
import { PcmNormalizer, type OutputFormat } from "./normalizer";
import { Pacer } from "./pacer";
import { resamplerReady } from "./resampler";
import { isWav, parseWavHeader } from "./wav";

export interface SessionOptions extends OutputFormat {
  /** Length of every frame but the last, 50–1000 ms. */
  frameMs: number;
  /** Send at the speed of speech (true) or as fast as possible. */
  realTime: boolean;
  /** How far ahead of real time pushed audio may queue before it is refused. */
  maxAheadMs: number;
}

/** Both providers refuse frames under 50 ms, so the last frame is padded to at least this. */
export const MIN_FRAME_MS = 50;
// A file is read only while less than this much audio waits to be sent.
const READ_AHEAD_MS = 2000;

export interface SessionChunk {
  payload: Buffer;
  audio: AudioChunkInfo;
}

/** A chunk as the pacer holds it (its offset where the pacer looks for it); handed on as it is. */
interface PacedChunk extends SessionChunk {
  offsetMs: number;
}

interface CompressedStream {
  decoder: FfmpegDecoder | undefined;
  /** Settles when ffmpeg has decoded the whole stream, or failed. */
  done: Promise<void>;
  error?: Error;
}

type Input =
  | { kind: "pcm"; format: PcmFormat; bytes: Buffer }
  | { kind: "compressed"; bytes: Buffer; what: string }
  | { kind: "file"; path: string };

/**
 * One audio session (an encounter, a dictation, a call): its inputs, in order, become fixed frames
 * of PCM s16le with consecutive `seq` and contiguous offsets. Inputs run one after another, so a
 * file still being read keeps its place ahead of audio sent after it.
 */
export class AudioSession {
  private normalizer: PcmNormalizer | undefined;
  // Frames are sized by channel count, known from the first input.
  private framer: PcmFramer | undefined;
  private readonly pacer: Pacer<PacedChunk>;
  private outputChannels: 1 | 2 | undefined;
  private seq = 0;
  private emittedBytes = 0;
  private tail: Promise<void>;
  // The resampler is loaded and the previous session of this id has finished: inputs may run at once.
  private ready = false;
  private pending = 0;
  private drainedResolve: (() => void) | undefined;
  /** Resolves when the session's last frame has been sent (or the session was closed). */
  readonly drained: Promise<void>;
  private active: FfmpegDecoder | undefined;
  // A compressed stream that arrives in pieces (MediaRecorder timeslices): one ffmpeg for all of them.
  private stream: CompressedStream | undefined;
  private closed = false;
  private ending = false;

  constructor(
    readonly id: string,
    private readonly options: SessionOptions,
    emit: (chunk: SessionChunk) => void,
    scheduler: Scheduler = realScheduler,
    /** A session with the same id that is still sending: this one starts when it is done. */
    after: Promise<void> = Promise.resolve(),
  ) {
    this.drained = new Promise((resolve) => (this.drainedResolve = resolve));
    this.tail = Promise.all([resamplerReady(), after]).then(() => {
      this.ready = true;
    });
    this.pacer = new Pacer(
      options.realTime,
      (chunk) => {
        emit(chunk);
        if (chunk.audio.end) this.drainedResolve?.();
      },
      scheduler,
      options.frameMs,
    );
  }

  /**
   * Queues an input; resolves when it has been turned into frames, rejects with why it could not.
   * Undefined when the input was framed at once (live PCM with nothing queued before it).
   */
  add(input: Input): Promise<void> | undefined {
    if (this.ending || this.closed) {
      return Promise.reject(new AudioInputError("BAD_FORMAT", "this audio session has already ended"));
    }
    if (input.kind === "pcm" && this.pacer.aheadMs > this.options.maxAheadMs) {
      return Promise.reject(
        new AudioInputError(
          "TOO_FAR_AHEAD",
          `audio for this session arrives faster than real time: ${Math.round(this.pacer.aheadMs / 1000)} s are waiting; ` +
            "send live audio at the speed it is spoken, send a recording as one WAV buffer or file path, or set pacing to as fast as possible",
        ),
      );
    }
    // Live PCM with nothing queued before it (every chunk of a live session) is framed at once: no
    // promise chain per chunk. Anything else waits its turn behind what is queued.
    if (input.kind === "pcm" && this.ready && this.pending === 0) {
      try {
        this.feed(input.format, input.bytes);
        return undefined;
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    this.pending++;
    const job = this.tail.then(() => this.run(input)).finally(() => this.pending--);
    // A failed input must not stop the inputs queued after it.
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** Inputs queued or running, or frames waiting to be sent. */
  get busy(): boolean {
    return this.pending > 0 || !this.pacer.idle;
  }

  /** Inputs queued or running. */
  get queuedInputs(): number {
    return this.pending;
  }

  /**
   * Appends a piece of one compressed recording that arrives in pieces (a MediaRecorder with a
   * timeslice: only the first piece has a header). The stream ends with the session.
   */
  addStreamPiece(bytes: Buffer): Promise<void> {
    if (this.ending || this.closed) {
      return Promise.reject(new AudioInputError("BAD_FORMAT", "this audio session has already ended"));
    }
    this.pending++;
    const job = this.tail
      .then(async () => {
        const stream = (this.stream ??= this.openStream());
        // No decoder: ffmpeg could not start, and `done` says why.
        if (!stream.decoder) await stream.done;
        if (stream.error) throw stream.error;
        stream.decoder?.write(bytes);
      })
      .finally(() => this.pending--);
    this.tail = job.catch(() => undefined);
    return job;
  }

  /** True while the session decodes a compressed stream arriving in pieces. */
  get streaming(): boolean {
    return this.stream !== undefined;
  }

  /** Ends the session after its queued inputs: the last frame is padded, never dropped, and marked `end`. */
  end(): Promise<void> {
    if (this.ending || this.closed) return this.tail;
    this.ending = true;
    const ended = this.tail.then(async () => {
      const stream = this.stream;
      try {
        if (stream) {
          stream.decoder?.end();
          await stream.done;
        }
      } finally {
        this.finish();
      }
    });
    this.tail = ended.catch(() => undefined);
    return ended;
  }

  private openStream(): CompressedStream {
    const stream: CompressedStream = { decoder: undefined, done: Promise.resolve() };
    stream.done = this.decode("the compressed stream", (d) => (stream.decoder = d));
    stream.done.catch((err: unknown) => (stream.error = err instanceof Error ? err : new Error(String(err))));
    return stream;
  }

  /** Stops at once (a redeploy): drops queued frames, stops decoders and readers, frees the resampler. */
  close(): void {
    this.closed = true;
    this.pacer.clear();
    this.active?.destroy();
    this.normalizer?.close();
    this.drainedResolve?.();
  }

  private async run(input: Input): Promise<void> {
    if (this.closed) return;
    if (input.kind === "pcm") return this.feed(input.format, input.bytes);
    if (input.kind === "compressed") return this.decode(input.what, (d) => d.end(), input.bytes);
    return this.readFile(input.path);
  }

  private feed(format: PcmFormat, bytes: Buffer): void {
    if (!this.normalizer || !sameFormat(this.normalizer.input, format)) {
      // The audio before the change keeps its last milliseconds too.
      if (this.normalizer) this.queueFrames(this.normalizer.flush());
      this.normalizer?.close();
      const next = new PcmNormalizer(format, this.options);
      if (this.outputChannels !== undefined && next.outputChannels !== this.outputChannels) {
        next.close();
        throw new AudioInputError(
          "BAD_FORMAT",
          `this session carries ${this.outputChannels}-channel audio; this input has ${format.channels} channels`,
        );
      }
      this.normalizer = next;
      this.outputChannels = next.outputChannels;
      this.framer ??= new PcmFramer(
        pcmBytesFor(this.options.frameMs, this.options.sampleRate, next.outputChannels),
      );
    }
    this.queueFrames(this.normalizer.push(bytes));
  }

  /** Cuts PCM at the output format into frames and queues every whole one. */
  private queueFrames(pcm: Buffer): void {
    for (const frame of this.framer?.push(pcm) ?? []) this.queue(frame, false);
  }

  private queue(payload: Buffer, end: boolean): void {
    const channels = this.outputChannels ?? 1;
    const bytesPerMs = (this.options.sampleRate * channels * 2) / 1000;
    const audio: AudioChunkInfo = {
      sessionId: this.id,
      seq: this.seq++,
      sampleRate: this.options.sampleRate,
      channels,
      encoding: AUDIO_ENCODING,
      offsetMs: this.emittedBytes / bytesPerMs,
      durationMs: payload.length / bytesPerMs,
      ...(end ? { end: true as const } : {}),
    };
    this.emittedBytes += payload.length;
    this.pacer.push({ payload, audio, offsetMs: audio.offsetMs } satisfies PacedChunk);
  }

  private finish(): void {
    if (this.closed) return;
    // The rate converter's last milliseconds, which it holds until silence follows them.
    if (this.normalizer) this.queueFrames(this.normalizer.flush());
    const channels = this.outputChannels ?? 1;
    const last = this.framer?.flush(pcmBytesFor(MIN_FRAME_MS, this.options.sampleRate, channels));
    this.queue(last ?? Buffer.alloc(0), true);
    this.normalizer?.close();
  }

  /** Runs one ffmpeg process over a compressed input; `feed` writes the input into it. */
  private decode(what: string, write: (decoder: FfmpegDecoder) => void, bytes?: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const decoder = new FfmpegDecoder(
        {
          onFormat: (header) => {
            this.feedSafely(header.format, Buffer.alloc(0), reject, decoder);
          },
          onAudio: (pcm) => {
            if (!this.normalizer) return;
            this.feedSafely(this.normalizer.input, pcm, reject, decoder);
            if (this.options.realTime && this.pacer.aheadMs > READ_AHEAD_MS) {
              decoder.pause();
              void this.pacer.whenBelow(READ_AHEAD_MS / 2).then(() => decoder.resume());
            }
          },
          onEnd: (error) => {
            this.active = undefined;
            if (error) reject(error);
            else resolve();
          },
        },
        what,
        { sampleRate: this.options.sampleRate, mono: this.options.channels === "mono" },
      );
      this.active = decoder;
      if (bytes) decoder.write(bytes);
      write(decoder);
    });
  }

  private feedSafely(
    format: PcmFormat,
    pcm: Buffer,
    reject: (e: unknown) => void,
    decoder: FfmpegDecoder,
  ): void {
    try {
      this.feed(format, pcm);
    } catch (err) {
      reject(err);
      decoder.destroy();
      this.active = undefined;
    }
  }

  private async readFile(path: string): Promise<void> {
    const stream = createReadStream(path, { highWaterMark: 64 * 1024 });
    const first = await new Promise<Buffer>((resolve, reject) => {
      stream.once("readable", () => resolve((stream.read(4096) as Buffer | null) ?? Buffer.alloc(0)));
      stream.once("error", (err: NodeJS.ErrnoException) =>
        reject(
          err.code === "ENOENT"
            ? new AudioInputError(
                "FILE_NOT_FOUND",
                "audio file not found: msg.payload names a path that does not exist; accepted: the path of a file the Node-RED process can read",
              )
            : new AudioInputError(
                "FILE_NOT_FOUND",
                `audio file cannot be read (${err.code ?? "read error"}); accepted: the path of a file the Node-RED process can read`,
              ),
        ),
      );
    });
    try {
      if (isWav(first)) await this.readWavStream(first, stream);
      else await this.decode("the audio file", (d) => this.pipeInto(stream, d), first);
    } finally {
      stream.destroy();
    }
  }

  private pipeInto(stream: NodeJS.ReadableStream & { destroy(): void }, decoder: FfmpegDecoder): void {
    stream.on("data", (chunk: Buffer) => {
      if (!decoder.write(chunk)) {
        stream.pause();
        decoder.once("drain", () => stream.resume());
      }
    });
    stream.on("end", () => decoder.end());
    stream.on("error", () => decoder.end());
  }

  private async readWavStream(first: Buffer, stream: AsyncIterable<Buffer>): Promise<void> {
    let head = first;
    let format: PcmFormat | undefined;
    let remaining = Infinity;
    const take = async (bytes: Buffer): Promise<void> => {
      const part = bytes.subarray(0, Math.min(bytes.length, remaining));
      remaining -= part.length;
      this.feed(format as PcmFormat, part);
      if (this.options.realTime) await this.pacer.whenBelow(READ_AHEAD_MS);
    };
    const start = async (): Promise<boolean> => {
      const header = parseWavHeader(head);
      if (!header) return false;
      format = header.format;
      remaining = header.dataSize ?? Infinity;
      await take(head.subarray(header.dataOffset));
      return true;
    };
    let started = await start();
    for await (const chunk of stream) {
      if (this.closed || remaining <= 0) break;
      if (started) await take(chunk);
      else {
        head = Buffer.concat([head, chunk]);
        started = await start();
      }
    }
    if (!started) throw new AudioInputError("CORRUPT_WAV", "WAV file is corrupt: it has no data chunk");
    if (remaining !== Infinity && remaining > 0) {
      throw new AudioInputError(
        "TRUNCATED_WAV",
        `WAV file is truncated: ${remaining} bytes of announced audio are missing`,
      );
    }
  }
}

function sameFormat(a: PcmFormat, b: PcmFormat): boolean {
  return a.sampleRate === b.sampleRate && a.channels === b.channels && a.sampleFormat === b.sampleFormat;
}
