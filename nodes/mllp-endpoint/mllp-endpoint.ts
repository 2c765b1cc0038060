import type { NodeAPI, NodeDef } from "node-red";
import {
  MllpClient,
  type DeliveryEvent,
  type DeliveryOutcome,
  type MllpClientOptions,
} from "../../src/hospital/mllp/client";
import { mllpAttempt } from "../../src/hospital/queue/outcomes";
import { numberSetting, QUEUE_LIMITS } from "../../src/hospital/settings";
import { checkClientTls, TlsSettingError, type ClientTlsSettings } from "../../src/hospital/tls-options";
import { internalErrorReporter, withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { durableDestination } from "./queue-settings";
import type { MllpEndpointNode } from "./types";

interface MllpEndpointDef extends NodeDef {
  host: string;
  port: string | number;
  tls: boolean;
  ca: string;
  /** PEM of the client certificate for mutual TLS (the key is a credential). */
  cert: string;
  rejectUnauthorized: boolean;
  servername: string;
  connectTimeout: string | number;
  ackTimeout: string | number;
  retries: string | number;
  backoff: string | number;
  backoffMax: string | number;
  keepOpen: boolean;
  /** Messages waiting or in flight to this receiver at most. */
  queueDepth: string | number;
  /** MiB of messages waiting or in flight to this receiver at most. */
  queueMegabytes: string | number;
  /** "disk" (durable journal, the default) or "memory" (lost on a restart). */
  queueStore: string;
  /** Base directory of the durable queues; empty: <userDir>/medstream-queue. */
  queueDir: string;
}

interface MllpEndpointCredentials {
  /** PEM of the client key, for mutual TLS. */
  key?: string;
  passphrase?: string;
}

/** The TLS settings, checked (PEM, key with certificate, passphrase) before any connection. */
function tlsSettings(RED: NodeAPI, c: MllpEndpointDef, creds: MllpEndpointCredentials): ClientTlsSettings {
  const text = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v : undefined);
  const settings: ClientTlsSettings = {
    ca: text(c.ca),
    rejectUnauthorized: c.rejectUnauthorized !== false,
    servername: text(c.servername),
    cert: text(c.cert),
    key: text(creds.key),
    passphrase: text(creds.passphrase),
  };
  try {
    checkClientTls(settings);
  } catch (err) {
    if (err instanceof TlsSettingError)
      throw new Error(RED._("mllp-endpoint.errors.tls", { problem: err.message }), { cause: err });
    throw err;
  }
  return settings;
}

/** Reads the endpoint settings; throws a message naming the setting that is wrong. */
function endpointOptions(
  RED: NodeAPI,
  c: MllpEndpointDef,
  creds: MllpEndpointCredentials,
): Omit<MllpClientOptions, "onError"> {
  const num = (key: keyof typeof DEFAULTS, min: number, max: number, integer = false): number => {
    const n = numberSetting(c[key], Number(DEFAULTS[key]), { min, max, integer });
    if (n === undefined) {
      throw new Error(
        RED._(integer ? "mllp-endpoint.errors.rangeWhole" : "mllp-endpoint.errors.range", {
          setting: RED._(`mllp-endpoint.label.${key}`),
          min,
          max,
        }),
      );
    }
    return n;
  };
  const host = typeof c.host === "string" ? c.host.trim() : "";
  if (!host) throw new Error(RED._("mllp-endpoint.errors.noHost"));
  return {
    host,
    port: num("port", 1, 65535, true),
    ...(c.tls === true ? { tls: tlsSettings(RED, c, creds) } : {}),
    connectTimeoutMs: num("connectTimeout", 0.01, 600) * 1000,
    ackTimeoutMs: num("ackTimeout", 0.01, 3600) * 1000,
    retries: num("retries", 0, 100, true),
    backoffMs: num("backoff", 0, 3600) * 1000,
    backoffMaxMs: num("backoffMax", 0, 3600) * 1000,
    keepConnectionOpen: c.keepOpen !== false,
    maxQueue: num("queueDepth", 1, QUEUE_LIMITS.depth, true),
    maxQueueBytes: num("queueMegabytes", 1, QUEUE_LIMITS.megabytes) * 1024 * 1024,
  };
}

export = function register(RED: NodeAPI): void {
  function MllpEndpointConfigNode(this: MllpEndpointNode, rawConfig: MllpEndpointDef): void {
    RED.nodes.createNode(this, rawConfig);
    const config = withDefaults(rawConfig, DEFAULTS);
    const creds = (this as unknown as { credentials?: MllpEndpointCredentials }).credentials ?? {};
    const onError = internalErrorReporter(this, "mllp-endpoint");
    try {
      // One client per endpoint: every mllp-out using it shares one connection, one message in
      // flight and one bounded queue.
      const options = endpointOptions(RED, config, creds);
      const client = new MllpClient({ ...options, onError });
      this.destination = durableDestination<DeliveryOutcome, DeliveryEvent>(
        RED,
        this,
        "mllp-endpoint",
        config,
        options,
        {
          kind: "mllp",
          send: (item, onEvent) => client.send(item.body, onEvent).then(mllpAttempt),
          abort: () => client.close(),
          onError,
        },
      );
      // Only a fully configured endpoint offers its client: mllp-out refuses otherwise.
      this.client = client;
    } catch (err) {
      this.configError = err instanceof Error ? err.message : String(err);
    }
    this.on("close", (_removed: boolean, done: () => void) => {
      const destination = this.destination;
      if (!destination) {
        this.client?.close();
        done();
        return;
      }
      // Messages stay in the journal; the one in flight is sent again after the restart.
      destination.close().then(done, (err: unknown) => {
        onError(err instanceof Error ? err : new Error(String(err)));
        done();
      });
    });
  }

  RED.nodes.registerType("mllp-endpoint", MllpEndpointConfigNode, {
    credentials: {
      key: { type: "password" },
      passphrase: { type: "password" },
    },
  });
};
