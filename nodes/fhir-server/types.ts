import type { Node } from "node-red";
import type { FhirEvent, FhirOutcome, FhirSender } from "../../src/hospital/fhir/send";
import type { Destination } from "../../src/hospital/queue/destination";

/** What fhir-document reads from its server: the sender, or why there is none. */
export interface FhirServerNode extends Node {
  sender?: FhirSender;
  /** The durable queue (queue store "disk"); absent in memory mode, where the sender queues. */
  destination?: Destination<FhirOutcome, FhirEvent>;
  configError?: string;
}
