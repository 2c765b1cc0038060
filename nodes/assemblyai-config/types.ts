import type { Node } from "node-red";
import type { Region } from "../../src/providers/assemblyai/params";

export interface AssemblyAiCredentials {
  apiKey?: string;
}

/** What assemblyai-medical reads from its config node. The key stays in the credential store only. */
export interface AssemblyAiConfigNode extends Node<AssemblyAiCredentials> {
  region: Region;
  endpoint: string;
}
