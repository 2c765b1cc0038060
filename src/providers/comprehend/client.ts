import {
  ComprehendMedicalClient,
  DetectEntitiesV2Command,
  DetectPHICommand,
  InferICD10CMCommand,
  InferRxNormCommand,
  InferSNOMEDCTCommand,
} from "@aws-sdk/client-comprehendmedical";
import type { AwsClientSettings } from "../aws/client";
import { withoutSdkNodeWarning } from "../aws/node-support";
import { proxyFor, TunnelAgent } from "../aws/proxy";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import type { CallOperation } from "./analyze";

// The SDK's logs carry requests and responses (clinical text): nothing of them may reach the Node-RED log.
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The host the client connects to: the endpoint override's, else the service's in the region. */
export function comprehendHost(s: AwsClientSettings): string {
  if (s.endpoint) {
    try {
      return new URL(s.endpoint).hostname;
    } catch {
      // awsClientSettings has checked the endpoint already; an unparsable one goes direct, and fails.
      return "";
    }
  }
  return `comprehendmedical.${s.region}.amazonaws.com`;
}

/**
 * The Comprehend Medical client of one node. The SDK's own retries are off (maxAttempts 1): throttling
 * and service errors are retried by `withRetry`, with jittered back-off, a bound, and a pause that a
 * node stopping cancels. `timeoutMs` bounds each request (connection included). Requests go through
 * the AWS config node's HTTP proxy (the setting, else HTTPS_PROXY; NO_PROXY names hosts reached
 * directly), in a CONNECT tunnel as the transcribers' connections do; `scheduler` runs the tunnel's timer.
 */
export function createComprehendClient(
  s: AwsClientSettings,
  timeoutMs: number,
  scheduler: Scheduler = realScheduler,
): ComprehendMedicalClient {
  const connectMs = Math.min(timeoutMs, s.connectTimeoutMs ?? 10_000);
  const proxy = proxyFor(s.proxy ?? null, comprehendHost(s));
  const agents = proxy
    ? {
        httpAgent: new TunnelAgent(proxy, false, { timeoutMs: connectMs, scheduler }),
        httpsAgent: new TunnelAgent(proxy, true, { timeoutMs: connectMs, scheduler }),
      }
    : {};
  // No warning about Node.js 20 on a supported version (docs/production.md), as for the other AWS clients.
  return withoutSdkNodeWarning(
    () =>
      new ComprehendMedicalClient({
        region: s.region,
        ...(s.endpoint ? { endpoint: s.endpoint } : {}),
        ...(s.credentials ? { credentials: s.credentials } : {}),
        logger: quiet,
        maxAttempts: 1,
        requestHandler: {
          requestTimeout: timeoutMs,
          // Without it the SDK's handler only logs a request over its timeout (to our quiet logger)
          // and keeps waiting: a peer that takes the connection and never answers held it for ever.
          throwOnRequestTimeout: true,
          connectionTimeout: connectMs,
          ...agents,
        },
      }),
  );
}

/** One operation's request through `client`, cancelled by `signal`. */
export function callerOf(client: ComprehendMedicalClient): CallOperation {
  return (op, text, signal) => {
    const input = { Text: text };
    const options = { abortSignal: signal };
    switch (op) {
      case "entities":
        return client.send(new DetectEntitiesV2Command(input), options);
      case "phi":
        return client.send(new DetectPHICommand(input), options);
      case "icd10cm":
        return client.send(new InferICD10CMCommand(input), options);
      case "rxnorm":
        return client.send(new InferRxNormCommand(input), options);
      case "snomedct":
        return client.send(new InferSNOMEDCTCommand(input), options);
    }
  };
}
