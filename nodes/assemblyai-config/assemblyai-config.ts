import type { Node, NodeAPI, NodeDef } from "node-red";
import { checkApiKey } from "../../src/providers/assemblyai/node-config";
import { withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import type { AssemblyAiConfigNode, AssemblyAiCredentials } from "./types";

interface AssemblyAiConfigDef extends NodeDef {
  region: string;
  endpoint: string;
}

export = function register(RED: NodeAPI): void {
  function AssemblyAiConfig(this: Node<AssemblyAiCredentials>, def: AssemblyAiConfigDef): void {
    RED.nodes.createNode(this, def);
    // A flow written by hand may leave the region and endpoint out: the editor's defaults apply.
    const config = withDefaults(def, DEFAULTS);
    const node = this as AssemblyAiConfigNode;
    node.region = config.region === "eu" ? "eu" : "us";
    node.endpoint = typeof config.endpoint === "string" ? config.endpoint.trim() : "";
    // A key pasted with white space around it works once trimmed; one holding a character an HTTP header
    // cannot carry is reported at deploy (without the key), and the transcriber nodes refuse to start.
    const raw = node.credentials?.apiKey;
    if (raw) {
      const key = checkApiKey(raw);
      if (key.ok) node.credentials.apiKey = key.value;
      else node.error(`assemblyai-config: ${key.error.message}`);
    }
  }

  RED.nodes.registerType<Node<AssemblyAiCredentials>, AssemblyAiConfigDef, unknown, AssemblyAiCredentials>(
    "assemblyai-config",
    AssemblyAiConfig,
    {
      credentials: { apiKey: { type: "password" } },
    },
  );
};
