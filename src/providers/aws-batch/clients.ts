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

export function createBatchTranscribeClient(s: AwsClientSettings): TranscribeClient {
  return withoutSdkNodeWarning(
    () =>
      new TranscribeClient({
        region: s.region,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        // The runner retries by polling; a throttled start is reported, not retried for minutes.
        maxAttempts: 2,
      }),
  );
}

/**
 * S3 for uploads and for reading the transcript. `endpoint` overrides the regional endpoint (a VPC
 * endpoint, an S3-compatible store in tests); such endpoints get path-style addressing. Checksums
 * only where S3 requires them: the default CRC trailers use aws-chunked bodies that some
 * S3-compatible stores do not accept.
 */
export function createBatchS3Client(s: AwsClientSettings, endpoint: string | null): S3Client {
  return withoutSdkNodeWarning(
    () =>
      new S3Client({
        region: s.region,
        ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
      }),
  );
}
