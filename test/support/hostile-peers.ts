import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

/**
 * Peers that misbehave on purpose, for the fuzz suite, all on 127.0.0.1. Each decides how to answer
 * from what it receives (a behaviour tag the fuzz generator wrote into the message), so that, given the
 * fuzz seed, every run meets the same peer behaviour for the same message.
 */

export interface HostilePeer {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Connections open now (a client that closed its side is no longer counted). */
  readonly open: number;
  close(): Promise<void>;
}

/** How the MLLP receiver answers a message whose MSH-10 holds `fzb-<behaviour>` (default: "aa"). */
export const MLLP_BEHAVIOURS = [
  "aa",
  "ae",
  "ar",
  "slow",
  "never",
  "garbage",
  "huge",
  "ackclose",
  "phi",
  "wrongid",
] as const;
export type MllpBehaviour = (typeof MLLP_BEHAVIOURS)[number];

/** The tag a generator writes into a message (MSH-10, a document id) to choose the peer's answer. */
export const behaviourTag = (b: string): string => `fzb-${b}-`;

function behaviourIn<T extends string>(text: string, known: readonly T[], fallback: T): T {
  const m = /fzb-([a-z0-9]+)-/.exec(text);
  const b = m?.[1];
  return b !== undefined && (known as readonly string[]).includes(b) ? (b as T) : fallback;
}

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

function frame(text: string): Buffer {
  return Buffer.concat([Buffer.from([VT]), Buffer.from(text, "utf8"), Buffer.from([FS, CR])]);
}

function ack(controlId: string, code: string, text = ""): Buffer {
  return frame(
    `MSH|^~\\&|EHR|HOSP|NODERED|CLINIC|20260101000000||ACK^T02^ACK|A${controlId.slice(0, 16)}|P|2.5.1\r` +
      `MSA|${code}|${controlId}${text ? `|${text}` : ""}`,
  );
}

/**
 * An MLLP receiver that answers each framed message as its MSH-10 tag says: AA/AE/AR at once, AA
 * after `slowMs`, never, with garbage bytes, with a huge frame, with an ACK and a close in the same
 * write, with an AE whose text echoes a patient name (`phiText`), or with the ACK of another message.
 */
export async function hostileMllpPeer(opts: { slowMs: number; phiText: string }): Promise<HostilePeer> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.on("end", () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      // Bounded: a client that never frames its message does not grow this peer without limit.
      if (buffered.length > 8 * 1024 * 1024) {
        socket.destroy();
        return;
      }
      for (;;) {
        const start = buffered.indexOf(VT);
        const end = buffered.indexOf(FS, start + 1);
        if (start < 0 || end < 0) return;
        const text = buffered.subarray(start + 1, end).toString("utf8");
        buffered = buffered.subarray(end + 1);
        answer(socket, text);
      }
    });
  });
  const answer = (socket: net.Socket, text: string): void => {
    const controlId = (text.split("\r")[0] ?? "").split("|")[9] ?? "";
    const behaviour = behaviourIn(controlId, MLLP_BEHAVIOURS, "aa");
    const write = (b: Buffer): void => {
      if (!socket.destroyed) socket.write(b);
    };
    switch (behaviour) {
      case "aa":
      case "ae":
      case "ar":
        write(ack(controlId, behaviour.toUpperCase()));
        return;
      case "slow": {
        const t = setTimeout(() => {
          timers.delete(t);
          write(ack(controlId, "AA"));
        }, opts.slowMs);
        timers.add(t);
        return;
      }
      case "never":
        return;
      case "garbage":
        write(Buffer.from([0xff, 0x00, VT, 0x42, 0x1c, 0x1c, 0x0d, 0xfe, 0x0b, 0x0b]));
        return;
      case "huge":
        write(
          frame(`MSH|^~\\&|EHR|HOSP|||20260101||ACK|X|P|2.5.1\rMSA|AA|${controlId}|${"H".repeat(4 << 20)}`),
        );
        return;
      case "ackclose":
        if (!socket.destroyed) socket.end(ack(controlId, "AA"));
        return;
      case "phi":
        write(ack(controlId, "AE", `Unknown patient ${opts.phiText}`));
        return;
      case "wrongid":
        write(ack(`${controlId}X`, "AA"));
        return;
    }
  };
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close: () => closeServer(server, sockets, timers),
  };
}

/** How the FHIR server answers a POST whose body holds `fzb-<behaviour>` (default: "ok"). */
export const FHIR_BEHAVIOURS = [
  "ok",
  "slow",
  "never",
  "garbage",
  "huge",
  "nullentry",
  "echo",
  "e500",
  "badlocation",
  "empty",
] as const;
export type FhirBehaviour = (typeof FHIR_BEHAVIOURS)[number];

/**
 * A FHIR server that answers a transaction as the tag in its body says: a proper transaction-response,
 * the same after `slowMs`, never, garbage JSON, a huge body, 200 with `entry: [null]`, an
 * OperationOutcome echoing the request's Authorization header and a patient name (`phiText`), a 500, a
 * response whose location is not a URI, or an empty 200.
 */
export async function hostileFhirServer(opts: {
  slowMs: number;
  phiText: string;
}): Promise<HostilePeer & { baseUrl: string }> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let accepted = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= 16 * 1024 * 1024) chunks.push(c);
    });
    req.on("error", () => undefined);
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const behaviour = behaviourIn(body, FHIR_BEHAVIOURS, "ok");
      const json = (status: number, value: unknown): void => {
        res.writeHead(status, { "content-type": "application/fhir+json" });
        res.end(JSON.stringify(value));
      };
      const entries = (): unknown[] => {
        let parsed: { entry?: unknown[] } = {};
        try {
          parsed = JSON.parse(body) as { entry?: unknown[] };
        } catch {
          // Not JSON: answer with no entries.
        }
        return (Array.isArray(parsed.entry) ? parsed.entry : []).map((_, i) => ({
          response: { status: "201 Created", location: `DocumentReference/fz-${i}/_history/1` },
        }));
      };
      switch (behaviour) {
        case "ok":
          json(200, { resourceType: "Bundle", type: "transaction-response", entry: entries() });
          return;
        case "slow": {
          const t = setTimeout(() => {
            timers.delete(t);
            json(200, { resourceType: "Bundle", type: "transaction-response", entry: entries() });
          }, opts.slowMs);
          timers.add(t);
          return;
        }
        case "never":
          return;
        case "garbage":
          res.writeHead(200, { "content-type": "application/fhir+json" });
          res.end('{"resourceType": "Bundle", "entry": [{"response": ');
          return;
        case "huge":
          json(200, {
            resourceType: "Bundle",
            type: "transaction-response",
            entry: entries(),
            padding: "P".repeat(6 << 20),
          });
          return;
        case "nullentry":
          json(200, { resourceType: "Bundle", type: "transaction-response", entry: [null] });
          return;
        case "echo":
          json(422, {
            resourceType: "OperationOutcome",
            issue: [
              {
                severity: "error",
                code: "security",
                diagnostics: `Rejected ${req.headers.authorization ?? ""} for patient ${opts.phiText}`,
              },
            ],
          });
          return;
        case "e500":
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(`internal error while storing ${opts.phiText}`);
          return;
        case "badlocation":
          json(200, {
            resourceType: "Bundle",
            type: "transaction-response",
            entry: [{ response: { status: "201 Created", location: "::not a uri::" } }],
          });
          return;
        case "empty":
          res.writeHead(200);
          res.end();
          return;
      }
    });
  });
  server.on("connection", (s) => {
    accepted++;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    baseUrl: `http://127.0.0.1:${port}/fhir`,
    get connections() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close: () => {
      server.closeAllConnections();
      return closeServer(server, sockets, timers);
    },
  };
}

/**
 * A TCP listener that accepts connections and never answers (a firewall that lets the SYN through, a
 * hung server): every protocol's connect or handshake must time out on its own.
 */
export async function silentListener(): Promise<HostilePeer> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    // The peer went away: let go of our side too, so only the client's leaks remain to be seen.
    socket.on("end", () => socket.destroy());
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get connections() {
      return accepted;
    },
    get open() {
      return sockets.size;
    },
    close: () => closeServer(server, sockets, new Set()),
  };
}

function closeServer(
  server: net.Server | http.Server,
  sockets: Set<net.Socket>,
  timers: Set<NodeJS.Timeout>,
): Promise<void> {
  for (const t of timers) clearTimeout(t);
  timers.clear();
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}
