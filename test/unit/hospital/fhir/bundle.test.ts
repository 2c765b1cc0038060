import { strict as assert } from "node:assert";
import type { DocumentReference, Provenance } from "@medplum/fhirtypes";
import {
  buildFhirBundle,
  checkFhirEncounter,
  checkFhirPatient,
  DEFAULT_FHIR_OPTIONS,
  FhirFieldError,
} from "../../../../src/hospital/fhir/bundle";
import { FhirSender, retryAfter, type FhirEvent, type FhirOutcome } from "../../../../src/hospital/fhir/send";
import { documentWithText } from "../../../support/documents";
import { medplumFhirPeer, stubFhirServer, type FhirPeer } from "../../../support/fhir-peers";

const TEXT = "BP 120/80 | pain 3^4 ~ R&L knee \\ note\nµg °C ± done";
const NOW = new Date("2026-01-15T14:31:05Z");

function bundle(text = TEXT) {
  return buildFhirBundle(
    documentWithText(text),
    checkFhirPatient({ id: "TEST-0001", idSystem: "urn:oid:1.2.3.4" }, "msg.patient"),
    checkFhirEncounter({ reference: "Encounter/e1", author: { display: "Dr Docname" } }),
    DEFAULT_FHIR_OPTIONS,
    NOW,
  );
}

function sender(
  baseUrl: string,
  overrides: Partial<ConstructorParameters<typeof FhirSender>[0]> = {},
): FhirSender {
  return new FhirSender({
    baseUrl,
    headers: {},
    timeoutMs: 1000,
    retries: 2,
    backoffMs: 10,
    backoffMaxMs: 40,
    ...overrides,
  });
}

const peers: FhirPeer[] = [];
async function peer<P extends FhirPeer>(p: Promise<P>): Promise<P> {
  const started = await p;
  peers.push(started);
  return started;
}

describe("FHIR transaction bundle", () => {
  it("holds a preliminary DocumentReference with the text as base64 UTF-8 and a machine Provenance", () => {
    const { bundle: b, ifNoneExist } = bundle();
    assert.equal(b.type, "transaction");
    const [docEntry, provEntry] = b.entry ?? [];
    const doc = docEntry?.resource as DocumentReference;
    assert.equal(doc.status, "current");
    assert.equal(doc.docStatus, "preliminary");
    assert.deepEqual(doc.type?.coding?.[0], {
      system: "http://loinc.org",
      code: "11506-3",
      display: "Progress note",
    });
    const attachment = doc.content[0]?.attachment;
    assert.equal(attachment?.contentType, "text/plain; charset=utf-8");
    assert.equal(Buffer.from(attachment?.data ?? "", "base64").toString("utf8"), TEXT);
    assert.equal(attachment?.size, Buffer.byteLength(TEXT));
    const id = "urn:uuid:3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11";
    assert.deepEqual(doc.masterIdentifier, { system: "urn:ietf:rfc:3986", value: id });
    assert.deepEqual(doc.identifier, [{ system: "urn:ietf:rfc:3986", value: id }]);
    assert.equal(docEntry?.fullUrl, id);
    assert.deepEqual(docEntry?.request, {
      method: "POST",
      url: "DocumentReference",
      ifNoneExist: `identifier=urn%3Aietf%3Arfc%3A3986|urn%3Auuid%3A3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11`,
    });
    assert.equal(ifNoneExist, docEntry?.request?.ifNoneExist);
    assert.deepEqual(doc.subject, { identifier: { system: "urn:oid:1.2.3.4", value: "TEST-0001" } });
    assert.deepEqual(
      doc.meta?.security?.map((c) => c.code),
      ["DICTAST"],
    );
    const prov = provEntry?.resource as Provenance;
    assert.deepEqual(prov.target, [{ reference: id }]);
    assert.equal(prov.recorded, NOW.toISOString());
    assert.equal(prov.agent[0]?.type?.coding?.[0]?.code, "assembler");
    assert.match(prov.agent[0]?.who?.display ?? "", /machine transcript/);
  });

  it("names a missing patient without echoing values", () => {
    assert.throws(
      () => checkFhirPatient({ display: "x" }, "msg.patient"),
      (e: unknown) =>
        e instanceof FhirFieldError &&
        /^msg\.patient\.reference or msg\.patient\.id is required for DocumentReference\.subject/.test(
          e.message,
        ),
    );
  });
});

describe("FHIR sender", () => {
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });

  it("stores the transaction in @medplum/fhir-router: the Provenance points at the stored DocumentReference", async () => {
    const p = await peer(medplumFhirPeer());
    const outcome = await sender(p.baseUrl).post(bundle().bundle);
    assert.equal(outcome.status, "delivered");
    assert.equal(outcome.status === "delivered" && outcome.httpStatus, 200);
    const docs = await p.repo.searchResources<DocumentReference>({ resourceType: "DocumentReference" });
    assert.equal(docs.length, 1);
    const stored = docs[0] as DocumentReference & { id: string };
    assert.equal(Buffer.from(stored.content[0]?.attachment.data ?? "", "base64").toString("utf8"), TEXT);
    assert.equal(stored.docStatus, "preliminary");
    const provs = await p.repo.searchResources<Provenance>({ resourceType: "Provenance" });
    assert.deepEqual(provs[0]?.target, [{ reference: `DocumentReference/${stored.id}` }]);
    assert.equal(p.requests[0]?.headers["content-type"], "application/fhir+json");
    assert.equal(p.requests[0]?.url, "/fhir");
  });

  it("a resend with ifNoneExist finds the first copy on a server with conditional create", async () => {
    const p = await peer(stubFhirServer());
    const b = bundle().bundle;
    const first = await sender(p.baseUrl).post(b);
    const second = await sender(p.baseUrl).post(b);
    assert.equal(first.status === "delivered" && first.entries[0]?.status, "201 Created");
    assert.equal(second.status === "delivered" && second.entries[0]?.status, "200 OK");
    assert.equal(
      second.status === "delivered" && second.entries[0]?.location,
      first.status === "delivered" ? first.entries[0]?.location : "",
    );
    assert.equal(p.stored.size, 1);
  });

  it("surfaces an OperationOutcome on 4xx without retrying", async () => {
    const oo = {
      resourceType: "OperationOutcome",
      issue: [
        { severity: "error", code: "invalid", diagnostics: "DocumentReference.subject: reference not found" },
      ],
    };
    const p = await peer(stubFhirServer([{ status: 422, body: oo }]));
    const outcome = await sender(p.baseUrl).post(bundle().bundle);
    assert.equal(outcome.status, "rejected");
    if (outcome.status !== "rejected") return;
    assert.equal(outcome.httpStatus, 422);
    assert.equal(outcome.attempts, 1);
    assert.equal(outcome.detail, "HTTP 422, OperationOutcome: error/invalid");
    assert.deepEqual(outcome.issues, [
      { severity: "error", code: "invalid", diagnostics: "DocumentReference.subject: reference not found" },
    ]);
    assert.equal(p.requests.length, 1);
  });

  it("retries 503 and 429 with backoff, the same bundle each time", async () => {
    const p = await peer(
      stubFhirServer([
        { status: 503 },
        { status: 429, headers: { "retry-after": "0" } },
        { status: 200, body: { resourceType: "Bundle", type: "transaction-response", entry: [] } },
      ]),
    );
    const events: FhirEvent[] = [];
    const outcome = await sender(p.baseUrl).post(bundle().bundle, (e) => events.push(e));
    assert.equal(outcome.status, "delivered");
    assert.equal(outcome.attempts, 3);
    assert.equal(new Set(p.requests.map((r) => JSON.stringify(r.body))).size, 1);
    assert.deepEqual(
      events.filter((e) => e.type === "retry").map((e) => (e as { delayMs: number }).delayMs),
      [10, 20],
    );
  });

  it("times out a server that never answers, then gives up after the retries", async () => {
    const p = await peer(stubFhirServer(["hang"]));
    const outcome = await sender(p.baseUrl, { timeoutMs: 100, retries: 1 }).post(bundle().bundle);
    assert.equal(outcome.status === "rejected" && outcome.reason, "timeout");
    assert.equal(outcome.attempts, 2);
  });

  it("sends the configured Authorization header", async () => {
    const p = await peer(stubFhirServer());
    await sender(p.baseUrl, { headers: { authorization: "Bearer test-token" } }).post(bundle().bundle);
    assert.equal(p.requests[0]?.headers.authorization, "Bearer test-token");
  });

  it("reports a 200 whose entries include null or a malformed Location as delivered, with the entries it could read", async () => {
    const body = {
      resourceType: "Bundle",
      type: "transaction-response",
      entry: [
        null,
        { response: { status: "201 Created", location: "DocumentReference/7/_history/1" } },
        { response: { status: "201 Created", location: "http://[not a uri" } },
        { response: { location: 5 } },
        "garbage",
      ],
    };
    const p = await peer(stubFhirServer([{ status: 200, body }]));
    const outcome = await sender(p.baseUrl).post(bundle().bundle);
    assert.equal(outcome.status, "delivered");
    if (outcome.status !== "delivered") return;
    assert.equal(outcome.attempts, 1, "an accepted transaction is never sent again");
    assert.deepEqual(outcome.entries, [
      { status: "201 Created", location: "DocumentReference/7/_history/1" },
      { status: "201 Created" },
    ]);
    assert.deepEqual(outcome.notes, [
      "4 of 5 response entries could not be read (no status, or a Location that is not a URI)",
    ]);
  });

  for (const [what, answer, note] of [
    ["a body that is not JSON", { status: 200, raw: "<html>OK</html>" }, "the response body is not JSON"],
    ["an empty body", { status: 201, raw: "" }, "the response body is empty"],
    [
      "a body nested too deeply",
      { status: 200, raw: `${"[".repeat(100_000)}${"]".repeat(100_000)}` },
      "the response body is nested too deeply to be FHIR",
    ],
  ] as const) {
    it(`reports a 2xx with ${what} as delivered, with a note and no entries`, async () => {
      const p = await peer(stubFhirServer([answer]));
      const outcome = await sender(p.baseUrl).post(bundle().bundle);
      assert.equal(outcome.status, "delivered");
      assert.deepEqual(outcome.status === "delivered" && [outcome.entries, outcome.notes, outcome.response], [
        [],
        [note],
        undefined,
      ]);
    });
  }

  it("stops reading a response body past 1 MiB, even one that never ends, and still reports the 200", async () => {
    let written = 0;
    const p = await peer(
      stubFhirServer([
        (res) => {
          res.writeHead(200, { "content-type": "application/fhir+json" });
          const chunk = Buffer.alloc(64 * 1024, 0x20);
          const timer = setInterval(() => {
            if (res.destroyed) clearInterval(timer);
            else {
              written += chunk.length;
              res.write(chunk);
            }
          }, 1);
          res.on("close", () => clearInterval(timer));
        },
      ]),
    );
    const outcome = await sender(p.baseUrl, { timeoutMs: 5000 }).post(bundle().bundle);
    assert.equal(outcome.status, "delivered");
    assert.deepEqual(outcome.status === "delivered" && outcome.notes, [
      "the response body exceeded 1048576 bytes and was not read",
    ]);
    assert.ok(written < 16 * 1024 * 1024, "the server was cut off soon after the bound");
  });

  it("does not read a body whose Content-Length is past the bound", async () => {
    const p = await peer(
      stubFhirServer([{ status: 422, raw: Buffer.alloc(2 * 1024 * 1024, 0x20), headers: {} }]),
    );
    const outcome = await sender(p.baseUrl).post(bundle().bundle);
    assert.deepEqual(outcome.status === "rejected" && [outcome.reason, outcome.httpStatus, outcome.issues], [
      "http-error",
      422,
      [],
    ]);
  });

  it("times out a server that sends its headers and then trickles the body: the timeout covers the body", async () => {
    const p = await peer(
      stubFhirServer([
        (res) => {
          res.writeHead(200, { "content-type": "application/fhir+json" });
          res.write("{");
          const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(" ")), 20);
          res.on("close", () => clearInterval(timer));
        },
      ]),
    );
    const outcome = await sender(p.baseUrl, { timeoutMs: 150, retries: 0 }).post(bundle().bundle);
    assert.equal(outcome.status === "rejected" && outcome.reason, "timeout");
    assert.equal(outcome.status === "rejected" && outcome.detail, "no complete response within 150 ms");
  });

  it("honours a Retry-After given as an HTTP-date (up to the longest backoff)", async () => {
    const inAMinute = new Date(Date.now() + 60_000).toUTCString();
    const p = await peer(
      stubFhirServer([
        { status: 503, headers: { "retry-after": inAMinute } },
        { status: 200, body: { resourceType: "Bundle", type: "transaction-response", entry: [] } },
      ]),
    );
    const events: FhirEvent[] = [];
    const outcome = await sender(p.baseUrl, { backoffMs: 10, backoffMaxMs: 80 }).post(bundle().bundle, (e) =>
      events.push(e),
    );
    assert.equal(outcome.status, "delivered");
    assert.deepEqual(
      events.filter((e) => e.type === "retry").map((e) => (e as { delayMs: number }).delayMs),
      [80],
    );
    const now = Date.parse("2026-01-15T14:00:00Z");
    assert.equal(retryAfter("Thu, 15 Jan 2026 14:00:30 GMT", now), 30_000);
    assert.equal(retryAfter("Thu, 15 Jan 2026 13:00:00 GMT", now), 0, "a date past means at once");
    assert.equal(retryAfter("120", now), 120_000);
    assert.equal(retryAfter("soon", now), undefined);
    assert.equal(retryAfter(null, now), undefined);
  });

  it("redacts the configured credentials, and token shapes, from everything the server echoes", async () => {
    const token = "ZZ-SECRET-tok3n-5a7b9c";
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    const oo = {
      resourceType: "OperationOutcome",
      issue: [
        {
          severity: "error",
          code: `forbidden ${token}`,
          diagnostics: `Authorization: Bearer ${token} is not allowed`,
          details: {
            text: `token=${encodeURIComponent(token)}; other Bearer ${jwt}; Basic validation failed`,
          },
        },
      ],
      [`echo-${token}`]: { nested: [{ deeper: `x${token}x` }] },
    };
    const p = await peer(
      stubFhirServer([
        { status: 403, body: oo },
        { status: 200, body: oo },
      ]),
    );
    const s = sender(p.baseUrl, { headers: { authorization: `Bearer ${token}` }, secrets: [token] });
    const rejected = await s.post(bundle().bundle);
    const echoedWith200 = await s.post(bundle().bundle);
    for (const outcome of [rejected, echoedWith200] as FhirOutcome[]) {
      const seen = JSON.stringify(outcome);
      assert.ok(!seen.includes(token), seen);
      assert.ok(!seen.includes("tok3n"), seen);
      assert.ok(!seen.includes(jwt), seen);
    }
    assert.equal(rejected.status, "rejected");
    if (rejected.status !== "rejected") return;
    assert.deepEqual(rejected.issues[0], {
      severity: "error",
      code: "forbidden [REDACTED]",
      diagnostics: "Authorization: [REDACTED] is not allowed",
      details: "token=[REDACTED]; other Bearer [REDACTED]; Basic validation failed",
    });
    assert.equal(
      rejected.detail,
      "HTTP 403 (the credentials may not write here), OperationOutcome: error/?",
      "a code that is not a FHIR code is not shown",
    );
  });

  it("sends one transaction at a time, in order, and refuses one past the queue bound at once", async () => {
    const p = await peer(stubFhirServer());
    let inFlight = 0;
    let most = 0;
    const counting: typeof fetch = async (input, init) => {
      most = Math.max(most, ++inFlight);
      try {
        return await fetch(input, init);
      } finally {
        inFlight--;
      }
    };
    const s = sender(p.baseUrl, { maxQueue: 3, fetch: counting });
    const outcomes = await Promise.all([1, 2, 3, 4].map(() => s.post(bundle().bundle)));
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? o.reason : o.status)),
      ["delivered", "delivered", "delivered", "queue-full"],
    );
    assert.equal(outcomes[3]?.status === "rejected" && outcomes[3].attempts, 0);
    assert.equal(p.requests.length, 3, "the refused transaction was never sent");
    assert.equal(most, 1);
    assert.equal(s.queued, 0);
    assert.equal(s.queuedBytes, 0);
    const small = sender(p.baseUrl, { maxQueueBytes: 1000 });
    const big = await small.post(bundle("x".repeat(2000)).bundle);
    assert.equal(big.status === "rejected" && big.reason, "queue-full");
  });

  it("keeps delivering when an event listener throws", async () => {
    const p = await peer(stubFhirServer());
    const errors: Error[] = [];
    const s = sender(p.baseUrl, { onError: (e) => errors.push(e) });
    const outcome = await s.post(bundle().bundle, () => {
      throw new Error("listener bug");
    });
    assert.equal(outcome.status, "delivered");
    assert.ok(errors.length > 0);
    assert.equal((await s.post(bundle().bundle)).status, "delivered");
  });

  it("close() settles what waits in the queue and what is in flight", async () => {
    const p = await peer(stubFhirServer(["hang"]));
    const s = sender(p.baseUrl, { timeoutMs: 5000 });
    const pending = [s.post(bundle().bundle), s.post(bundle().bundle)];
    await new Promise((r) => setTimeout(r, 50));
    s.close();
    const outcomes = await Promise.all(pending);
    assert.deepEqual(
      outcomes.map((o) => o.status === "rejected" && o.reason),
      ["closed", "closed"],
    );
  });
});

describe("FHIR sender against hostile servers", () => {
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.close();
  });

  const stored = { resourceType: "Bundle", type: "transaction-response", entry: [] };
  const outcomeOf = (severity: string, code: string) => ({
    resourceType: "OperationOutcome",
    issue: [{ severity, code, diagnostics: "Patient TEST-0001 Doe" }],
  });

  for (const status of [301, 302, 303, 307, 308]) {
    it(`does not follow a ${status} redirect: rejected, not retried, and nothing sent elsewhere`, async () => {
      const p = await peer(
        stubFhirServer([
          { status, headers: { location: "/elsewhere" } },
          { status: 200, body: stored },
        ]),
      );
      const outcome = await sender(p.baseUrl).post(bundle().bundle);
      assert.deepEqual(
        outcome.status === "rejected" && [
          outcome.reason,
          outcome.httpStatus,
          outcome.attempts,
          outcome.detail,
        ],
        [
          "http-error",
          status,
          1,
          `HTTP ${status} (a redirect, not followed: set the base URL to the address the server names)`,
        ],
      );
      assert.deepEqual(
        p.requests.map((r) => `${r.method} ${r.url}`),
        ["POST /fhir"],
      );
    });
  }

  it("notes a 2xx that is no transaction-response (a server that stored the Bundle itself), naming only codes", async () => {
    const sent = bundle().bundle;
    const p = await peer(
      stubFhirServer([
        { status: 201, body: { ...sent, id: "b1" }, headers: { location: "Bundle/b1/_history/1" } },
        { status: 200, body: { resourceType: "Patient<script>", name: "Doe" } },
        { status: 200, body: { note: "stored" } },
      ]),
    );
    const s = sender(p.baseUrl);
    const notes: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await s.post(sent);
      notes.push(o.status === "delivered" && o.notes);
    }
    const advice = "not a transaction-response: check that the base URL is the server's FHIR base";
    assert.deepEqual(notes, [
      [
        `the server answered with a Bundle of type transaction, ${advice}`,
        `${sent.entry?.length} of ${sent.entry?.length} response entries could not be read (no status, or a Location that is not a URI)`,
      ],
      [`the server answered with JSON that is not a FHIR resource, ${advice}`],
      [`the server answered with JSON that is not a FHIR resource, ${advice}`],
    ]);
    const answered = await peer(stubFhirServer([{ status: 201, raw: "" }]));
    const empty = await sender(answered.baseUrl).post(sent);
    assert.deepEqual(empty.status === "delivered" && empty.notes, ["the response body is empty"]);
  });

  it("retries a 408 like a 429, honouring Retry-After in seconds", async () => {
    const p = await peer(
      stubFhirServer([
        { status: 408, headers: { "retry-after": "0" } },
        { status: 503, headers: { "retry-after": "1" } },
        { status: 200, body: stored },
      ]),
    );
    const events: FhirEvent[] = [];
    const outcome = await sender(p.baseUrl, { backoffMaxMs: 5000 }).post(bundle().bundle, (e) =>
      events.push(e),
    );
    assert.deepEqual([outcome.status, outcome.attempts], ["delivered", 3]);
    assert.deepEqual(
      events.filter((e) => e.type === "retry").map((e) => (e as { delayMs: number }).delayMs),
      [10, 1000],
    );
  });

  it("reports a 200 whose body is an OperationOutcome with an error as rejected, not retried, without its text in the detail", async () => {
    const p = await peer(stubFhirServer([{ status: 200, body: outcomeOf("error", "processing") }]));
    const outcome = await sender(p.baseUrl).post(bundle().bundle);
    assert.deepEqual(
      outcome.status === "rejected" && [outcome.reason, outcome.httpStatus, outcome.attempts, outcome.detail],
      [
        "outcome-error",
        200,
        1,
        "HTTP 200 (a success status with an OperationOutcome that reports an error), OperationOutcome: error/processing",
      ],
    );
    assert.equal(outcome.status === "rejected" && outcome.issues[0]?.diagnostics, "Patient TEST-0001 Doe");
    assert.equal(p.requests.length, 1);
    const warned = await peer(stubFhirServer([{ status: 200, body: outcomeOf("warning", "informational") }]));
    assert.equal((await sender(warned.baseUrl).post(bundle().bundle)).status, "delivered");
  });

  it("names what 401, 403 and 404 mean, and does not retry them", async () => {
    const p = await peer(stubFhirServer([{ status: 401 }, { status: 403 }, { status: 404 }]));
    const s = sender(p.baseUrl);
    const details: unknown[] = [];
    for (let i = 0; i < 3; i++) {
      const o = await s.post(bundle().bundle);
      details.push(o.status === "rejected" && [o.reason, o.attempts, o.detail]);
    }
    assert.deepEqual(details, [
      ["http-error", 1, "HTTP 401 (the server did not accept the credentials)"],
      ["http-error", 1, "HTTP 403 (the credentials may not write here)"],
      ["http-error", 1, "HTTP 404 (no FHIR endpoint at the base URL)"],
    ]);
    assert.equal(p.requests.length, 3);
  });

  it("takes a 412 (or a 409 duplicate) to the conditional create as the document already held: delivered once, with a note", async () => {
    for (const answer of [
      { status: 412, body: outcomeOf("error", "processing") },
      { status: 409, body: outcomeOf("error", "duplicate") },
    ]) {
      const p = await peer(stubFhirServer([answer]));
      const outcome = await sender(p.baseUrl).post(bundle().bundle);
      assert.deepEqual(
        outcome.status === "delivered" && [outcome.httpStatus, outcome.attempts, outcome.notes],
        [
          answer.status,
          1,
          [
            `the server already holds this document (HTTP ${answer.status} to the conditional create): not created again`,
          ],
        ],
      );
      assert.equal(p.requests.length, 1);
    }
  });

  it("rejects a 409 that is no duplicate, and a 412 to a transaction that updates (a sign-off)", async () => {
    const p = await peer(
      stubFhirServer([
        { status: 409, body: outcomeOf("error", "conflict") },
        { status: 412, body: outcomeOf("error", "processing") },
      ]),
    );
    const s = sender(p.baseUrl);
    const conflict = await s.post(bundle().bundle);
    const update = bundle().bundle as unknown as { entry: Array<{ request: Record<string, string> }> };
    const first = update.entry[0];
    if (first) first.request = { method: "PUT", url: `DocumentReference?${bundle().ifNoneExist}` };
    const precondition = await s.post(update);
    assert.deepEqual(
      [conflict, precondition].map((o) => o.status === "rejected" && [o.reason, o.httpStatus, o.attempts]),
      [
        ["http-error", 409, 1],
        ["http-error", 412, 1],
      ],
    );
  });

  it("resends the same ifNoneExist after the server stored the transaction and dropped the connection: one copy", async () => {
    const p = await peer(stubFhirServer(["store", "store-then-drop", "store"]));
    const s = sender(p.baseUrl);
    const first = await s.post(bundle("first document").bundle);
    const b = bundle("second document");
    const second = await s.post(b.bundle);
    assert.deepEqual([first.status, first.attempts], ["delivered", 1]);
    assert.deepEqual(
      second.status === "delivered" && [second.attempts, second.entries[0]?.status],
      [2, "200 OK"],
      "the resend found the copy the dropped attempt stored",
    );
    const sent = p.requests
      .slice(1)
      .map(
        (r) =>
          (r.body as { entry: Array<{ request: { ifNoneExist?: string } }> }).entry[0]?.request.ifNoneExist,
      );
    assert.deepEqual(sent, [b.ifNoneExist, b.ifNoneExist], "every attempt carries the same ifNoneExist");
    assert.equal([...p.stored.keys()].filter((k) => k === b.ifNoneExist).length, 1);
  });
});
