import { realScheduler, type Scheduler } from "../util/scheduler";
import { AUDIO_ENCODING, pcmBytesFor, type AudioChunkInfo } from "./chunk";
import { FfmpegDecoder } from "./ffmpeg";
import {
  closeQuietly,
  fileProblemText,
  openRegularFile,
  readHead,
  readPieces,
  sizeText,
  type OpenFile,
} from "./file";
import { AudioInputError, bytesPerFrame, type PcmFormat } from "./format";
import { PcmFramer } from "./framer";
import type { AudioInput } from "./input";
import { PcmNormalizer, type OutputFormat } from "./normalizer";
import { Pacer } from "./pacer";
import { resamplerReady } from "./resampler";
import { CONTAINER_NAMES, describeNonAudio, sniffContainer } from "./sniff";
import { isWav, WavHeaderReader, type WavHeader } from "./wav";

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
/**
 * A large Buffer (a whole WAV, a long piece of raw PCM) is framed a slice at a time, with a turn of
 * the event loop between slices, so that no message holds the loop for long (bench/audio-in-large.ts
 * measures the longest hold). A slice is at most this many bytes and this much audio: by bytes alone,
 * 8 kHz mu-law (32 s in 256 KiB, resampled to twice as many samples) would hold the loop longest.
 */
export const SLICE_BYTES = 256 * 1024;
const SLICE_MS = 2000;
// Slices run back to back for at most about this long before the event loop is let turn.
const HOLD_MS = 10;
/** A file path is read in pieces of this size. */
const READ_PIECE_BYTES = 64 * 1024;
/** Inputs that may wait behind the one running, per session. */
export const MAX_QUEUED_INPUTS = 1000;
/** Bytes of audio that may wait behind the input running, per session. */
export const MAX_QUEUED_BYTES = 256 * 2 ** 20;
/** The largest file a path may name: 4 GiB, the most a WAV can hold. */
export const MAX_FILE_BYTES = 4 * 2 ** 30;

/**
 * A frame as contract 1's message: audio-in sends this object itself (a new one per frame), so that no
 * second object is built for it.
 */
export type SessionChunk = {
  /** The session id. */
  topic: string;
  payload: Buffer;
  audio: AudioChunkInfo;
};

const offsetOf = (chunk: SessionChunk): number => chunk.audio.offsetMs;

interface CompressedStream {
  decoder: FfmpegDecoder | undefined;
  /** Settles when ffmpeg has decoded the whole stream, or failed. */
  done: Promise<void>;
  error?: Error;
}

/**
 * One audio session (an encounter, a dictation, a call): its inputs, in order, become fixed frames
 * of PCM s16le with consecutive `seq` and contiguous offsets. Inputs run one after another, so a
 * file still being read keeps its place ahead of audio sent after it.
 */
export class AudioSession {
  private normalizer: PcmNormalizer | undefined;
  // Frames are sized by channel count, known from the first input.
  private framer: PcmFramer | undefined;
  private readonly pacer: Pacer<SessionChunk>;
  // Whole frames from the framer go straight to the queue (made once: no array or closure per chunk).
  private readonly frameSink = { push: (frame: Buffer): void => this.queue(frame, false) };
  private outputChannels: 1 | 2 | undefined;
  private seq = 0;
  private emittedBytes = 0;
  private tail: Promise<void>;
  // The resampler is loaded and the previous session of this id has finished: inputs may run at once.
  private ready = false;
  private pending = 0;
  // When the event loop last turned during the slices of a large input.
  private heldSince = 0;
  // Bytes of the inputs waiting (not yet running).
  private queuedBytes = 0;
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
      offsetOf,
      scheduler,
      options.frameMs,
    );
  }

  /**
   * Queues an input; resolves when it has been turned into frames, rejects with why it could not.
   * Undefined when the input was framed at once (live PCM with nothing queued before it).
   */
  add(input: AudioInput): Promise<void> | undefined {
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
    if (
      input.kind === "pcm" &&
      this.ready &&
      this.pending === 0 &&
      input.bytes.length <= sliceBytes(input.format)
    ) {
      try {
        this.feed(input.format, input.bytes);
        return undefined;
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    }
    return this.enqueue(input.kind === "file" ? 0 : input.bytes.length, () => this.run(input));
  }

  /**
   * Queues work behind the inputs before it, within the session's bounds (MAX_QUEUED_INPUTS,
   * MAX_QUEUED_BYTES); rejects with QUEUE_FULL beyond them.
   */
  private enqueue(bytes: number, work: () => Promise<void>): Promise<void> {
    if (this.pending >= MAX_QUEUED_INPUTS || this.queuedBytes + bytes > MAX_QUEUED_BYTES) {
      return Promise.reject(
        new AudioInputError(
          "QUEUE_FULL",
          `this session already has ${this.pending} inputs (${sizeText(this.queuedBytes)}) waiting to be framed; ` +
            `accepted: at most ${MAX_QUEUED_INPUTS} inputs and ${sizeText(MAX_QUEUED_BYTES)} waiting per session. ` +
            "Send audio no faster than it is framed, or one recording at a time",
        ),
      );
    }
    this.pending++;
    this.queuedBytes += bytes;
    const job = this.tail
      .then(() => {
        this.queuedBytes -= bytes;
        return work();
      })
      .finally(() => this.pending--);
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
    return this.enqueue(bytes.length, async () => {
      const stream = (this.stream ??= this.openStream());
      // No decoder: ffmpeg could not start, and `done` says why.
      if (!stream.decoder) await stream.done;
      if (stream.error) throw stream.error;
      // ffmpeg's input is full: the next piece waits (in the queue, within its bounds) until it drains.
      if (stream.decoder && !stream.decoder.write(bytes)) await stream.decoder.drained();
    });
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

  private async run(input: AudioInput): Promise<void> {
    if (this.closed) return;
    if (input.kind === "pcm") return this.feedSlices(input.format, input.bytes);
    if (input.kind === "compressed") return this.decode(input.what, (d) => d.end(), input.bytes);
    return this.readFile(input.path);
  }

  /** Frames a large Buffer a slice at a time, letting the event loop (and the pacer) run between. */
  private async feedSlices(format: PcmFormat, bytes: Buffer): Promise<void> {
    const slice = sliceBytes(format);
    this.heldSince = performance.now();
    for (let at = 0; at < bytes.length && !this.closed; at += slice) {
      if (at > 0) await this.breathe();
      if (this.closed) return;
      this.feed(format, bytes.subarray(at, at + slice));
    }
  }

  /**
   * Between two slices of input: real time waits for the pacer; and once the slices have held the
   * event loop for HOLD_MS, it turns (a turn costs about a millisecond, so not after every slice).
   */
  private async breathe(): Promise<void> {
    if (this.options.realTime) await this.pacer.whenBelow(READ_AHEAD_MS);
    if (performance.now() - this.heldSince < HOLD_MS) return;
    await nextTurn();
    this.heldSince = performance.now();
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
    // Converted audio is this session's own: its whole frames leave as views of it, not copies.
    const owned = this.normalizer?.outputOwned ?? false;
    this.framer?.pushTo(pcm, owned, this.frameSink);
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
    };
    if (end) audio.end = true;
    this.emittedBytes += payload.length;
    this.pacer.push({ topic: this.id, payload, audio });
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

  /**
   * Reads a recording named by a path: a regular file only (src/audio/file.ts), read through its
   * descriptor in pieces; the descriptor is closed however the reading ends.
   */
  private async readFile(path: string): Promise<void> {
    const opened = await openRegularFile(path, MAX_FILE_BYTES);
    if (!opened.ok) throw new AudioInputError(opened.problem.code, fileProblemText(opened.problem));
    const { file } = opened;
    try {
      if (this.closed) return;
      const head = await readHead(file, 512);
      if (isWav(head)) await this.readWavFile(file);
      else if (!sniffContainer(head)) {
        // The same sniffing as for a Buffer: what is not recognised is refused, not handed to ffmpeg
        // to guess at. The error names the kind of data found, never the path or the content.
        throw new AudioInputError(
          "NOT_AUDIO",
          `the file named in msg.payload is ${describeNonAudio(head)}, not a WAV or a known compressed recording; ` +
            `accepted: WAV, ${CONTAINER_NAMES}`,
        );
      } else await this.decodeFile(file);
    } finally {
      await closeQuietly(file.handle);
    }
  }

  private async readWavFile(file: OpenFile): Promise<void> {
    const reader = new WavHeaderReader();
    let header: WavHeader | undefined;
    let remaining = Infinity;
    for await (const piece of readPieces(file, READ_PIECE_BYTES)) {
      if (this.closed) return;
      let audio = piece;
      if (!header) {
        const found = reader.push(piece);
        if (!found) continue;
        header = found.header;
        remaining = header.dataSize ?? Infinity;
        audio = found.rest;
      }
      const part = audio.subarray(0, Math.min(audio.length, remaining));
      remaining -= part.length;
      this.feed(header.format, part);
      if (remaining <= 0) break;
      if (this.options.realTime) await this.pacer.whenBelow(READ_AHEAD_MS);
    }
    if (this.closed) return;
    if (!header)
      throw new AudioInputError(
        "CORRUPT_WAV",
        "WAV file is corrupt: it has no data chunk; accepted: a whole RIFF/WAVE file",
      );
    if (remaining !== Infinity && remaining > 0) {
      throw new AudioInputError(
        "TRUNCATED_WAV",
        `WAV file is truncated: ${remaining} bytes of announced audio are missing (the audio before was sent); accepted: a whole WAV file`,
      );
    }
  }

  /** Hands a compressed file to ffmpeg, piece by piece as ffmpeg takes them. */
  private async decodeFile(file: OpenFile): Promise<void> {
    let pump: Promise<AudioInputError | undefined> = Promise.resolve(undefined);
    let stop = false;
    let failure: Error | undefined;
    try {
      await this.decode("the audio file", (decoder) => {
        pump = this.pump(file, decoder, () => stop);
      });
    } catch (err) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    // ffmpeg is done (or failed): the reader stops, and the descriptor is closed only after it has.
    stop = true;
    const readError = await pump;
    if (failure) throw failure;
    if (readError) throw readError;
  }

  private async pump(
    file: OpenFile,
    decoder: FfmpegDecoder,
    stopped: () => boolean,
  ): Promise<AudioInputError | undefined> {
    try {
      for await (const piece of readPieces(file, READ_PIECE_BYTES)) {
        if (stopped() || this.closed || decoder.finished) break;
        if (!decoder.write(piece)) await decoder.drained();
      }
      return undefined;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      return new AudioInputError(
        "FILE_NOT_READABLE",
        `the file named in msg.payload could not be read to its end (${typeof code === "string" ? code : "read error"})`,
      );
    } finally {
      decoder.end();
    }
  }
}

/** The bytes of input framed between two turns of the event loop: SLICE_BYTES, or SLICE_MS of audio. */
function sliceBytes(format: PcmFormat): number {
  const frame = bytesPerFrame(format);
  const bytes = Math.min(SLICE_BYTES, Math.floor((format.sampleRate * SLICE_MS) / 1000) * frame);
  return Math.max(frame, bytes - (bytes % frame));
}

/** A turn of the event loop: timers, I/O and other sessions run before the caller goes on. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => realScheduler.setTimeout(resolve, 0));
}

function sameFormat(a: PcmFormat, b: PcmFormat): boolean {
  return a.sampleRate === b.sampleRate && a.channels === b.channels && a.sampleFormat === b.sampleFormat;
}
