import { CONTEXT_CHECKS } from "../hospital/patient-context";

/**
 * Which checks a document's patient context must pass at review-queue's intake: those of the
 * delivery nodes (hl7-mdm, fhir-document) wired straight to its final output, as they will read the
 * final message. A node reads msg.patient and msg.encounter by default (its `patient` and `encounter`
 * settings); the final message carries only those two, so another msg property reads as missing,
 * as it will at delivery. A node that reads either from a setting, flow or global context is not
 * checked here (that value is not the document's), nor is one behind another node (which may change
 * the message on the way).
 */
export interface DeliveryCheck {
  /** The delivery node's id and type: configuration, not PHI; they say which node would refuse. */
  node: string;
  type: string;
  /** Throws the delivery node's own error (naming the property and what is accepted) on a refusal. */
  check(context: { patient?: unknown; encounter?: unknown }): void;
}

/** What a flow's node configuration says (RED.nodes.eachNode), as far as this needs it. */
export interface NodeConfig {
  id: string;
  type: string;
  [key: string]: unknown;
}

export function deliveryChecks(
  targets: readonly string[],
  configOf: (id: string) => NodeConfig | undefined,
): DeliveryCheck[] {
  const checks: DeliveryCheck[] = [];
  for (const id of new Set(targets)) {
    const config = configOf(id);
    const entry = config ? CONTEXT_CHECKS.get(config.type) : undefined;
    if (!config || !entry) continue;
    const patient = msgProperty(config, "patient");
    const encounter = msgProperty(config, "encounter");
    if (patient === undefined || encounter === undefined) continue;
    checks.push({
      node: config.id,
      type: config.type,
      check: (context) => {
        entry.check(valueOf(context, patient), valueOf(context, encounter), {
          patient: `msg.${patient}`,
          encounter: `msg.${encounter}`,
        });
      },
    });
  }
  return checks;
}

/** The msg property a delivery node reads `what` from (its defaults: msg.patient, msg.encounter). */
function msgProperty(config: NodeConfig, what: "patient" | "encounter"): string | undefined {
  const type = config[`${what}Type`] ?? "msg";
  const property = config[what] ?? what;
  if (type !== "msg" || typeof property !== "string" || property === "") return undefined;
  return property;
}

/** msg.<property> of the final message: only `patient` and `encounter` are there. */
function valueOf(context: { patient?: unknown; encounter?: unknown }, property: string): unknown {
  return property === "patient" ? context.patient : property === "encounter" ? context.encounter : undefined;
}
