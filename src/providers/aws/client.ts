import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";

/** A region and optional endpoint and static credentials; none means the AWS default provider chain. */
export interface AwsClientSettings {
  region: string;
  endpoint: string | null;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
  /** Problems with the settings, for the node to report; empty when usable. */
  problems: string[];
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export function awsClientSettings(input: {
  region?: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}): AwsClientSettings {
  const problems: string[] = [];
  const region = (input.region ?? "").trim();
  if (!REGION.test(region)) problems.push("region must be an AWS region such as us-east-1");
  const endpoint = (input.endpoint ?? "").trim();
  if (endpoint !== "" && !/^https?:\/\/[^\s/]+(\/.*)?$/.test(endpoint)) {
    problems.push("endpoint must be an http:// or https:// URL, or empty for the AWS endpoint of the region");
  } else if (endpoint !== "" && /^https?:\/\/[^/?#]*@/.test(endpoint)) {
    // Never echo the URL: its user info may be a password. It would also be logged with every request.
    problems.push(
      "endpoint must not contain a user name or password (user:password@host); give the host only, and the credentials as the access key id and secret access key",
    );
  }
  const id = (input.accessKeyId ?? "").trim();
  const secret = input.secretAccessKey ?? "";
  if ((id === "") !== (secret === "")) {
    problems.push(
      "give both the access key id and the secret access key, or neither (default credential chain)",
    );
  }
  const token = input.sessionToken ?? "";
  return {
    region,
    endpoint: endpoint === "" ? null : endpoint,
    credentials:
      id !== "" && secret !== ""
        ? { accessKeyId: id, secretAccessKey: secret, ...(token !== "" ? { sessionToken: token } : {}) }
        : null,
    problems,
  };
}

/** Every credential string, so that error texts can be scrubbed of them. */
export function secretsOf(s: AwsClientSettings): string[] {
  if (!s.credentials) return [];
  return [s.credentials.accessKeyId, s.credentials.secretAccessKey, s.credentials.sessionToken ?? ""].filter(
    (v) => v !== "",
  );
}

// The SDK logs a console.warn on stream errors unless it has a logger, and its info logs carry
// request and response objects (audio, transcripts): nothing of it may reach the Node-RED log.
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function createTranscribeClient(s: AwsClientSettings): TranscribeStreamingClient {
  return new TranscribeStreamingClient({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
    logger: quiet,
  });
}
