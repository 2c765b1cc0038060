import type { NodeAPI, NodeDef } from "node-red";
import {
  FhirSender,
  type FhirEvent,
  type FhirOutcome,
  type FhirSendOptions,
} from "../../src/hospital/fhir/send";
import { Destination } from "../../src/hospital/queue/destination";
import { fhirAttempt } from "../../src/hospital/queue/outcomes";
import { numberSetting, QUEUE_LIMITS } from "../../src/hospital/settings";
import { registerQueueAdmin } from "../mllp-endpoint/queue-admin";
import { queueBaseDir, queueDiskBytes } from "../mllp-endpoint/queue-settings";
import { internalErrorReporter, nodeScheduler, withDefaults } from "../shared/node-red";
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
  /** "disk" (durable journal, the default) or "memory" (lost on a restart). */
  queueStore: string;
  /** Base directory of the durable queues; empty: <userDir>/medstream-queue. */
  queueDir: string;
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
    const onError = internalErrorReporter(this, "fhir-server");
    try {
      // One sender per server: every fhir-document using it shares one bounded, ordered queue.
      const options = senderOptions(RED, config, creds);
      const sender = new FhirSender({ ...options, onError });
      if (config.queueStore !== "memory") {
        if (config.queueStore !== "disk") {
          throw new Error(RED._("fhir-server.errors.badStore", { stores: "disk, memory" }));
        }
        const baseDir = queueBaseDir(RED, config.queueDir);
        if (!baseDir) throw new Error(RED._("fhir-server.errors.noQueueDir"));
        const maxBytes = options.maxQueueBytes ?? 0;
        // The journal, not the sender, holds the queue: the sender sees one transaction at a time.
        this.destination = new Destination<FhirOutcome, FhirEvent>({
          id: this.id,
          name: this.name || "fhir-server",
          kind: "fhir",
          baseDir,
          maxMessages: options.maxQueue ?? 0,
          maxBytes,
          maxDiskBytes: queueDiskBytes(maxBytes),
          backoffMs: options.backoffMs,
          backoffMaxMs: options.backoffMaxMs,
          send: (item, onEvent) => sender.postText(item.body, onEvent).then(fhirAttempt),
          abort: () => sender.close(),
          onOrphan: (_item, outcome) => {
            this.warn(RED._("fhir-server.errors.orphan", { outcome: outcome.kind }));
          },
          scheduler: nodeScheduler(this, "fhir-server"),
          onError,
        });
        this.destination.ready.catch((err: unknown) => {
          this.error(
            RED._("fhir-server.errors.queueOpen", {
              error: err instanceof Error ? err.message : String(err),
            }),
          );
        });
        registerQueueAdmin(RED);
      }
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
    },
  });
};
