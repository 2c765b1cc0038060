import type { Node } from "node-red";
import type { FhirSender } from "../../src/hospital/fhir/send";

/** What fhir-document reads from its server: the sender, or why there is none. */
export interface FhirServerNode extends Node {
  sender?: FhirSender;
  configError?: string;
}
