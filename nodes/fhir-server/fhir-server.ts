import type { NodeAPI, NodeDef } from "node-red";
import {
  FhirSender,
  type FhirEvent,
  type FhirOutcome,
  type FhirSendOptions,
} from "../../src/hospital/fhir/send";
import { tlsFetch } from "../../src/hospital/fhir/tls-fetch";
import { fhirAttempt } from "../../src/hospital/queue/outcomes";
import { numberSetting, QUEUE_LIMITS } from "../../src/hospital/settings";
import { checkClientTls, TlsSettingError, type ClientTlsSettings } from "../../src/hospital/tls-options";
import { durableDestination } from "../mllp-endpoint/queue-settings";
import { internalErrorReporter, withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import type { FhirServerNode } from "./types";

interface FhirServerDef extends NodeDef {
  baseUrl: string;
  auth: "none" | "bearer" | "basic";
  /** PEM of the CA that signed the server's certificate (https only). */
  ca: string;
  /** PEM of the client certificate for mutual TLS (its key is a credential). */
  cert: string;
  rejectUnauthorized: boolean;
  servername: string;
  timeout: string | number;
  retries: string | number;
  backoff: string | number;
  backoffMax: string | number;
  /** Transactions waiting or in flight to this server at most. */
  queueDepth: string | number;
  /** MiB of transactions waiting or in flight to this server at most. */
  queueMegabytes: string | number;
  /** "disk" (durable journal, the default) or "memory" (lost on a restart). */
  queueStore: string;
  /** Base directory of the durable queues; empty: <userDir>/medstream-queue. */
  queueDir: string;
}

interface FhirServerCredentials {
  token?: string;
  username?: string;
  password?: string;
  /** PEM of the client key, for mutual TLS. */
  key?: string;
  passphrase?: string;
}

/**
 * The TLS settings when any differs from Node's defaults (trusted roots, host name, verification
 * on), checked before any request; undefined when global fetch serves as it is.
 */
function tlsSettings(
  RED: NodeAPI,
  c: FhirServerDef,
  creds: FhirServerCredentials,
  url: URL,
): ClientTlsSettings | undefined {
  const text = (v: unknown): string | undefined => (typeof v === "string" && v.trim() !== "" ? v : undefined);
  const settings: ClientTlsSettings = {
    ca: text(c.ca),
    rejectUnauthorized: c.rejectUnauthorized !== false,
    servername: text(c.servername),
    cert: text(c.cert),
    key: text(creds.key),
    passphrase: text(creds.passphrase),
  };
  const custom =
    Boolean(settings.ca || settings.cert || settings.key || settings.servername) ||
    !settings.rejectUnauthorized;
  if (!custom) return undefined;
  if (url.protocol !== "https:") throw new Error(RED._("fhir-server.errors.tlsNeedsHttps"));
  try {
    checkClientTls(settings);
  } catch (err) {
    if (err instanceof TlsSettingError) {
      throw new Error(RED._("fhir-server.errors.tls", { problem: err.message }), { cause: err });
    }
    throw err;
  }
  return settings;
}

const AUTH_MODES: ReadonlyArray<FhirServerDef["auth"]> = ["none", "bearer", "basic"];

function senderOptions(
  RED: NodeAPI,
  c: FhirServerDef,
  creds: FhirServerCredentials,
): Omit<FhirSendOptions, "onError"> {
  const num = (key: keyof typeof DEFAULTS, min: number, max: number, integer = false): number => {
    const n = numberSetting(c[key], Number(DEFAULTS[key]), { min, max, integer });
    if (n === undefined) {
      throw new Error(
        RED._(integer ? "fhir-server.errors.rangeWhole" : "fhir-server.errors.range", {
          setting: RED._(`fhir-server.label.${key}`),
          min,
          max,
        }),
      );
    }
    return n;
  };
  let url: URL;
  try {
    url = new URL(typeof c.baseUrl === "string" ? c.baseUrl.trim() : "");
  } catch {
    throw new Error(RED._("fhir-server.errors.badUrl"));
  }
  // Credentials belong in the credential fields, never in a URL that may end up in a log.
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search) {
    throw new Error(RED._("fhir-server.errors.badUrl"));
  }
  if (!AUTH_MODES.includes(c.auth)) {
    throw new Error(RED._("fhir-server.errors.badAuth", { modes: AUTH_MODES.join(", ") }));
  }
  const headers: Record<string, string> = {};
  if (c.auth === "bearer") {
    if (!creds.token) throw new Error(RED._("fhir-server.errors.noToken"));
    headers.authorization = `Bearer ${creds.token}`;
  } else if (c.auth === "basic") {
    if (!creds.username) throw new Error(RED._("fhir-server.errors.noUser"));
    headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ""}`).toString("base64")}`;
  }
  const tls = tlsSettings(RED, c, creds, url);
  return {
    baseUrl: url.toString(),
    // Global fetch cannot take a CA or a client certificate: a node:https agent that holds them can.
    ...(tls ? { fetch: tlsFetch(tls, url.hostname.replace(/^\[|\]$/g, "")) } : {}),
    headers,
    // Whatever the server echoes of these is redacted before it reaches a message.
    secrets: [creds.token, creds.password, creds.username].filter(
      (s): s is string => typeof s === "string" && s !== "",
    ),
    timeoutMs: num("timeout", 0.01, 600) * 1000,
    retries: num("retries", 0, 100, true),
    backoffMs: num("backoff", 0, 3600) * 1000,
    backoffMaxMs: num("backoffMax", 0, 3600) * 1000,
    maxQueue: num("queueDepth", 1, QUEUE_LIMITS.depth, true),
    maxQueueBytes: num("queueMegabytes", 1, QUEUE_LIMITS.megabytes) * 1024 * 1024,
  };
}

export = function register(RED: NodeAPI): void {
  function FhirServerConfigNode(this: FhirServerNode, rawConfig: FhirServerDef): void {
    RED.nodes.createNode(this, rawConfig);
    const config = withDefaults(rawConfig, DEFAULTS);
    const creds = (this as unknown as { credentials?: FhirServerCredentials }).credentials ?? {};
    const onError = internalErrorReporter(this, "fhir-server");
    try {
      // One sender per server: every fhir-document using it shares one bounded, ordered queue.
      const options = senderOptions(RED, config, creds);
      const sender = new FhirSender({ ...options, onError });
      this.destination = durableDestination<FhirOutcome, FhirEvent>(
        RED,
        this,
        "fhir-server",
        config,
        options,
        {
          kind: "fhir",
          send: (item, onEvent) => sender.postText(item.body, onEvent).then(fhirAttempt),
          abort: () => sender.close(),
          onError,
        },
      );
      // Only a fully configured server offers its sender: fhir-document refuses otherwise.
      this.sender = sender;
    } catch (err) {
      this.configError = err instanceof Error ? err.message : String(err);
    }
    this.on("close", (_removed: boolean, done: () => void) => {
      const destination = this.destination;
      if (!destination) {
        this.sender?.close();
        done();
        return;
      }
      // Transactions stay in the journal; the one in flight is sent again after the restart.
      destination.close().then(done, (err: unknown) => {
        onError(err instanceof Error ? err : new Error(String(err)));
        done();
      });
    });
  }

  RED.nodes.registerType("fhir-server", FhirServerConfigNode, {
    credentials: {
      token: { type: "password" },
      username: { type: "text" },
      password: { type: "password" },
      key: { type: "password" },
      passphrase: { type: "password" },
    },
  });
};
