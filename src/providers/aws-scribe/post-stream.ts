import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  GetMedicalScribeStreamCommand,
  type MedicalScribeStreamDetails,
  type TranscribeStreamingClient,
} from "@aws-sdk/client-transcribe-streaming";
import type { Readable } from "node:stream";
import type { Scheduler } from "../../util/scheduler";
import { transcriptLocation } from "../aws-batch/media";
import { BatchJobError, readLimited, redact, safeErrorName } from "../aws-batch/runner";
import {
  MalformedOutputError,
  parseAggregatedTranscript,
  parseSummary,
  type AggregatedSegment,
  type Summary,
} from "./note";
import { JsonSyntaxError, parseJsonSliced } from "../../util/sliced-json";

/**
 * After END_OF_SESSION: GetMedicalScribeStream is polled with back-off until the post-stream analytics
 * completed or failed, within an overall timeout; then the clinical note (summary.json) and the
 * aggregated transcript (transcript.json) are read from S3, each within a size bound.
 */

export type ScribeErrorCode =
  | "ANALYTICS_FAILED"
  | "ACCESS_DENIED"
  | "TIMEOUT"
  | "MALFORMED_OUTPUT"
  | "OUTPUT_TOO_LARGE"
  | "REQUEST_FAILED"
  | "STOPPED";

/**
 * A failure after the stream: its code, and a message fit for logs and Catch nodes (no session id,
 * no bucket key, no transcript text: they are removed from any text the service sends).
 */
export class ScribeNoteError extends Error {
  override readonly name = "ScribeNoteError";
  constructor(
    readonly code: ScribeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface PostStreamTuning {
  /** First wait between two status requests; doubles up to `pollMaxMs`. */
  pollBaseMs: number;
  pollMaxMs: number;
  /** The analytics must have completed this long after END_OF_SESSION. */
  noteTimeoutMs: number;
}

/**
 * HealthScribe's documentation gives no time for the post-stream analytics; a clinical note of an
 * encounter is reported ready within minutes. 15 minutes bounds what one session's polling holds.
 */
export const DEFAULT_POST_STREAM: PostStreamTuning = {
  pollBaseMs: 2_000,
  pollMaxMs: 30_000,
  noteTimeoutMs: 15 * 60_000,
};

const RANGES: Record<keyof PostStreamTuning, readonly [number, number]> = {
  pollBaseMs: [10, 60_000],
  pollMaxMs: [10, 300_000],
  noteTimeoutMs: [100, 2 * 3_600_000],
};

/** The post-stream timings of a node's hidden `tuning`, each within its range. */
export function postStreamTuning(raw: Readonly<Record<string, number>>): PostStreamTuning {
  const out = { ...DEFAULT_POST_STREAM };
  for (const key of Object.keys(RANGES) as Array<keyof PostStreamTuning>) {
    const v = Object.hasOwn(raw, key) ? raw[key] : undefined;
    if (typeof v === "number" && Number.isFinite(v))
      out[key] = Math.min(Math.max(v, RANGES[key][0]), RANGES[key][1]);
  }
  return out;
}

/** The most of summary.json read: a note is a few KiB; this bounds what a wrong file can hold. */
export const MAX_SUMMARY_BYTES = 2 * 2 ** 20;
/** The most of transcript.json read: a four-hour encounter with word timings stays far below it. */
export const MAX_TRANSCRIPT_BYTES = 32 * 2 ** 20;

const ACCESS_DENIED = new Set([
  "AccessDenied",
  "AccessDeniedException",
  "Forbidden",
  "AllBucketsAreForbidden",
]);
/** Errors a later poll may not repeat (the service busy, the network): polled again within the timeout. */
const TRANSIENT = new Set([
  "ThrottlingException",
  "LimitExceededException",
  "InternalFailureException",
  "ServiceUnavailableException",
  "TimeoutError",
  // The stream's details may not be readable at once after its end.
  "ResourceNotFoundException",
  "NotFound",
]);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  $metadata?: { httpStatusCode?: unknown };
}

function statusOf(err: unknown): number | undefined {
  const s = (err as ErrorLike | null)?.$metadata?.httpStatusCode;
  return typeof s === "number" ? s : undefined;
}

/** A request's error as a ScribeNoteError; `what` says which request, `phi` what to remove from the text. */
function requestError(err: unknown, what: string, phi: readonly string[]): ScribeNoteError {
  if (err instanceof ScribeNoteError) return err;
  const e = (typeof err === "object" && err !== null ? err : {}) as ErrorLike;
  const name = safeErrorName(e.name, phi);
  if (ACCESS_DENIED.has(name) || statusOf(err) === 403) {
    return new ScribeNoteError(
      "ACCESS_DENIED",
      `${what}: access denied (${name}): the node's AWS credentials need transcribe:GetMedicalScribeStream and s3:GetObject on the output bucket, and the bucket policy or KMS key must allow them`,
    );
  }
  const message =
    typeof e.message === "string" && e.message !== "" ? redact(e.message, phi) : "the request failed";
  return new ScribeNoteError("REQUEST_FAILED", `${what}: ${name}: ${message}`);
}

function transient(err: unknown): boolean {
  const name = (err as ErrorLike | null)?.name;
  const status = statusOf(err);
  return (
    (typeof name === "string" && TRANSIENT.has(name)) ||
    status === 429 ||
    (status !== undefined && status >= 500)
  );
}

export interface NoteLocations {
  summaryUri: string;
  transcriptUri: string;
}

export interface PollOptions {
  getDetails: (signal: AbortSignal) => Promise<MedicalScribeStreamDetails | undefined>;
  scheduler: Scheduler;
  tuning: PostStreamTuning;
  signal: AbortSignal;
  /** What the service's texts must not carry into ours (the provider session id, the bucket). */
  phi: readonly string[];
}

const stopped = (): ScribeNoteError =>
  new ScribeNoteError("STOPPED", "waiting for the clinical note stopped: the node was closed or redeployed");

function wait(scheduler: Scheduler, ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      scheduler.clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = scheduler.setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Polls the stream's details until its clinical note generation completed (resolves with where the
 * files are) or failed, the stream failed, `noteTimeoutMs` passed, or `signal` aborted.
 */
export async function pollNoteLocations(o: PollOptions): Promise<NoteLocations> {
  const started = o.scheduler.now();
  let delay = o.tuning.pollBaseMs;
  for (;;) {
    if (o.signal.aborted) throw stopped();
    let details: MedicalScribeStreamDetails | undefined;
    try {
      details = await o.getDetails(o.signal);
    } catch (err) {
      if (o.signal.aborted) throw stopped();
      if (!transient(err)) throw requestError(err, "GetMedicalScribeStream", o.phi);
    }
    const result = details?.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    if (result?.Status === "COMPLETED") {
      const summaryUri = result.ClinicalNoteOutputLocation ?? "";
      const transcriptUri = result.TranscriptOutputLocation ?? "";
      if (summaryUri === "" || transcriptUri === "") {
        throw new ScribeNoteError(
          "MALFORMED_OUTPUT",
          "the completed clinical note generation names no clinical note or transcript location",
        );
      }
      return { summaryUri, transcriptUri };
    }
    if (result?.Status === "FAILED" || details?.StreamStatus === "FAILED") {
      const reason = result?.FailureReason;
      throw new ScribeNoteError(
        "ANALYTICS_FAILED",
        `the post-stream analytics failed${typeof reason === "string" && reason !== "" ? `: ${redact(reason, o.phi)}` : " (the service gave no reason)"}`,
      );
    }
    const elapsed = o.scheduler.now() - started;
    if (elapsed >= o.tuning.noteTimeoutMs) {
      throw new ScribeNoteError(
        "TIMEOUT",
        `the clinical note was not ready within ${Math.round(o.tuning.noteTimeoutMs / 1000)} s of the end of the session`,
      );
    }
    await wait(o.scheduler, Math.min(delay, o.tuning.noteTimeoutMs - elapsed), o.signal);
    delay = Math.min(delay * 2, o.tuning.pollMaxMs);
  }
}

/** Reads one output file from S3 as JSON, within `max` bytes. */
async function readJson(
  s3: S3Client,
  uri: string,
  file: "summary.json" | "transcript.json",
  max: number,
  signal: AbortSignal,
  phi: readonly string[],
): Promise<unknown> {
  const where = transcriptLocation(uri);
  if (!where)
    throw new ScribeNoteError("MALFORMED_OUTPUT", `the location of the ${file} is not an S3 location`);
  const hide = [...phi, uri, where.bucket, where.key];
  let body: string;
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }), {
      abortSignal: signal,
    });
    body = await readLimited(got.Body as Readable | undefined, max, got.ContentLength);
  } catch (err) {
    if (signal.aborted) throw stopped();
    if (err instanceof BatchJobError && err.code === "TRANSCRIPT_TOO_LARGE") {
      throw new ScribeNoteError(
        "OUTPUT_TOO_LARGE",
        `the HealthScribe ${file} is larger than ${max} bytes, the limit`,
      );
    }
    throw requestError(err, `reading the ${file} from S3`, hide);
  }
  try {
    // In slices: transcript.json may be 32 MiB, which JSON.parse would hold the event loop for.
    return await parseJsonSliced(body);
  } catch (err) {
    if (err instanceof JsonSyntaxError)
      throw new ScribeNoteError("MALFORMED_OUTPUT", `the HealthScribe ${file} is not JSON`);
    throw err;
  }
}

export interface NoteFiles {
  summary: Summary;
  aggregated: Map<string, AggregatedSegment>;
}

/** Reads and checks both output files. */
export async function readNoteFiles(
  s3: S3Client,
  at: NoteLocations,
  signal: AbortSignal,
  phi: readonly string[],
): Promise<NoteFiles> {
  const summaryJson = await readJson(s3, at.summaryUri, "summary.json", MAX_SUMMARY_BYTES, signal, phi);
  const transcriptJson = await readJson(
    s3,
    at.transcriptUri,
    "transcript.json",
    MAX_TRANSCRIPT_BYTES,
    signal,
    phi,
  );
  try {
    return {
      summary: parseSummary(summaryJson),
      aggregated: await parseAggregatedTranscript(transcriptJson),
    };
  } catch (err) {
    if (err instanceof MalformedOutputError) throw new ScribeNoteError("MALFORMED_OUTPUT", err.message);
    throw err;
  }
}

/** GetMedicalScribeStream through the node's streaming client. */
export function streamDetails(
  client: TranscribeStreamingClient,
  awsSessionId: string,
): (signal: AbortSignal) => Promise<MedicalScribeStreamDetails | undefined> {
  return async (signal) =>
    (
      await client.send(new GetMedicalScribeStreamCommand({ SessionId: awsSessionId }), {
        abortSignal: signal,
      })
    ).MedicalScribeStreamDetails;
}
