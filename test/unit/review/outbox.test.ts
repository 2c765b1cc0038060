import { strict as assert } from "node:assert";
import { promises as fsp, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applySign, newRecord, withOutbox, type ReviewRecord } from "../../../src/review/record";
import { HANDOVER_SETTLE_MS, ReviewService, type FinalMessage } from "../../../src/review/service";
import { fileNameFor, ReviewStore } from "../../../src/review/store";
import { documentWithText } from "../../support/documents";
import { fsError, FsFaults, fsPromises } from "../../support/fs-faults";
import { ManualScheduler } from "../../support/manual-scheduler";
import { DAY_MS, REVIEW_DOC_ID, REVIEW_NOW, reviewOptions } from "../../support/review-service";

const NOW = REVIEW_NOW;
const DAY = DAY_MS;
const DOC_ID = REVIEW_DOC_ID;

/** A signed record as the sign-off writes it: the signature and its final message in one file. */
function signedWithOutbox(): ReviewRecord {
  const pending = newRecord(
    documentWithText("Some text here.", DOC_ID),
    { patient: { id: "P1" } },
    "document",
    NOW,
    DAY,
  );
  const t = applySign(pending, 1, "Some text here.", "drsmith", "AU", NOW);
  return withOutbox(t.record, { documentId: DOC_ID, signoff: t.signoff, text: t.text });
}

function service(
  dir: string,
  scheduler: ManualScheduler,
  finals: FinalMessage[],
  errors?: Error[],
): ReviewService {
  return new ReviewService(
    reviewOptions(dir, { signers: ["drsmith"] }),
    {
      final: (m) => finals.push(m),
      event: () => undefined,
      error: (e) => (errors ? errors.push(e) : assert.fail(e)),
    },
    scheduler,
  );
}

function pendingRecord(): ReviewRecord {
  return newRecord(documentWithText("Some text here.", DOC_ID), {}, "document", NOW, DAY);
}

interface Answer {
  status: number;
  body: string;
}

/** The service behind a loopback HTTP server, as the node mounts it (the signer vouched for by a proxy header). */
async function serve(svc: ReviewService): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => svc.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/**
 * A request as the review page sends it. `hold`: the body is sent only when the promise resolves (a
 * slow client, or a click just before a deploy).
 */
function call(
  port: number,
  method: string,
  path: string,
  body?: string,
  hold?: Promise<void>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        headers: {
          host: `127.0.0.1:${port}`,
          origin: `http://127.0.0.1:${port}`,
          "x-forwarded-user": "drsmith",
          ...(csrfToken ? { "x-csrf-token": csrfToken } : {}),
          ...(body !== undefined
            ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
            : {}),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d: string) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on("error", reject);
    if (body === undefined) req.end();
    else if (hold) {
      req.flushHeaders();
      void hold.then(() => req.end(body));
    } else req.end(body);
  });
}

let csrfToken: string | undefined;
async function signIn(port: number): Promise<void> {
  csrfToken = undefined;
  csrfToken = (JSON.parse((await call(port, "GET", "/api/session")).body) as { csrfToken: string }).csrfToken;
}

const SIGN_BODY = JSON.stringify({ version: 1, text: "Some text here." });

/** Lets the store's fs work (real I/O) finish. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 30));
}

describe("review: the outbox of signed documents", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "review-outbox-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("hands on at start what a crash left in the outbox, the same message, and clears it after the hand-over time", async () => {
    const record = signedWithOutbox();
    const store = new ReviewStore(join(dir, "documents"));
    await store.load();
    await store.add(record);

    const scheduler = new ManualScheduler();
    const finals: FinalMessage[] = [];
    const first = service(dir, scheduler, finals);
    assert.equal((await first.start()).resent, 1);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].payload.documentId, DOC_ID);
    assert.equal(finals[0].payload.text, "Some text here.");
    assert.deepEqual(finals[0].payload.signoff, record.outbox?.[0]?.signoff);
    assert.deepEqual(finals[0].review, { documentId: DOC_ID, event: "sign", version: 2 });
    assert.deepEqual(finals[0].patient, { id: "P1" });

    // Not yet cleared: a crash now sends it again at the next start (the delivery queue drops the copy).
    scheduler.advance(HANDOVER_SETTLE_MS - 1);
    await settle();
    const file = join(dir, "documents", fileNameFor(DOC_ID));
    assert.equal((JSON.parse(readFileSync(file, "utf8")) as ReviewRecord).outbox?.length, 1);
    scheduler.advance(1);
    await settle();
    const stored = JSON.parse(readFileSync(file, "utf8")) as ReviewRecord;
    assert.equal(stored.outbox, undefined, "handed on: the outbox is empty on disk");
    assert.equal(stored.state, "signed", "the signature stays");
    await first.close();

    const again: FinalMessage[] = [];
    assert.equal((await service(dir, new ManualScheduler(), again).start()).resent, 0);
    assert.equal(again.length, 0, "nothing is sent twice once the outbox is cleared");
  });
  it("refuses a signature whose request completes once the node is stopping (a deploy): nothing signed, nothing sent", async () => {
    const store = new ReviewStore(join(dir, "documents"));
    await store.load();
    await store.add(pendingRecord());
    const finals: FinalMessage[] = [];
    const first = service(dir, new ManualScheduler(), finals);
    await first.start();
    const { server, port } = await serve(first);
    try {
      await signIn(port);
      let send = (): void => undefined;
      const hold = new Promise<void>((resolve) => (send = resolve));
      const answer = call(port, "POST", `/api/documents/${DOC_ID}/sign`, SIGN_BODY, hold);
      await settle();
      await first.close();
      send();
      const { status, body } = await answer;
      assert.equal(status, 503, body);
      assert.match(body, /stopping/);
      await settle();
      assert.equal(finals.length, 0, "a stopped node sends nothing");
      const file = join(dir, "documents", fileNameFor(DOC_ID));
      assert.equal((JSON.parse(readFileSync(file, "utf8")) as ReviewRecord).state, "pending");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("answers a signature the disk refused with 503 and sends nothing; signed again, the document is sent once", async () => {
    const store = new ReviewStore(join(dir, "documents"));
    await store.load();
    await store.add(pendingRecord());
    const finals: FinalMessage[] = [];
    const errors: Error[] = [];
    const scheduler = new ManualScheduler();
    const svc = service(dir, scheduler, finals, errors);
    await svc.start();
    const { server, port } = await serve(svc);
    const faults = new FsFaults();
    try {
      await signIn(port);
      faults.replace(fsPromises, "rename", () => () => Promise.reject(fsError("ENOSPC", "rename", dir)));
      const refused = await call(port, "POST", `/api/documents/${DOC_ID}/sign`, SIGN_BODY);
      faults.restore();
      assert.equal(refused.status, 503, refused.body);
      assert.equal((JSON.parse(refused.body) as { error: string }).error, "STORE_WRITE_FAILED");
      assert.ok(!refused.body.includes(dir), "no folder in the answer");
      assert.deepEqual(
        errors.map((e) => [e.name, e.message.includes(dir)]),
        [["StoreWriteError", false]],
        "told to Catch, without the folder",
      );
      await settle();
      assert.equal(finals.length, 0, "nothing signed, nothing sent");
      const file = join(dir, "documents", fileNameFor(DOC_ID));
      assert.equal((JSON.parse(readFileSync(file, "utf8")) as ReviewRecord).state, "pending");
      // The clinician signs again: it is signed, and its final message goes once.
      const signed = await call(port, "POST", `/api/documents/${DOC_ID}/sign`, SIGN_BODY);
      assert.equal(signed.status, 200, signed.body);
      assert.equal(finals.length, 1);
      assert.deepEqual(readdirSync(join(dir, "documents")), [fileNameFor(DOC_ID)], "no temp file left");
    } finally {
      faults.restore();
      await svc.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it("finishes a signature being written when the node stops, and leaves its final message to the next start", async () => {
    const store = new ReviewStore(join(dir, "documents"));
    await store.load();
    await store.add(pendingRecord());
    const finals: FinalMessage[] = [];
    const firstClock = new ManualScheduler();
    const first = service(dir, firstClock, finals);
    await first.start();
    const { server, port } = await serve(first);
    const rename = fsp.rename;
    let release = (): void => undefined;
    try {
      await signIn(port);
      // The signature's file is written but not yet renamed into place when the stop comes.
      let renaming = (): void => undefined;
      const reached = new Promise<void>((resolve) => (renaming = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      fsp.rename = async (from, to) => {
        renaming();
        await gate;
        return rename(from, to);
      };
      const answer = call(port, "POST", `/api/documents/${DOC_ID}/sign`, SIGN_BODY);
      await reached;
      let closed = false;
      const closing = first.close().then(() => (closed = true));
      await settle();
      assert.equal(closed, false, "the stop waits for the signature being written");
      release();
      await closing;
      const { status, body } = await answer;
      assert.equal(status, 200, body);
      fsp.rename = rename;
      await settle();
      assert.equal(finals.length, 0, "the stopping node does not send: its outputs may be gone");

      // The next instance (the deploy's new node) finds the signature with its final message, and sends it once.
      const again: FinalMessage[] = [];
      const second = service(dir, new ManualScheduler(), again);
      assert.equal((await second.start()).resent, 1);
      assert.equal(again.length, 1);
      // The stopped node left no timer that would write its copy of the record over the new node's.
      assert.equal(firstClock.pendingTimers, 0);
      await second.close();
    } finally {
      release();
      fsp.rename = rename;
      server.closeAllConnections();
      server.close();
    }
  });
});
