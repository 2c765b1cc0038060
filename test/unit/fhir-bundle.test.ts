import { strict as assert } from "node:assert";
import type { DocumentReference, Provenance } from "@medplum/fhirtypes";
import {
  buildFhirBundle,
  checkFhirEncounter,
  checkFhirPatient,
  DEFAULT_FHIR_OPTIONS,
  FhirFieldError,
} from "../../src/hospital/fhir/bundle";
import { FhirSender, type FhirEvent } from "../../src/hospital/fhir/send";
import { documentWithText } from "../support/documents";
import { medplumFhirPeer, stubFhirServer, type FhirPeer } from "../support/fhir-peers";

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
});
