import { strict as assert } from "node:assert";
import {
  FhirSender,
  type FhirEvent,
  type FhirOutcome,
  type FhirSendOptions,
} from "../../../../src/hospital/fhir/send";
import { tlsFetch } from "../../../../src/hospital/fhir/tls-fetch";
import type { ClientTlsSettings } from "../../../../src/hospital/tls-options";
import type { Peer } from "../../../support/hl7-peers";
import {
  afterAnyRetry,
  CLIENT_REFUSAL_CODE,
  CLIENT_REFUSAL_DETAIL,
  httpsFhirPeer,
  pem,
  REFUSED_CLIENT_CERTIFICATES,
} from "../../../support/tls-peers";

/**
 * FHIR over HTTPS with a custom CA and mutual TLS (tls-fetch.ts): the server requires a client
 * certificate signed by the test CA. The TLS fetch must behave as global fetch does for everything
 * else the sender relies on (status, headers, Retry-After, the bounded body, the timeout).
 */

const SERVER_CA = pem("receiver-cert.pem");
const CLIENT_CA = pem("test-ca.pem");
const OUR_CERT: ClientTlsSettings = {
  ca: SERVER_CA,
  rejectUnauthorized: true,
  cert: pem("client-cert.pem"),
  key: pem("client-key.pem"),
  passphrase: "test-passphrase",
};
const BUNDLE = { resourceType: "Bundle", type: "transaction", entry: [] };

const peers: Peer[] = [];
const senders: FhirSender[] = [];

function post(
  port: number,
  tls: ClientTlsSettings,
  overrides: Partial<FhirSendOptions> = {},
  events: FhirEvent[] = [],
): Promise<FhirOutcome> {
  const s = new FhirSender({
    baseUrl: `https://127.0.0.1:${port}/fhir`,
    headers: {},
    timeoutMs: 2000,
    retries: 0,
    backoffMs: 10,
    backoffMaxMs: 10,
    fetch: tlsFetch(tls, "127.0.0.1"),
    ...overrides,
  });
  senders.push(s);
  return s.post(BUNDLE, (e) => events.push(e));
}

function detailOf(outcome: FhirOutcome): string {
  assert.equal(outcome.status, "rejected");
  const detail = outcome.status === "rejected" ? outcome.detail : "";
  assert.doesNotMatch(
    detail,
    /-----BEGIN|MII[A-Za-z0-9+/]{8}|test-passphrase|node-red-mllp-client|other-client/,
  );
  return detail;
}

async function start(p: Promise<Peer & { clients: string[]; refused: number; received: string[] }>) {
  const started = await p;
  peers.push(started);
  return started;
}

afterEach(async () => {
  for (const s of senders.splice(0)) s.close();
  await Promise.all(peers.splice(0).map((p) => p.close()));
});

describe("FHIR over mutual TLS", () => {
  it("posts with the client certificate to a server that requires one, trusting the configured CA", async () => {
    const p = await start(httpsFhirPeer({ clientCa: CLIENT_CA }));
    const outcome = await post(p.port, OUR_CERT);
    assert.equal(outcome.status, "delivered");
    assert.deepEqual(p.clients, ["node-red-mllp-client"]);
    assert.deepEqual(JSON.parse(p.received[0] ?? "null"), BUNDLE);
  });

  for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
    for (const [name, ours] of REFUSED_CLIENT_CERTIFICATES) {
      it(`${version}, ${name}: refused by the server as "tls-client-certificate", not retried as a network failure`, async () => {
        const p = await start(httpsFhirPeer({ clientCa: CLIENT_CA, version }));
        const outcome = await post(p.port, { ...OUR_CERT, ...ours }, { retries: 3 });
        assert.equal(outcome.status === "rejected" && outcome.reason, "tls-client-certificate");
        assert.equal(outcome.attempts, 1, "the server's retries are not spent on it");
        assert.match(outcome.status === "rejected" ? (outcome.tlsCode ?? "") : "", CLIENT_REFUSAL_CODE);
        assert.match(detailOf(outcome), CLIENT_REFUSAL_DETAIL);
        await afterAnyRetry();
        assert.equal(p.refused, 1, "one handshake reached the server");
        assert.equal(p.received.length, 0);
      });
    }
  }

  it("refuses a server whose certificate has expired, is not from the configured CA, or does not name the host, once: not retried", async () => {
    const expired = await start(
      httpsFhirPeer({ cert: pem("expired-cert.pem"), key: pem("expired-key.pem") }),
    );
    const outcome = await post(expired.port, { ...OUR_CERT, ca: CLIENT_CA }, { retries: 3 });
    assert.equal(outcome.status === "rejected" && outcome.reason, "tls-certificate");
    assert.equal(outcome.status === "rejected" && outcome.tlsCode, "CERT_HAS_EXPIRED");
    assert.equal(outcome.attempts, 1);
    assert.equal(
      detailOf(outcome),
      "TLS certificate rejected by this node: the receiver's certificate has expired (CERT_HAS_EXPIRED)",
    );
    const wrongCa = await start(httpsFhirPeer());
    const untrusted = await post(wrongCa.port, { ...OUR_CERT, ca: CLIENT_CA }, { retries: 3 });
    assert.equal(untrusted.status === "rejected" && untrusted.tlsCode, "DEPTH_ZERO_SELF_SIGNED_CERT");
    assert.match(
      detailOf(untrusted),
      /self-signed and not the configured CA \(DEPTH_ZERO_SELF_SIGNED_CERT\)/,
    );
    const wrongHost = await post(
      wrongCa.port,
      { ca: SERVER_CA, rejectUnauthorized: true, servername: "ehr.example.org" },
      { retries: 3 },
    );
    assert.equal(wrongHost.status === "rejected" && wrongHost.tlsCode, "ERR_TLS_CERT_ALTNAME_INVALID");
    assert.equal(wrongHost.attempts, 1);
    await afterAnyRetry();
    assert.equal(expired.received.length + wrongCa.received.length, 0);
    assert.equal(expired.refused + wrongCa.refused, 3, "one handshake each");
  });

  it("a server that took our certificate answers as before (no hold): a 503 is retried", async () => {
    const p = await start(httpsFhirPeer({ clientCa: CLIENT_CA, version: "TLSv1.3" }, [{ status: 503 }]));
    const outcome = await post(p.port, OUR_CERT, { retries: 1 });
    assert.equal(outcome.status, "delivered");
    assert.equal(p.received.length, 2);
  });
});

describe("TLS fetch, as the sender reads it", () => {
  it("passes the status and headers: a Retry-After HTTP-date delays the retry", async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const p = await start(
      httpsFhirPeer({}, [
        {
          status: 503,
          headers: { "retry-after": inAMinute },
          body: { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "transient" }] },
        },
      ]),
    );
    const events: FhirEvent[] = [];
    const outcome = await post(
      p.port,
      { ca: SERVER_CA, rejectUnauthorized: true },
      { retries: 1, backoffMaxMs: 80 },
      events,
    );
    assert.equal(outcome.status, "delivered");
    const retry = events.find((e) => e.type === "retry");
    assert.equal(
      retry?.type === "retry" && retry.delayMs,
      80,
      "the HTTP-date asked for more than the longest backoff",
    );
    assert.equal(p.received.length, 2);
  });

  it("reads 4xx bodies (OperationOutcome) and times out a body that never ends", async () => {
    const p = await start(
      httpsFhirPeer({}, [
        {
          status: 422,
          body: { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "invalid" }] },
        },
        { status: 200, body: { resourceType: "Bundle" }, stall: true },
      ]),
    );
    const tls = { ca: SERVER_CA, rejectUnauthorized: true };
    assert.equal(detailOf(await post(p.port, tls)), "HTTP 422, OperationOutcome: error/invalid");
    const started = Date.now();
    const stalled = await post(p.port, tls, { timeoutMs: 200 });
    assert.equal(stalled.status === "rejected" && stalled.reason, "timeout");
    assert.ok(Date.now() - started < 1500);
  });

  it("refuses an http URL rather than sending in the clear", async () => {
    const f = tlsFetch({ rejectUnauthorized: true }, "127.0.0.1");
    await assert.rejects(f("http://127.0.0.1:1/fhir", { method: "POST", body: "{}" }), /https URLs only/);
  });
});
