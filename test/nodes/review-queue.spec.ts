import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeAPI, NodeInitializer, NodeMessage } from "node-red";
import { Hl7Message } from "@medplum/core";
import type { DocumentReference } from "@medplum/fhirtypes";
import { documentWithText, syntheticPatient } from "../support/documents";
import {
  builtNode,
  collect,
  flowWithCatch,
  helper,
  redeploy,
  runtimeLabel,
  until,
  type FlowNode,
} from "../support/node-red";

/**
 * review-queue as a reviewer's browser uses it: its page and JSON API served from Node-RED's HTTP
 * node app (here behind a real HTTP server), the signer named by the single-sign-on proxy's header
 * (the test connects from 127.0.0.1, the configured proxy), and its final documents built into HL7 and
 * FHIR by the real hl7-mdm and fhir-document nodes.
 */
let app: ((req: unknown, res: unknown) => void) | undefined;
const reviewQueue: NodeInitializer = (RED: NodeAPI) => {
  app = RED.httpNode as unknown as typeof app;
  return builtNode("review-queue")(RED);
};

let server: Server;
let base: string;
let dir: string;

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

async function call(
  path: string,
  user: string | undefined,
  init: { method?: string; body?: unknown; csrf?: string; origin?: string | null; range?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (user) headers["x-forwarded-user"] = user;
  if (init.body !== undefined) headers["content-type"] = "application/json";
  if (init.csrf) headers["x-csrf-token"] = init.csrf;
  if (init.origin !== null && init.method === "POST") headers.origin = init.origin ?? base;
  if (init.range) headers.range = init.range;
  const res = await fetch(base + "/review" + path, {
    method: init.method ?? "GET",
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    redirect: "manual",
  });
  const type = res.headers.get("content-type") ?? "";
  const body = type.startsWith("application/json")
    ? ((await res.json()) as Record<string, unknown>)
    : { bytes: (await res.arrayBuffer()).byteLength };
  return { status: res.status, body, headers: res.headers };
}

async function csrfOf(user: string): Promise<string> {
  const session = await call("/api/session", user);
  assert.equal(session.status, 200);
  return session.body.csrfToken as string;
}

function load(config: Record<string, unknown> = {}): Promise<void> {
  return helper.load([reviewQueue, builtNode("hl7-mdm"), builtNode("fhir-document")], flow(config), {});
}

function flow(config: Record<string, unknown> = {}): FlowNode[] {
  const nodes: FlowNode[] = [
    {
      id: "review",
      type: "review-queue",
      path: "/review",
      identity: "header",
      userHeader: "x-forwarded-user",
      trustedProxies: "127.0.0.1, ::1",
      reviewers: "nurse1",
      signers: "drsmith",
      completionStatus: "AU",
      storeDir: dir,
      wires: [["final", "mdm", "fhir"], ["events"]],
      ...config,
    },
    { id: "mdm", type: "hl7-mdm", wires: [["hl7"]] },
    { id: "fhir", type: "fhir-document", wires: [["bundle"], [], []] },
  ];
  return flowWithCatch(nodes, ["final", "events", "hl7", "bundle"]);
}

const DOC_ID = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11";

/** The arguments of one node's calls of a method the test helper spies on (the spy is shared by all nodes). */
function callsOn(id: string, method: "error" | "warn" | "status"): unknown[][] {
  const spy = (helper.getNode(id) as unknown as Record<string, { args: unknown[][]; thisValues: unknown[] }>)[
    method
  ];
  return spy.args.filter((_a, i) => (spy.thisValues[i] as { id?: string }).id === id);
}

function audioChunk(seq: number): NodeMessage {
  return {
    topic: "session-1",
    payload: Buffer.alloc(3200, seq),
    audio: {
      sessionId: "session-1",
      seq,
      sampleRate: 16000,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: seq * 100,
      durationMs: 100,
    },
  };
}

describe(`review-queue node (${runtimeLabel})`, function () {
  this.timeout(15000);

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "review-node-"));
    server = createServer((req, res) => {
      if (app) app(req, res);
      else res.writeHead(500).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address() as { port: number };
    base = `http://127.0.0.1:${address.port}`;
  });

  afterEach(async () => {
    await helper.unload();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists a document, lets a reviewer correct it and a signer sign it; the final document becomes MDM^T08 and a final DocumentReference", async () => {
    await load();
    const final = collect("final");
    const hl7 = collect("hl7");
    const bundles = collect("bundle");
    const caught = collect("caught");
    const machine = documentWithText("Patient takes metro lol 50 mg daily.", DOC_ID);
    helper.getNode("review").receive({
      payload: machine,
      patient: syntheticPatient,
      encounter: { visitNumber: "V1", author: { id: "DR1" } },
    });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));

    const list = await call("/api/documents", "nurse1");
    assert.equal(list.status, 200);
    const docs = list.body.documents as Array<{ id: string; patient: string; state: string }>;
    assert.equal(docs.length, 1);
    assert.equal(docs[0].id, DOC_ID);
    assert.match(docs[0].patient, /Testpatient/);

    const opened = await call(`/api/documents/${DOC_ID}`, "nurse1");
    assert.equal(opened.body.version, 1);
    assert.equal(opened.body.machineText, machine.text);

    // The reviewer fixes the drug name; she may not sign.
    const nurseToken = await csrfOf("nurse1");
    const fixed = "Patient takes metoprolol 50 mg daily.";
    const edited = await call(`/api/documents/${DOC_ID}/edit`, "nurse1", {
      method: "POST",
      csrf: nurseToken,
      body: { version: 1, text: fixed },
    });
    assert.equal(edited.status, 200);
    assert.equal(edited.body.version, 2);
    const nurseSign = await call(`/api/documents/${DOC_ID}/sign`, "nurse1", {
      method: "POST",
      csrf: nurseToken,
      body: { version: 2, text: fixed },
    });
    assert.equal(nurseSign.status, 403);
    assert.equal(nurseSign.body.error, "ROLE_REQUIRED");

    // The signer opened version 1 before the correction: his sign-off is refused, naming who changed it.
    const token = await csrfOf("drsmith");
    const stale = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      csrf: token,
      body: { version: 1, text: machine.text },
    });
    assert.equal(stale.status, 409);
    assert.match(String(stale.body.message), /nurse1/);
    assert.equal(final.length, 0, "nothing was sent for a refused sign-off");

    const signed = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      csrf: token,
      body: { version: 2, text: fixed },
    });
    assert.equal(signed.status, 200);
    assert.equal(signed.body.state, "signed");
    await until(() => hl7.length === 1 && bundles.length === 1);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message),
      [],
    );

    const out = final[0] as NodeMessage & {
      patient?: unknown;
      payload: { signoff: { signer: string; trigger: string }; text: string };
    };
    assert.equal(out.payload.text, fixed);
    assert.equal(out.payload.signoff.signer, "drsmith");
    assert.deepEqual(
      out.patient,
      syntheticPatient,
      "the flow's patient context travels with the final document",
    );

    const message = Hl7Message.parse(String(hl7[0].payload));
    assert.equal(message.getSegment("MSH")?.getField(9)?.toString(), "MDM^T08^MDM_T02");
    // The document's UUID does not fit TXA-12 beside the namespace: sent in short form, the original
    // reported in msg.hl7.shortened (the same form as the preliminary T02's).
    const shortened = (
      hl7[0] as NodeMessage & { hl7: { shortened: { field: string; original: string; sent: string }[] } }
    ).hl7.shortened.find((s) => s.field === "TXA-12.1");
    assert.equal(shortened?.original, DOC_ID);
    assert.equal(message.getSegment("TXA")?.getField(12)?.getComponent(1), shortened?.sent);
    assert.equal(message.getSegment("TXA")?.getField(17)?.toString(), "AU");
    assert.equal(message.getSegment("TXA")?.getField(22)?.getComponent(1), "drsmith");
    assert.match(String(hl7[0].payload), /metoprolol/);

    const entry = (
      bundles[0].payload as { entry: Array<{ resource: DocumentReference; request: { method: string } }> }
    ).entry[0];
    assert.equal(entry.resource.docStatus, "final");
    assert.equal(entry.request.method, "PUT");
    assert.equal(entry.resource.authenticator?.display, "drsmith");

    // Accuracy: the machine text beside the signed text, per clinician and model.
    const accuracy = await call("/api/accuracy", "drsmith");
    const [row] = accuracy.body.rows as Array<{
      clinician: string;
      documents: number;
      errors: number;
      topTerms: Array<{ term: string }>;
    }>;
    assert.equal(row.clinician, "DR1");
    assert.equal(row.documents, 1);
    assert.equal(row.errors, 2, '"metro lol" for "metoprolol": one substitution, one insertion');
    assert.deepEqual(
      row.topTerms.map((t) => t.term),
      ["metoprolol"],
    );

    // Audit: who did what, in order, without the text.
    const audit = readFileSafe(join(dir, "audit.jsonl"));
    const actions = audit
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string; user: string });
    assert.deepEqual(
      actions.filter((a) => a.action !== "refused").map((a) => `${a.user}:${a.action}`),
      ["(flow):received", "nurse1:opened", "nurse1:edited", "drsmith:signed"],
    );
    assert.equal(actions.filter((a) => a.action === "refused").length, 2);
    assert.ok(
      !audit.includes("metoprolol") && !audit.includes("Testpatient"),
      "no text or patient in the audit log",
    );
  });

  it("refuses the unauthenticated (401), users without a role (403), and changes without the CSRF token or Origin (403)", async () => {
    await load();
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    assert.equal((await call("/api/documents", undefined)).status, 401);
    assert.equal((await call("/", undefined)).status, 401);
    assert.equal((await call("/api/documents", "visitor")).status, 403);
    const token = await csrfOf("drsmith");
    const body = { version: 1, text: "Some text here." };
    const noToken = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", { method: "POST", body });
    assert.equal(noToken.status, 403);
    assert.equal(noToken.body.error, "BAD_CSRF_TOKEN");
    const otherOrigin = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      body,
      csrf: token,
      origin: "http://evil.example",
    });
    assert.equal(otherOrigin.status, 403);
    assert.equal(otherOrigin.body.error, "BAD_ORIGIN");
    const nurseToken = await csrfOf("nurse1");
    const wrongUser = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      body,
      csrf: nurseToken,
    });
    assert.equal(wrongUser.status, 403);
    assert.equal((await call(`/api/documents/${DOC_ID}`, "drsmith")).body.state, "pending");
  });

  it("audits a flood of refused requests as one entry and a count, not one line each", async () => {
    await load();
    const events = collect("events");
    for (let i = 0; i < 300; i++) assert.equal((await call("/api/documents", undefined)).status, 401);
    const refusedLines = (): string[] =>
      readFileSafe(join(dir, "audit.jsonl"))
        .split("\n")
        .filter((l) => l.includes('"refused"'));
    await until(() => refusedLines().length >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(refusedLines().length, 1);
    assert.equal(events.filter((m) => (m.payload as { action?: string }).action === "refused").length, 1);
    // The repeats are counted, never silent: one summary when the node stops (or each minute).
    await helper.unload();
    const lines = refusedLines();
    assert.equal(lines.length, 2);
    assert.match(lines[1], /401 UNAUTHENTICATED \(repeated 299 more times in \d+ s/);
  });

  it("names a signed-in user in the audit line of a refused request; a request without one stays anonymous", async () => {
    await load();
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    const nurseToken = await csrfOf("nurse1");
    const body = { version: 1, text: "Some text here." };
    const sign = await call(`/api/documents/${DOC_ID}/sign`, "nurse1", {
      method: "POST",
      csrf: nurseToken,
      body,
    });
    assert.equal(sign.status, 403);
    assert.equal((await call("/api/documents", "visitor")).status, 403);
    assert.equal((await call("/api/documents", undefined)).status, 401);
    // From an address that is not the proxy's, the header is the client's word: anonymous.
    const refused = (): Array<{ user: string; outcome: string; documentId: string }> =>
      readFileSafe(join(dir, "audit.jsonl"))
        .split("\n")
        .filter((l) => l.includes('"refused"'))
        .map((l) => JSON.parse(l) as { user: string; outcome: string; documentId: string });
    await until(() => refused().length >= 3);
    assert.deepEqual(
      refused().map((e) => [e.user, e.outcome, e.documentId]),
      [
        ["nurse1", "403 ROLE_REQUIRED", DOC_ID],
        ["visitor", "403 NO_ROLE", "-"],
        ["(refused)", "401 UNAUTHENTICATED", "-"],
      ],
    );
  });

  it("refuses at start a second review-queue node on the same worklist folder (however spelled), naming the clash", async () => {
    const nodes = flow().filter((n) => n.type !== "catch" && n.id !== "caught");
    // A copied node given a path of its own but the folder of the first: two worklists in one folder
    // would each hand on the other's outbox and write over each other's records.
    const second = {
      id: "review2",
      z: "tab",
      type: "review-queue",
      path: "/review-two",
      identity: "header",
      trustedProxies: "127.0.0.1",
      signers: "*",
      storeDir: `${dir}/`,
      wires: [["final"], ["events"]],
    };
    const third = { ...second, id: "review3", path: "/review-three", storeDir: join(dir, "x", "..") };
    const other = { ...second, id: "review4", path: "/review-four", storeDir: join(dir, "nested") };
    await helper.load(
      [reviewQueue, builtNode("hl7-mdm"), builtNode("fhir-document")],
      [...nodes, second, third, other],
    );
    const errors = (id: string): string[] => callsOn(id, "error").map((a) => String(a[0]));
    for (const id of ["review2", "review3"]) {
      const said = errors(id).join("\n");
      assert.match(said, /worklist folder .* is used by another review-queue node \(review\)/);
      const status = callsOn(id, "status").at(-1)?.[0] as { fill: string; text: string };
      assert.equal(status.fill, "red");
      assert.match(status.text, /dirClash/);
    }
    assert.deepEqual(
      errors("review4"),
      [],
      "a folder inside it is fine (a worklist reads only its own subfolders)",
    );
    assert.deepEqual(errors("review"), [], "the first node serves on");
    assert.equal((await call("/api/documents", "drsmith")).status, 200, "the first node answers");
  });

  it("refuses at start a second review-queue node on the same path (or one inside it), naming the clash", async () => {
    const nodes = flow().filter((n) => n.type !== "catch" && n.id !== "caught");
    const second = {
      id: "review2",
      z: "tab",
      type: "review-queue",
      path: "/Review/",
      identity: "header",
      trustedProxies: "127.0.0.1",
      signers: "*",
      storeDir: join(dir, "second"),
      wires: [["final"], ["events"]],
    };
    const third = { ...second, id: "review3", path: "/review/sub", storeDir: join(dir, "third") };
    const other = { ...second, id: "review4", path: "/review-other", storeDir: join(dir, "other") };
    await helper.load(
      [reviewQueue, builtNode("hl7-mdm"), builtNode("fhir-document")],
      [
        ...nodes,
        second,
        third,
        other,
        { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
        { id: "caught", z: "tab", type: "helper" },
      ],
    );
    const errors = (id: string): string[] => callsOn(id, "error").map((a) => String(a[0]));
    for (const id of ["review2", "review3"]) {
      const said = errors(id).join("\n");
      assert.match(
        said,
        /page path \/review(\/sub)? is served by another review-queue node \(review, path \/review\)/i,
      );
      const status = callsOn(id, "status").at(-1)?.[0] as { fill: string; text: string };
      assert.equal(status.fill, "red");
      assert.match(status.text, /pathClash/);
    }
    assert.deepEqual(errors("review4"), [], "a path beside it (not inside) is fine");
    assert.deepEqual(errors("review"), [], "the first node serves on");
    const caught = collect("caught");
    helper.getNode("review2").receive({ payload: documentWithText("Some text here.", DOC_ID) });
    await until(() => caught.length === 1);
    assert.match(
      String((caught[0].error as { message: string }).message),
      /served by another review-queue node/,
    );
    assert.equal((await call("/api/documents", "drsmith")).status, 200, "the first node answers");
  });

  it("hands on again at start a signed document whose hand-over a stop interrupted, and says how many", async () => {
    await load();
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    const token = await csrfOf("drsmith");
    const final = collect("final");
    const signed = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      csrf: token,
      body: { version: 1, text: "Some text here." },
    });
    assert.equal(signed.status, 200);
    await until(() => final.length === 1);
    // Stopped within the hand-over time (as a crash would): the entry is still in the outbox.
    await redeploy(flow(), {}, []);
    const again = collect("final");
    await until(() => again.length === 1);
    const first = final[0] as NodeMessage & { payload: { signoff: { version: number } }; review: unknown };
    const resent = again[0] as typeof first;
    assert.deepEqual(resent.payload, first.payload, "the same document, signoff and version: the same ids");
    assert.deepEqual(resent.review, first.review);
    assert.deepEqual(resent.patient, syntheticPatient);
    await until(() => callsOn("review", "warn").length > 0);
    assert.match(
      String(callsOn("review", "warn")[0][0]),
      /1 signed document\(s\) left in the outbox .* handed on again/,
    );
  });

  it("takes at intake exactly the patient contexts the delivery nodes wired to it take, refusing the rest naming the field", async () => {
    const secret = "MRN-SECRET-77";
    const table: Array<{ name: string; patient: unknown; encounter?: unknown }> = [
      { name: "a full patient and encounter", patient: syntheticPatient, encounter: { visitNumber: "V1" } },
      { name: "a FHIR reference only", patient: { reference: `Patient/${secret}` } },
      { name: "an identifier without a family name", patient: { id: secret } },
      { name: "no patient", patient: undefined },
      { name: "a patient that is text", patient: secret },
      {
        name: "an impossible birth date",
        patient: { ...syntheticPatient, id: secret, birthDate: "2026-02-30" },
      },
      { name: "an encounter that is text", patient: syntheticPatient, encounter: secret },
      { name: "an identifier that is an object", patient: { id: { value: secret }, family: "Testpatient" } },
      {
        name: "an identifier over 1024 characters",
        patient: { id: secret.repeat(100), family: "Testpatient" },
      },
    ];
    const reviewer = (id: string, path: string, target: string): FlowNode => ({
      id,
      type: "review-queue",
      path,
      identity: "header",
      trustedProxies: "127.0.0.1",
      signers: "drsmith",
      storeDir: join(dir, id),
      maxDocuments: "100",
      wires: [[target], ["events"]],
    });
    await helper.load(
      [reviewQueue, builtNode("hl7-mdm"), builtNode("fhir-document")],
      flowWithCatch(
        [
          reviewer("toHl7", "/review-hl7", "mdm"),
          reviewer("toFhir", "/review-fhir", "fhir"),
          { id: "mdm", type: "hl7-mdm", wires: [["hl7"]] },
          { id: "fhir", type: "fhir-document", wires: [["bundle"], [], []] },
        ],
        ["events", "hl7", "bundle"],
      ),
    );
    const caught = collect("caught");
    const answers = [collect("events"), collect("hl7"), collect("bundle"), caught];
    const total = (): number => answers.reduce((n, a) => n + a.length, 0);
    /** Sends a document with the context to a node: true when taken, false when refused (Catch). */
    const takes = async (node: string, n: number, context: (typeof table)[number]): Promise<boolean> => {
      const before = caught.length;
      const expected = total() + 1;
      const id = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
      helper.getNode(node).receive({
        payload: documentWithText("Some text here.", id),
        ...(context.patient !== undefined ? { patient: context.patient } : {}),
        ...(context.encounter !== undefined ? { encounter: context.encounter } : {}),
      });
      await until(() => total() >= expected);
      if (caught.length === before) return true;
      const message = String((caught.at(-1)?.error as { message: string }).message);
      assert.ok(!message.includes(secret), `no patient data in the error: ${message}`);
      if (node.startsWith("to"))
        assert.match(message, /would be refused by (hl7-mdm mdm|fhir-document fhir)/);
      assert.match(message, /msg\.(patient|encounter)/, "the error names the property");
      return false;
    };
    let n = 0;
    const rows: string[] = [];
    for (const context of table) {
      const hl7 = await takes("mdm", ++n, context);
      const fhir = await takes("fhir", ++n, context);
      const reviewHl7 = await takes("toHl7", ++n, context);
      const reviewFhir = await takes("toFhir", ++n, context);
      rows.push(`${context.name}: hl7 ${hl7}/${reviewHl7}, fhir ${fhir}/${reviewFhir}`);
      assert.equal(reviewHl7, hl7, `${context.name}: review-queue wired to hl7-mdm agrees with it`);
      assert.equal(reviewFhir, fhir, `${context.name}: review-queue wired to fhir-document agrees with it`);
    }
    // The table has both answers for both formats (a check that cannot fail would prove nothing).
    assert.ok(
      rows.some((r) => r.includes("hl7 true")) && rows.some((r) => r.includes("hl7 false")),
      rows.join("\n"),
    );
    assert.ok(
      rows.some((r) => r.includes("fhir true")) && rows.some((r) => r.includes("fhir false")),
      rows.join("\n"),
    );
  });

  it("answers an address it cannot parse with 400, not an internal error to Catch", async () => {
    await load();
    const caught = collect("caught");
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/review///[`, { headers: { "x-forwarded-user": "nurse1" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(status, 400);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(caught.length, 0);
  });

  it("does not believe the user header from an address that is not the proxy's", async () => {
    await load({ trustedProxies: "10.99.99.99" });
    assert.equal((await call("/api/documents", "drsmith")).status, 401);
  });

  it("serves the session's audio as WAV with byte ranges, and deletes it at sign-off", async () => {
    await load();
    for (let i = 0; i < 5; i++) helper.getNode("review").receive(audioChunk(i));
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    const whole = await call(`/api/documents/${DOC_ID}/audio`, "nurse1");
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get("content-type"), "audio/wav");
    assert.equal(whole.body.bytes, 44 + 5 * 3200);
    const part = await call(`/api/documents/${DOC_ID}/audio`, "nurse1", { range: "bytes=1000-1999" });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get("content-range"), `bytes 1000-1999/${44 + 5 * 3200}`);
    assert.equal(part.body.bytes, 1000);
    const token = await csrfOf("drsmith");
    const signed = await call(`/api/documents/${DOC_ID}/sign`, "drsmith", {
      method: "POST",
      csrf: token,
      body: { version: 1, text: "Some text here." },
    });
    assert.equal(signed.status, 200);
    // The audio goes once the sign-off is stored (deleted in the background, so polled).
    let status = 0;
    for (let i = 0; i < 50 && status !== 404; i++) {
      status = (await call(`/api/documents/${DOC_ID}/audio`, "nurse1")).status;
    }
    assert.equal(status, 404);
    assert.equal((await call(`/api/documents/${DOC_ID}`, "nurse1")).body.audio, false);
  });

  it("answers a player's open-ended range with 1 MiB at most, and streams a whole-file request in full", async () => {
    await load();
    for (let i = 0; i < 400; i++) helper.getNode("review").receive(audioChunk(i));
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    const size = 44 + 400 * 3200;
    const first = await call(`/api/documents/${DOC_ID}/audio`, "nurse1", { range: "bytes=0-" });
    assert.equal(first.status, 206);
    assert.equal(first.headers.get("content-range"), `bytes 0-${1024 * 1024 - 1}/${size}`);
    assert.equal(first.body.bytes, 1024 * 1024);
    const rest = await call(`/api/documents/${DOC_ID}/audio`, "nurse1", { range: `bytes=${1024 * 1024}-` });
    assert.equal(rest.headers.get("content-range"), `bytes ${1024 * 1024}-${size - 1}/${size}`);
    assert.equal(rest.body.bytes, size - 1024 * 1024);
    const res = await fetch(`${base}/review/api/documents/${DOC_ID}/audio`, {
      headers: { "x-forwarded-user": "nurse1" },
    });
    assert.equal(res.status, 200);
    const whole = Buffer.from(await res.arrayBuffer());
    assert.equal(whole.length, size);
    assert.equal(whole.toString("ascii", 0, 4), "RIFF");
    // The last chunk's bytes (value 399 & 0xff) end the file, in order.
    assert.equal(whole[size - 1], 399 & 0xff);
    assert.equal(whole[44 + 3200 * 10], 10);
  });

  it("reports audio past its bound once, to Catch, naming the session by its tag only", async () => {
    await load({ audioMaxMinutes: "1" });
    const caught = collect("caught");
    for (let i = 0; i < 605; i++) helper.getNode("review").receive(audioChunk(i));
    await until(() => caught.length === 1);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(caught.length, 1);
    const message = (caught[0].error as { message: string }).message;
    assert.match(
      message,
      /no longer kept for review \(session-limit; bounds: 1 min per session, 256 MiB in total, 1500 sessions at once\)/,
    );
    assert.doesNotMatch(message, /session-1/);
  });

  it("hands its address to the new node on a redeploy (the old route is removed), which reads the worklist back", async () => {
    await load();
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    await until(() => readFileSafe(join(dir, "audit.jsonl")).includes("received"));
    await redeploy(flow({ signers: "drjones" }), {}, []);
    let list: Answer | undefined;
    for (let i = 0; i < 50; i++) {
      list = await call("/api/documents", "drjones");
      if (list.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(list?.status, 200, "the new node's settings apply: the old route would refuse drjones");
    assert.equal((list?.body.documents as unknown[]).length, 1, "the worklist was read back from disk");
    assert.equal((await call("/api/documents", "drsmith")).status, 403);
  });

  it("pushes worklist changes to open pages (Server-Sent Events)", async () => {
    await load();
    const controller = new AbortController();
    const res = await fetch(base + "/review/api/events", {
      headers: { "x-forwarded-user": "nurse1" },
      signal: controller.signal,
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    helper
      .getNode("review")
      .receive({ payload: documentWithText("Some text here.", DOC_ID), patient: syntheticPatient });
    let text = "";
    while (!text.includes("event: worklist")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString("utf8");
    }
    controller.abort();
    assert.match(text, new RegExp(`"id":"${DOC_ID}","version":1,"state":"pending"`));
  });

  it("serves the page, and refuses what is not a document with an error naming what is accepted", async () => {
    await load();
    const redirect = await call("", "nurse1");
    assert.equal(redirect.status, 302);
    const page = await fetch(base + "/review/", { headers: { "x-forwarded-user": "nurse1" } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Transcript review/);
    const caught = collect("caught");
    helper.getNode("review").receive({ payload: "hello" });
    await until(() => caught.length === 1);
    assert.match((caught[0].error as { message: string }).message, /not a transcript document/);
  });

  it("refuses a document whose patient context is too large to keep, naming the bound and not the content", async () => {
    await load();
    const caught = collect("caught");
    const secret = "PATIENT-MARKER-".repeat(5000);
    helper.getNode("review").receive({
      payload: documentWithText("Some text here.", DOC_ID),
      patient: { ...syntheticPatient, notes: secret },
    });
    await until(() => caught.length === 1);
    const message = (caught[0].error as { message: string }).message;
    assert.match(message, /msg\.patient and msg\.encounter together must be at most 65536 characters/);
    assert.doesNotMatch(message, /PATIENT-MARKER/);
    assert.equal((await call("/api/documents", "nurse1")).body.documents instanceof Array, true);
    assert.deepEqual((await call("/api/documents", "nurse1")).body.documents, []);
  });
});

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}
