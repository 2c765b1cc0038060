import type { Node } from "node-red";
import { readSettings } from "../../src/util/settings";
import { withDefaults } from "./node-red";
import { refuseEveryInput } from "./repeated-reports";

/**
 * The node's settings, read once where they enter: the editor's defaults for what the flow left out
 * (`withDefaults`), then each setting read as the JSON type of its default (src/util/settings.ts). A
 * setting of another type refuses the node by name (logged once, the "misconfigured" status, every
 * message answered with the error) and returns undefined: the constructor then returns at once.
 */
export function settingsOrRefuse<C extends object, D extends object>(
  node: Node,
  nodeType: string,
  given: C,
  defaults: D,
): (C & D) | undefined {
  const read = readSettings(withDefaults(given, defaults), defaults);
  if (read.ok) return read.config;
  refuseEveryInput(node, nodeType, new Error(`${nodeType}: ${read.problem.message}`));
  return undefined;
}
