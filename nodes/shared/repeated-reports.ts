import type { Node } from "node-red";
import {
  REPEAT_SUMMARY_MS,
  RepeatedReports,
  repeatsText,
  type Repeats,
} from "../../src/util/repeated-reports";
import { nodeScheduler } from "./node-red";

/**
 * The node's repeated reports (see src/util/repeated-reports.ts): the caller reports the first of a
 * key in full; `summarise` receives the repeats once a minute, and at the node's close (call close()).
 */
export function nodeRepeatedReports<D = undefined>(
  node: Node,
  nodeType: string,
  summarise: (key: string, repeats: Repeats<D>) => void,
  intervalMs: number = REPEAT_SUMMARY_MS,
): RepeatedReports<D> {
  return new RepeatedReports<D>(summarise, nodeScheduler(node, nodeType), intervalMs);
}

/**
 * A node whose configuration is wrong: it says so once at deploy (log and status) and refuses every
 * message with the same error, to Catch nodes: the first in full, the repeats counted and summarised
 * once a minute ("... (repeated 29 more times in 60 s ...)"), not one log line per audio chunk.
 */
export function refuseEveryInput(
  node: Node,
  nodeType: string,
  error: Error,
  statusText = `${nodeType}.status.misconfigured`,
): void {
  node.error(error.message);
  node.status({ fill: "red", shape: "ring", text: statusText });
  const reports = nodeRepeatedReports(node, nodeType, (_key, repeats) =>
    node.error(new Error(repeatsText(error.message, repeats)), {}),
  );
  node.on("input", (_msg, _send, done) => done(reports.occurred("input", undefined) ? error : undefined));
  node.on("close", (_removed: boolean, done: () => void) => {
    reports.close();
    done();
  });
}
