import type { NodeAPI, NodeDef } from "node-red";
import { FhirSender, type FhirSendOptions } from "../../src/hospital/fhir/send";
import type { FhirServerNode } from "./types";

interface FhirServerDef extends NodeDef {
  baseUrl: string;
  auth: "none" | "bearer" | "basic";
  timeout: string | number;
  retries: string | number;
  backoff: string | number;
  backoffMax: string | number;
}

interface FhirServerCredentials {
  token?: string;
  username?: string;
  password?: string;
}

function senderOptions(RED: NodeAPI, c: FhirServerDef, creds: FhirServerCredentials): FhirSendOptions {
  const num = (
    value: string | number | undefined,
    fallback: number,
    key: string,
    min: number,
    max: number,
  ): number => {
    const n = value === undefined || value === "" ? fallback : Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new Error(
        RED._("fhir-server.errors.range", { setting: RED._(`fhir-server.label.${key}`), min, max }),
      );
    }
    return n;
  };
  let url: URL;
  try {
    url = new URL((c.baseUrl ?? "").trim());
  } catch {
    throw new Error(RED._("fhir-server.errors.badUrl"));
  }
  // Credentials belong in the credential fields, never in a URL that may end up in a log.
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password || url.search) {
    throw new Error(RED._("fhir-server.errors.badUrl"));
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
    timeoutMs: num(c.timeout, 30, "timeout", 0.01, 600) * 1000,
    retries: Math.floor(num(c.retries, 3, "retries", 0, 100)),
    backoffMs: num(c.backoff, 1, "backoff", 0, 3600) * 1000,
    backoffMaxMs: num(c.backoffMax, 60, "backoffMax", 0, 3600) * 1000,
  };
}

export = function register(RED: NodeAPI): void {
  function FhirServerConfigNode(this: FhirServerNode, config: FhirServerDef): void {
    RED.nodes.createNode(this, config);
    const creds = (this as unknown as { credentials?: FhirServerCredentials }).credentials ?? {};
    try {
      this.sender = new FhirSender(senderOptions(RED, config, creds));
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
