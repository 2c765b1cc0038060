import {
  DeleteMedicalTranscriptionJobCommand,
  GetMedicalTranscriptionJobCommand,
  StartMedicalTranscriptionJobCommand,
  type MedicalTranscriptionJob,
  type StartMedicalTranscriptionJobRequest,
  type TranscribeClient,
} from "@aws-sdk/client-transcribe";
import type { Readable } from "node:stream";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import type { BatchMediaFormat, BatchParams } from "./params";

export type JobState = "QUEUED" | "IN_PROGRESS" | "COMPLETED" | "FAILED";

export interface JobProgress {
  jobName: string;
  state: JobState;
  /** Milliseconds since the job was started. */
  elapsedMs: number;
  /** Redacted; only for FAILED. */
  failureReason?: string;
}

export interface RunnerTuning {
  /** First wait before polling GetMedicalTranscriptionJob. */
  pollInitialMs: number;
  /** Longest wait between polls. */
  pollMaxMs: number;
  /** Each wait is the previous one times this. */
  pollFactor: number;
  /** Give up (without deleting the job) after this long. */
  timeoutMs: number;
}

/**
 * The most jobs one node runs at once. Each holds its polling timer, its upload (a Buffer payload stays in
 * memory until uploaded) and, at the end, its transcript; AWS's own account quota on concurrent medical
 * batch jobs is in the same range. A flow that needs more uses more nodes.
 */
export const MAX_RUNNING_JOBS = 100;

export const DEFAULT_TUNING: RunnerTuning = {
  pollInitialMs: 2000,
  pollMaxMs: 30000,
  pollFactor: 1.5,
  timeoutMs: 4 * 60 * 60 * 1000,
};

/** A failed job or request, with a message safe for logs: no credentials, URIs, keys or job names. */
export class BatchJobError extends Error {
  override readonly name = "BatchJobError";
  constructor(
    /** The service's error name (ConflictException, AccessDeniedException…), or FAILED, CANCELLED, TIMEOUT, STOPPED. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Removes what must not reach a log from a service message: the given strings (credentials, job
 * name, media URI, keys) and any quoted value the service echoes ("Value 'x' at 'y'…").
 */
export function redact(message: string, secrets: readonly string[]): string {
  // A peer's text is cut before it is searched: a huge one costs nothing and floods no log.
  let out = message.length > MAX_PEER_TEXT ? `${message.slice(0, MAX_PEER_TEXT)}…` : message;
  // Longest first, so that a whole key goes before the parts of it that are secrets too.
  const forms = [...secrets].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
  for (const s of forms) out = out.split(s).join("[redacted]");
  return (
    out
      .replace(/s3:\/\/\S+/gi, "s3://[redacted]")
      .replace(/https?:\/\/\S+/gi, "[redacted-url]")
      .replace(/Value '[^']*'/g, "Value [redacted]")
      .replace(/Value "[^"]*"/g, "Value [redacted]")
      // Any other quoted name ('incoming/x.wav', "job-1"): services quote the values they complain of.
      .replace(/'[^'\s]+'/g, "'[redacted]'")
      .replace(/"[^"\s]+"/g, '"[redacted]"')
  );
}

/** The most of a peer's message (a service error, a FailureReason) that is passed on. */
const MAX_PEER_TEXT = 500;
/** An error name as services give them; anything else a peer sends there is not passed on. */
const ERROR_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** The service's error name when it is one (a word, naming no secret); otherwise a generic one. */
export function safeErrorName(name: unknown, secrets: readonly string[]): string {
  if (typeof name !== "string" || name === "Error" || !ERROR_NAME.test(name)) return "RequestError";
  return secrets.some((s) => s.length >= 3 && name.includes(s)) ? "RequestError" : name;
}

export function serviceError(err: unknown, secrets: readonly string[]): BatchJobError {
  if (err instanceof BatchJobError) return err;
  const e = err as { name?: unknown; message?: unknown; $metadata?: { httpStatusCode?: number } };
  const name = safeErrorName(e?.name, secrets);
  const message = typeof e?.message === "string" && e.message !== "" ? e.message : "the request failed";
  return new BatchJobError(name, `${name}: ${redact(message, secrets)}`);
}

/**
 * Reads a response body as UTF-8 text, refusing one larger than `max` bytes (by its announced length
 * and as it arrives), so that a peer cannot make the node hold an unbounded body.
 */
export async function readLimited(
  body: Readable | undefined,
  max: number,
  announced?: number,
): Promise<string> {
  if (!body) return "";
  const tooLarge = (): BatchJobError =>
    new BatchJobError("TRANSCRIPT_TOO_LARGE", `the transcript file is larger than ${max} bytes, the limit`);
  if (announced !== undefined && announced > max) {
    body.destroy();
    throw tooLarge();
  }
  const pieces: Buffer[] = [];
  let total = 0;
  for await (const piece of body) {
    const bytes = Buffer.isBuffer(piece) ? piece : Buffer.from(piece as Uint8Array);
    total += bytes.length;
    if (total > max) {
      body.destroy();
      throw tooLarge();
    }
    pieces.push(bytes);
  }
  return Buffer.concat(pieces).toString("utf8");
}

/** The StartMedicalTranscriptionJob request for a checked parameter set. */
export function startRequest(
  params: BatchParams,
  jobName: string,
  mediaUri: string,
  mediaFormat: BatchMediaFormat | null,
): StartMedicalTranscriptionJobRequest {
  const settings: NonNullable<StartMedicalTranscriptionJobRequest["Settings"]> = {};
  if (params.showSpeakerLabels) {
    settings.ShowSpeakerLabels = true;
    settings.MaxSpeakerLabels = params.maxSpeakerLabels ?? 2;
  }
  if (params.channelIdentification) settings.ChannelIdentification = true;
  if (params.vocabularyName) settings.VocabularyName = params.vocabularyName;
  return {
    MedicalTranscriptionJobName: jobName,
    LanguageCode: params.languageCode,
    Specialty: params.specialty,
    Type: params.type,
    Media: { MediaFileUri: mediaUri },
    OutputBucketName: params.outputBucketName,
    ...(mediaFormat ? { MediaFormat: mediaFormat } : {}),
    ...(params.sampleRate ? { MediaSampleRateHertz: params.sampleRate } : {}),
    ...(params.outputKey ? { OutputKey: params.outputKey } : {}),
    ...(params.outputEncryptionKMSKeyId ? { OutputEncryptionKMSKeyId: params.outputEncryptionKMSKeyId } : {}),
    ...(params.contentIdentification ? { ContentIdentificationType: params.contentIdentification } : {}),
    ...(Object.keys(settings).length > 0 ? { Settings: settings } : {}),
  };
}

export interface MedicalBatchJobOptions {
  client: TranscribeClient;
  request: StartMedicalTranscriptionJobRequest;
  onProgress?: (p: JobProgress) => void;
  tuning?: Partial<RunnerTuning>;
  /** Strings to scrub from error texts (credentials, URIs, names). */
  secrets?: readonly string[];
  scheduler?: Scheduler;
}

/**
 * One batch job: starts it, polls it with backoff until COMPLETED or FAILED, and can be cancelled
 * (DeleteMedicalTranscriptionJob) or stopped (polling ends; the job runs on at AWS).
 */
export class MedicalBatchJob {
  readonly jobName: string;
  private readonly tuning: RunnerTuning;
  private readonly scheduler: Scheduler;
  private readonly secrets: string[];
  /** Aborts polling requests (cancel, stop) and the start request (stop only). */
  private readonly abort = new AbortController();
  private readonly abortStart = new AbortController();
  /** The start request while it is under way: a cancel waits for it, then deletes what it created. */
  private starting: Promise<unknown> | null = null;
  private timer: unknown = null;
  private wake: (() => void) | null = null;
  private startedAt: number | null = null;
  private lastState: JobState | null = null;
  private stopped: BatchJobError | null = null;
  private started = false;

  constructor(private readonly opts: MedicalBatchJobOptions) {
    this.jobName = opts.request.MedicalTranscriptionJobName ?? "";
    this.tuning = { ...DEFAULT_TUNING, ...opts.tuning };
    this.scheduler = opts.scheduler ?? realScheduler;
    this.secrets = [
      ...(opts.secrets ?? []),
      this.jobName,
      opts.request.Media?.MediaFileUri ?? "",
      opts.request.OutputKey ?? "",
    ];
  }

  get state(): JobState | null {
    return this.lastState;
  }

  elapsedMs(): number {
    return this.startedAt === null ? 0 : this.scheduler.now() - this.startedAt;
  }

  /** Resolves with the COMPLETED job; rejects with a BatchJobError for anything else. */
  async run(): Promise<MedicalTranscriptionJob> {
    const { client } = this.opts;
    this.startedAt = this.scheduler.now();
    let job: MedicalTranscriptionJob | undefined;
    try {
      const sent = client.send(new StartMedicalTranscriptionJobCommand(this.opts.request), {
        abortSignal: this.abortStart.signal,
      });
      this.starting = sent;
      const out = await sent;
      this.started = true;
      job = out.MedicalTranscriptionJob;
    } catch (err) {
      throw this.stopped ?? serviceError(err, this.secrets);
    } finally {
      this.starting = null;
    }
    let wait = this.tuning.pollInitialMs;
    for (;;) {
      this.throwIfHalted();
      const state: JobState = job?.TranscriptionJobStatus ?? "QUEUED";
      this.report(state, job);
      if (state === "COMPLETED" && job) return job;
      if (state === "FAILED") {
        throw new BatchJobError("FAILED", `the job failed: ${this.failureReason(job)}`);
      }
      if (this.elapsedMs() > this.tuning.timeoutMs) {
        throw new BatchJobError(
          "TIMEOUT",
          `the job did not finish within ${Math.round(this.tuning.timeoutMs / 1000)} s`,
        );
      }
      await this.sleep(wait);
      wait = Math.min(this.tuning.pollMaxMs, Math.round(wait * this.tuning.pollFactor));
      this.throwIfHalted();
      try {
        const out = await client.send(
          new GetMedicalTranscriptionJobCommand({ MedicalTranscriptionJobName: this.jobName }),
          { abortSignal: this.abort.signal },
        );
        job = out.MedicalTranscriptionJob;
      } catch (err) {
        throw this.stopped ?? serviceError(err, this.secrets);
      }
    }
  }

  /** Stops polling and deletes the job at the service (a running job is cancelled by deleting it). */
  async cancel(): Promise<void> {
    const starting = this.starting;
    this.halt(new BatchJobError("CANCELLED", "the job was cancelled"));
    // A start under way is not aborted: the service may have created the job already.
    const created = starting
      ? await starting.then(
          () => true,
          () => false,
        )
      : this.started;
    if (!created) return;
    try {
      await this.opts.client.send(
        new DeleteMedicalTranscriptionJobCommand({ MedicalTranscriptionJobName: this.jobName }),
      );
    } catch (err) {
      const e = serviceError(err, this.secrets);
      if (e.code !== "NotFoundException") throw e;
    }
  }

  /** Stops polling, leaving the job at the service (Node-RED is closing). */
  stop(): void {
    this.halt(new BatchJobError("STOPPED", "polling stopped: the node was closed"));
    this.abortStart.abort();
  }

  private throwIfHalted(): void {
    if (this.stopped) throw this.stopped;
  }

  private halt(reason: BatchJobError): void {
    if (this.stopped) return;
    this.stopped = reason;
    this.abort.abort();
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = null;
        resolve();
      };
      this.timer = this.scheduler.setTimeout(() => {
        this.timer = null;
        this.wake?.();
      }, ms);
    });
  }

  private failureReason(job: MedicalTranscriptionJob | undefined): string {
    return redact(job?.FailureReason ?? "no reason given", this.secrets);
  }

  private report(state: JobState, job: MedicalTranscriptionJob | undefined): void {
    this.lastState = state;
    const p: JobProgress = { jobName: this.jobName, state, elapsedMs: this.elapsedMs() };
    if (state === "FAILED") p.failureReason = this.failureReason(job);
    this.opts.onProgress?.(p);
  }
}
