import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Bundle, Condition, DocumentReference, MedicationStatement } from "@medplum/fhirtypes";
import type { NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { encodeRecord } from "../../src/hospital/queue/journal";
import { documentWithText } from "../support/documents";
import { freePort } from "../support/hl7-peers";
import { medplumFhirPeer, stubFhirServer, type FhirPeer } from "../support/fhir-peers";
import {
  type FlowNode,
  builtNodes,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
  statusTexts,
  until,
} from "../support/node-red";
import { tempDir } from "../support/temp-dir";

const modules = builtNodes(["fhir-document", "fhir-server"]);
const PHI_MARKER = "ZZ-PHI-MARKER-2291";
const TEXT = "Assessment: stable | no ^ changes ~ R&L \\ ok\nPlan: review in 2 weeks.";

let peer: FhirPeer | undefined;

function load(
  server: Record<string, unknown> | undefined,
  node: Record<string, unknown> = {},
  credentials: Record<string, unknown> = {},
): Promise<void> {
  const nodes: FlowNode[] = [
    {
      id: "fhir",
      type: "fhir-document",
      server: server ? "srv" : "",
      loincCode: "11506-3",
      loincText: "Progress note",
      security: "DICTAST,AIAST",
      identifierSystem: "urn:ietf:rfc:3986",
      patient: "patient",
      patientType: "msg",
      encounter: "encounter",
      encounterType: "msg",
      wires: [["ok"], ["failed"], ["audit"]],
      ...node,
    },
    ...(server
      ? [
          {
            id: "srv",
            type: "fhir-server",
            name: "test fhir",
            auth: "none",
            timeout: "1",
            retries: "1",
            backoff: "0.01",
            backoffMax: "0.02",
            // The in-memory queue's behaviour; the durable queue has its own cases below.
            queueStore: "memory",
            ...server,
          } as FlowNode,
        ]
      : []),
  ];
  return helper.load(
    modules,
    flowWithCatch(nodes, ["ok", "failed", "audit"]),
    server ? { srv: credentials } : {},
  );
}

const send = (msg: Record<string, unknown>): void => helper.getNode("fhir").receive(msg);

// Node-RED's user directory for these tests: the durable queue lives below it by default.
const userDir = tempDir("fhir-document-spec-");
helper.settings({ userDir });

describe(`fhir-document node (${runtimeLabel})`, () => {
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(join(userDir, "medstream-queue"), { recursive: true, force: true });
  });

  it("without a server, emits the transaction Bundle ready for an http request node", async () => {
    await load(undefined);
    const out = nextMessage("ok");
    const document = documentWithText(TEXT);
    send({
      payload: document,
      patient: { reference: "Patient/p1" },
      encounter: { reference: "Encounter/e1" },
    });
    const msg = (await out) as NodeMessage & {
      method: string;
      headers: Record<string, string>;
      fhir: { ifNoneExist: string };
    };
    const bundle = msg.payload as Bundle;
    assert.equal(msg.method, "POST");
    assert.equal(msg.headers["content-type"], "application/fhir+json");
    assert.equal(bundle.type, "transaction");
    const doc = bundle.entry?.[0]?.resource as DocumentReference;
    assert.equal(doc.docStatus, "preliminary");
    assert.deepEqual(doc.subject, { reference: "Patient/p1" });
    assert.deepEqual(doc.context?.encounter, [{ reference: "Encounter/e1" }]);
    assert.deepEqual(
      doc.meta?.security?.map((s) => s.code),
      ["DICTAST", "AIAST"],
    );
    assert.equal(Buffer.from(doc.content[0]?.attachment.data ?? "", "base64").toString("utf8"), TEXT);
    assert.equal(bundle.entry?.[0]?.request?.ifNoneExist, msg.fhir.ifNoneExist);
    assert.match(msg.fhir.ifNoneExist, new RegExp(document.documentId));
  });

  it("POSTs to @medplum/fhir-router, which stores the document with the same text", async () => {
    const p = await medplumFhirPeer();
    peer = p;
    await load({ baseUrl: p.baseUrl });
    const out = nextMessage("ok", 5000);
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001", idSystem: "urn:oid:1.2.3" } });
    const msg = (await out) as NodeMessage & {
      fhir: { status: string; httpStatus: number; entries: Array<{ status: string; location: string }> };
    };
    assert.equal(msg.fhir.status, "delivered");
    assert.equal(msg.fhir.httpStatus, 200);
    assert.match(msg.fhir.entries[0]?.status ?? "", /^201/);
    const docs = await p.repo.searchResources<DocumentReference>({ resourceType: "DocumentReference" });
    assert.equal(Buffer.from(docs[0]?.content[0]?.attachment.data ?? "", "base64").toString("utf8"), TEXT);
  });

  it("with coded entities on, adds unconfirmed Conditions and status-unknown MedicationStatements that the server stores; never on a signed document", async () => {
    const p = await medplumFhirPeer();
    peer = p;
    await load({ baseUrl: p.baseUrl }, { codedEntities: true });
    const entities = [
      {
        category: "MEDICAL_CONDITION",
        text: "hypertension",
        traits: [{ name: "DIAGNOSIS", score: 0.9 }],
        codes: [{ system: "ICD-10-CM", code: "I10", description: "Essential (primary) hypertension" }],
      },
      {
        category: "MEDICAL_CONDITION",
        text: "chest pain",
        traits: [{ name: "NEGATION", score: 0.9 }],
        codes: [{ system: "ICD-10-CM", code: "R07.9", description: "Chest pain, unspecified" }],
      },
      {
        category: "MEDICATION",
        text: "metformin",
        attributes: [{ type: "DOSAGE", text: "500 mg" }],
        codes: [{ system: "RxNorm", code: "6809", description: "metformin" }],
      },
    ];
    const out = nextMessage("ok", 5000);
    send({
      payload: { ...documentWithText(TEXT), entities },
      patient: { id: "TEST-0001", idSystem: "urn:oid:1.2.3" },
      encounter: { reference: "Encounter/e1" },
    });
    const msg = (await out) as NodeMessage & { fhir: { status: string } };
    assert.equal(msg.fhir.status, "delivered");
    const [doc] = await p.repo.searchResources<DocumentReference>({ resourceType: "DocumentReference" });
    const conditions = await p.repo.searchResources<Condition>({ resourceType: "Condition" });
    const meds = await p.repo.searchResources<MedicationStatement>({ resourceType: "MedicationStatement" });
    assert.deepEqual(
      conditions.map((c) => [c.code?.coding?.[0]?.code, c.verificationStatus?.coding?.[0]?.code]),
      [["I10", "unconfirmed"]],
      "the negated condition is not sent",
    );
    assert.deepEqual(conditions[0]?.evidence?.[0]?.detail, [{ reference: `DocumentReference/${doc?.id}` }]);
    assert.deepEqual(conditions[0]?.encounter, { reference: "Encounter/e1" });
    assert.deepEqual(
      meds.map((m) => [m.status, m.medicationCodeableConcept?.coding?.[0]?.code, m.dosage?.[0]?.text]),
      [["unknown", "6809", "500 mg"]],
    );

    // The signed document (review-queue) goes without them: signing confirms the text, not the entities.
    const signed = nextMessage("ok", 5000);
    send({
      payload: {
        ...documentWithText(TEXT),
        entities,
        signoff: {
          event: "sign",
          trigger: "T04",
          version: 2,
          signer: "drsmith",
          at: "2026-01-15T15:00:00.000Z",
          completionStatus: "AU",
          edited: false,
        },
      },
      patient: { id: "TEST-0001", idSystem: "urn:oid:1.2.3" },
    });
    const bundle = ((await signed) as NodeMessage & { document: unknown; fhir: { status: string } }).fhir;
    assert.equal(bundle.status, "delivered");
    assert.equal((await p.repo.searchResources<Condition>({ resourceType: "Condition" })).length, 1);
    assert.equal(
      (await p.repo.searchResources<MedicationStatement>({ resourceType: "MedicationStatement" })).length,
      1,
    );
  });

  it("with coded entities off (the default), sends the document alone", async () => {
    await load(undefined, { codedEntities: undefined });
    const out = nextMessage("ok");
    send({
      payload: documentWithText(TEXT),
      entities: [{ category: "MEDICATION", text: "metformin", codes: [{ system: "RxNorm", code: "6809" }] }],
      patient: { reference: "Patient/p1" },
    });
    const bundle = (await out).payload as Bundle;
    assert.deepEqual(
      bundle.entry?.map((e) => e.resource?.resourceType),
      ["DocumentReference", "Provenance"],
    );
  });

  it("sends an OperationOutcome rejection to output 2 with its issues, not retried", async () => {
    const oo = {
      resourceType: "OperationOutcome",
      issue: [{ severity: "error", code: "required", diagnostics: "subject is required" }],
    };
    const p = await stubFhirServer([{ status: 400, body: oo }]);
    peer = p;
    await load({ baseUrl: p.baseUrl });
    const failed = nextMessage("failed");
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    const msg = (await failed) as NodeMessage & {
      fhir: { reason: string; detail: string; issues: unknown[]; attempts: number };
    };
    assert.equal(msg.fhir.reason, "http-error");
    assert.equal(msg.fhir.detail, "HTTP 400, OperationOutcome: error/required");
    assert.deepEqual(msg.fhir.issues, [
      { severity: "error", code: "required", diagnostics: "subject is required" },
    ]);
    assert.equal(msg.fhir.attempts, 1);
    assert.equal(p.requests.length, 1);
  });

  it("sends the bearer token from the credentials, and audit events without PHI", async () => {
    const p = await stubFhirServer([
      { status: 503 },
      { status: 200, body: { resourceType: "Bundle", type: "transaction-response", entry: [] } },
    ]);
    peer = p;
    await load({ baseUrl: p.baseUrl, auth: "bearer" }, {}, { token: "secret-test-token" });
    const audit = collect("audit");
    const ok = nextMessage("ok");
    send({ payload: documentWithText(`${PHI_MARKER} text`), patient: { id: PHI_MARKER } });
    await ok;
    await delay(20);
    assert.equal(p.requests[0]?.headers.authorization, "Bearer secret-test-token");
    const events = audit.map((m) => m.payload as AuditEvent);
    assert.deepEqual(
      events.map((e) => [e.event, e.outcome ?? null]),
      [
        ["send", null],
        ["ack", "503"],
        ["attempt-failed", "http-error"],
        ["retry", null],
        ["send", null],
        ["ack", "200"],
        ["delivered", "200"],
      ],
    );
    for (const e of events) assert.equal(e.destination, "test fhir");
    const n = helper.getNode("fhir");
    for (const t of [...events.map((e) => JSON.stringify(e)), ...statusTexts(n), ...loggedTexts(n)]) {
      assert.ok(!t.includes(PHI_MARKER) && !t.includes("secret-test-token") && !t.includes("127.0.0.1"), t);
    }
  });

  it("refuses a missing patient and a payload that is not a document through catch", async () => {
    await load(undefined);
    const caught = collect("caught");
    send({ payload: documentWithText(TEXT), patient: { display: PHI_MARKER } });
    send({ payload: "text" });
    await delay(50);
    // The document check is synchronous, the patient check waits for the TypedInputs: order by text.
    const messages = caught.map((m) => (m.error as { message: string }).message).sort();
    assert.match(
      messages[0] ?? "",
      /msg\.patient\.reference or msg\.patient\.id is required for DocumentReference\.subject/,
    );
    assert.equal(messages.length, 2);
    assert.match(messages[1] ?? "", /NotATranscriptDocumentError: msg\.payload is not a transcript document/);
    for (const m of messages) assert.ok(!m.includes(PHI_MARKER));
  });

  it("refuses a server URL that carries credentials at deploy", async () => {
    await load({ baseUrl: "https://user:pw@fhir.example.org/r4" });
    assert.ok(statusTexts(helper.getNode("fhir")).includes("fhir-document.status.misconfigured"));
    const caught = nextMessage("caught");
    send({ payload: documentWithText(TEXT), patient: { id: "x" } });
    const message = ((await caught).error as { message: string }).message;
    assert.match(message, /base URL must be an http\(s\) URL without user, password or query/);
    assert.ok(!message.includes("pw@"));
  });

  it("starts with only id, type, z, wires and its server, the server with only id and type", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          { id: "fhir", type: "fhir-document", server: "srv", wires: [["ok"], ["failed"], ["audit"]] },
          { id: "srv", type: "fhir-server" },
          { id: "plain", type: "fhir-document", wires: [["ok"], ["failed"], ["audit"]] },
        ],
        ["ok", "failed", "audit"],
      ),
      {},
    );
    for (const id of ["fhir", "plain"]) {
      const n = helper.getNode(id);
      assert.ok(
        !statusTexts(n).includes("fhir-document.status.misconfigured"),
        JSON.stringify(statusTexts(n)),
      );
      assert.deepEqual(loggedTexts(n), []);
    }
    const srv = helper.getNode("srv") as unknown as { sender?: { maxQueue: number } };
    assert.equal(srv.sender?.maxQueue, 1000);
    const ok = nextMessage("ok");
    helper.getNode("plain").receive({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    const bundle = (await ok).payload as Bundle;
    assert.equal(bundle.type, "transaction");
    const doc = bundle.entry?.[0]?.resource as DocumentReference;
    assert.deepEqual(doc.type?.coding?.[0]?.code, "11506-3", "the editor's default LOINC code");
  });

  it("never passes on a credential the server echoes: messages, issues, logs and status are redacted", async () => {
    const token = "ZZ-PLANTED-t0ken-83d1f";
    const echo = {
      resourceType: "OperationOutcome",
      issue: [
        {
          severity: "error",
          code: "security",
          diagnostics: `rejected header Authorization: Bearer ${token}`,
          details: { text: `token ${token} expired` },
        },
      ],
    };
    const p = await stubFhirServer([
      { status: 401, body: echo },
      { status: 200, body: { ...echo, resourceType: "Bundle", type: "transaction-response", entry: [] } },
    ]);
    peer = p;
    await load({ baseUrl: p.baseUrl, auth: "bearer" }, {}, { token });
    const failed = nextMessage("failed");
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    const rejected = (await failed) as NodeMessage & { fhir: { issues: Array<{ diagnostics?: string }> } };
    const ok = nextMessage("ok");
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    const delivered = await ok;
    await delay(600);
    assert.equal(p.requests[0]?.headers.authorization, `Bearer ${token}`, "the token was sent");
    assert.equal(rejected.fhir.issues[0]?.diagnostics, "rejected header Authorization: [REDACTED]");
    const n = helper.getNode("fhir");
    const seen = [JSON.stringify(rejected), JSON.stringify(delivered), ...statusTexts(n), ...loggedTexts(n)];
    for (const t of seen) assert.ok(!t.includes(token) && !t.includes("t0ken"), t);
  });

  it("reports a 200 with entry [null] as delivered on output 1, with the entries it could read and a note", async () => {
    const p = await stubFhirServer([
      {
        status: 200,
        body: {
          resourceType: "Bundle",
          type: "transaction-response",
          entry: [null, { response: { status: "201 Created", location: "Provenance/9/_history/1" } }],
        },
      },
    ]);
    peer = p;
    await load({ baseUrl: p.baseUrl });
    const caught = collect("caught");
    const ok = nextMessage("ok");
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    const msg = (await ok) as NodeMessage & { fhir: Record<string, unknown> };
    assert.equal(msg.fhir.status, "delivered");
    assert.deepEqual(msg.fhir.entries, [{ status: "201 Created", location: "Provenance/9/_history/1" }]);
    assert.deepEqual(msg.fhir.notes, [
      "1 of 2 response entries could not be read (no status, or a Location that is not a URI)",
    ]);
    assert.equal(caught.length, 0);
  });

  it("refuses a document that finds the server's queue full through catch, naming the server and the bound", async () => {
    const p = await stubFhirServer(["hang"]);
    peer = p;
    await load({ baseUrl: p.baseUrl, timeout: "5", queueDepth: "1" });
    const caught = collect("caught");
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    send({ payload: documentWithText(TEXT), patient: { id: "TEST-0001" } });
    await delay(600);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, "")),
      [
        'fhir-document: the queue to "test fhir" is full (at most 1 transactions and 64 MiB waiting or in flight): the document was refused and not sent',
      ],
    );
    assert.equal(p.requests.length, 1);
    const texts = statusTexts(helper.getNode("fhir"));
    assert.ok(texts.includes("0 sent, 0 failed, 1 refused: queue full (1)"), JSON.stringify(texts));
  });
});

describe(`fhir-document node with the durable (disk) queue (${runtimeLabel})`, () => {
  let queueDir: string;
  const loadDurable = (baseUrl: string, server: Record<string, unknown> = {}): Promise<void> =>
    load({
      baseUrl,
      queueStore: "disk",
      queueDir,
      retries: "0",
      backoff: "0.05",
      backoffMax: "0.1",
      ...server,
    });
  type Queued = { current?: { depth: number } };
  const depth = (): number =>
    (helper.getNode("srv") as unknown as { destination?: Queued }).destination?.current?.depth ?? -1;
  const identifierOf = (body: unknown): unknown => (body as { identifier?: unknown }).identifier;

  beforeEach(() => {
    queueDir = mkdtempSync(join(tmpdir(), "fhir-queue-"));
  });
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(queueDir, { recursive: true, force: true });
  });

  it("keeps a document across a restart while the server is down, then sends the same Bundle (identifier, ifNoneExist) once", async () => {
    const down = `http://127.0.0.1:${await freePort()}/fhir`;
    await loadDurable(down);
    const document = documentWithText(`${TEXT} ${PHI_MARKER}`);
    send({ payload: document, patient: { reference: "Patient/p1" } });
    await until(() => depth() === 1);
    assert.ok(readFileSync(join(queueDir, "fhir-srv", "journal.log"), "utf8").includes(document.documentId));
    await helper.unload();

    const p = await stubFhirServer();
    peer = p;
    await loadDurable(p.baseUrl);
    const ok = (await nextMessage("ok", 5000)) as NodeMessage & {
      fhir: { status: string; documentId: string };
    };
    assert.equal(ok.fhir.status, "delivered");
    assert.equal(ok.fhir.documentId, document.documentId);
    assert.equal(p.requests.length, 1);
    const body = p.requests[0]?.body as Bundle;
    assert.deepEqual(identifierOf(body), {
      system: "urn:ietf:rfc:3986",
      value: `urn:uuid:${document.documentId}`,
    });
    assert.match(body.entry?.[0]?.request?.ifNoneExist ?? "", new RegExp(document.documentId));
    await until(() => depth() === 0);
    await helper.unload();

    await loadDurable(p.baseUrl);
    await delay(300);
    assert.equal(p.requests.length, 1, "an accepted transaction is not sent again");
  });

  it("retries a 503 with the same bytes until accepted, telling Catch once that it stays queued", async () => {
    const accepted = { resourceType: "Bundle", type: "transaction-response", entry: [] };
    const p = await stubFhirServer([{ status: 503 }, { status: 503 }, { status: 200, body: accepted }]);
    peer = p;
    await loadDurable(p.baseUrl);
    const caught = collect("caught");
    send({ payload: documentWithText(TEXT), patient: { reference: "Patient/p1" } });
    const ok = (await nextMessage("ok", 5000)) as NodeMessage & {
      fhir: { status: string; attempts: number };
    };
    assert.equal(ok.fhir.status, "delivered");
    assert.equal(ok.fhir.attempts, 3);
    assert.equal(p.requests.length, 3);
    assert.equal(caught.length, 1, "Catch hears once that the transaction stays queued");
    assert.match(JSON.stringify(caught[0]), /stays queued on disk/);
    assert.deepEqual(
      p.requests.map((r) => JSON.stringify(r.body)),
      p.requests.map(() => JSON.stringify(p.requests[0]?.body)),
    );
  });

  it("delivers every whole record after damage in the middle of the journal, and reports the damage to Catch and the status", async () => {
    // A journal as a previous process left it, with the record of the second transaction damaged.
    const record = (seq: number, key: string): Buffer =>
      encodeRecord({
        t: "enq",
        seq,
        key,
        origin: "fhir",
        at: seq,
        body: JSON.stringify({ resourceType: "Bundle", type: "transaction", id: key, entry: [] }),
      });
    const damaged = record(2, "doc-2");
    damaged[20] ^= 0x5a;
    mkdirSync(join(queueDir, "fhir-srv"), { recursive: true });
    writeFileSync(
      join(queueDir, "fhir-srv", "journal.log"),
      Buffer.concat([record(1, "doc-1"), damaged, record(3, "doc-3")]),
    );
    const p = await stubFhirServer();
    peer = p;
    await loadDurable(p.baseUrl);
    await until(() => p.requests.length === 2, 5000);
    assert.deepEqual(
      p.requests.map((r) => (r.body as { id?: string }).id),
      ["doc-1", "doc-3"],
    );
    const node = helper.getNode("fhir");
    const { error } = node as unknown as { error: { args: unknown[][] } };
    // node.error(err, msg): the form that reaches Catch nodes.
    const report = error.args.find(([e]) => e instanceof Error && /damaged in the middle/.test(e.message));
    assert.ok(report, loggedTexts(node).join("\n"));
    assert.equal(report.length, 2);
    const message = (report[0] as Error).message;
    assert.match(
      message,
      new RegExp(
        `^fhir-document: the queue journal of "test fhir" was damaged in the middle: ${damaged.length} bytes in 1 place\\(s\\) could not be read \\(about 1 record\\(s\\).* kept in journal\\.log\\.damaged-`,
      ),
    );
    // No content of the transactions, no directory (only the side file's name).
    assert.doesNotMatch(message, /doc-[123]|resourceType|fhir-srv|\//);
    await until(() => statusTexts(node).some((t) => /^journal damaged: 1 record/.test(t)));
    assert.ok(readdirSync(join(queueDir, "fhir-srv")).some((f) => f.startsWith("journal.log.damaged-")));
  });

  it("does not follow a redirect: failed output saying so, nothing sent elsewhere, nothing left queued", async () => {
    const accepted = { resourceType: "Bundle", type: "transaction-response", entry: [] };
    const p = await stubFhirServer([
      { status: 302, headers: { location: "/login" } },
      { status: 200, body: accepted },
    ]);
    peer = p;
    await loadDurable(p.baseUrl);
    const ok = collect("ok");
    send({ payload: documentWithText(TEXT), patient: { reference: "Patient/p1" } });
    const failed = (await nextMessage("failed", 3000)) as NodeMessage & {
      fhir: { status: string; reason: string; httpStatus: number; detail: string };
    };
    assert.deepEqual(
      [failed.fhir.status, failed.fhir.reason, failed.fhir.httpStatus],
      ["rejected", "http-error", 302],
    );
    assert.match(failed.fhir.detail, /a redirect, not followed: set the base URL/);
    await until(() => depth() === 0);
    await delay(100);
    assert.equal(ok.length, 0, "never reported delivered");
    assert.deepEqual(
      p.requests.map((r) => `${r.method} ${r.url}`),
      ["POST /fhir"],
    );
  });

  it("takes a 412 to the conditional create as the document already held: delivered once, with a note", async () => {
    const p = await stubFhirServer([
      {
        status: 412,
        body: { resourceType: "OperationOutcome", issue: [{ severity: "error", code: "processing" }] },
      },
    ]);
    peer = p;
    await loadDurable(p.baseUrl);
    const caught = collect("caught");
    send({ payload: documentWithText(TEXT), patient: { reference: "Patient/p1" } });
    const ok = (await nextMessage("ok", 3000)) as NodeMessage & {
      fhir: { status: string; httpStatus: number; notes: string[]; attempts: number };
    };
    assert.deepEqual(
      [ok.fhir.status, ok.fhir.httpStatus, ok.fhir.attempts, ok.fhir.notes],
      [
        "delivered",
        412,
        1,
        ["the server already holds this document (HTTP 412 to the conditional create): not created again"],
      ],
    );
    await until(() => depth() === 0);
    await delay(100);
    assert.equal(p.requests.length, 1);
    assert.equal(caught.length, 0);
  });

  it("rejects a 200 carrying an OperationOutcome error: its text on msg.fhir.issues only, never in detail, Catch, status or log", async () => {
    const p = await stubFhirServer([
      {
        status: 200,
        body: {
          resourceType: "OperationOutcome",
          issue: [{ severity: "error", code: "processing", diagnostics: `Patient ${PHI_MARKER} not found` }],
        },
      },
    ]);
    peer = p;
    await loadDurable(p.baseUrl);
    const caught = collect("caught");
    send({ payload: documentWithText(TEXT), patient: { reference: "Patient/p1" } });
    const failed = (await nextMessage("failed", 3000)) as NodeMessage & {
      fhir: { reason: string; detail: string; issues: Array<{ diagnostics?: string }> };
    };
    assert.equal(failed.fhir.reason, "outcome-error");
    assert.equal(
      failed.fhir.detail,
      "HTTP 200 (a success status with an OperationOutcome that reports an error), OperationOutcome: error/processing",
    );
    assert.equal(failed.fhir.issues[0]?.diagnostics, `Patient ${PHI_MARKER} not found`);
    await until(() => depth() === 0);
    await delay(100);
    const node = helper.getNode("fhir");
    const seen = [...statusTexts(node), ...loggedTexts(node), ...caught.map((m) => JSON.stringify(m))];
    assert.ok(!seen.some((t) => t.includes(PHI_MARKER)), seen.join("\n"));
    assert.equal(p.requests.length, 1, "not retried");
  });

  it("records a 400 as final: failed output, not sent again after a restart", async () => {
    const p = await stubFhirServer([{ status: 400, body: { resourceType: "OperationOutcome", issue: [] } }]);
    peer = p;
    await loadDurable(p.baseUrl);
    send({ payload: documentWithText(TEXT), patient: { reference: "Patient/p1" } });
    const failed = (await nextMessage("failed", 3000)) as NodeMessage & { fhir: { reason: string } };
    assert.equal(failed.fhir.reason, "http-error");
    await until(() => depth() === 0);
    await helper.unload();
    await loadDurable(p.baseUrl);
    await delay(300);
    assert.equal(p.requests.length, 1);
  });
});
