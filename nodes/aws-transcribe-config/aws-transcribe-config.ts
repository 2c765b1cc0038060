import type { Node, NodeAPI, NodeDef } from "node-red";
import { awsClientSettings, type AwsClientSettings } from "../../src/providers/aws/client";

interface AwsConfigDef extends NodeDef {
  region: string;
  endpoint: string;
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
  function AwsTranscribeConfigNode(this: AwsTranscribeConfigNode, config: AwsConfigDef): void {
    RED.nodes.createNode(this, config);
    // Credentials stay in this node's credential store: never in the flow, logs or status.
    this.settings = awsClientSettings({
      region: config.region,
      endpoint: config.endpoint,
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
