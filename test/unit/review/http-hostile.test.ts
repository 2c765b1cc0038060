import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { newRecord } from "../../../src/review/record";
import {
  BODY_TIMEOUT_MS,
  MAX_BODY_BYTES,
  MAX_BUFFERED_BODY_BYTES,
  ReviewService,
  type FinalMessage,
} from "../../../src/review/service";
import { documentWithText } from "../../support/documents";
import { ManualScheduler } from "../../support/manual-scheduler";
import { DAY_MS, REVIEW_DOC_ID, REVIEW_NOW, reviewOptions } from "../../support/review-service";

/**
 * The review API against racing and hostile clients: the service behind a loopback HTTP server as the
 * node mounts it, users named by the proxy header (the test connects from the trusted 127.0.0.1).
 */
const NOW = REVIEW_NOW;
const DAY = DAY_MS;
const DOC_ID = REVIEW_DOC_ID;
const TEXT = "Some text here.";
/** Planted in requests: it must never reach an error, an audit line or an answer's message. */
const PHI = "PHIMARKER-Doe-MRN-555";

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

describe("review: the HTTP API against racing and hostile clients", function () {
  this.timeout(20000);
  let dir: string;
  let scheduler: ManualScheduler;
  let finals: FinalMessage[];
  let errors: Error[];
  let svc: ReviewService;
  let server: Server;
  let port: number;
  const tokens = new Map<string, string>();

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "review-hostile-"));
    scheduler = new ManualScheduler();
    finals = [];
    errors = [];
    svc = new ReviewService(
      reviewOptions(
        dir,
        { reviewers: ["nurse1"], signers: ["drsmith", "drjones"] },
        { audio: { keep: true, maxSessionSeconds: 60, maxTotalBytes: 1024 * 1024 } },
      ),
      { final: (m) => finals.push(m), event: () => undefined, error: (e) => errors.push(e) },
      scheduler,
    );
    await svc.start();
    await svc.store.add(newRecord(documentWithText(TEXT, DOC_ID), {}, "document", NOW, DAY));
    server = createServer((req, res) => svc.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
    tokens.clear();
    for (const user of ["nurse1", "drsmith", "drjones"]) {
      tokens.set(user, (await call("GET", "/api/session", user)).body.csrfToken as string);
    }
  });

  afterEach(async () => {
    await svc.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  function call(
    method: string,
    path: string,
    user: string | undefined,
    body?: string | Buffer,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          method,
          path,
          agent: false,
          headers: {
            host: `127.0.0.1:${port}`,
            origin: `http://127.0.0.1:${port}`,
            ...(user ? { "x-forwarded-user": user } : {}),
            ...(user && tokens.has(user) ? { "x-csrf-token": tokens.get(user) } : {}),
            ...(body !== undefined ? { "content-type": "application/json" } : {}),
            ...headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (d: Buffer) => chunks.push(d));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: Record<string, unknown>;
            try {
              parsed = JSON.parse(text) as Record<string, unknown>;
            } catch {
              parsed = { text };
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  const sign = (user: string, version: number, text: string): Promise<Answer> =>
    call("POST", `/api/documents/${DOC_ID}/sign`, user, JSON.stringify({ version, text }));

  const auditText = (): string => {
    try {
      return readFileSync(join(dir, "audit.jsonl"), "utf8");
    } catch {
      return "";
    }
  };

  /** Every refusal says what was wrong, and nothing of what was sent. */
  function assertClearRefusal(answer: Answer, status: number, code: string): void {
    assert.equal(answer.status, status, JSON.stringify(answer.body));
    assert.equal(answer.body.error, code);
    assert.ok(typeof answer.body.message === "string" && answer.body.message.length > 10);
    assert.ok(!JSON.stringify(answer.body).includes(PHI), "the answer echoes nothing of the request");
  }

  it("lets exactly one of many parallel signatures through; the others get 409 and nothing is sent for them", async () => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        sign(i % 2 === 0 ? "drsmith" : "drjones", 1, `${TEXT} Signed by ${i % 2 === 0 ? "smith" : "jones"}.`),
      ),
    );
    const ok = answers.filter((a) => a.status === 200);
    assert.equal(ok.length, 1);
    for (const a of answers.filter((x) => x.status !== 200)) assertClearRefusal(a, 409, "VERSION_CONFLICT");
    assert.equal(finals.length, 1, "one signature, one final document");
    const signer = (ok[0].body.signed as { by: string }).by;
    assert.equal(finals[0].payload.signoff.signer, signer, "by the clinician who was answered 200");
    assert.equal(
      finals[0].payload.text,
      `${TEXT} Signed by ${signer === "drsmith" ? "smith" : "jones"}.`,
      "of the text that clinician sent",
    );
    assert.equal(auditText().match(/"signed"/g)?.length, 1);
    assert.deepEqual(errors, []);
  });

  it("signs the text the signer saw: a correction saved meanwhile makes the signature a 409, never a signature of text not seen", async () => {
    const corrected = "Some text here, corrected.";
    const [edit, signed] = await Promise.all([
      call(
        "POST",
        `/api/documents/${DOC_ID}/edit`,
        "nurse1",
        JSON.stringify({ version: 1, text: corrected }),
      ),
      sign("drsmith", 1, TEXT),
    ]);
    assert.equal([edit.status, signed.status].filter((s) => s === 200).length, 1);
    if (signed.status === 200) {
      assert.equal(finals[0].payload.text, TEXT);
      assertClearRefusal(edit, 409, "NOT_PENDING");
    } else {
      assertClearRefusal(signed, 409, "VERSION_CONFLICT");
      assert.equal(signed.body.version, 2, "the conflict says which version to reload");
      assert.equal(finals.length, 0);
      const again = await sign("drsmith", 2, corrected);
      assert.equal(again.status, 200);
      assert.equal(finals[0].payload.text, corrected);
    }
    assert.equal(finals.length, 1);
  });

  it("makes a withdrawal racing a signature one or the other, never both", async () => {
    const [signed, withdrawn] = await Promise.all([
      sign("drsmith", 1, TEXT),
      call(
        "POST",
        `/api/documents/${DOC_ID}/withdraw`,
        "drjones",
        JSON.stringify({ version: 1, reason: "wrong patient" }),
      ),
    ]);
    assert.deepEqual([signed.status, withdrawn.status].sort(), [200, 409]);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].payload.signoff.event, signed.status === 200 ? "sign" : "withdraw");
  });

  it("ignores a resend of the preliminary arriving while the document is being signed: one signature, the signed text kept", async () => {
    const [signed, resent] = await Promise.all([
      sign("drsmith", 1, `${TEXT} Checked.`),
      svc.input({ payload: documentWithText("Other machine text.", DOC_ID) }, NOW),
    ]);
    assert.equal(signed.status, 200);
    assert.deepEqual(resent, { kind: "document", added: false });
    assert.equal(svc.store.get(DOC_ID)?.signed?.signedText, `${TEXT} Checked.`);
    assert.equal(finals.length, 1);
    assert.equal(finals[0].payload.text, `${TEXT} Checked.`);
  });

  it("lets a stop (a deploy) wait for the accuracy figures of a signature just answered, so the next node reads them", async () => {
    assert.equal((await sign("drsmith", 1, TEXT)).status, 200);
    await svc.close();
    const saved = JSON.parse(readFileSync(join(dir, "accuracy.json"), "utf8")) as Array<{
      documents: number;
    }>;
    assert.equal(saved.length, 1);
    assert.deepEqual(errors, []);
  });

  it("sends the signed document of a signature whose record expires right after it was written", async () => {
    const update = svc.store.update.bind(svc.store);
    // The expiry sweep reaches the record between the signature's write and its answer.
    svc.store.update = async (id, change) => {
      const result = await update(id, change);
      void svc.sweep(new Date(NOW.getTime() + 2 * DAY));
      return result;
    };
    const signed = await sign("drsmith", 1, TEXT);
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.equal(finals.length, 1, "a signature answered 200 is sent");
    assert.equal(finals[0].payload.signoff.signer, "drsmith");
  });

  it("refuses bodies of the wrong shape or size with 400/413 naming what is accepted, and echoes none of it", async () => {
    const path = `/api/documents/${DOC_ID}/edit`;
    const cases: Array<[string | Buffer, number, string]> = [
      [`{"version": 1, "text": "${PHI}"`, 400, "BAD_JSON"],
      [`["${PHI}"]`, 400, "BAD_JSON"],
      ["42", 400, "BAD_JSON"],
      ["", 400, "BAD_JSON"],
      [JSON.stringify({ version: "1", text: PHI }), 400, "VERSION_REQUIRED"],
      [JSON.stringify({ version: 1, text: { nested: PHI } }), 400, "TEXT_REQUIRED"],
      [JSON.stringify({ version: 1, text: [PHI] }), 400, "TEXT_REQUIRED"],
      [JSON.stringify({ version: 1, text: 42 }), 400, "TEXT_REQUIRED"],
      [JSON.stringify({ version: 1, text: `${PHI} ${"x".repeat(1024 * 1024)}` }), 413, "TEXT_TOO_LONG"],
      [JSON.stringify({ version: 1, text: PHI + "x".repeat(10 * 1024 * 1024) }), 413, "BODY_TOO_LARGE"],
      [`{"version":1,"text":"${PHI}","x":${"[".repeat(100)}${"]".repeat(100)}}`, 400, "BAD_JSON"],
    ];
    for (const [body, status, code] of cases) {
      assertClearRefusal(await call("POST", path, "nurse1", body), status, code);
    }
    assert.match(
      String((await call("POST", path, "nurse1", "[1]")).body.message),
      /JSON object such as \{"version"/,
      "the refusal says what is accepted",
    );
    assert.equal(svc.store.get(DOC_ID)?.version, 1, "nothing was changed");
    assert.deepEqual(errors, [], "a client's bad body is no error for Catch");
    assert.ok(!auditText().includes(PHI));
  });

  it("refuses 2 MiB of nested brackets before parsing them, holding the event loop a few ms, not seconds", async () => {
    // JSON.parse of this holds the event loop for over a second.
    const depth = (MAX_BODY_BYTES - 100) / 2;
    const body = `{"version":1,"text":${"[".repeat(depth)}${"]".repeat(depth)}}`;
    let longest = 0;
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    try {
      assertClearRefusal(
        await call("POST", `/api/documents/${DOC_ID}/edit`, "nurse1", body),
        400,
        "BAD_JSON",
      );
    } finally {
      clearInterval(ticker);
    }
    assert.ok(longest < 300, `the event loop was held ${Math.round(longest)} ms`);
  });

  it("ends a request whose body trickles in: 408 once the body time is over, and the connection is closed", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    let received = "";
    socket.on("data", (d: Buffer) => (received += d.toString("utf8")));
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(
      `POST /api/documents/${DOC_ID}/edit HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: http://127.0.0.1:${port}\r\n` +
        `x-forwarded-user: nurse1\r\nx-csrf-token: ${tokens.get("nurse1")}\r\ncontent-type: application/json\r\n` +
        `content-length: 1000\r\n\r\n{"version": 1, "text": "${PHI}`,
    );
    await new Promise((r) => setTimeout(r, 50));
    scheduler.advance(BODY_TIMEOUT_MS - 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, "", "no answer before the body time is over");
    socket.write("more");
    scheduler.advance(1);
    await closed;
    assert.match(received, /^HTTP\/1\.1 408 /);
    assert.match(received, /BODY_TIMEOUT/);
    assert.ok(!received.includes(PHI));
    assert.equal(svc.store.get(DOC_ID)?.version, 1);
    assert.deepEqual(errors, []);
  });

  it("takes a client that goes away mid-body as its own doing: nothing changed, nothing to Catch", async () => {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(
      `POST /api/documents/${DOC_ID}/sign HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: http://127.0.0.1:${port}\r\n` +
        `x-forwarded-user: drsmith\r\nx-csrf-token: ${tokens.get("drsmith")}\r\ncontent-type: application/json\r\n` +
        `content-length: 1000\r\n\r\n{"version": 1, "text": "${PHI}`,
    );
    await new Promise((r) => setTimeout(r, 50));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(errors, [], "a client's broken connection is no error of the node");
    assert.equal(svc.store.get(DOC_ID)?.state, "pending");
    // The bytes it held are free again: a full-size change still fits.
    assert.equal((await sign("drsmith", 1, TEXT)).status, 200);
  });

  it("bounds the bodies read at once: past the bound a change is refused with 503 BUSY, and the rest go on", async () => {
    const each = MAX_BODY_BYTES - 1024;
    const holders = Math.floor(MAX_BUFFERED_BODY_BYTES / each);
    const sockets = [];
    for (let i = 0; i < holders; i++) {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.write(
        `POST /api/documents/${DOC_ID}/edit HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\norigin: http://127.0.0.1:${port}\r\n` +
          `x-forwarded-user: nurse1\r\nx-csrf-token: ${tokens.get("nurse1")}\r\ncontent-type: application/json\r\n` +
          `content-length: ${each + 10}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(each, 0x20));
      sockets.push(socket);
    }
    await new Promise((r) => setTimeout(r, 500));
    const busy = await call("POST", `/api/documents/${DOC_ID}/edit`, "nurse1", Buffer.alloc(each, 0x20));
    assertClearRefusal(busy, 503, "BUSY");
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await sign("drsmith", 1, TEXT)).status, 200, "once they are gone, changes go through");
    assert.deepEqual(errors, []);
  });

  it("stays responsive under hundreds of clients at once: live lists bounded (503 past 200), reads and a signature answered", async () => {
    const streams: Array<{ status: number; close: () => void }> = await Promise.all(
      Array.from(
        { length: 210 },
        () =>
          new Promise<{ status: number; close: () => void }>((resolve, reject) => {
            const req = request(
              {
                host: "127.0.0.1",
                port,
                path: "/api/events",
                agent: false,
                headers: { "x-forwarded-user": "nurse1" },
              },
              (res) => {
                res.resume();
                resolve({ status: res.statusCode ?? 0, close: () => req.destroy() });
              },
            );
            req.on("error", reject);
            req.end();
          }),
      ),
    );
    try {
      assert.equal(streams.filter((s) => s.status === 200).length, 200);
      assert.equal(streams.filter((s) => s.status === 503).length, 10);
      const started = performance.now();
      const reads = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          call("GET", i % 2 ? "/api/documents" : `/api/documents/${DOC_ID}`, "nurse1"),
        ),
      );
      assert.ok(reads.every((r) => r.status === 200));
      assert.equal((await sign("drsmith", 1, TEXT)).status, 200);
      assert.ok(performance.now() - started < 5000, "answered in seconds");
      assert.equal(finals.length, 1);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it("answers a wrong method with 405 and the method the address takes, an unknown address with 404 listing the API", async () => {
    for (const [method, path, allow] of [
      ["GET", `/api/documents/${DOC_ID}/sign`, "POST"],
      ["PUT", `/api/documents/${DOC_ID}/sign`, "POST"],
      ["DELETE", `/api/documents/${DOC_ID}`, "GET"],
      ["POST", "/api/documents", "GET"],
      ["POST", "/", "GET"],
      ["PATCH", "/api/session", "GET"],
    ]) {
      const answer = await call(method, path, "drsmith");
      assertClearRefusal(answer, 405, "METHOD_NOT_ALLOWED");
      assert.equal(answer.headers.allow, allow);
    }
    const unknown = await call("GET", "/api/nothing", "drsmith");
    assertClearRefusal(unknown, 404, "NOT_FOUND");
    assert.match(String(unknown.body.message), /POST api\/documents\/<id>\/edit, sign, withdraw or addendum/);
  });

  it("takes hostile document ids as ids that are not there: no path, no echo, no error for Catch", async () => {
    for (const id of [
      "..%2F..%2F..%2Fetc%2Fpasswd",
      `${PHI}%00`,
      "%00",
      `..%5C..%5C${PHI}`,
      "%E0%A4%A",
      PHI + "x".repeat(5000),
    ]) {
      const read = await call("GET", `/api/documents/${id}`, "drsmith");
      assert.ok(read.status === 404 || read.status === 400, `${read.status}`);
      assert.ok(!JSON.stringify(read.body).includes(PHI));
      const change = await call(
        "POST",
        `/api/documents/${id}/sign`,
        "drsmith",
        JSON.stringify({ version: 1, text: TEXT }),
      );
      assert.ok(change.status === 404 || change.status === 400, `${change.status}`);
      assert.ok(!JSON.stringify(change.body).includes(PHI));
    }
    assert.deepEqual(errors, []);
    assert.equal(finals.length, 0);
    assert.ok(!auditText().includes(PHI));
  });

  it("asks every route for a signed-in user, the page and the audio included", async () => {
    for (const [method, path] of [
      ["GET", "/"],
      ["GET", "/api/session"],
      ["GET", "/api/events"],
      ["GET", "/api/accuracy"],
      ["GET", "/api/documents"],
      ["GET", `/api/documents/${DOC_ID}`],
      ["GET", `/api/documents/${DOC_ID}/audio`],
      ["POST", `/api/documents/${DOC_ID}/sign`],
      ["GET", "/api/nothing"],
    ]) {
      const body = method === "POST" ? JSON.stringify({ version: 1, text: TEXT }) : undefined;
      assertClearRefusal(
        await call(method, path, undefined, body, { "x-user": PHI }),
        401,
        "UNAUTHENTICATED",
      );
    }
    assert.equal(finals.length, 0);
  });
});
