import type { Node, NodeAPI, NodeMessage, NodeStatus } from "node-red";
import { stackWarning } from "../../src/util/backstop";
import { KeyedThrottle } from "../../src/util/keyed-throttle";
import { guardedScheduler, realScheduler, type Scheduler } from "../../src/util/scheduler";

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

/**
 * How a node reports an error thrown inside its own machinery (a timer, a socket event): to Catch
 * nodes, by the error's class only (its text may hold what a flow sent), with the stack frames in the
 * process warnings for support. The process goes on.
 */
export function internalErrorReporter(node: Node, nodeType: string): (err: Error, msg?: NodeMessage) => void {
  return (err, msg) => {
    stackWarning(err, `was caught in a ${nodeType} node`);
    node.error(
      new Error(`${nodeType}: internal error (${err.name}); the node goes on, please report it`),
      msg ?? {},
    );
  };
}

/** The node's timers: guarded, so that a throw in one reaches Catch nodes instead of stopping Node-RED. */
export function nodeScheduler(node: Node, nodeType: string): Scheduler {
  return guardedScheduler(realScheduler, internalErrorReporter(node, nodeType));
}

/**
 * The node's configuration with the editor's defaults for every property the flow left out: a flow
 * written by hand, by an older version of the package or by an import tool may hold only `id`, `type`,
 * `z` and `wires` (and its config-node references). `defaults` is the node's `<type>/defaults.ts`,
 * which mirrors the `defaults` of its editor (`<type>.html`); a test keeps the two equal. A number
 * setting left blank in the editor (saved as "") takes its default too: the editor accepts a blank
 * there so that a node given only its id shows as valid.
 */
export function withDefaults<C extends object, D extends object>(config: C, defaults: D): C & D {
  const out = { ...config } as Record<string, unknown>;
  for (const [key, value] of Object.entries(defaults)) {
    const given = out[key];
    if (given === undefined || given === null || (given === "" && typeof value === "number"))
      out[key] = value;
  }
  return out as C & D;
}
