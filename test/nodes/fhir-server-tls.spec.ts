import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { documentWithText } from "../support/documents";
import type { Peer } from "../support/hl7-peers";
import {
  builtNodes,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
} from "../support/node-red";
import { heldTwice } from "../support/tls-holds";
import { httpsFhirPeer, pem } from "../support/tls-peers";

/**
 * fhir-server with a custom CA and mutual TLS: the CA and client certificate are settings (PEM),
 * the key and its passphrase credentials. A server requiring a client certificate gets the
 * document; settings that cannot work are configuration errors naming the problem, no secret.
 */

const modules = builtNodes(["fhir-document", "fhir-server"]);
let peer: Peer | undefined;

function load(baseUrl: string, server: Record<string, unknown>, credentials: Record<string, string>) {
  const nodes = [
    {
      id: "fhir",
      type: "fhir-document",
      server: "srv",
      patient: "patient",
      patientType: "msg",
      wires: [["ok"], ["failed"], ["audit"]],
    },
    // The in-memory queue: one attempt's outcome on the outputs (the durable queue, the default, would
    // keep retrying a refused connection; docs/delivery.md).
    { id: "srv", type: "fhir-server", baseUrl, retries: "0", timeout: "2", queueStore: "memory", ...server },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["ok", "failed", "audit"]), { srv: credentials });
}

const document = (): NodeMessage => ({
  payload: documentWithText("Synthetic note."),
  patient: { id: "TEST-0001" },
});
const send = (): void => helper.getNode("fhir").receive(document());
const IDS = { sender: "fhir", config: "srv" };

describe(`fhir-server TLS settings (${runtimeLabel})`, () => {
  let queueDir: string;
  beforeEach(() => {
    queueDir = mkdtempSync(join(tmpdir(), "fhir-tls-queue-"));
  });
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(queueDir, { recursive: true, force: true });
  });

  it("posts to a server requiring a client certificate, with the CA, certificate and credential key", async () => {
    const p = await httpsFhirPeer({ clientCa: pem("test-ca.pem") });
    peer = p;
    await load(
      `https://127.0.0.1:${p.port}/fhir`,
      { ca: pem("receiver-cert.pem"), cert: pem("client-cert.pem") },
      { key: pem("client-key.pem"), passphrase: "test-passphrase" },
    );
    const ok = nextMessage("ok", 5000);
    send();
    const msg = (await ok) as NodeMessage & { fhir: { status: string } };
    assert.equal(msg.fhir.status, "delivered");
    assert.deepEqual(p.clients, ["node-red-mllp-client"]);
  });

  it("without the client certificate, the refusal reaches output 2 saying a certificate is required", async () => {
    const p = await httpsFhirPeer({ clientCa: pem("test-ca.pem") });
    peer = p;
    await load(`https://127.0.0.1:${p.port}/fhir`, { ca: pem("receiver-cert.pem") }, {});
    const failed = nextMessage("failed", 5000);
    send();
    const msg = (await failed) as NodeMessage & { fhir: { reason: string; detail: string } };
    assert.equal(msg.fhir.reason, "tls-client-certificate");
    assert.match(
      msg.fhir.detail,
      /^TLS client certificate refused by the receiver: .*requires a client certificate/,
    );
  });

  /** The durable queue with a short backoff: without a hold, a second would see some 20 attempts. */
  async function loadDurable(
    port: number,
    server: Record<string, unknown>,
    credentials: Record<string, string>,
  ) {
    await load(
      `https://127.0.0.1:${port}/fhir`,
      { queueStore: "disk", queueDir, backoff: "0.02", backoffMax: "0.05", ...server },
      credentials,
    );
  }

  it("with the durable queue, a server certificate that does not verify keeps the documents queued, is told once and not hammered", async () => {
    // The server presents its self-signed certificate; the configuration trusts only the test CA.
    const p = await httpsFhirPeer();
    peer = p;
    await loadDurable(p.port, { ca: pem("test-ca.pem") }, {});
    const { told, status } = await heldTwice(p, IDS, document);
    assert.equal(told.length, 1, told.join("\n"));
    assert.match(
      told[0],
      /fhir-document: TLS certificate rejected by this node: DEPTH_ZERO_SELF_SIGNED_CERT \(the receiver's certificate is self-signed and not the configured CA\)\..*tried again every 5 min/,
    );
    assert.match(status, /^TLS certificate rejected \(DEPTH_ZERO_SELF_SIGNED_CERT\); 2 queued/);
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`with the durable queue, ${version}: our client certificate refused by the server keeps the documents queued, is told once and not hammered`, async () => {
      const p = await httpsFhirPeer({ clientCa: pem("test-ca.pem"), version });
      peer = p;
      await loadDurable(
        p.port,
        { ca: pem("receiver-cert.pem"), cert: pem("other-client-cert.pem") },
        { key: pem("other-client-key.pem") },
      );
      const { told, status } = await heldTwice(p, IDS, document);
      assert.equal(told.length, 1, told.join("\n"));
      assert.match(
        told[0],
        /fhir-document: "fhir-server" refused the TLS client certificate of this server configuration: MUTUAL_TLS_CLOSED \(.*refuses our client certificate: check its CA and expiry\)\..*tried again every 5 min/,
      );
      // No certificate text, subject name or path.
      assert.doesNotMatch(told[0], /-----BEGIN|other-client|Test client CA|\//);
      assert.match(status, /^TLS client certificate refused \(MUTUAL_TLS_CLOSED\); 2 queued/);
    });
  }

  it("a key of another certificate, or TLS settings on an http URL, are configuration errors without secrets", async () => {
    for (const [baseUrl, server, credentials, expected] of [
      [
        "https://127.0.0.1:1/fhir",
        { cert: pem("client-cert.pem") },
        { key: pem("other-client-key.pem") },
        /the client key does not belong to the client certificate/,
      ],
      ["http://127.0.0.1:1/fhir", { ca: pem("test-ca.pem") }, {}, /apply to an https base URL only/],
    ] as const) {
      await load(baseUrl, server, credentials);
      const caught = nextMessage("caught", 4000);
      send();
      const msg = (await caught) as NodeMessage & { error?: { message?: string } };
      assert.match(msg.error?.message ?? "", expected);
      const logged = loggedTexts(helper.getNode("fhir")).join("\n");
      for (const text of [msg.error?.message ?? "", logged]) {
        assert.doesNotMatch(text, /-----BEGIN|MII[A-Za-z0-9+/]{8}/);
      }
      await helper.unload();
    }
  });
});
