import type { Hl7Message } from "@medplum/core";
import { Hl7Server } from "@medplum/hl7";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { Server as NodeHl7Server } from "node-hl7-server";
import type { Message } from "node-hl7-client";

/**
 * Independent MLLP receivers for the tests, all reached on 127.0.0.1 only:
 * - @medplum/hl7 Hl7Server (its `start` listens on every interface and has no bind option in
 *   4.5.2; the tests only ever connect to 127.0.0.1);
 * - node-hl7-server, bound to 127.0.0.1 (it closes the connection after each reply);
 * - a raw node:net server under the test's control, for faults no library produces.
 */

export type PeerAnswer = "AA" | "AE" | "AR" | "silent";

export interface Peer {
  port: number;
  /** The raw HL7 text of each message received (segments separated by CR). */
  received: string[];
  close(): Promise<void>;
}

export interface MedplumPeer extends Peer {
  parsed: Hl7Message[];
}

/** @medplum/hl7 Hl7Server answering with its own buildAck(); `answers` is consumed per message. */
export async function medplumPeer(answers: PeerAnswer | PeerAnswer[]): Promise<MedplumPeer> {
  const queue = Array.isArray(answers) ? [...answers] : undefined;
  const received: string[] = [];
  const parsed: Hl7Message[] = [];
  const server = new Hl7Server((connection) => {
    connection.addEventListener("message", (event) => {
      parsed.push(event.message);
      received.push(event.message.toString());
      const answer = queue ? (queue.shift() ?? "AA") : (answers as PeerAnswer);
      if (answer !== "silent") connection.send(event.message.buildAck({ ackCode: answer }));
    });
  });
  server.start(0);
  const listening = server.server;
  if (!listening) throw new Error("medplum Hl7Server did not start");
  if (!listening.listening) await new Promise((resolve) => listening.once("listening", resolve));
  return {
    port: (listening.address() as AddressInfo).port,
    received,
    parsed,
    close: () => server.stop({ forceDrainTimeoutMs: 0 }),
  };
}

export interface NodeHl7Peer extends Peer {
  parsed: Message[];
}

/**
 * node-hl7-server on 127.0.0.1 answering with sendResponse(); `answers` is consumed per message.
 * With `tls` it listens for MLLP over TLS with that key and certificate.
 */
export async function nodeHl7Peer(
  answers: PeerAnswer | PeerAnswer[],
  tls?: { key: string; cert: string },
): Promise<NodeHl7Peer> {
  const queue = Array.isArray(answers) ? [...answers] : undefined;
  const port = await freePort();
  const received: string[] = [];
  const parsed: Message[] = [];
  const server = new NodeHl7Server({ bindAddress: "127.0.0.1", ...(tls ? { tls } : {}) });
  const inbound = server.createInbound({ port }, (req, res) => {
    const message = req.getMessage();
    parsed.push(message);
    received.push(message.toString());
    const answer = queue ? (queue.shift() ?? "AA") : (answers as PeerAnswer);
    if (answer !== "silent") void res.sendResponse(answer);
  });
  await new Promise<void>((resolve, reject) => {
    inbound.once("listen", resolve);
    inbound.once("error", reject);
  });
  return {
    port,
    received,
    parsed,
    close: async () => {
      await inbound.close();
      await new Promise((r) => setTimeout(r, 10));
    },
  };
}

/** A raw TCP server on 127.0.0.1: the handler sees each socket and every chunk it receives. */
export async function rawPeer(
  onData: (socket: net.Socket, chunk: Buffer) => void,
): Promise<Peer & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const received: string[] = [];
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.on("data", (chunk) => {
      received.push(chunk.toString("utf8"));
      onData(socket, chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on right now (for the node-hl7-server peer, and for refused connections). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** An HL7 ACK for a message control id, framed for MLLP (for raw peers). */
export function ackFrame(controlId: string, code: string): Buffer {
  const text = `MSH|^~\\&|EHR|HOSP|NODERED|CLINIC|20260101000000||ACK^T02^ACK|A-${Date.now()}|P|2.5.1\rMSA|${code}|${controlId}`;
  return Buffer.concat([Buffer.from([0x0b]), Buffer.from(text), Buffer.from([0x1c, 0x0d])]);
}

/** MSH-10 of a framed or unframed message, as a raw peer sees it. */
export function controlIdIn(text: string): string {
  const msh = (text.startsWith("\u000b") ? text.slice(1) : text).split("\r")[0] ?? "";
  return msh.split("|")[9] ?? "";
}
