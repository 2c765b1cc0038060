import type { Node, NodeAPI, NodeDef } from "node-red";
import type { AssemblyAiConfigNode, AssemblyAiCredentials } from "./types";

interface AssemblyAiConfigDef extends NodeDef {
  region: string;
  endpoint: string;
}

export = function register(RED: NodeAPI): void {
  function AssemblyAiConfig(this: Node<AssemblyAiCredentials>, config: AssemblyAiConfigDef): void {
    RED.nodes.createNode(this, config);
    const node = this as AssemblyAiConfigNode;
    node.region = config.region === "eu" ? "eu" : "us";
    node.endpoint = typeof config.endpoint === "string" ? config.endpoint.trim() : "";
  }

  RED.nodes.registerType<Node<AssemblyAiCredentials>, AssemblyAiConfigDef, unknown, AssemblyAiCredentials>(
    "assemblyai-config",
    AssemblyAiConfig,
    {
      credentials: { apiKey: { type: "password" } },
    },
  );
};
