import { readFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { FrameDecoder } from "../../src/hospital/mllp/frame";
import { ackFrame, controlIdIn, type Peer } from "./hl7-peers";

/**
 * TLS peers for the mutual-TLS tests, on 127.0.0.1 only, made with node:tls / node:https directly
 * (the behaviour under test is the TLS handshake, which no HL7 library adds anything to). The
 * certificates are in test/fixtures/tls (see its README and make-client-certs.sh).
 */

const FIXTURES = join(__dirname, "../fixtures/tls");

/** A PEM file of test/fixtures/tls. */
export function pem(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

export interface TlsPeerOptions {
  /** The receiver's own certificate and key (default: the self-signed receiver pair). */
  cert?: string;
  key?: string;
  /** CA trusted for client certificates; with it the peer requires one (mutual TLS). */
  clientCa?: string;
  /** The one TLS version the peer speaks (default: what Node negotiates, TLS 1.3). */
  version?: tls.SecureVersion;
  /** MLLP: close the connection on each message instead of answering it (a receiver failing). */
  dropMessages?: boolean;
}

export interface TlsPeer extends Peer {
  /** CN of each client certificate the receiver accepted. */
  clients: string[];
  /** Handshakes the receiver refused. */
  refused: number;
}

function serverOptions(o: TlsPeerOptions): tls.TlsOptions {
  return {
    cert: o.cert ?? pem("receiver-cert.pem"),
    key: o.key ?? pem("receiver-key.pem"),
    ...(o.clientCa ? { ca: o.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
    ...(o.version ? { minVersion: o.version, maxVersion: o.version } : {}),
  };
}

function commonName(socket: tls.TLSSocket): string {
  const subject = socket.getPeerCertificate().subject as { CN?: string | string[] } | undefined;
  const cn = subject?.CN;
  return Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? "");
}

/** An MLLP receiver over TLS answering AA to each message; with `clientCa`, it requires a client certificate. */
export async function tlsMllpPeer(o: TlsPeerOptions = {}): Promise<TlsPeer> {
  const received: string[] = [];
  const clients: string[] = [];
  const state = { refused: 0 };
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(serverOptions(o), (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    clients.push(commonName(socket));
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      for (const message of decoder.push(chunk)) {
        received.push(message);
        if (o.dropMessages) {
          socket.destroy();
          return;
        }
        socket.write(ackFrame(controlIdIn(message), "AA"));
      }
    });
  });
  server.on("tlsClientError", () => {
    state.refused++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    clients,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface HttpsAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Send the headers and part of the body, then nothing more. */
  stall?: boolean;
}

const TRANSACTION_RESPONSE: HttpsAnswer = {
  status: 200,
  body: { resourceType: "Bundle", type: "transaction-response", entry: [] },
};

/**
 * An HTTPS FHIR endpoint answering with `answers` in turn (then 200 with a transaction-response);
 * with `clientCa`, mutual TLS.
 */
export async function httpsFhirPeer(o: TlsPeerOptions = {}, answers: HttpsAnswer[] = []): Promise<TlsPeer> {
  const received: string[] = [];
  const clients: string[] = [];
  const state = { refused: 0 };
  const server = https.createServer(serverOptions(o), (req, res) => {
    clients.push(commonName(req.socket as tls.TLSSocket));
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push(Buffer.concat(chunks).toString("utf8"));
      const answer = answers.shift() ?? TRANSACTION_RESPONSE;
      res.writeHead(answer.status, { "content-type": "application/fhir+json", ...answer.headers });
      const text = answer.body === undefined ? "" : JSON.stringify(answer.body);
      if (answer.stall) res.write(text.slice(0, 1));
      else res.end(text);
    });
  });
  server.on("tlsClientError", () => {
    state.refused++;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    clients,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The client certificates a peer requiring one from test-ca.pem refuses: none, one from another CA,
 * an expired one. Node's peer sends an alert for the first and just closes for the others.
 */
export const REFUSED_CLIENT_CERTIFICATES: ReadonlyArray<
  [string, { cert?: string; key?: string; passphrase?: string }]
> = [
  ["no client certificate", { cert: undefined, key: undefined, passphrase: undefined }],
  [
    "a certificate from a CA the receiver does not trust",
    { cert: pem("other-client-cert.pem"), key: pem("other-client-key.pem"), passphrase: undefined },
  ],
  [
    "an expired certificate",
    { cert: pem("expired-cert.pem"), key: pem("expired-key.pem"), passphrase: undefined },
  ],
];

/** The TLS codes such a refusal is reported with. */
export const CLIENT_REFUSAL_CODE =
  /^(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE|MUTUAL_TLS_CLOSED)$/;

/** The detail such a refusal is reported with. */
export const CLIENT_REFUSAL_DETAIL =
  /^TLS client certificate refused by the receiver: (the receiver requires a client certificate and none is configured|the receiver refused the TLS handshake|.*refuses our client certificate: check its CA and expiry)/;

/** Waits ten times a 10 ms backoff: a retry would have come by then. */
export function afterAnyRetry(): Promise<void> {
  return new Promise((r) => setTimeout(r, 100));
}
