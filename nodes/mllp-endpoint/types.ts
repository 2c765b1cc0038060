import type { Node } from "node-red";
import type { DeliveryEvent, DeliveryOutcome, MllpClient } from "../../src/hospital/mllp/client";
import type { Destination } from "../../src/hospital/queue/destination";

/** What mllp-out reads from its endpoint: the shared client, or why there is none. */
export interface MllpEndpointNode extends Node {
  client?: MllpClient;
  /** The durable queue (queue store "disk"); absent in memory mode, where the client queues. */
  destination?: Destination<DeliveryOutcome, DeliveryEvent>;
  configError?: string;
}
