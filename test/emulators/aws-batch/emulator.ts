import { GetObjectCommand, HeadBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseAuthorization } from "../aws/signing";
import { buildOutput, type BatchScriptSegment } from "./fixture";

/**
 * An emulator of the Amazon Transcribe JSON API (awsJson1_1) for the medical batch operations:
 * `POST /` with `x-amz-target: Transcribe.<Operation>` and `content-type: application/x-amz-json-1.1`,
 * signed with SigV4 (service `transcribe`). Errors are HTTP 400 with `{"__type", "message"}` as the
 * service sends them (the SDK reads the error name from `__type` or `x-amzn-errortype`).
 *
 * Documented (API reference, StartMedicalTranscriptionJob / GetMedicalTranscriptionJob /
 * DeleteMedicalTranscriptionJob): the parameter constraints checked below, the error names
 * BadRequestException, ConflictException, LimitExceededException, NotFoundException,
 * InternalFailureException; job statuses QUEUED, IN_PROGRESS, COMPLETED, FAILED.
 *
 * NOT verified against the real service (wording or behaviour written from memory of the docs):
 * - the exact message texts (only the ConflictException and NotFoundException texts follow the
 *   documented troubleshooting wording);
 * - whether constraint violations come as BadRequestException (assumed) rather than a
 *   ValidationException;
 * - a missing output bucket refused at start (the service may instead fail the job);
 * - the FailureReason for a missing media object and a format mismatch;
 * - the output key rules (default `medical/<job>.json`, `<OutputKey>` as a prefix when it ends in `/`);
 * - AccessDeniedException / UnrecognizedClientException as HTTP 400 (the usual for JSON APIs).
 */

export interface BatchEmulatorOptions {
  /** The S3 (s3rver) the emulator reads media from and writes transcripts to. */
  s3Endpoint: string;
  s3Credentials: { accessKeyId: string; secretAccessKey: string };
  /** Accepted credentials: access key id → secret. */
  credentials: Record<string, string>;
  /** Access key ids whose signature is good but which may not call Transcribe. */
  denied?: string[];
  region?: string;
  accountId?: string;
  /** How long a job stays QUEUED, then IN_PROGRESS (ms). */
  queuedMs?: number;
  inProgressMs?: number;
  /** The transcript every job produces, or a function of the media bytes. */
  script: readonly BatchScriptSegment[] | ((media: Buffer) => readonly BatchScriptSegment[]);
  /** Fails a job with this FailureReason when it returns a string. */
  failJob?: (request: StartRequest) => string | null;
}

export interface StartRequest {
  MedicalTranscriptionJobName?: unknown;
  LanguageCode?: unknown;
  MediaSampleRateHertz?: unknown;
  MediaFormat?: unknown;
  Media?: { MediaFileUri?: unknown };
  OutputBucketName?: unknown;
  OutputKey?: unknown;
  OutputEncryptionKMSKeyId?: unknown;
  Settings?: {
    ShowSpeakerLabels?: unknown;
    MaxSpeakerLabels?: unknown;
    ChannelIdentification?: unknown;
    VocabularyName?: unknown;
  };
  ContentIdentificationType?: unknown;
  Specialty?: unknown;
  Type?: unknown;
}

type Status = "QUEUED" | "IN_PROGRESS" | "COMPLETED" | "FAILED";

interface Job {
  request: StartRequest;
  name: string;
  status: Status;
  creationTime: number;
  startTime?: number;
  completionTime?: number;
  failureReason?: string;
  transcriptUri?: string;
  timers: NodeJS.Timeout[];
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export const BATCH_EMULATOR_ACCOUNT = "111122223333";

const FORMATS = ["mp3", "mp4", "wav", "flac", "ogg", "amr", "webm", "m4a"];

function sniff(b: Buffer): string | null {
  const a = (x: number, y: number): string => b.subarray(x, y).toString("latin1");
  if (a(0, 4) === "RIFF" && a(8, 12) === "WAVE") return "wav";
  if (a(0, 4) === "fLaC") return "flac";
  if (a(0, 4) === "OggS") return "ogg";
  if (a(0, 5) === "#!AMR") return "amr";
  if (a(0, 3) === "ID3" || (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0)) return "mp3";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm";
  if (a(4, 8) === "ftyp") return "mp4";
  return null;
}

export class AwsBatchTranscribeEmulator {
  /** Every operation received, in order (after authentication). */
  readonly calls: Array<{ target: string; body: Record<string, unknown> }> = [];
  readonly jobs = new Map<string, Job>();
  /** The next n requests are throttled with LimitExceededException. */
  throttleNext = 0;
  private server: Server | null = null;
  /** Jobs finishing (reading media, writing output): stop() waits for them. */
  private readonly finishing = new Set<Promise<void>>();
  private readonly s3: S3Client;
  private readonly region: string;
  private readonly accountId: string;

  constructor(private readonly opts: BatchEmulatorOptions) {
    this.region = opts.region ?? "us-east-1";
    this.accountId = opts.accountId ?? BATCH_EMULATOR_ACCOUNT;
    this.s3 = new S3Client({
      region: this.region,
      endpoint: opts.s3Endpoint,
      forcePathStyle: true,
      credentials: opts.s3Credentials,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  }

  get endpoint(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error("emulator not started");
    return `http://127.0.0.1:${addr.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    for (const job of this.jobs.values()) job.timers.forEach(clearTimeout);
    await Promise.allSettled([...this.finishing]);
    this.s3.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const reply = (status: number, body: unknown, type?: string): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/x-amz-json-1.1",
        "content-length": Buffer.byteLength(text),
        "x-amzn-requestid": `emu-${Date.now().toString(36)}`,
        ...(type ? { "x-amzn-errortype": type } : {}),
      });
      res.end(text);
    };
    try {
      if (req.method !== "POST" || (req.url ?? "/") !== "/") {
        throw new ApiError("UnknownOperationException", "Unknown operation");
      }
      await this.authenticate(req, raw);
      const target = String(req.headers["x-amz-target"] ?? "");
      const op = target.startsWith("Transcribe.") ? target.slice("Transcribe.".length) : "";
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        throw new ApiError("SerializationException", "The request body is not valid JSON");
      }
      const key = (req.headers.authorization ?? "").match(/Credential=([^/]+)/)?.[1] ?? "";
      if (this.opts.denied?.includes(key)) {
        throw new ApiError(
          "AccessDeniedException",
          `User: arn:aws:iam::${this.accountId}:user/emulator is not authorized to perform: transcribe:${op} because no identity-based policy allows the transcribe:${op} action`,
        );
      }
      this.calls.push({ target: op, body });
      if (this.throttleNext > 0) {
        this.throttleNext--;
        throw new ApiError(
          "LimitExceededException",
          "You have sent too many requests or your input file is too long. Wait before retrying your request, or use a smaller file and try your request again.",
        );
      }
      switch (op) {
        case "StartMedicalTranscriptionJob":
          reply(200, { MedicalTranscriptionJob: this.describe(await this.startJob(body)) });
          return;
        case "GetMedicalTranscriptionJob":
          reply(200, { MedicalTranscriptionJob: this.describe(this.find(body.MedicalTranscriptionJobName)) });
          return;
        case "DeleteMedicalTranscriptionJob": {
          const job = this.find(body.MedicalTranscriptionJobName);
          job.timers.forEach(clearTimeout);
          this.jobs.delete(job.name);
          reply(200, {});
          return;
        }
        default:
          throw new ApiError("UnknownOperationException", "Unknown operation");
      }
    } catch (err) {
      if (err instanceof ApiError) {
        reply(400, { __type: err.type, message: err.message }, err.type);
      } else {
        reply(
          500,
          { __type: "InternalFailureException", message: "We can't process the request." },
          "InternalFailureException",
        );
      }
    }
  }

  /** SigV4: a known access key and a signature that matches the request, as the service checks. */
  private async authenticate(req: IncomingMessage, body: Buffer): Promise<void> {
    const auth = parseAuthorization(req.headers.authorization);
    if (!auth) throw new ApiError("MissingAuthenticationTokenException", "Missing Authentication Token");
    const secret = this.opts.credentials[auth.accessKeyId];
    if (secret === undefined) {
      throw new ApiError(
        "UnrecognizedClientException",
        "The security token included in the request is invalid.",
      );
    }
    const amzDate = String(req.headers["x-amz-date"] ?? "");
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
    const headers: Record<string, string> = {};
    for (const name of auth.signedHeaders) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(",") : v;
    }
    let ok = false;
    if (m) {
      const [, y, mo, d, h, mi, s] = m.map(Number);
      const date = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0));
      const signer = new SignatureV4({
        service: auth.service,
        region: auth.region,
        credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
        sha256: Sha256,
      });
      const signed = await signer.sign(
        {
          method: req.method ?? "POST",
          protocol: "http:",
          hostname: String(req.headers.host ?? "").replace(/:\d+$/, ""),
          path: req.url ?? "/",
          query: {},
          headers,
          body,
        },
        { signingDate: date },
      );
      ok = parseAuthorization(String(signed.headers.authorization))?.signature === auth.signature;
    }
    if (!ok) {
      throw new ApiError(
        "InvalidSignatureException",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
      );
    }
  }

  private find(name: unknown): Job {
    const job = typeof name === "string" ? this.jobs.get(name) : undefined;
    if (!job) {
      throw new ApiError(
        "NotFoundException",
        "The requested job couldn't be found. Check the job name and try your request again.",
      );
    }
    return job;
  }

  private async startJob(r: StartRequest): Promise<Job> {
    const bad = (m: string): ApiError => new ApiError("BadRequestException", m);
    const name = r.MedicalTranscriptionJobName;
    if (typeof name !== "string" || name.length < 1 || name.length > 200 || !/^[0-9a-zA-Z._-]+$/.test(name)) {
      throw bad(
        "1 validation error detected: Value at 'medicalTranscriptionJobName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+",
      );
    }
    if (r.LanguageCode !== "en-US")
      throw bad("The language code that you specified isn't supported for medical transcription. Use en-US.");
    if (r.Specialty !== "PRIMARYCARE")
      throw bad(
        "1 validation error detected: Value at 'specialty' failed to satisfy constraint: Member must satisfy enum value set: [PRIMARYCARE]",
      );
    if (r.Type !== "CONVERSATION" && r.Type !== "DICTATION") {
      throw bad(
        "1 validation error detected: Value at 'type' failed to satisfy constraint: Member must satisfy enum value set: [CONVERSATION, DICTATION]",
      );
    }
    const uri = r.Media?.MediaFileUri;
    if (typeof uri !== "string" || uri.length > 2000 || !/^(s3:\/\/|https?:\/\/).+/.test(uri)) {
      throw bad(
        "1 validation error detected: Value at 'media.mediaFileUri' failed to satisfy constraint: Member must satisfy regular expression pattern: (s3://|http(s*)://).+",
      );
    }
    if (
      r.MediaFormat !== undefined &&
      (typeof r.MediaFormat !== "string" || !FORMATS.includes(r.MediaFormat))
    ) {
      throw bad(
        `1 validation error detected: Value at 'mediaFormat' failed to satisfy constraint: Member must satisfy enum value set: [${FORMATS.join(", ")}]`,
      );
    }
    if (r.MediaSampleRateHertz !== undefined) {
      const n = Number(r.MediaSampleRateHertz);
      if (!Number.isInteger(n) || n < 16000 || n > 48000) {
        throw bad(
          "1 validation error detected: Value at 'mediaSampleRateHertz' failed to satisfy constraint: Member must have value between 16000 and 48000",
        );
      }
    }
    const bucket = r.OutputBucketName;
    if (typeof bucket !== "string" || !/^[a-z0-9][.\-a-z0-9]{1,61}[a-z0-9]$/.test(bucket)) {
      throw bad(
        "1 validation error detected: Value at 'outputBucketName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9]",
      );
    }
    if (
      r.OutputKey !== undefined &&
      (typeof r.OutputKey !== "string" || !/^[a-zA-Z0-9\-_.!*'()/]{1,1024}$/.test(r.OutputKey))
    ) {
      throw bad(
        "1 validation error detected: Value at 'outputKey' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9-_.!*'()/]{1,1024}$",
      );
    }
    if (r.ContentIdentificationType !== undefined && r.ContentIdentificationType !== "PHI") {
      throw bad(
        "1 validation error detected: Value at 'contentIdentificationType' failed to satisfy constraint: Member must satisfy enum value set: [PHI]",
      );
    }
    const st = r.Settings ?? {};
    if (st.ShowSpeakerLabels === true && st.ChannelIdentification === true) {
      throw bad(
        "You can't specify both ShowSpeakerLabels and ChannelIdentification in the same request. Fix the request and try again.",
      );
    }
    if (st.ShowSpeakerLabels === true) {
      const n = Number(st.MaxSpeakerLabels);
      if (st.MaxSpeakerLabels === undefined)
        throw bad("When ShowSpeakerLabels is true, you must also specify MaxSpeakerLabels.");
      if (!Number.isInteger(n) || n < 2 || n > 10) {
        throw bad(
          "1 validation error detected: Value at 'settings.maxSpeakerLabels' failed to satisfy constraint: Member must have value between 2 and 10",
        );
      }
    } else if (st.MaxSpeakerLabels !== undefined) {
      throw bad("When you specify MaxSpeakerLabels, you must also set ShowSpeakerLabels to true.");
    }
    if (this.jobs.has(name)) {
      throw new ApiError(
        "ConflictException",
        "The requested job name already exists. Use a different job name.",
      );
    }
    try {
      await this.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch {
      throw bad(
        "The specified S3 bucket does not exist or you don't have permission to write to it. Check the output bucket name and its permissions, and try your request again.",
      );
    }
    const job: Job = { request: r, name, status: "QUEUED", creationTime: Date.now(), timers: [] };
    this.jobs.set(name, job);
    job.timers.push(
      setTimeout(() => {
        job.status = "IN_PROGRESS";
        job.startTime = Date.now();
        job.timers.push(
          setTimeout(() => {
            const p = this.finish(job).finally(() => this.finishing.delete(p));
            this.finishing.add(p);
          }, this.opts.inProgressMs ?? 50),
        );
      }, this.opts.queuedMs ?? 50),
    );
    return job;
  }

  private async finish(job: Job): Promise<void> {
    const fail = (reason: string): void => {
      job.status = "FAILED";
      job.failureReason = reason;
      job.completionTime = Date.now();
    };
    const r = job.request;
    const uri = typeof r.Media?.MediaFileUri === "string" ? r.Media.MediaFileUri : "";
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
    let media: Buffer;
    try {
      if (!m) throw new Error("not s3");
      const got = await this.s3.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
      media = Buffer.from((await got.Body?.transformToByteArray()) ?? []);
    } catch {
      if (this.jobs.get(job.name) === job) {
        fail(
          "The URI that you provided doesn't point to an S3 object. Make sure that the object exists and try your request again.",
        );
      }
      return;
    }
    if (this.jobs.get(job.name) !== job) return; // deleted meanwhile
    const detected = sniff(media);
    if (
      typeof r.MediaFormat === "string" &&
      detected !== null &&
      detected !== r.MediaFormat &&
      !(detected === "mp4" && r.MediaFormat === "m4a")
    ) {
      fail(
        "The media format that you specified doesn't match the detected media format. Check the media format and try your request again.",
      );
      return;
    }
    const injected = this.opts.failJob?.(r) ?? null;
    if (injected !== null) {
      fail(injected);
      return;
    }
    const script = typeof this.opts.script === "function" ? this.opts.script(media) : this.opts.script;
    const output = buildOutput(script, {
      jobName: job.name,
      accountId: this.accountId,
      showSpeakerLabels: r.Settings?.ShowSpeakerLabels === true,
      channelIdentification: r.Settings?.ChannelIdentification === true,
      phi: r.ContentIdentificationType === "PHI",
    });
    const bucket = String(r.OutputBucketName);
    const prefixOrKey = typeof r.OutputKey === "string" ? r.OutputKey : "";
    const key =
      prefixOrKey === ""
        ? `medical/${job.name}.json`
        : prefixOrKey.endsWith("/")
          ? `${prefixOrKey}${job.name}.json`
          : prefixOrKey.endsWith(".json")
            ? prefixOrKey
            : `${prefixOrKey}.json`;
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: JSON.stringify(output),
          ContentType: "application/json",
        }),
      );
    } catch {
      fail(
        "Amazon Transcribe can't write to the output bucket. Check the bucket permissions and try your request again.",
      );
      return;
    }
    if (this.jobs.get(job.name) !== job) return;
    job.status = "COMPLETED";
    job.completionTime = Date.now();
    job.transcriptUri = `https://s3.${this.region}.amazonaws.com/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
  }

  /** The MedicalTranscriptionJob structure; timestamps as epoch seconds, as awsJson sends them. */
  private describe(job: Job): Record<string, unknown> {
    const r = job.request;
    const out: Record<string, unknown> = {
      MedicalTranscriptionJobName: job.name,
      TranscriptionJobStatus: job.status,
      LanguageCode: r.LanguageCode,
      Media: { MediaFileUri: r.Media?.MediaFileUri },
      CreationTime: job.creationTime / 1000,
      Specialty: r.Specialty,
      Type: r.Type,
      Transcript: job.transcriptUri ? { TranscriptFileUri: job.transcriptUri } : {},
    };
    if (r.MediaFormat !== undefined) out.MediaFormat = r.MediaFormat;
    if (r.MediaSampleRateHertz !== undefined) out.MediaSampleRateHertz = r.MediaSampleRateHertz;
    if (r.ContentIdentificationType !== undefined)
      out.ContentIdentificationType = r.ContentIdentificationType;
    if (r.Settings !== undefined) out.Settings = r.Settings;
    if (job.startTime !== undefined) out.StartTime = job.startTime / 1000;
    if (job.completionTime !== undefined) out.CompletionTime = job.completionTime / 1000;
    if (job.failureReason !== undefined) out.FailureReason = job.failureReason;
    return out;
  }
}
