import helper from "node-red-node-test-helper";
import type { Node, NodeInitializer, NodeMessage } from "node-red";
import type { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The node tests run against the Node-RED the project depends on, or against the one whose
 * directory NODE_RED_DIR names (scripts/test-node-red-versions.mjs sets it for 3.1, 4.1 and 5.0).
 */
const nodeRedDir = process.env.NODE_RED_DIR;
helper.init(nodeRedDir ? require.resolve("node-red", { paths: [nodeRedDir] }) : require.resolve("node-red"));

export { helper };

// Every case loads fresh flows with the same node ids: the messages a case's transcribers flushed while
// it was unloaded are held for "the next instance" (nodes/shared/stop-handover.ts) and must not reach
// the next case. A root hook, run after each spec's own afterEach (which unloads).
afterEach(() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module the nodes use
  const handover = require(join(__dirname, "../../dist/nodes/shared/stop-handover.js")) as {
    forgetHeldMessages(): void;
  };
  handover.forgetHeldMessages();
});

const nodeRedPackage = nodeRedDir
  ? require.resolve("node-red/package.json", { paths: [nodeRedDir] })
  : require.resolve("node-red/package.json");
export const nodeRedVersion = (JSON.parse(readFileSync(nodeRedPackage, "utf8")) as { version: string })
  .version;
/** Node-RED's own core nodes (inject, catch, …) of the Node-RED under test, not of the dev dependency. */
const coreNodesDir = join(
  dirname(require.resolve("@node-red/nodes/package.json", { paths: [dirname(nodeRedPackage)] })),
  "core",
);

/** A core node module by its path under `@node-red/nodes/core`, e.g. "common/25-catch.js". */
export function coreNode(file: string): NodeInitializer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED's own core node, by path
  return require(join(coreNodesDir, file)) as NodeInitializer;
}

/** For test titles: which Node-RED, on which Node, this run tests. */
export const runtimeLabel = `Node-RED ${nodeRedVersion} on Node ${process.version}`;

type Catalog = { [key: string]: string | Catalog };

// Every built node's en-US catalog, merged: the runtime object handed to node modules is shared, so
// one `RED._` must translate for every node loaded into a flow (each catalog has its own top key).
const catalogs: Catalog = {};

/**
 * The built node module, as Node-RED itself loads it from the package. The test helper's `RED._`
 * returns keys untranslated; here it reads the nodes' own en-US catalogs as Node-RED does, so the
 * tests see real status and error texts, and a key missing from a catalog shows up as the key.
 */
export function builtNode(type: string): NodeInitializer {
  const dir = join(__dirname, "../../dist/nodes", type);
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded by path, as Node-RED loads it
  const init = require(join(dir, `${type}.js`)) as NodeInitializer;
  Object.assign(
    catalogs,
    JSON.parse(readFileSync(join(dir, "locales/en-US", `${type}.json`), "utf8")) as Catalog,
  );
  return (RED) => {
    RED._ = (key: string, vars?: Record<string, unknown>) => translate(catalogs, key, vars);
    return init(RED);
  };
}

/** Several built nodes for one flow. */
export function builtNodes(types: string[]): NodeInitializer[] {
  return types.map(builtNode);
}

function translate(catalog: Catalog, key: string, vars: Record<string, unknown> = {}): string {
  let entry: string | Catalog | undefined = catalog;
  for (const part of key.split(".")) entry = typeof entry === "object" ? entry[part] : undefined;
  if (typeof entry !== "string") return key;
  return entry.replace(/__(\w+)__/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

export type FlowNode = Record<string, unknown> & { id: string; type: string };

/** A tab holding the nodes under test, each helper sink, and a catch node wired to sink "caught". */
export function flowWithCatch(nodes: FlowNode[], sinks: string[]): FlowNode[] {
  return [
    { id: "tab", type: "tab", label: "test" },
    ...nodes.map((n) => ({ z: "tab", ...n })),
    ...sinks.map((id) => ({ id, z: "tab", type: "helper" })),
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ];
}

/** The runtime's event bus (flows:started and the like), which the helper keeps to itself. */
export function runtimeEvents(): EventEmitter {
  return (helper as unknown as { _events: EventEmitter })._events;
}

/**
 * Deploys `flow` over the running one as the editor does ("full": every node stops, then every node
 * starts), and collects what each helper sink in `sinks` of the new flows receives from the moment they
 * start, so that nothing sent on `flows:started` is missed.
 */
export async function redeploy(
  flow: FlowNode[],
  credentials: Record<string, unknown>,
  sinks: string[],
): Promise<Record<string, NodeMessage[]>> {
  const received: Record<string, NodeMessage[]> = Object.fromEntries(sinks.map((id) => [id, []]));
  const events = runtimeEvents();
  const attach = (): void => {
    for (const id of sinks) helper.getNode(id)?.on("input", (msg: NodeMessage) => received[id]?.push(msg));
  };
  events.prependListener("flows:started", attach);
  try {
    await helper.setFlows(flow, "full", credentials);
  } finally {
    events.off("flows:started", attach);
  }
  return received;
}

/** The texts the runtime logged at warn level (RED.log.warn, as a closed node reports through). */
export function runtimeWarnings(): string[] {
  const spy = (helper as unknown as { log(): { args: Array<[{ level?: number; msg?: unknown }]> } }).log();
  return spy.args.filter(([e]) => e.level === 30).map(([e]) => describe(e.msg));
}

/** Everything a helper node receives, in order. */
export function collect(id: string): NodeMessage[] {
  const received: NodeMessage[] = [];
  helper.getNode(id).on("input", (msg: NodeMessage) => received.push(msg));
  return received;
}

/** Resolves with the next message a helper node receives; rejects after `ms`. */
export function nextMessage(id: string, ms = 2000): Promise<NodeMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message reached ${id} within ${ms} ms`)), ms);
    helper.getNode(id).once("input", (msg: NodeMessage) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits until `check` holds, polling every 20 ms; fails after `ms`. */
export async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await delay(20);
  }
}

/** The texts of every status the node has shown (the test helper makes node methods sinon spies). */
export function statusTexts(node: Node): string[] {
  const { status } = node as unknown as { status: { args: Array<[{ text?: string } | string]> } };
  return status.args.map(([s]) => (typeof s === "string" ? s : (s.text ?? "")));
}

/**
 * Everything the node wrote to the log (log, warn, error, debug, trace), as text. Only the first
 * argument is logged: the message given to `error(err, msg)` goes to catch nodes, not to the log.
 */
export function loggedTexts(node: Node): string[] {
  const methods = ["log", "warn", "error", "debug", "trace"] as const;
  const spies = node as unknown as Record<(typeof methods)[number], { args: unknown[][] }>;
  return methods.flatMap((m) => spies[m].args.map((args) => describe(args[0])));
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  return typeof value === "string" ? value : JSON.stringify(value);
}
