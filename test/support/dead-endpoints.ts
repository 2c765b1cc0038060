/**
 * Endpoints that never answer, each in a process of its own so that none of their sockets counts in
 * the measured process's descriptors and handles:
 * - "silent": a TCP listener that accepts and then says nothing (no HTTP/2 SETTINGS; addressed with
 *   https:// it is a TLS peer that never answers the ClientHello, so the handshake never completes);
 * - "blackhole": a listener whose accept queue is full (its process never accepts, and a filler process
 *   took the queue's places), so the kernel drops every new SYN and a connect stays pending, as with a
 *   firewall that drops packets. Deterministic on Linux, unlike a non-routable address (which some
 *   networks answer at once);
 * - "refused": a port nobody listens on (closed just before use).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";

export type DeadKind = "silent" | "blackhole" | "refused";

// The peers run as plain JavaScript (`node -e`): no TypeScript loader in the child.
const SILENT = `
const net = require("net");
const server = net.createServer((s) => { s.on("error", () => {}); s.resume(); });
server.listen(0, "127.0.0.1", () => require("fs").writeSync(1, server.address().port + "\\n"));
`;

// Listens with a backlog of 1 and blocks its event loop at once: nothing is ever accepted.
const BLACKHOLE = `
const net = require("net");
const server = net.createServer();
server.listen({ port: 0, host: "127.0.0.1", backlog: 1 }, () => {
  require("fs").writeSync(1, server.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

// Connects until a connect stays pending (the accept queue is full), keeps those sockets, says "ready".
const FILLER = `
const net = require("net");
const port = Number(process.argv[1]);
const held = [];
(function next(n) {
  if (n > 64) { require("fs").writeSync(1, "failed\\n"); return; }
  const s = net.connect(port, "127.0.0.1");
  s.on("error", () => {});
  held.push(s);
  const t = setTimeout(() => require("fs").writeSync(1, "ready\\n"), 300);
  s.once("connect", () => { clearTimeout(t); next(n + 1); });
})(0);
`;

function runPeer(code: string, args: string[] = []): Promise<{ child: ChildProcess; line: string }> {
  const child = spawn(process.execPath, ["-e", code, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`dead endpoint peer exited (${code})`)));
    child.stdout?.once("data", (d: Buffer) => resolve({ child, line: d.toString().trim() }));
  });
}

function stopPeer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

export interface DeadEndpoint {
  kind: DeadKind;
  port: number;
  /** The endpoint URL for the AWS config node (`https:` makes the silent peer a stalled TLS handshake). */
  url(scheme?: "http" | "https"): string;
  stop(): Promise<void>;
}

export async function deadEndpoint(kind: DeadKind): Promise<DeadEndpoint> {
  const children: ChildProcess[] = [];
  let port: number;
  if (kind === "refused") {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  } else {
    const peer = await runPeer(kind === "silent" ? SILENT : BLACKHOLE);
    children.push(peer.child);
    port = Number(peer.line);
    if (kind === "blackhole") {
      const filler = await runPeer(FILLER, [String(port)]);
      children.push(filler.child);
      if (filler.line !== "ready") throw new Error("could not fill the accept queue of the blackhole peer");
    }
    // Once ready, a peer's exit is no longer an error of the start.
    for (const c of children) c.removeAllListeners("exit");
  }
  return {
    kind,
    port,
    url: (scheme = "http") => `${scheme}://127.0.0.1:${port}`,
    stop: async () => {
      await Promise.all(children.map(stopPeer));
    },
  };
}
