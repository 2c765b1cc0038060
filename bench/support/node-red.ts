/**
 * A real Node-RED 4 runtime embedded in the calling process (require("node-red"), RED.init on an http
 * server bound to 127.0.0.1), with this package installed in a temporary user directory the way
 * `npm start` installs it (a link under node_modules), so the built nodes in dist/ load exactly as a
 * user's Node-RED loads them. Flows are deployed through the admin HTTP API (POST /flows), as the
 * editor deploys them; the process's own CPU and memory are then the runtime's plus the caller's.
 */
import RED from "node-red";
import type { Node, NodeMessage } from "node-red";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ownRoot = join(__dirname, "../..");
/** The runtime's node registry; its typings leave out getNode, which it has. */
const nodes = RED.nodes as unknown as { getNode(id: string): Node | null };

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export class EmbeddedNodeRed {
  private constructor(
    private readonly server: Server,
    private readonly userDir: string,
    readonly url: string,
  ) {}

  /**
   * `syncDelivery`: Node-RED's `runtimeSyncDelivery` setting (messages handed on by direct calls).
   * `packageRoot`: install the package from this checkout instead (another worktree's built dist/, to
   * compare two versions in one bench run).
   */
  static async start(
    options: { syncDelivery?: boolean; packageRoot?: string } = {},
  ): Promise<EmbeddedNodeRed> {
    const root = options.packageRoot ?? ownRoot;
    const userDir = mkdtempSync(join(tmpdir(), "nr-bench-"));
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string };
    const link = join(userDir, "node_modules", ...pkg.name.split("/"));
    mkdirSync(join(link, ".."), { recursive: true });
    symlinkSync(root, link, "dir");
    writeFileSync(
      join(userDir, "package.json"),
      JSON.stringify({ name: "nr-bench", private: true, dependencies: { [pkg.name]: `file:${root}` } }),
    );
    writeFileSync(join(userDir, "flows.json"), "[]");
    const server = createServer((req, res) => {
      RED.httpAdmin(req, res);
    });
    RED.init(server, {
      userDir,
      flowFile: "flows.json",
      credentialSecret: false,
      httpAdminRoot: "/",
      httpNodeRoot: false,
      disableEditor: true,
      uiHost: "127.0.0.1",
      // Not listened on: the http server above is ours; the typings require it.
      uiPort: 0,
      logging: { console: { level: "warn", metrics: false, audit: false } },
      ...(options.syncDelivery ? { runtimeSyncDelivery: true } : {}),
    });
    // Deploying before the runtime has loaded its (empty) flow file would race with that load, which
    // replaces the credential store.
    const loaded = new Promise<void>((resolve) => RED.events.once("flows:started", () => resolve()));
    await RED.start();
    await loaded;
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return new EmbeddedNodeRed(server, userDir, `http://127.0.0.1:${port}`);
  }

  /**
   * Deploys `flows` as the editor does (credentials inline, stored apart by Node-RED), "full" by default:
   * every node stops and starts again. Resolves once the new flows have started. `onStarted` runs the
   * moment they have, before any node can act on it (to tap the new nodes before anything flows).
   */
  async deploy(
    flows: FlowNode[],
    type: "full" | "nodes" | "flows" = "full",
    onStarted?: () => void,
  ): Promise<void> {
    if (onStarted) RED.events.prependOnceListener("flows:started", onStarted);
    const body = JSON.stringify(flows);
    // A connection of its own, closed after the answer: no keep-alive socket to count as a leak.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        `${this.url}/flows`,
        {
          method: "POST",
          agent: false,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            connection: "close",
            "node-red-deployment-type": type,
          },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.end(body);
    });
    if (status !== 200 && status !== 204) throw new Error(`deploy: HTTP ${status}`);
    for (const n of flows) {
      if (typeof n.z === "string") await this.waitForNode(n.id);
    }
  }

  private async waitForNode(id: string): Promise<void> {
    for (let i = 0; i < 200 && !nodes.getNode(id); i++) await new Promise((r) => setTimeout(r, 25));
    if (!nodes.getNode(id)) throw new Error(`node ${id} did not start`);
  }

  /** The running node with this id (a new object after every deploy that restarted it). */
  node(id: string): Node {
    const node = nodes.getNode(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  /**
   * Sends `msg` out of node `id` (a junction wired into the flow), through Node-RED's router as any
   * source node's node.send() goes: what a websocket-in or tcp-in node does with each chunk it receives.
   */
  send(id: string, msg: NodeMessage): void {
    this.node(id).send(msg);
  }

  /** Calls `fn` with every message node `id` receives (until the next deploy restarts it). */
  tap(id: string, fn: (msg: NodeMessage) => void): void {
    this.node(id).on("input", fn);
  }

  async stop(): Promise<void> {
    await RED.stop();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.userDir, { recursive: true, force: true });
  }
}
