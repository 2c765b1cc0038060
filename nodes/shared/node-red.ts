import type { Node, NodeAPI, NodeMessage, NodeStatus } from "node-red";
import { KeyedThrottle } from "../../src/util/keyed-throttle";

/**
 * Evaluates a TypedInput property against a message. The callback form is the only one that
 * works for every type (JSONata and asynchronous context stores refuse the synchronous form).
 */
export function evaluateTypedProperty(
  RED: NodeAPI,
  node: Node,
  value: string,
  type: string,
  msg: NodeMessage,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err, result: unknown) =>
      err ? reject(err) : resolve(result),
    );
  });
}

/**
 * Keeps the node's status current without flooding the editor: at most one update per interval,
 * and always the latest state once the interval ends.
 */
export class StatusReporter {
  private readonly throttle: KeyedThrottle<true>;

  constructor(
    private readonly node: Node,
    private readonly render: () => NodeStatus,
    intervalMs = 500,
  ) {
    this.throttle = new KeyedThrottle<true>(intervalMs, () => this.show());
  }

  update(): void {
    if (this.throttle.push("status", true)) this.show();
  }

  private show(): void {
    this.node.status(this.render());
  }

  close(): void {
    this.throttle.clear();
  }
}

/** The message to hand to `done(err)`: Node-RED shows `err.message`, so keep it self-explaining. */
export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
