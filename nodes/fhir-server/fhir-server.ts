import type { NodeAPI, NodeDef } from "node-red";
import { FhirSender, type FhirSendOptions } from "../../src/hospital/fhir/send";
import { numberSetting, QUEUE_LIMITS } from "../../src/hospital/settings";
import { internalErrorReporter, withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import type { FhirServerNode } from "./types";

interface FhirServerDef extends NodeDef {
  baseUrl: string;
  auth: "none" | "bearer" | "basic";
  timeout: string | number;
  retries: string | number;
  backoff: string | number;
  backoffMax: string | number;
  /** Transactions waiting or in flight to this server at most. */
  queueDepth: string | number;
  /** MiB of transactions waiting or in flight to this server at most. */
  queueMegabytes: string | number;
}

interface FhirServerCredentials {
  token?: string;
  username?: string;
  password?: string;
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
  return {
    baseUrl: url.toString(),
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
    try {
      // One sender per server: every fhir-document using it shares one bounded, ordered queue.
      this.sender = new FhirSender({
        ...senderOptions(RED, config, creds),
        onError: internalErrorReporter(this, "fhir-server"),
      });
    } catch (err) {
      this.configError = err instanceof Error ? err.message : String(err);
    }
    this.on("close", (_removed: boolean, done: () => void) => {
      this.sender?.close();
      done();
    });
  }

  RED.nodes.registerType("fhir-server", FhirServerConfigNode, {
    credentials: {
      token: { type: "password" },
      username: { type: "text" },
      password: { type: "password" },
    },
  });
};
