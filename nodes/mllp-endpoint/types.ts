import type { Node } from "node-red";
import type { MllpClient } from "../../src/hospital/mllp/client";

/** What mllp-out reads from its endpoint: the shared client, or why there is none. */
export interface MllpEndpointNode extends Node {
  client?: MllpClient;
  configError?: string;
}
