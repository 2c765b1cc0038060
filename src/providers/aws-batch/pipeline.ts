import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TranscribeClient } from "@aws-sdk/client-transcribe";
import type { Readable } from "node:stream";
import {
  closeQuietly,
  fileProblemText,
  openRegularFile,
  readHead,
  sizeText,
  type OpenFile,
} from "../../audio/file";
import type { TranscriptDocument } from "../../transcript/document";
import type { TranscriptResult } from "../../transcript/result";
import {
  BatchInputError,
  formatFromName,
  identifierForms,
  looksLikeUri,
  parseS3Uri,
  s3Uri,
  sniffFormat,
  transcriptLocation,
  type Parsed,
  type S3Location,
} from "./media";
import { BUCKET_NAME, type BatchMediaFormat, type BatchParams } from "./params";
import {
  BatchJobError,
  MedicalBatchJob,
  readLimited,
  serviceError,
  startRequest,
  type JobProgress,
  type RunnerTuning,
} from "./runner";
import { batchDocument, mapBatchOutput, parseBatchOutput } from "./transcript";
import { Slicer } from "../../util/slices";

export type BatchInput =
  { kind: "s3"; location: S3Location } | { kind: "file"; path: string } | { kind: "buffer"; data: Buffer };

/** The largest recording uploaded (a file or a Buffer): Amazon Transcribe's documented 2 GB file limit. */
export const MAX_MEDIA_BYTES = 2 * 2 ** 30;
/**
 * The largest transcript file read back from S3: 24 MiB. It is parsed, mapped and assembled in slices
 * that give the event loop a turn every few milliseconds (bench/loop-holds.ts), but it is held in
 * memory whole, so the bound is what a real job can write, not more: a job is at most 4 hours (the service's limit),
 * at a brisk 200 words a minute 48,000 words; Transcribe Medical's JSON takes about 220 bytes a word
 * with speaker labels (the item, its speaker-segment entry, the transcript text, PHI entities) and up
 * to about 350 with channel identification (items listed per channel and again in time order):
 * 10 to 17 MiB. 24 MiB leaves 40 % above that; a file over it is refused (TRANSCRIPT_TOO_LARGE).
 */
export const MAX_TRANSCRIPT_BYTES = 24 * 2 ** 20;

/** What msg.payload holds: an S3 URI, a file path, or audio bytes. */
export function classifyPayload(payload: unknown): Parsed<BatchInput> {
  if (Buffer.isBuffer(payload)) {
    if (payload.length === 0) {
      return {
        ok: false,
        error: new BatchInputError(
          "EMPTY_AUDIO",
          "msg.payload is an empty Buffer; send the recording's bytes",
        ),
      };
    }
    if (payload.length > MAX_MEDIA_BYTES) {
      return {
        ok: false,
        error: new BatchInputError(
          "MEDIA_TOO_LARGE",
          `msg.payload is larger than ${sizeText(MAX_MEDIA_BYTES)}, the most Amazon Transcribe accepts in one file`,
        ),
      };
    }
    return { ok: true, value: { kind: "buffer", data: payload } };
  }
  if (typeof payload === "string" && payload.trim() !== "") {
    const v = payload.trim();
    if (/^s3:/i.test(v)) {
      const p = parseS3Uri(v);
      return p.ok ? { ok: true, value: { kind: "s3", location: p.value } } : p;
    }
    if (looksLikeUri(v)) {
      return {
        ok: false,
        error: new BatchInputError(
          "BAD_S3_URI",
          "msg.payload is a URI but not an S3 URI. Accepted: s3://bucket/key, a file path, or an audio Buffer",
        ),
      };
    }
    return { ok: true, value: { kind: "file", path: v } };
  }
  return {
    ok: false,
    error: new BatchInputError(
      "BAD_INPUT",
      "msg.payload must be an S3 URI (s3://bucket/key), a file path, or a Buffer of audio",
    ),
  };
}

export interface UploadTarget {
  bucket: string;
  /** Prepended to the generated key ("" or ending with "/"). */
  prefix: string;
}

export function checkUploadTarget(bucket: string, prefix: string): Parsed<UploadTarget | null> {
  const b = bucket.trim();
  if (b === "") return { ok: true, value: null };
  if (!BUCKET_NAME.test(b)) {
    return {
      ok: false,
      error: new BatchInputError(
        "BAD_BUCKET",
        "the upload bucket must be an S3 bucket name: 3 to 63 lowercase letters, digits, dots or hyphens",
      ),
    };
  }
  let p = prefix.trim().replace(/^\/+/, "");
  if (p !== "" && !p.endsWith("/")) p += "/";
  if (!/^[a-zA-Z0-9\-_.!*'()/]*$/.test(p)) {
    return {
      ok: false,
      error: new BatchInputError(
        "BAD_PREFIX",
        "the upload key prefix may hold only letters, digits and - _ . ! * ' ( ) /",
      ),
    };
  }
  return { ok: true, value: { bucket: b, prefix: p } };
}

export interface BatchRunOptions {
  transcribe: TranscribeClient;
  s3: S3Client;
  params: BatchParams;
  input: BatchInput;
  jobName: string;
  upload: UploadTarget | null;
  tuning?: Partial<RunnerTuning>;
  secrets?: readonly string[];
  onUpload?: () => void;
  onProgress?: (p: JobProgress) => void;
}

export interface BatchOutcome {
  jobName: string;
  results: TranscriptResult[];
  document: TranscriptDocument;
}

const FORMATS_TEXT = "mp3, mp4, wav, flac, ogg, amr, webm, m4a";

/**
 * One recording through the batch API: upload (file or Buffer), job, polling, transcript download,
 * mapping. `cancel()` deletes the job; `stop()` only ends the polling.
 */
export class BatchRun {
  private job: MedicalBatchJob | null = null;
  private halted: BatchJobError | null = null;
  // Aborts the upload and the transcript download when the run is cancelled or stopped.
  private readonly abort = new AbortController();

  constructor(private readonly opts: BatchRunOptions) {}

  get jobName(): string {
    return this.opts.jobName;
  }

  async run(): Promise<BatchOutcome> {
    const { opts } = this;
    // What a flow named (the job name, the S3 URI's bucket and key, the upload key) in every form a
    // peer might echo it: scrubbed from any text a service sends back.
    const secrets = [...(opts.secrets ?? []), opts.jobName];
    if (opts.input.kind === "s3") for (const form of identifierForms(opts.input.location)) secrets.push(form);
    const { location, format } = await this.media(secrets);
    if (this.halted) throw this.halted;
    const mediaUri = s3Uri(location);
    for (const form of identifierForms(location)) secrets.push(form);
    this.job = new MedicalBatchJob({
      client: opts.transcribe,
      request: startRequest(opts.params, opts.jobName, mediaUri, format),
      tuning: opts.tuning,
      secrets,
      onProgress: opts.onProgress,
    });
    const done = await this.job.run();
    const uri = done.Transcript?.TranscriptFileUri ?? "";
    const where = transcriptLocation(uri);
    if (!where)
      throw new BatchJobError("BAD_TRANSCRIPT", "the completed job names no readable transcript location");
    let body: string;
    try {
      const got = await opts.s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }), {
        abortSignal: this.abort.signal,
      });
      body = await readLimited(got.Body as Readable | undefined, MAX_TRANSCRIPT_BYTES, got.ContentLength);
    } catch (err) {
      throw this.halted ?? serviceError(err, [...secrets, ...identifierForms(where), uri]);
    }
    // In slices (src/util/slices.ts): a 4-hour job's transcript is tens of thousands of words, and the
    // sessions sharing this process must not wait for it.
    // A stop or cancel while it runs ends the run there, as it would have before the download ended.
    const slicer = new Slicer();
    const output = await parseBatchOutput(body, slicer);
    this.throwIfHalted();
    const results = await mapBatchOutput(output, opts.jobName, slicer);
    this.throwIfHalted();
    const document = await batchDocument(opts.jobName, results, Date.now(), slicer);
    this.throwIfHalted();
    return { jobName: opts.jobName, results, document };
  }

  private throwIfHalted(): void {
    if (this.halted) throw this.halted;
  }

  async cancel(): Promise<void> {
    this.halted = new BatchJobError("CANCELLED", "the job was cancelled");
    this.abort.abort();
    await this.job?.cancel();
  }

  stop(): void {
    this.halted = new BatchJobError("STOPPED", "polling stopped: the node was closed");
    this.abort.abort();
    this.job?.stop();
  }

  /** Where the media is in S3, uploading it first when it is a file or a Buffer. */
  private async media(secrets: string[]): Promise<{ location: S3Location; format: BatchMediaFormat | null }> {
    const { input, params, upload } = this.opts;
    const unsupported = (): BatchInputError =>
      new BatchInputError(
        "UNSUPPORTED_FORMAT",
        `the media format cannot be determined or is not supported; set MediaFormat or send one of ${FORMATS_TEXT}`,
      );
    if (input.kind === "s3") {
      const format = params.mediaFormat ?? formatFromName(input.location.key);
      if (!format) throw unsupported();
      return { location: input.location, format };
    }
    if (!upload) {
      throw new BatchInputError(
        "NO_UPLOAD_BUCKET",
        "a file or Buffer must be uploaded first, and no upload bucket is configured; set the upload bucket or send an S3 URI",
      );
    }
    if (input.kind === "buffer") {
      const format = params.mediaFormat ?? sniffFormat(input.data.subarray(0, 16));
      if (!format) throw unsupported();
      return { location: await this.upload(input.data, input.data.length, format, upload, secrets), format };
    }
    // A file: only a regular one is opened (src/audio/file.ts: a FIFO or device would block or never
    // end), and it is read through the descriptor that was checked, never opened again by name.
    const opened = await openRegularFile(input.path, MAX_MEDIA_BYTES);
    if (!opened.ok) throw new BatchInputError(opened.problem.code, fileProblemText(opened.problem));
    const { file } = opened;
    try {
      const format =
        params.mediaFormat ?? formatFromName(input.path) ?? sniffFormat(await readHead(file, 16));
      if (!format) throw unsupported();
      return { location: await this.upload(file, file.size, format, upload, secrets), format };
    } finally {
      await closeQuietly(file.handle);
    }
  }

  /** Uploads the recording under a key built from the job name, never from the file name. */
  private async upload(
    media: Buffer | OpenFile,
    length: number,
    format: BatchMediaFormat,
    upload: UploadTarget,
    secrets: readonly string[],
  ): Promise<S3Location> {
    const { s3, jobName } = this.opts;
    const location = { bucket: upload.bucket, key: `${upload.prefix}${jobName}.${format}` };
    // The file's bytes as they were when it was checked: exactly its size then, from its descriptor.
    const body = Buffer.isBuffer(media)
      ? media
      : media.handle.createReadStream({ start: 0, end: length - 1, autoClose: false });
    this.opts.onUpload?.();
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: location.bucket,
          Key: location.key,
          Body: body,
          ContentLength: length,
          ContentType: "application/octet-stream",
        }),
        { abortSignal: this.abort.signal },
      );
    } catch (err) {
      if (this.halted) throw this.halted;
      const e = serviceError(err, [...secrets, ...identifierForms(location)]);
      throw new BatchJobError(e.code, `the upload failed: ${e.message}`);
    } finally {
      if (!Buffer.isBuffer(body)) body.destroy();
    }
    return location;
  }
}
