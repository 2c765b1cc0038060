import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** A real Node-RED process on 127.0.0.1, with its own user directory. */
export class NodeRedProcess {
  private log = "";

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.stdout?.on("data", (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.log += d.toString()));
  }

  static async start(options: {
    userDir: string;
    nodeRedDir: string;
    node?: string;
  }): Promise<NodeRedProcess> {
    const port = await freePort();
    const child = spawn(
      options.node ?? process.execPath,
      [
        join(options.nodeRedDir, "red.js"),
        "-u",
        options.userDir,
        "-p",
        String(port),
        "-D",
        "uiHost=127.0.0.1",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const nr = new NodeRedProcess(child, `http://127.0.0.1:${port}`);
    try {
      await nr.waitUntilReady();
    } catch (err) {
      // A process that never became ready is nobody's to stop: left running, it keeps mocha from exiting.
      await nr.kill();
      throw err;
    }
    return nr;
  }

  get output(): string {
    return this.log;
  }

  private async waitUntilReady(timeoutMs = 30000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null)
        throw new Error(`Node-RED exited (${this.child.exitCode}):\n${this.log}`);
      if (/Started flows/.test(this.log)) {
        const res = await fetch(`${this.url}/settings`).catch(() => undefined);
        if (res?.ok) return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Node-RED did not start within ${timeoutMs} ms:\n${this.log}`);
  }

  async getJson<T>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  async getText(path: string, accept = "text/html"): Promise<string> {
    const res = await fetch(`${this.url}${path}`, { headers: { Accept: accept } });
    if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
    return res.text();
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.url}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...headers },
      body: JSON.stringify(body),
    });
  }

  /** kill -9: the process gets no chance to close anything (a crash, a power cut). */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGINT");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
  }
}
