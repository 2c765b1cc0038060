import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import { StreamingHttp2Handler } from "./http2-handler";
import { withoutSdkNodeWarning } from "./node-support";
import { checkProxy, proxyFor, TunnelAgent, type ProxySettings } from "./proxy";
import { clientWebSocketTransport, type WebSocketTransport } from "./websocket";

/** How streams reach the service: HTTP/2 (the SDK's way) or WebSocket (websocket.ts). */
export type AwsTransport = "http2" | "websocket";
export const TRANSPORTS: readonly AwsTransport[] = ["http2", "websocket"];

/**
 * Time for a stream request to be answered: TCP connect, TLS handshake, HTTP/2 settings and the
 * service's response headers (which come before any audio is needed). A healthy connection to AWS takes
 * well under a second; 10 s rides out a slow network, and bounds what a dead endpoint holds.
 */
export const DEFAULT_CONNECT_TIMEOUT_S = 10;
export const MIN_CONNECT_TIMEOUT_S = 1;
export const MAX_CONNECT_TIMEOUT_S = 120;

/** A region and optional endpoint and static credentials; none means the AWS default provider chain. */
export interface AwsClientSettings {
  region: string;
  endpoint: string | null;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
  /** See DEFAULT_CONNECT_TIMEOUT_S (its value when absent). */
  connectTimeoutMs?: number;
  /** Absent: http2. */
  transport?: AwsTransport;
  /** The HTTP proxy both transports tunnel through (the setting, else HTTPS_PROXY); absent or null: none. */
  proxy?: ProxySettings | null;
  /** Problems with the settings, for the node to report; empty when usable. */
  problems: string[];
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

/**
 * The client settings of an aws-transcribe-config node. Every value is checked as it comes (a flow
 * written by hand may hold any JSON): problems name the setting and what is accepted, never its value.
 */
export function awsClientSettings(input: {
  region?: unknown;
  endpoint?: unknown;
  accessKeyId?: unknown;
  secretAccessKey?: unknown;
  sessionToken?: unknown;
  /** Seconds; empty or absent means DEFAULT_CONNECT_TIMEOUT_S. */
  connectTimeoutS?: unknown;
  /** "http2" (default) or "websocket". */
  transport?: unknown;
  /** http://host:port, or empty for HTTPS_PROXY. */
  proxy?: unknown;
  /** The environment for HTTPS_PROXY / NO_PROXY (default process.env). */
  env?: NodeJS.ProcessEnv;
}): AwsClientSettings {
  const problems: string[] = [];
  const text = (v: unknown, what: string): string => {
    if (v === undefined || v === null) return "";
    if (typeof v === "string") return v;
    problems.push(`${what} must be text`);
    return "";
  };
  const region = text(input.region, "region").trim();
  if (!REGION.test(region)) problems.push("region must be an AWS region such as us-east-1");
  const endpoint = text(input.endpoint, "endpoint").trim();
  if (endpoint !== "" && !/^https?:\/\/[^\s/]+(\/.*)?$/.test(endpoint)) {
    problems.push("endpoint must be an http:// or https:// URL, or empty for the AWS endpoint of the region");
  } else if (endpoint !== "" && /^https?:\/\/[^/?#]*@/.test(endpoint)) {
    // Never echo the URL: its user info may be a password. It would also be logged with every request.
    problems.push(
      "endpoint must not contain a user name or password (user:password@host); give the host only, and the credentials as the access key id and secret access key",
    );
  }
  const id = text(input.accessKeyId, "the access key id").trim();
  const secret = text(input.secretAccessKey, "the secret access key");
  if ((id === "") !== (secret === "")) {
    problems.push(
      "give both the access key id and the secret access key, or neither (default credential chain)",
    );
  }
  const token = text(input.sessionToken, "the session token");
  const timeout = input.connectTimeoutS;
  // A number, or the text of one (the editor stores what was typed); anything else is refused.
  const timeoutS =
    timeout === undefined || timeout === null || timeout === ""
      ? DEFAULT_CONNECT_TIMEOUT_S
      : typeof timeout === "number" || (typeof timeout === "string" && /^\s*\d+(\.\d+)?\s*$/.test(timeout))
        ? Number(timeout)
        : Number.NaN;
  if (!Number.isFinite(timeoutS) || timeoutS < MIN_CONNECT_TIMEOUT_S || timeoutS > MAX_CONNECT_TIMEOUT_S) {
    problems.push(
      `connect timeout must be a number of seconds from ${MIN_CONNECT_TIMEOUT_S} to ${MAX_CONNECT_TIMEOUT_S} (default ${DEFAULT_CONNECT_TIMEOUT_S})`,
    );
  }
  const transportRaw =
    input.transport === undefined || input.transport === null || input.transport === ""
      ? "http2"
      : input.transport;
  const transport = TRANSPORTS.find((t) => t === transportRaw);
  if (transport === undefined)
    problems.push(`transport must be one of ${TRANSPORTS.join(", ")} (default http2)`);
  const proxy = checkProxy(input.proxy, input.env ?? process.env);
  for (const p of proxy.problems) problems.push(p);
  return {
    region,
    endpoint: endpoint === "" ? null : endpoint,
    transport: transport ?? "http2",
    proxy: proxy.proxy,
    credentials:
      id !== "" && secret !== ""
        ? { accessKeyId: id, secretAccessKey: secret, ...(token !== "" ? { sessionToken: token } : {}) }
        : null,
    connectTimeoutMs: Math.round(
      (Number.isFinite(timeoutS)
        ? Math.min(Math.max(timeoutS, MIN_CONNECT_TIMEOUT_S), MAX_CONNECT_TIMEOUT_S)
        : DEFAULT_CONNECT_TIMEOUT_S) * 1000,
    ),
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

/**
 * The streaming client of one node. Its request handler bounds the time a stream request may wait for
 * an answer and frees an abandoned connection at once (see StreamingHttp2Handler); `scheduler` runs its
 * timers (a node's, so that an error in one reaches Catch nodes).
 */
export function createTranscribeClient(
  s: AwsClientSettings,
  scheduler: Scheduler = realScheduler,
): TranscribeStreamingClient {
  return withoutSdkNodeWarning(
    () =>
      new TranscribeStreamingClient({
        region: s.region,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        requestHandler: new StreamingHttp2Handler(
          s.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_S * 1000,
          scheduler,
          s.proxy ?? null,
        ),
      }),
  );
}

/**
 * The WebSocket transport of a node's client when its settings ask for one (else undefined: HTTP/2),
 * through the proxy when one applies to the endpoint's host.
 */
export function createWebSocketTransport(
  client: TranscribeStreamingClient,
  s: AwsClientSettings,
  scheduler: Scheduler = realScheduler,
): WebSocketTransport | undefined {
  if (s.transport !== "websocket") return undefined;
  const timeoutMs = s.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_S * 1000;
  const agents = new Map<string, TunnelAgent>();
  const agentFor = (url: URL): TunnelAgent | undefined => {
    const proxy = proxyFor(s.proxy ?? null, url.hostname);
    if (!proxy) return undefined;
    const key = url.protocol;
    let agent = agents.get(key);
    if (!agent) {
      agent = new TunnelAgent(proxy, url.protocol === "wss:", { timeoutMs, scheduler });
      agents.set(key, agent);
    }
    return agent;
  };
  return clientWebSocketTransport(client, { ...s, connectTimeoutMs: timeoutMs }, scheduler, agentFor);
}
