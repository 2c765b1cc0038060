import type { Node, NodeAPI, NodeDef } from "node-red";
import { awsClientSettings, type AwsClientSettings } from "../../src/providers/aws/client";
import { withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";

interface AwsConfigDef extends NodeDef {
  region?: unknown;
  endpoint?: unknown;
  /** Seconds a stream request may wait for the service's answer (see DEFAULT_CONNECT_TIMEOUT_S). */
  connectTimeoutS?: unknown;
  /** "http2" (default) or "websocket" (src/providers/aws/websocket.ts). */
  transport?: unknown;
  /** An HTTP proxy, http://host:port; empty: HTTPS_PROXY, if set. */
  proxy?: unknown;
}

interface AwsCredentials {
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

/** What transcribe-medical nodes read from this config node. */
interface AwsTranscribeConfigNode extends Node<AwsCredentials> {
  settings?: AwsClientSettings;
}

export = function register(RED: NodeAPI): void {
  function AwsTranscribeConfigNode(this: AwsTranscribeConfigNode, def: AwsConfigDef): void {
    RED.nodes.createNode(this, def);
    const config = withDefaults(def, DEFAULTS);
    // Credentials stay in this node's credential store: never in the flow, logs or status.
    this.settings = awsClientSettings({
      region: config.region,
      endpoint: config.endpoint,
      connectTimeoutS: config.connectTimeoutS,
      transport: config.transport,
      proxy: config.proxy,
      accessKeyId: this.credentials?.accessKeyId,
      secretAccessKey: this.credentials?.secretAccessKey,
      sessionToken: this.credentials?.sessionToken,
    });
  }

  RED.nodes.registerType<AwsTranscribeConfigNode, AwsConfigDef, Record<string, never>, AwsCredentials>(
    "aws-transcribe-config",
    AwsTranscribeConfigNode,
    {
      credentials: {
        accessKeyId: { type: "password" },
        secretAccessKey: { type: "password" },
        sessionToken: { type: "password" },
      },
    },
  );
};
