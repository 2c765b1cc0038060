import type { NodeAPI, NodeDef } from "node-red";
import { MllpClient, type MllpClientOptions } from "../../src/hospital/mllp/client";
import type { MllpEndpointNode } from "./types";

interface MllpEndpointDef extends NodeDef {
  host: string;
  port: string | number;
  tls: boolean;
  ca: string;
  rejectUnauthorized: boolean;
  servername: string;
  connectTimeout: string | number;
  ackTimeout: string | number;
  retries: string | number;
  backoff: string | number;
  backoffMax: string | number;
  keepOpen: boolean;
}

/** Reads the endpoint settings; throws a message naming the setting that is wrong. */
function endpointOptions(RED: NodeAPI, c: MllpEndpointDef): MllpClientOptions {
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
        RED._("mllp-endpoint.errors.range", { setting: RED._(`mllp-endpoint.label.${key}`), min, max }),
      );
    }
    return n;
  };
  const host = (c.host ?? "").trim();
  if (!host) throw new Error(RED._("mllp-endpoint.errors.noHost"));
  return {
    host,
    port: num(c.port, 2575, "port", 1, 65535),
    ...(c.tls
      ? {
          tls: {
            ca: c.ca || undefined,
            rejectUnauthorized: c.rejectUnauthorized !== false,
            servername: c.servername || undefined,
          },
        }
      : {}),
    connectTimeoutMs: num(c.connectTimeout, 5, "connectTimeout", 0.01, 600) * 1000,
    ackTimeoutMs: num(c.ackTimeout, 30, "ackTimeout", 0.01, 3600) * 1000,
    retries: Math.floor(num(c.retries, 3, "retries", 0, 100)),
    backoffMs: num(c.backoff, 1, "backoff", 0, 3600) * 1000,
    backoffMaxMs: num(c.backoffMax, 60, "backoffMax", 0, 3600) * 1000,
    keepConnectionOpen: c.keepOpen !== false,
  };
}

export = function register(RED: NodeAPI): void {
  function MllpEndpointConfigNode(this: MllpEndpointNode, config: MllpEndpointDef): void {
    RED.nodes.createNode(this, config);
    try {
      // One client per endpoint: every mllp-out using it shares one connection, one message in flight.
      this.client = new MllpClient(endpointOptions(RED, config));
    } catch (err) {
      this.configError = err instanceof Error ? err.message : String(err);
    }
    this.on("close", (_removed: boolean, done: () => void) => {
      this.client?.close();
      done();
    });
  }

  RED.nodes.registerType("mllp-endpoint", MllpEndpointConfigNode);
};
