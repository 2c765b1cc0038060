import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applySign, newRecord, withOutbox, type ReviewRecord } from "../../../src/review/record";
import { HANDOVER_SETTLE_MS, ReviewService, type FinalMessage } from "../../../src/review/service";
import { fileNameFor, ReviewStore } from "../../../src/review/store";
import { documentWithText } from "../../support/documents";
import { ManualScheduler } from "../../support/manual-scheduler";

const NOW = new Date("2026-01-15T15:00:00Z");
const DAY = 24 * 3600 * 1000;
const DOC_ID = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11";

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

function service(dir: string, scheduler: ManualScheduler, finals: FinalMessage[]): ReviewService {
  return new ReviewService(
    {
      dir,
      auth: {
        source: "header",
        nodeRedBasicAuth: false,
        userHeader: "x-forwarded-user",
        rolesHeader: "",
        reviewerGroup: "",
        signerGroup: "",
        trustedProxies: new Set(["127.0.0.1"]),
        reviewers: new Set(),
        signers: new Set(["drsmith"]),
      },
      completionStatus: "AU",
      maxDocuments: 10,
      retentionMs: DAY,
      audio: { keep: false, maxSessionSeconds: 60, maxTotalBytes: 1024 },
      vocabulary: new Set(),
      sweepMs: DAY,
    },
    { final: (m) => finals.push(m), event: () => undefined, error: (e) => assert.fail(e) },
    scheduler,
  );
}

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
});
