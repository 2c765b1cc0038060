import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TranscribeClient } from "@aws-sdk/client-transcribe";
import { createReadStream, type ReadStream } from "node:fs";
import { open, stat } from "node:fs/promises";
import type { TranscriptDocument } from "../../transcript/document";
import type { TranscriptResult } from "../../transcript/result";
import {
  BatchInputError,
  formatFromName,
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
  serviceError,
  startRequest,
  type JobProgress,
  type RunnerTuning,
} from "./runner";
import { batchDocument, mapBatchOutput, parseBatchOutput } from "./transcript";

export type BatchInput =
  { kind: "s3"; location: S3Location } | { kind: "file"; path: string } | { kind: "buffer"; data: Buffer };

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

  constructor(private readonly opts: BatchRunOptions) {}

  get jobName(): string {
    return this.opts.jobName;
  }

  async run(): Promise<BatchOutcome> {
    const { opts } = this;
    const secrets = [...(opts.secrets ?? []), opts.jobName];
    const { location, format } = await this.media(secrets);
    if (this.halted) throw this.halted;
    const mediaUri = s3Uri(location);
    this.job = new MedicalBatchJob({
      client: opts.transcribe,
      request: startRequest(opts.params, opts.jobName, mediaUri, format),
      tuning: opts.tuning,
      secrets: [...secrets, mediaUri, location.key],
      onProgress: opts.onProgress,
    });
    const done = await this.job.run();
    const uri = done.Transcript?.TranscriptFileUri ?? "";
    const where = transcriptLocation(uri);
    if (!where)
      throw new BatchJobError("BAD_TRANSCRIPT", "the completed job names no readable transcript location");
    let body: string;
    try {
      const got = await opts.s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }));
      body = (await got.Body?.transformToString("utf8")) ?? "";
    } catch (err) {
      throw this.halted ?? serviceError(err, [...secrets, where.key, uri]);
    }
    const results = mapBatchOutput(parseBatchOutput(body), opts.jobName);
    return { jobName: opts.jobName, results, document: batchDocument(opts.jobName, results) };
  }

  async cancel(): Promise<void> {
    this.halted = new BatchJobError("CANCELLED", "the job was cancelled");
    await this.job?.cancel();
  }

  stop(): void {
    this.halted = new BatchJobError("STOPPED", "polling stopped: the node was closed");
    this.job?.stop();
  }

  /** Where the media is in S3, uploading it first when it is a file or a Buffer. */
  private async media(secrets: string[]): Promise<{ location: S3Location; format: BatchMediaFormat | null }> {
    const { input, params, upload, s3, jobName } = this.opts;
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
    let format: BatchMediaFormat | null;
    let body: Buffer | ReadStream;
    let length: number;
    if (input.kind === "file") {
      let size: number;
      try {
        const st = await stat(input.path);
        if (!st.isFile()) throw new Error("not a file");
        size = st.size;
      } catch {
        // The path is not echoed: file names of recordings may name the patient.
        throw new BatchInputError(
          "FILE_NOT_READABLE",
          "the file named in msg.payload does not exist or is not a readable file",
        );
      }
      if (size === 0) throw new BatchInputError("EMPTY_AUDIO", "the file named in msg.payload is empty");
      format = params.mediaFormat ?? formatFromName(input.path) ?? (await sniffFile(input.path));
      if (!format) throw unsupported();
      body = createReadStream(input.path);
      length = size;
    } else {
      format = params.mediaFormat ?? sniffFormat(input.data.subarray(0, 16));
      if (!format) throw unsupported();
      body = input.data;
      length = input.data.length;
    }
    // The key is built from the job name, never from the file name.
    const location = { bucket: upload.bucket, key: `${upload.prefix}${jobName}.${format}` };
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
      );
    } catch (err) {
      if (!Buffer.isBuffer(body)) body.destroy();
      const e = serviceError(err, [...secrets, location.key]);
      throw new BatchJobError(e.code, `the upload failed: ${e.message}`);
    }
    return { location, format };
  }
}

async function sniffFile(path: string): Promise<BatchMediaFormat | null> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    return sniffFormat(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}
