import { strict as assert } from "node:assert";
import { promises as fsp, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Accuracy } from "../../../src/review/accuracy";
import { AudioStore, parseRange, wavHeader } from "../../../src/review/audio";
import { AuditLog } from "../../../src/review/audit-log";
import { Csrf, identify, listSetting, type AuthConfig, type RequestFacts } from "../../../src/review/auth";
import {
  applyAddendum,
  applyEdit,
  applySign,
  applyWithdraw,
  newRecord,
  ReviewError,
  type ReviewRecord,
} from "../../../src/review/record";
import { atomicWrite, fileNameFor, ReviewStore } from "../../../src/review/store";
import { boundedDistance, correctedTerms, scoringWords, wordErrorRate } from "../../../src/review/wer";
import { prng } from "../../support/prng";
import { bandedDistance } from "../../../bench/support/wer-banded";
import { documentWithText } from "../../support/documents";
import { reviewOptions } from "../../support/review-service";

const NOW = new Date("2026-01-15T15:00:00Z");
const DAY = 24 * 3600 * 1000;

function record(text = "patient takes metoprolol 50 mg daily"): ReviewRecord {
  return newRecord(documentWithText(text), { encounter: { author: { id: "DR1" } } }, "document", NOW, DAY);
}

function refused(fn: () => unknown, status: number, code: string): void {
  assert.throws(
    fn,
    (err: unknown) => err instanceof ReviewError && err.status === status && err.code === code,
  );
}

describe("review: word error rate", () => {
  it("counts substitutions, deletions and insertions over the signed words, ignoring case and punctuation", () => {
    assert.deepEqual(wordErrorRate("Patient takes metro lol daily.", "patient takes metoprolol daily"), {
      errors: 2,
      referenceWords: 4,
      wer: 0.5,
    });
    assert.equal(wordErrorRate("same words here", "Same words, here.").wer, 0);
  });

  it("agrees with the full Levenshtein matrix on random word lists", () => {
    const full = (a: string[], b: string[]): number => {
      const d = Array.from({ length: a.length + 1 }, (_, i) =>
        Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
      );
      for (let i = 1; i <= a.length; i++)
        for (let j = 1; j <= b.length; j++)
          d[i][j] = Math.min(
            d[i - 1][j] + 1,
            d[i][j - 1] + 1,
            d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
          );
      return d[a.length][b.length];
    };
    let seed = 7;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    for (let k = 0; k < 300; k++) {
      const a = Array.from({ length: rnd(40) }, () => "w" + rnd(4));
      const b = Array.from({ length: rnd(40) }, () => "w" + rnd(4));
      assert.equal(boundedDistance(a, b, 1e9), full(a, b), `case ${k}`);
    }
  });

  it("is linear for a long note with a few fixes, and gives up (null) rather than spend unbounded time", () => {
    const words = Array.from({ length: 50_000 }, (_, i) => `w${i % 977}`);
    const fixed = [...words];
    fixed[100] = "metoprolol";
    fixed[40_000] = "lisinopril";
    assert.equal(boundedDistance(words, fixed, 5_000_000), 2);
    const other = words.map((w) => w + "x");
    assert.equal(boundedDistance(words, other, 1_000_000), null);
    assert.equal(wordErrorRate(words.join(" "), other.join(" ")).wer, null);
  });

  it("splits words for scoring as the earlier per-word replace did, on seeded random texts", () => {
    const before = (text: string): string[] => {
      const out: string[] = [];
      for (const raw of text.split(/\s+/)) {
        const word = raw.toLowerCase().replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
        if (word !== "") out.push(word);
      }
      return out;
    };
    const pieces = [
      "a",
      "Σ",
      "ΟΔΟΣ",
      "İ",
      "é",
      "7",
      "½",
      "-",
      ".",
      ",",
      "'",
      "(",
      "😀",
      "\u0301",
      " ",
      "\n",
      "\t",
      "\u00a0",
      "\u2003",
      "Metoprolol,",
    ];
    const rand = prng(31);
    for (let k = 0; k < 3000; k++) {
      let text = "";
      for (let i = Math.floor(rand() * 30); i > 0; i--)
        text += pieces[Math.floor(rand() * pieces.length)] ?? "";
      assert.deepEqual(scoringWords(text), before(text), JSON.stringify(text));
    }
  });

  it("gives the distance the earlier banded search gave, on seeded random edits of random notes", () => {
    const rand = prng(4242);
    const int = (n: number): number => Math.floor(rand() * n);
    for (let k = 0; k < 400; k++) {
      const vocabulary = 2 + int(30);
      const base = Array.from({ length: int(k < 300 ? 60 : 2000) }, () => `w${int(vocabulary)}`);
      const edited = [...base];
      for (let e = int(k % 3 === 0 ? 3 : 40); e > 0; e--) {
        const at = int(edited.length + 1);
        const what = int(3);
        if (what === 0) edited.splice(at, 1);
        else if (what === 1) edited.splice(at, 0, `w${int(vocabulary)}`);
        else if (at < edited.length) edited[at] = `n${int(vocabulary)}`;
      }
      const other = k % 5 === 0 ? Array.from({ length: int(60) }, () => `w${int(vocabulary)}`) : edited;
      assert.equal(boundedDistance(base, other, 1e12), bandedDistance(base, other, 1e12), `case ${k}`);
      assert.equal(
        boundedDistance(other, base, 1e12),
        bandedDistance(other, base, 1e12),
        `case ${k} swapped`,
      );
    }
  });

  it("keeps to its step bound within one round of edits: a rewritten passage, then many repeated words", () => {
    // After the rewritten passage every diagonal of a round can slide the whole run of repeated words;
    // a budget checked once per round let that round run ~200 million steps past a 1,000,000-step bound.
    const passage = (p: string): string[] => Array.from({ length: 1000 }, (_, i) => `${p}${i}`);
    const repeated = Array.from({ length: 200_000 }, () => "the");
    const signed = [...passage("z"), ...repeated];
    const machine = [...repeated, ...passage("y")];
    let fastest = Infinity;
    for (let run = 0; run < 3; run++) {
      const start = performance.now();
      assert.equal(boundedDistance(signed, machine, 1_000_000), null);
      fastest = Math.min(fastest, performance.now() - start);
    }
    // A million steps and the word ids take 10-30 ms; the unbounded round took 300 ms or more.
    assert.ok(fastest < 100, `took ${fastest.toFixed(1)} ms`);
    assert.equal(boundedDistance(signed, machine, 1e9), 2000);
  });

  it("measures a note at the document limit with 1,000 scattered corrections exactly, within its bound", () => {
    const rand = prng(99);
    const words = Array.from({ length: 50_000 }, () => `w${Math.floor(rand() * 3000)}`);
    const fixed = [...words];
    for (let i = 25; i < fixed.length; i += 50) fixed[i] = "corrected";
    const score = wordErrorRate(words.join(" "), fixed.join(" "));
    assert.equal(score.errors, 1000);
    assert.equal(score.referenceWords, 50_000);
  });

  it("reports the terms a reviewer put in, or only the site's vocabulary when one is given", () => {
    const terms = correctedTerms(
      "give metro lol and the aspirin",
      "give metoprolol and the aspirin",
      new Set(),
    );
    assert.deepEqual([...terms], [["metoprolol", 1]]);
    const vocab = correctedTerms("a b", "a metoprolol heparin", new Set(["heparin"]));
    assert.deepEqual([...vocab], [["heparin", 1]]);
  });
});

describe("review: sign-off transitions", () => {
  it("signs an unchanged document as a status change (T04) and an edited one as an edit (T08)", () => {
    const r = record();
    const same = applySign(r, 1, r.document.text, "drsmith", "LA", NOW);
    assert.equal(same.signoff.trigger, "T04");
    assert.equal(same.signoff.edited, false);
    assert.equal(same.record.state, "signed");
    assert.equal(same.record.version, 2);
    const edited = applySign(r, 1, "patient takes metoprolol 25 mg daily", "drsmith", "AU", NOW);
    assert.equal(edited.signoff.trigger, "T08");
    assert.equal(edited.record.signed?.machineText, r.document.text);
    assert.equal(edited.record.signed?.signedText, "patient takes metoprolol 25 mg daily");
    assert.equal(edited.record.signed?.errors, 1);
  });

  it("refuses a change made from an older version (409), naming who changed it", () => {
    const r = record();
    const edited = applyEdit(r, 1, "patient takes metoprolol 25 mg daily", "nurse1", NOW);
    assert.equal(edited.version, 2);
    refused(() => applySign(edited, 1, "x y", "drsmith", "AU", NOW), 409, "VERSION_CONFLICT");
    assert.throws(() => applySign(edited, 1, "x y", "drsmith", "AU", NOW), /nurse1/);
    refused(() => applySign(edited, undefined, "x y", "drsmith", "AU", NOW), 400, "VERSION_REQUIRED");
  });

  it("makes a correction after signing an amendment (T08), an addendum a T06 to the parent, and withdrawal T11 or T04", () => {
    const signed = applySign(
      record(),
      1,
      "patient takes metoprolol 50 mg daily",
      "drsmith",
      "AU",
      NOW,
    ).record;
    refused(() => applyEdit(signed, 2, "changed", "nurse1", NOW), 409, "NOT_PENDING");
    const amended = applySign(signed, 2, "patient takes metoprolol 75 mg daily", "drsmith", "AU", NOW);
    assert.equal(amended.signoff.event, "amend");
    assert.equal(amended.signoff.trigger, "T08");
    assert.equal(amended.record.signed?.amendments, 1);
    const addendum = applyAddendum(
      amended.record,
      3,
      "Addendum: allergy to penicillin.",
      "drsmith",
      "AU",
      NOW,
      "new-id",
    );
    assert.equal(addendum.signoff.trigger, "T06");
    assert.equal(addendum.signoff.parentDocumentId, signed.id);
    refused(() => applyAddendum(record(), 1, "x", "drsmith", "AU", NOW, "n"), 409, "NOT_SIGNED");
    assert.equal(applyWithdraw(record(), 1, "wrong patient", "drsmith", NOW).signoff.trigger, "T11");
    const late = applyWithdraw(signed, 2, "wrong patient", "drsmith", NOW);
    assert.equal(late.signoff.trigger, "T04");
    assert.equal(late.signoff.wasSigned, true);
    refused(() => applyWithdraw(late.record, 3, "again", "drsmith", NOW), 409, "WITHDRAWN");
    refused(() => applyWithdraw(record(), 1, "", "drsmith", NOW), 400, "REASON_REQUIRED");
  });

  it("refuses empty or oversized text and turns CR line ends into LF", () => {
    refused(() => applyEdit(record(), 1, "  ", "u", NOW), 400, "TEXT_EMPTY");
    refused(() => applyEdit(record(), 1, 42, "u", NOW), 400, "TEXT_REQUIRED");
    refused(() => applyEdit(record(), 1, "x".repeat(1024 * 1024 + 1), "u", NOW), 413, "TEXT_TOO_LONG");
    assert.equal(applyEdit(record(), 1, "a\rb\r\nc", "u", NOW).draftText, "a\nb\nc");
  });
});

describe("review: store, audit log, accuracy", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "review-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps one file per document, named by a hash, reads them back, and refuses past its bound", async () => {
    const store = new ReviewStore(join(dir, "docs"), { maxDocuments: 2 });
    await store.load();
    const a = record();
    assert.equal(await store.add(a), true);
    assert.equal(await store.add(a), false, "a resend of the same document is ignored");
    await store.add(
      newRecord(documentWithText("two", "11111111-1111-4111-8111-111111111111"), {}, "document", NOW, DAY),
    );
    await assert.rejects(
      store.add(
        newRecord(
          documentWithText("three", "22222222-2222-4222-8222-222222222222"),
          {},
          "document",
          NOW,
          DAY,
        ),
      ),
      (err: unknown) =>
        err instanceof ReviewError && err.code === "WORKLIST_FULL" && /maximum of 2/.test(err.message),
    );
    const files = readdirSync(join(dir, "docs"));
    assert.deepEqual(
      files.sort(),
      [fileNameFor(a.id), fileNameFor("11111111-1111-4111-8111-111111111111")].sort(),
    );
    assert.ok(!files.some((f) => f.includes(a.id)));
    writeFileSync(join(dir, "docs", "junk.json"), "{not json");
    const again = new ReviewStore(join(dir, "docs"));
    assert.deepEqual(await again.load(), { loaded: 2, unreadable: 1 });
    assert.equal(again.get(a.id)?.draftText, a.draftText);
  });

  it("keeps its bound when a burst of new documents arrives at once (the writes are under way together)", async () => {
    const store = new ReviewStore(join(dir, "docs"), { maxDocuments: 3 });
    await store.load();
    const ids = Array.from(
      { length: 20 },
      (_, i) => `${String(i).padStart(8, "0")}-1111-4111-8111-111111111111`,
    );
    const results = await Promise.allSettled(
      ids.map((id) => store.add(newRecord(documentWithText(`doc ${id}`, id), {}, "document", NOW, DAY))),
    );
    assert.equal(results.filter((r) => r.status === "fulfilled").length, 3);
    assert.ok(
      results.every(
        (r) =>
          r.status === "fulfilled" || (r.reason instanceof ReviewError && r.reason.code === "WORKLIST_FULL"),
      ),
    );
    assert.equal(store.size, 3);
    assert.equal(readdirSync(join(dir, "docs")).length, 3);
  });

  it("writes one file from two writers at once whole, each write succeeding (accuracy.json after two signatures)", async () => {
    const path = join(dir, "accuracy.json");
    const long = JSON.stringify({ rows: "x".repeat(200_000) });
    const short = JSON.stringify({ rows: "y" });
    for (let i = 0; i < 20; i++) {
      const results = await Promise.allSettled([atomicWrite(path, long), atomicWrite(path, short)]);
      assert.deepEqual(
        results.map((r) => r.status),
        ["fulfilled", "fulfilled"],
      );
      const text = readFileSync(path, "utf8");
      assert.ok(text === long || text === short, "the file is one write, whole");
    }
    assert.deepEqual(readdirSync(dir), ["accuracy.json"]);
  });

  it("makes a write durable against a power cut: the folder is fsynced after the rename, before it resolves", async () => {
    const path = join(dir, "record.json");
    const steps: string[] = [];
    const { open, rename } = fsp;
    // Spies on the calls a durable replace needs, in order: the file's sync, the rename, the folder's sync.
    const spyOpen = async (...args: Parameters<typeof open>): Promise<Awaited<ReturnType<typeof open>>> => {
      const handle = await open(...args);
      const what = String(args[0]) === dir ? "folder" : "file";
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        steps.push(`sync ${what}`);
        return sync();
      };
      return handle;
    };
    fsp.open = spyOpen;
    fsp.rename = async (from, to) => {
      steps.push("rename");
      return rename(from, to);
    };
    try {
      await atomicWrite(path, "{}");
    } finally {
      fsp.open = open;
      fsp.rename = rename;
    }
    // Without the folder's sync, a power cut after the answer could bring back the old file.
    assert.deepEqual(steps, ["sync file", "rename", "sync folder"]);
  });

  it("runs two changes to one document one after the other: the second sees the first's version", async () => {
    const store = new ReviewStore(join(dir, "docs"));
    await store.load();
    const r = record();
    await store.add(r);
    const sign = (user: string): Promise<string> =>
      store.update(r.id, (cur) => {
        const t = applySign(cur, 1, cur.draftText, user, "AU", NOW);
        return { record: t.record, result: user };
      });
    const results = await Promise.allSettled([sign("a"), sign("b")]);
    assert.equal(results[0].status, "fulfilled");
    assert.equal(results[1].status, "rejected");
    assert.equal(store.get(r.id)?.signed?.by, "a");
  });

  it("appends audit lines in order without transcript text", async () => {
    const log = new AuditLog(join(dir, "audit.jsonl"), (err) => assert.fail(err));
    void log.append({ time: NOW.toISOString(), user: "u", action: "opened", documentId: "d" });
    void log.append({ time: NOW.toISOString(), user: "u", action: "signed", documentId: "d", version: 2 });
    await log.flush();
    const lines = readFileSync(join(dir, "audit.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { action: string });
    assert.deepEqual(
      lines.map((l) => l.action),
      ["opened", "signed"],
    );
  });

  it("reports WER and corrected terms per clinician and model", () => {
    const acc = new Accuracy(new Set());
    const r = record("give metro lol daily");
    const s = applySign(r, 1, "give metoprolol daily", "drsmith", "AU", NOW).record;
    acc.add(s, s.signed!);
    const [row] = acc.report();
    assert.equal(row.clinician, "DR1");
    assert.equal(row.month, "2026-01");
    assert.equal(row.documents, 1);
    assert.equal(row.wer, 2 / 3);
    assert.deepEqual(row.topTerms, [{ term: "metoprolol", count: 1 }]);
  });
});

describe("review: audio and ranges", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), "review-audio-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps a session's PCM up to its bounds, says so once, and reads byte ranges back", async () => {
    const store = new AudioStore(join(dir, "a"), { maxSessionSeconds: 1, maxTotalBytes: 20_000 }, (e) =>
      assert.fail(e),
    );
    await store.init();
    const pcm = Buffer.alloc(8000, 1);
    assert.deepEqual(store.append({ sessionId: "s", sampleRate: 8000, channels: 1, pcm }), { kept: true });
    assert.deepEqual(store.append({ sessionId: "s", sampleRate: 8000, channels: 1, pcm }), { kept: true });
    const over = store.append({ sessionId: "s", sampleRate: 8000, channels: 1, pcm });
    assert.deepEqual(over, { kept: false, reason: "session-limit", first: true, droppedBytes: 8000 });
    assert.equal(
      (store.append({ sessionId: "s", sampleRate: 8000, channels: 1, pcm }) as { first: boolean }).first,
      false,
    );
    const total = store.append({ sessionId: "t", sampleRate: 8000, channels: 1, pcm });
    assert.equal((total as { reason: string }).reason, "total-limit");
    assert.equal((await store.read("s", 10, 19)).length, 10);
    await store.remove("s");
    assert.equal(store.totalBytes, 0);
    assert.equal(store.info("s"), undefined);
  });

  it("keeps audio of a bounded number of sessions: one more gets no entry and no file, reported once", async () => {
    const store = new AudioStore(
      join(dir, "a"),
      { maxSessionSeconds: 60, maxTotalBytes: 1024 * 1024, maxSessions: 3 },
      (e) => assert.fail(e),
    );
    await store.init();
    const chunk = (sessionId: string): ReturnType<typeof store.append> =>
      store.append({ sessionId, sampleRate: 8000, channels: 1, pcm: Buffer.alloc(2, 1) });
    const outcomes = Array.from({ length: 10_000 }, (_, i) => chunk(`s${i}`));
    assert.equal(outcomes.filter((o) => o.kept).length, 3);
    assert.deepEqual(outcomes[3], { kept: false, reason: "sessions-limit", first: true, droppedBytes: 2 });
    // Reported once per session (the memory of refused sessions is as bounded, the oldest forgotten).
    assert.deepEqual(chunk("s9999"), {
      kept: false,
      reason: "sessions-limit",
      first: false,
      droppedBytes: 4,
    });
    assert.equal(store.info("s3"), undefined);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(readdirSync(join(dir, "a")).length, 3, "a file per session kept, none for the refused");
    assert.equal(store.startedBefore(Number.MAX_SAFE_INTEGER).length, 3);
    // A session whose audio is gone makes room for a new one.
    await store.remove("s0");
    assert.deepEqual(chunk("s3"), { kept: true });
  });

  it("parses Range headers as RFC 9110 says and writes a WAV header", () => {
    assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
    assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
    assert.deepEqual(parseRange("bytes=0-5000", 1000), { start: 0, end: 999 });
    assert.equal(parseRange("bytes=1000-", 1000), "unsatisfiable");
    assert.equal(parseRange("items=0-1", 1000), undefined);
    const h = wavHeader(16000, 1, 32000);
    assert.equal(h.toString("ascii", 0, 4), "RIFF");
    assert.equal(h.readUInt32LE(24), 16000);
    assert.equal(h.readUInt32LE(40), 32000);
  });
});

describe("review: who may do what", () => {
  const base: AuthConfig = reviewOptions("", { reviewers: ["nurse1"], signers: ["drsmith"] }).auth;
  const req = (
    headers: RequestFacts["headers"],
    remoteAddress = "::ffff:127.0.0.1",
    user?: unknown,
  ): RequestFacts => ({
    method: "GET",
    headers,
    remoteAddress,
    user,
  });

  it("believes the proxy's header only from a trusted proxy address", () => {
    assert.equal(identify(req({ "x-forwarded-user": "drsmith" }), base).user, "drsmith");
    assert.ok(identify(req({ "x-forwarded-user": "drsmith" }), base).roles.has("signer"));
    refusedAsync(() => identify(req({ "x-forwarded-user": "drsmith" }, "10.0.0.9"), base), 401);
    refusedAsync(() => identify(req({}), base), 401);
    refusedAsync(() => identify(req({ "x-forwarded-user": "visitor" }), base), 403);
    const nurse = identify(req({ "x-forwarded-user": "nurse1" }), base);
    assert.ok(nurse.roles.has("reviewer") && !nurse.roles.has("signer"));
  });

  it("takes roles from the proxy's groups header when configured", () => {
    const config = {
      ...base,
      rolesHeader: "x-forwarded-groups",
      signerGroup: "attending",
      reviewerGroup: "scribe",
    };
    const id = identify(
      req({ "x-forwarded-user": "anyone", "x-forwarded-groups": "staff, attending" }),
      config,
    );
    assert.ok(id.roles.has("signer"));
  });

  it("uses Node-RED's user: req.user, or the checked basic-auth name only when httpNodeAuth is on", () => {
    const nr: AuthConfig = { ...base, source: "node-red" };
    assert.equal(identify(req({}, "1.2.3.4", { username: "drsmith" }), nr).user, "drsmith");
    const basic = { authorization: "Basic " + Buffer.from("drsmith:pw").toString("base64") };
    refusedAsync(() => identify(req(basic), nr), 401);
    assert.equal(identify(req(basic), { ...nr, nodeRedBasicAuth: true }).user, "drsmith");
    refusedAsync(() => identify(req({}, "1.2.3.4", { username: "dr|x" }), nr), 401);
  });

  it("requires the user's CSRF token and a same-origin Origin on a change", () => {
    const csrf = new Csrf(Buffer.alloc(32, 7));
    const id = { user: "drsmith", roles: new Set<"signer">(["signer"]) };
    const token = csrf.tokenFor("drsmith");
    const proxies = listSetting("10.0.0.1");
    const post = (headers: RequestFacts["headers"], remoteAddress = "127.0.0.1"): RequestFacts => ({
      method: "POST",
      headers,
      remoteAddress,
    });
    csrf.check(post({ host: "h:1880", origin: "http://h:1880", "x-csrf-token": token }), id, proxies);
    refusedAsync(
      () => csrf.check(post({ host: "h:1880", origin: "http://evil", "x-csrf-token": token }), id, proxies),
      403,
    );
    refusedAsync(() => csrf.check(post({ host: "h:1880", "x-csrf-token": token }), id, proxies), 403);
    refusedAsync(
      () =>
        csrf.check(
          post({ host: "h:1880", origin: "http://h:1880", "x-csrf-token": csrf.tokenFor("nurse1") }),
          id,
          proxies,
        ),
      403,
    );
    // X-Forwarded-Host names this server only when the proxy in front of it sets it; from any other
    // client it is the client's word, and a page elsewhere would otherwise name itself as the host.
    const forwarded = {
      host: "h:1880",
      origin: "http://evil",
      "x-forwarded-host": "evil",
      "x-csrf-token": token,
    };
    refusedAsync(() => csrf.check(post(forwarded), id, proxies), 403);
    csrf.check(post(forwarded, "10.0.0.1"), id, proxies);
  });
});

function refusedAsync(fn: () => unknown, status: number): void {
  assert.throws(fn, (err: unknown) => err instanceof ReviewError && err.status === status);
}
