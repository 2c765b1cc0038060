import { createServer, type Server, type Socket } from "node:net";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A small HTTP CONNECT proxy for tests: opens a TCP tunnel to the requested host and port and counts
 * the tunnels (and the targets asked for). With `refuse`, it answers every CONNECT with that status.
 */
export interface ConnectProxy {
  url: string;
  tunnels: number;
  targets: string[];
  /** Proxy-Authorization headers received. */
  authorizations: string[];
  stop(): Promise<void>;
}

export async function connectProxy(refuse?: number): Promise<ConnectProxy> {
  const sockets = new Set<Socket>();
  const state = { tunnels: 0, targets: [] as string[], authorizations: [] as string[] };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => undefined);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.removeListener("data", onData);
      const lines = head.subarray(0, end).toString("latin1").split("\r\n");
      const auth = lines.find((l) => /^proxy-authorization:/i.test(l));
      if (auth) state.authorizations.push(auth.replace(/^[^:]+:\s*/, ""));
      const m = /^CONNECT (\S+):(\d+) HTTP\/1\.1$/.exec(lines[0] ?? "");
      if (!m || refuse !== undefined) {
        client.end(`HTTP/1.1 ${refuse ?? 400} Refused\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      const host = (m[1] ?? "").replace(/^\[|\]$/g, "");
      state.targets.push(`${host}:${m[2]}`);
      const upstream = connect({ host, port: Number(m[2]) }, () => {
        state.tunnels++;
        client.write("HTTP/1.1 200 Connection established\r\n\r\n");
        const rest = head.subarray(end + 4);
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
      });
      sockets.add(upstream);
      upstream.on("close", () => {
        sockets.delete(upstream);
        client.destroy();
      });
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
    };
    client.on("data", onData);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    get tunnels() {
      return state.tunnels;
    },
    targets: state.targets,
    authorizations: state.authorizations,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
