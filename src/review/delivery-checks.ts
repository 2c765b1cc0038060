import { CONTEXT_CHECKS } from "../hospital/patient-context";

/**
 * Which checks a document's patient context must pass at review-queue's intake: those of the
 * delivery nodes (hl7-mdm, fhir-document) its final output reaches directly or through nodes that
 * pass a message on unchanged (junctions, link out → link in), as they will read the final message.
 * A node reads msg.patient and msg.encounter by default (its `patient` and `encounter` settings); the
 * final message carries only those two, so another msg property reads as missing, as it will at
 * delivery. A node that reads either from a setting, flow or global context is not checked here (that
 * value is not the document's), nor is one behind any other node (which may change the message on the
 * way), nor a disabled one, nor one on a disabled flow tab (Node-RED does not run those).
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
  for (const config of reachedUnchanged(targets, configOf)) {
    const entry = CONTEXT_CHECKS.get(config.type);
    if (!entry) continue;
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

/**
 * The enabled nodes a message sent to `targets` reaches unchanged: the targets, and past every junction
 * and `link in` their wires, past every `link out` (mode "link") the `link in` nodes it names. Each node
 * once, so the walk is linear in the flow's size and ends on loops.
 */
function reachedUnchanged(
  targets: readonly string[],
  configOf: (id: string) => NodeConfig | undefined,
): NodeConfig[] {
  const reached: NodeConfig[] = [];
  const seen = new Set<string>();
  const pending = Array.from(targets);
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const config = configOf(id);
    if (!config || config.d === true || onDisabledTab(config, configOf)) continue;
    reached.push(config);
    for (const next of passedOnTo(config)) pending.push(next);
  }
  return reached;
}

/** A node on a flow tab that is disabled is not started: a message sent to it goes nowhere. */
function onDisabledTab(config: NodeConfig, configOf: (id: string) => NodeConfig | undefined): boolean {
  if (typeof config.z !== "string") return false;
  const tab = configOf(config.z);
  return tab?.type === "tab" && tab.disabled === true;
}

/** Where a node that does not change messages passes them on to; nothing for any other node. */
function passedOnTo(config: NodeConfig): string[] {
  const ids = (list: unknown): string[] =>
    Array.isArray(list) ? list.filter((id): id is string => typeof id === "string") : [];
  switch (config.type) {
    case "junction":
    case "link in":
      return Array.isArray(config.wires) ? config.wires.flatMap(ids) : [];
    case "link out":
      // "return" sends back to the calling `link call` node, which is not followed here.
      return config.mode === "return" ? [] : ids(config.links);
    default:
      return [];
  }
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
