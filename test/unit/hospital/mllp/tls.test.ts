import { strict as assert } from "node:assert";
import {
  buildHl7,
  checkEncounter,
  checkPatient,
  DEFAULT_HL7_OPTIONS,
} from "../../../../src/hospital/hl7/build";
import {
  MllpClient,
  type DeliveryOutcome,
  type MllpClientOptions,
} from "../../../../src/hospital/mllp/client";
import {
  checkClientTls,
  TlsSettingError,
  type ClientTlsSettings,
} from "../../../../src/hospital/tls-options";
import { documentWithText, syntheticPatient } from "../../../support/documents";
import { rawPeer, type Peer } from "../../../support/hl7-peers";
import {
  afterAnyRetry,
  CLIENT_REFUSAL_CODE,
  CLIENT_REFUSAL_DETAIL,
  pem,
  REFUSED_CLIENT_CERTIFICATES,
  tlsMllpPeer,
} from "../../../support/tls-peers";

/**
 * MLLP over mutual TLS: the receiver requires a client certificate signed by the test CA. Every
 * refusal must say what was wrong in fixed words, with no certificate, key or passphrase text.
 */

const RECEIVER_CA = pem("receiver-cert.pem"); // the receiver's self-signed certificate is its own CA
const CLIENT_CA = pem("test-ca.pem");
const OUR_CERT: ClientTlsSettings = {
  ca: RECEIVER_CA,
  rejectUnauthorized: true,
  cert: pem("client-cert.pem"),
  key: pem("client-key.pem"),
  passphrase: "test-passphrase",
};

function message(): string {
  return buildHl7(
    documentWithText("Synthetic note."),
    checkPatient(syntheticPatient, "msg.patient"),
    checkEncounter({}, "msg.encounter"),
    DEFAULT_HL7_OPTIONS,
    new Date("2026-01-15T14:31:05Z"),
  ).message;
}

const clients: MllpClient[] = [];
const peers: Peer[] = [];

function send(
  port: number,
  tls: ClientTlsSettings,
  overrides: Partial<MllpClientOptions> = {},
): Promise<DeliveryOutcome> {
  const c = new MllpClient({
    host: "127.0.0.1",
    port,
    tls,
    connectTimeoutMs: 2000,
    ackTimeoutMs: 2000,
    retries: 0,
    backoffMs: 10,
    backoffMaxMs: 10,
    ...overrides,
  });
  clients.push(c);
  return c.send(message());
}

/** The failure detail, checked to carry no PEM, key, passphrase or certificate name. */
function detailOf(outcome: DeliveryOutcome): string {
  assert.equal(outcome.status, "rejected");
  const detail = outcome.status === "rejected" ? outcome.detail : "";
  for (const secret of [
    "BEGIN",
    "test-passphrase",
    "node-red-mllp-client",
    "other-client",
    "Test client CA",
  ]) {
    assert.ok(!detail.includes(secret), `the detail does not contain ${secret}`);
  }
  return detail;
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

describe("MLLP over mutual TLS", () => {
  it("presents the client certificate (encrypted key, passphrase) to a receiver that requires one", async () => {
    const p = await tlsMllpPeer({ clientCa: CLIENT_CA });
    peers.push(p);
    const outcome = await send(p.port, OUR_CERT);
    assert.equal(outcome.status, "accepted");
    assert.deepEqual(p.clients, ["node-red-mllp-client"]);
    assert.equal(p.received.length, 1);
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    for (const [name, ours] of REFUSED_CLIENT_CERTIFICATES) {
      it(`${version}, ${name}: refused by the receiver as "tls-client-certificate", not retried as a connection failure`, async () => {
        const p = await tlsMllpPeer({ clientCa: CLIENT_CA, version });
        peers.push(p);
        const outcome = await send(p.port, { ...OUR_CERT, ...ours }, { retries: 3 });
        assert.equal(outcome.status === "rejected" && outcome.reason, "tls-client-certificate");
        assert.equal(outcome.attempts, 1, "the endpoint's retries are not spent on it");
        // Node's receiver sends an alert for a missing certificate, and just closes for a refused one.
        assert.match(outcome.status === "rejected" ? (outcome.tlsCode ?? "") : "", CLIENT_REFUSAL_CODE);
        assert.match(detailOf(outcome), CLIENT_REFUSAL_DETAIL);
        await afterAnyRetry();
        assert.equal(p.refused, 1, "one handshake reached the receiver");
        assert.equal(p.received.length, 0, "the receiver processed nothing");
        assert.deepEqual(p.clients, [], "the receiver accepted no client");
      });
    }

    it(`${version}: a receiver that took our certificate and then drops the message is a connection failure, retried`, async () => {
      const p = await tlsMllpPeer({ clientCa: CLIENT_CA, version, dropMessages: true });
      peers.push(p);
      const outcome = await send(p.port, OUR_CERT, { retries: 1 });
      assert.equal(outcome.status === "rejected" && outcome.reason, "connection-closed");
      assert.equal(outcome.attempts, 2);
      assert.equal(p.received.length, 2);
    });
  }

  it("a receiver that resets the connection before any TLS, with a client certificate configured, is a connection failure", async () => {
    const p = await rawPeer((socket) => socket.destroy());
    peers.push(p);
    const outcome = await send(p.port, OUR_CERT);
    assert.equal(outcome.status === "rejected" && outcome.reason, "connect-failed");
  });

  it("a receiver whose certificate has expired is refused before anything is sent", async () => {
    const p = await tlsMllpPeer({ cert: pem("expired-cert.pem"), key: pem("expired-key.pem") });
    peers.push(p);
    const outcome = await send(p.port, { ...OUR_CERT, ca: CLIENT_CA });
    assert.equal(outcome.status === "rejected" && outcome.reason, "tls-certificate");
    assert.equal(outcome.status === "rejected" && outcome.tlsCode, "CERT_HAS_EXPIRED");
    assert.equal(
      detailOf(outcome),
      "TLS certificate rejected by this node: the receiver's certificate has expired (CERT_HAS_EXPIRED)",
    );
    assert.equal(p.received.length, 0);
  });

  it("a receiver whose certificate is not from the configured CA (wrong CA) is refused", async () => {
    const p = await tlsMllpPeer({ clientCa: CLIENT_CA });
    peers.push(p);
    const outcome = await send(p.port, { ...OUR_CERT, ca: CLIENT_CA });
    assert.equal(outcome.status === "rejected" && outcome.reason, "tls-certificate");
    assert.match(detailOf(outcome), /self-signed and not the configured CA \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    assert.equal(p.received.length, 0);
  });

  it("does not retry a rejected receiver certificate (a configuration error): one handshake, not 1 + retries", async () => {
    const p = await tlsMllpPeer();
    peers.push(p);
    const outcome = await send(p.port, { ca: CLIENT_CA, rejectUnauthorized: true }, { retries: 3 });
    assert.equal(outcome.status === "rejected" && outcome.reason, "tls-certificate");
    assert.equal(outcome.attempts, 1);
    // Any retry would come within its 10 ms backoff: give it ten times that.
    for (let i = 0; i < 20 && p.refused < 1; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.refused, 1, "one handshake reached the receiver");
  });

  it("a receiver certificate that does not name the host is rejected as such (wrong host)", async () => {
    const p = await tlsMllpPeer();
    peers.push(p);
    const outcome = await send(p.port, {
      ca: RECEIVER_CA,
      rejectUnauthorized: true,
      servername: "ehr.example.org",
    });
    assert.equal(outcome.status === "rejected" && outcome.tlsCode, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.match(detailOf(outcome), /^TLS certificate rejected by this node: .*does not name the host/);
  });
});

describe("client TLS settings", () => {
  const refused = (settings: ClientTlsSettings, expected: RegExp): void => {
    assert.throws(
      () => checkClientTls(settings),
      (err: unknown) => {
        assert.ok(err instanceof TlsSettingError);
        assert.match(err.message, expected);
        // No PEM block, no base64 of a key or certificate, no passphrase.
        assert.doesNotMatch(
          err.message,
          /-----BEGIN|MII[A-Za-z0-9+/]{8}|passphrase-that|WRONG-SECRET|test-passphras/,
        );
        return true;
      },
    );
  };

  it("accepts a certificate with its encrypted key and passphrase, and no client certificate at all", () => {
    checkClientTls(OUR_CERT);
    checkClientTls({ ca: RECEIVER_CA, rejectUnauthorized: true });
  });

  it("refuses a certificate without its key, and a key without its certificate", () => {
    refused({ ...OUR_CERT, key: undefined }, /needs its private key/);
    refused({ ...OUR_CERT, cert: undefined }, /needs its private key/);
  });

  it("refuses a wrong or missing passphrase without echoing it", () => {
    // A wrong passphrase decrypts to noise that OpenSSL reports in several ways: each is one answer.
    for (const passphrase of ["passphrase-that-is-wrong", "WRONG-SECRET-PASS", "x", "test-passphrasf"]) {
      refused({ ...OUR_CERT, passphrase }, /passphrase is missing or wrong/);
    }
    refused({ ...OUR_CERT, passphrase: undefined }, /passphrase is missing or wrong/);
  });

  it("refuses a key that belongs to another certificate", () => {
    refused({ ...OUR_CERT, key: pem("other-client-key.pem"), passphrase: undefined }, /does not belong/);
  });

  it("refuses text that is not PEM (for example a file path) naming the setting", () => {
    refused({ ...OUR_CERT, cert: "/etc/ssl/client.pem" }, /client certificate must be PEM text/);
    refused({ ...OUR_CERT, ca: "not a certificate" }, /CA certificate must be PEM text/);
  });
});
