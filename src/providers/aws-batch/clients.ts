import { S3Client } from "@aws-sdk/client-s3";
import { TranscribeClient } from "@aws-sdk/client-transcribe";
import type { AwsClientSettings } from "../aws/client";
import { withoutSdkNodeWarning } from "../aws/node-support";

// As for streaming: the SDK's logs carry requests and responses (media URIs, transcripts), and
// nothing of them may reach the Node-RED log.
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/**
 * How long one batch or S3 request may go without a byte moving either way (the SDK's socket
 * inactivity timeout), and the connect timeout of the settings. Without them a peer that takes the
 * connection and never answers (a stalled endpoint, a half-open connection) held a job for ever: the
 * runner's overall timeout is only checked between polls. An answer of these services takes well under
 * a second; an upload or a download keeps bytes moving.
 */
export const BATCH_REQUEST_TIMEOUT_MS = 60_000;

// `socketTimeout` is the SDK handler's inactivity timeout, which fails the request; its `requestTimeout`
// bounds the whole request (an upload of hours of audio may take longer) and only logs unless told to throw.
const requestHandler = (s: AwsClientSettings, requestTimeoutMs: number) => ({
  socketTimeout: requestTimeoutMs,
  connectionTimeout: Math.min(requestTimeoutMs, s.connectTimeoutMs ?? 10_000),
});

export function createBatchTranscribeClient(
  s: AwsClientSettings,
  requestTimeoutMs = BATCH_REQUEST_TIMEOUT_MS,
): TranscribeClient {
  return withoutSdkNodeWarning(
    () =>
      new TranscribeClient({
        region: s.region,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        // The runner retries by polling; a throttled start is reported, not retried for minutes.
        maxAttempts: 2,
        requestHandler: requestHandler(s, requestTimeoutMs),
      }),
  );
}

/**
 * S3 for uploads and for reading the transcript. `endpoint` overrides the regional endpoint (a VPC
 * endpoint, an S3-compatible store in tests); such endpoints get path-style addressing. Checksums
 * only where S3 requires them: the default CRC trailers use aws-chunked bodies that some
 * S3-compatible stores do not accept.
 */
export function createBatchS3Client(
  s: AwsClientSettings,
  endpoint: string | null,
  requestTimeoutMs = BATCH_REQUEST_TIMEOUT_MS,
): S3Client {
  return withoutSdkNodeWarning(
    () =>
      new S3Client({
        region: s.region,
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        requestHandler: requestHandler(s, requestTimeoutMs),
      }),
  );
}
