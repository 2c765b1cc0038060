import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { buildHl7, checkEncounter, checkPatient, DEFAULT_HL7_OPTIONS } from "../../src/hospital/hl7/build";
import { documentWithText, syntheticPatient } from "../support/documents";
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
import { pem, tlsMllpPeer } from "../support/tls-peers";

/**
 * mllp-endpoint with mutual TLS: the client certificate is a setting (PEM, like the CA), its key
 * and passphrase are credentials. A receiver requiring a client certificate accepts the message;
 * a bad key setting is a configuration error that names the problem and no secret.
 */

const modules = builtNodes(["mllp-out", "mllp-endpoint"]);
let peer: Peer | undefined;

function load(port: number, credentials: Record<string, string>, endpoint: Record<string, unknown> = {}) {
  const nodes = [
    { id: "send", type: "mllp-out", endpoint: "ep", wires: [["accepted"], ["rejected"], ["audit"]] },
    {
      id: "ep",
      type: "mllp-endpoint",
      host: "127.0.0.1",
      port: String(port),
      tls: true,
      ca: pem("receiver-cert.pem"),
      cert: pem("client-cert.pem"),
      retries: "0",
      // The in-memory queue: one attempt's outcome on the outputs (the durable default keeps retrying).
      queueStore: "memory",
      ...endpoint,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["accepted", "rejected", "audit"]), {
    ep: credentials,
  });
}

const IDS = { sender: "send", config: "ep" };

function hl7(): NodeMessage {
  const built = buildHl7(
    documentWithText("Synthetic note."),
    checkPatient(syntheticPatient, "msg.patient"),
    checkEncounter({}, "msg.encounter"),
    DEFAULT_HL7_OPTIONS,
    new Date("2026-01-15T14:31:05Z"),
  );
  return { payload: built.message, hl7: { controlId: built.controlId } };
}

describe(`mllp-endpoint mutual TLS (${runtimeLabel})`, () => {
  let queueDir: string;
  beforeEach(() => {
    queueDir = mkdtempSync(join(tmpdir(), "mllp-tls-queue-"));
  });
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(queueDir, { recursive: true, force: true });
  });

  /** The durable queue with a short backoff: without a hold, a second would see some 20 attempts. */
  const loadDurable = (
    port: number,
    credentials: Record<string, string>,
    endpoint: Record<string, unknown>,
  ) =>
    load(port, credentials, {
      queueStore: "disk",
      queueDir,
      backoff: "0.02",
      backoffMax: "0.05",
      ...endpoint,
    });

  it("presents the configured client certificate with the key and passphrase from its credentials", async () => {
    const p = await tlsMllpPeer({ clientCa: pem("test-ca.pem") });
    peer = p;
    await load(p.port, { key: pem("client-key.pem"), passphrase: "test-passphrase" });
    const accepted = nextMessage("accepted", 4000);
    helper.getNode("send").receive(hl7());
    const msg = (await accepted) as NodeMessage & { ack?: { code: string } };
    assert.equal(msg.ack?.code, "AA");
    assert.deepEqual(p.clients, ["node-red-mllp-client"]);
  });

  it("with the durable queue, a receiver certificate that does not verify keeps the message queued, is told once and not hammered", async () => {
    // The receiver presents its self-signed certificate; the endpoint trusts only the test CA.
    const p = await tlsMllpPeer();
    peer = p;
    await loadDurable(p.port, {}, { ca: pem("test-ca.pem"), cert: "" });
    const { told, status } = await heldTwice(p, IDS, hl7);
    assert.equal(told.length, 1, told.join("\n"));
    assert.match(
      told[0],
      /mllp-out: TLS certificate rejected by this node: DEPTH_ZERO_SELF_SIGNED_CERT \(the receiver's certificate is self-signed and not the configured CA\)\..*tried again every 5 min/,
    );
    assert.match(status, /^TLS certificate rejected \(DEPTH_ZERO_SELF_SIGNED_CERT\); 2 queued/);
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    it(`with the durable queue, ${version}: our client certificate refused by the receiver keeps the messages queued, is told once and not hammered`, async () => {
      const p = await tlsMllpPeer({ clientCa: pem("test-ca.pem"), version });
      peer = p;
      await loadDurable(p.port, { key: pem("expired-key.pem") }, { cert: pem("expired-cert.pem") });
      const { told, status } = await heldTwice(p, IDS, hl7);
      assert.equal(told.length, 1, told.join("\n"));
      assert.match(
        told[0],
        /mllp-out: "mllp-endpoint" refused the TLS client certificate of this endpoint: MUTUAL_TLS_CLOSED \(.*refuses our client certificate: check its CA and expiry\)\..*tried again every 5 min/,
      );
      // No certificate text, subject name or path.
      assert.doesNotMatch(told[0], /-----BEGIN|node-red-mllp-client|Test client CA|\//);
      assert.match(status, /^TLS client certificate refused \(MUTUAL_TLS_CLOSED\); 2 queued/);
    });
  }

  it("a wrong passphrase is a configuration error naming the problem, never the key or passphrase", async () => {
    const p = await tlsMllpPeer({ clientCa: pem("test-ca.pem") });
    peer = p;
    await load(p.port, { key: pem("client-key.pem"), passphrase: "WRONG-SECRET-PASS" });
    const caught = nextMessage("caught", 4000);
    helper.getNode("send").receive(hl7());
    const msg = (await caught) as NodeMessage & { error?: { message?: string } };
    assert.match(
      msg.error?.message ?? "",
      /the client key could not be opened: the passphrase is missing or wrong/,
    );
    const logged = loggedTexts(helper.getNode("send")).join("\n");
    assert.match(logged, /passphrase is missing or wrong/);
    for (const text of [msg.error?.message ?? "", logged]) {
      assert.doesNotMatch(text, /WRONG-SECRET-PASS|-----BEGIN|MII[A-Za-z0-9+/]{8}/);
    }
    assert.equal(p.received.length, 0);
  });
});
