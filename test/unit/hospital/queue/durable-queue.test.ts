import { strict as assert } from "node:assert";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DurableQueue,
  type AttemptResult,
  type DurableQueueOptions,
  type QueueItem,
} from "../../../../src/hospital/queue/durable-queue";
import {
  crc32,
  decodeJournal,
  encodeRecord,
  JOURNAL_FILE,
  JournalCorruptError,
  openJournal,
} from "../../../../src/hospital/queue/journal";
import { realScheduler } from "../../../../src/util/scheduler";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "dq-test-"));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const tick = (ms = 5): Promise<void> => new Promise((r) => realScheduler.setTimeout(r, ms));

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error("timed out waiting");
    await tick();
  }
}

type Deliver = (item: QueueItem) => Promise<AttemptResult<string>>;

async function openQueue(
  dir: string,
  deliver: Deliver,
  overrides: Partial<DurableQueueOptions<string>> = {},
): Promise<{ queue: DurableQueue<string>; settled: Array<{ key: string; kind: string }>; errors: Error[] }> {
  const settled: Array<{ key: string; kind: string }> = [];
  const errors: Error[] = [];
  const { queue } = await DurableQueue.open<string>({
    dir,
    maxMessages: 100,
    maxBytes: 1024 * 1024,
    maxDiskBytes: 4 * 1024 * 1024,
    backoffMs: 5,
    backoffMaxMs: 20,
    deliver,
    onSettled: (item, outcome) => settled.push({ key: item.key, kind: outcome.kind }),
    scheduler: realScheduler,
    onError: (e) => errors.push(e),
    ...overrides,
  });
  return { queue, settled, errors };
}

const never: Deliver = () => new Promise(() => undefined);

describe("queue journal (records with length and CRC-32)", () => {
  it("computes the standard CRC-32", () => {
    assert.equal(crc32(Buffer.from("123456789")), 0xcbf43926);
  });

  it("reads back what was appended, after a reopen", async () => {
    const dir = tempDir();
    const first = await openJournal(dir);
    await first.journal.append([{ a: 1 }, { b: "twö" }]);
    await first.journal.append([{ c: [3] }]);
    await first.journal.close();
    const again = await openJournal(dir);
    assert.deepEqual(again.records, [{ a: 1 }, { b: "twö" }, { c: [3] }]);
    assert.equal(again.tornBytes, 0);
    await again.journal.close();
  });

  it("drops a torn last record at every cut point and truncates the file to the whole records", async () => {
    const whole = Buffer.concat([encodeRecord({ n: 1 }), encodeRecord({ n: 2, text: "x".repeat(40) })]);
    const firstLength = encodeRecord({ n: 1 }).length;
    for (let cut = firstLength + 1; cut < whole.length; cut++) {
      const dir = tempDir();
      writeFileSync(join(dir, JOURNAL_FILE), whole.subarray(0, cut));
      const opened = await openJournal(dir);
      assert.deepEqual(opened.records, [{ n: 1 }], `cut at ${cut}`);
      assert.equal(opened.tornBytes, cut - firstLength);
      assert.equal(statSync(join(dir, JOURNAL_FILE)).size, firstLength);
      // The next append follows the last whole record, so the file reads whole again.
      await opened.journal.append([{ n: 3 }]);
      await opened.journal.close();
      assert.deepEqual(decodeJournal(readFileSync(join(dir, JOURNAL_FILE))).records, [{ n: 1 }, { n: 3 }]);
    }
  });

  it("drops a last record whose bytes were garbled (CRC mismatch)", async () => {
    const dir = tempDir();
    const bad = encodeRecord({ n: 2 });
    bad[bad.length - 2] ^= 0xff;
    writeFileSync(join(dir, JOURNAL_FILE), Buffer.concat([encodeRecord({ n: 1 }), bad]));
    const opened = await openJournal(dir);
    assert.deepEqual(opened.records, [{ n: 1 }]);
    await opened.journal.close();
  });

  it("refuses a journal damaged in the middle and sets the file aside instead of shortening it", async () => {
    const dir = tempDir();
    const bad = encodeRecord({ n: 2 });
    bad[bad.length - 2] ^= 0xff;
    writeFileSync(
      join(dir, JOURNAL_FILE),
      Buffer.concat([encodeRecord({ n: 1 }), bad, encodeRecord({ n: 3 })]),
    );
    await assert.rejects(openJournal(dir), JournalCorruptError);
    assert.equal(existsSync(join(dir, JOURNAL_FILE)), false);
    assert.equal(readdirSync(dir).filter((f) => f.startsWith(`${JOURNAL_FILE}.damaged-`)).length, 1);
  });
});

describe("durable delivery queue", () => {
  it("has a message on disk when enqueue resolves: a second open (a restart) finds it", async () => {
    const dir = tempDir();
    const { queue } = await openQueue(dir, never);
    const result = await queue.enqueue("MSG-1", "node-a", "MSH|one");
    assert.equal(result.ok, true);
    // No close: as after kill -9, only what is on disk counts.
    const { queue: reopened, report } = await DurableQueue.open<string>({
      dir,
      maxMessages: 10,
      maxBytes: 1000,
      maxDiskBytes: 100000,
      backoffMs: 1,
      backoffMaxMs: 1,
      deliver: never,
      scheduler: realScheduler,
      onError: () => undefined,
    });
    assert.equal(report.restored, 1);
    assert.deepEqual(
      reopened.list().map((i) => [i.key, i.origin, i.body]),
      [["MSG-1", "node-a", "MSH|one"]],
    );
    await reopened.close(() => undefined);
    await queue.close(() => undefined);
  });

  it("delivers in order, one at a time, and never again after the ACK is recorded", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    let inFlight = 0;
    const deliver: Deliver = async (item) => {
      inFlight++;
      assert.equal(inFlight, 1, "one message in flight");
      sent.push(item.key);
      await tick(2);
      inFlight--;
      return { kind: "delivered", result: "AA" };
    };
    const { queue, settled } = await openQueue(dir, deliver);
    for (let i = 1; i <= 5; i++) assert.equal((await queue.enqueue(`M${i}`, "n", `MSH|${i}`)).ok, true);
    queue.start();
    await waitFor(() => settled.length === 5);
    assert.deepEqual(sent, ["M1", "M2", "M3", "M4", "M5"]);
    await queue.close(() => undefined);
    const again = await openQueue(dir, deliver);
    again.queue.start();
    await tick(30);
    assert.deepEqual(
      sent,
      ["M1", "M2", "M3", "M4", "M5"],
      "nothing acknowledged is sent again after a restart",
    );
    assert.equal(again.queue.depth, 0);
    await again.queue.close(() => undefined);
  });

  it("keeps a failing message at the head and retries it with backoff, the rest waiting behind it", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    let failures = 3;
    const deliver: Deliver = (item) => {
      sent.push(item.key);
      if (item.key === "M1" && failures-- > 0)
        return Promise.resolve({ kind: "retry", error: "connect-failed" });
      return Promise.resolve({ kind: "delivered", result: "AA" });
    };
    const retries: number[] = [];
    const { queue, settled } = await openQueue(dir, deliver, { onRetry: (_i, delay) => retries.push(delay) });
    await queue.enqueue("M1", "n", "MSH|1");
    await queue.enqueue("M2", "n", "MSH|2");
    queue.start();
    await waitFor(() => settled.length === 2);
    assert.deepEqual(sent, ["M1", "M1", "M1", "M1", "M2"]);
    assert.deepEqual(retries, [5, 10, 20]);
    await queue.close(() => undefined);
  });

  it("records a final rejection so it is not sent again, and goes on with the next", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    const deliver: Deliver = (item) => {
      sent.push(item.key);
      return Promise.resolve(
        item.key === "M1"
          ? { kind: "rejected", result: "AE", why: "AE" }
          : { kind: "delivered", result: "AA" },
      );
    };
    const { queue, settled } = await openQueue(dir, deliver);
    await queue.enqueue("M1", "n", "MSH|1");
    await queue.enqueue("M2", "n", "MSH|2");
    queue.start();
    await waitFor(() => settled.length === 2);
    assert.deepEqual(settled, [
      { key: "M1", kind: "rejected" },
      { key: "M2", kind: "delivered" },
    ]);
    await queue.close(() => undefined);
    const again = await openQueue(dir, deliver);
    assert.equal(again.queue.depth, 0);
    await again.queue.close(() => undefined);
  });

  it("keeps the message an attempt was stopped under (a deploy), and sends it after the restart", async () => {
    const dir = tempDir();
    let stop: (() => void) | undefined;
    const deliver: Deliver = () =>
      new Promise((resolve) => {
        stop = () => resolve({ kind: "stopped" });
      });
    const { queue } = await openQueue(dir, deliver);
    await queue.enqueue("M1", "n", "MSH|1");
    queue.start();
    await waitFor(() => stop !== undefined);
    await queue.close(() => stop?.());
    const sent: string[] = [];
    const again = await openQueue(dir, (item) => {
      sent.push(item.body);
      return Promise.resolve({ kind: "delivered", result: "AA" });
    });
    again.queue.start();
    await waitFor(() => sent.length === 1);
    assert.deepEqual(sent, ["MSH|1"]);
    await again.queue.close(() => undefined);
  });

  it("refuses past its message, byte and disk bounds, saying which", async () => {
    const dir = tempDir();
    const { queue } = await openQueue(dir, never, { maxMessages: 2, maxBytes: 10, maxDiskBytes: 10_000 });
    assert.equal((await queue.enqueue("A", "n", "12345")).ok, true);
    const tooBig = await queue.enqueue("B", "n", "1234567");
    assert.equal(tooBig.ok === false && tooBig.reason, "full-bytes");
    assert.equal((await queue.enqueue("C", "n", "1")).ok, true);
    const full = await queue.enqueue("D", "n", "1");
    assert.equal(full.ok === false && full.reason, "full-messages");
    await queue.close(() => undefined);

    const small = await openQueue(tempDir(), never, { maxDiskBytes: 200 });
    assert.equal((await small.queue.enqueue("A", "n", "x".repeat(50))).ok, true);
    const disk = await small.queue.enqueue("B", "n", "x".repeat(150));
    assert.equal(disk.ok === false && disk.reason, "full-disk");
    assert.equal(small.queue.depth, 1);
    await small.queue.close(() => undefined);
  });

  it("holds its bounds against enqueues that are still being written", async () => {
    const { queue } = await openQueue(tempDir(), never, { maxMessages: 3 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => queue.enqueue(`M${i}`, "n", "MSH")));
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, false, false],
    );
    assert.deepEqual(
      queue.list().map((i) => i.key),
      ["M1", "M2", "M3"],
    );
    await queue.close(() => undefined);
  });

  it("compacts the journal once acknowledged records dominate, keeping the queued ones", async () => {
    const dir = tempDir();
    let release = 6;
    const deliver: Deliver = () =>
      Promise.resolve(release-- > 0 ? { kind: "delivered", result: "AA" } : { kind: "retry", error: "busy" });
    const { queue, settled } = await openQueue(dir, deliver, {
      compactMinBytes: 100,
      backoffMs: 10_000,
      backoffMaxMs: 10_000,
    });
    for (let i = 1; i <= 8; i++) await queue.enqueue(`M${i}`, "n", `MSH|${"x".repeat(100)}|${i}`);
    const before = statSync(join(dir, JOURNAL_FILE)).size;
    queue.start();
    await waitFor(() => settled.length === 6);
    await tick(20);
    const after = statSync(join(dir, JOURNAL_FILE)).size;
    assert.ok(after < before / 2, `journal ${before} -> ${after} bytes`);
    await queue.close(() => undefined);
    const again = await openQueue(dir, never);
    assert.deepEqual(
      again.queue.list().map((i) => i.key),
      ["M7", "M8"],
    );
    // Sequence numbers go on after a compaction: a new message sorts after the kept ones.
    await again.queue.enqueue("M9", "n", "MSH|9");
    assert.ok((again.queue.list()[2]?.seq ?? 0) > (again.queue.list()[1]?.seq ?? 0));
    await again.queue.close(() => undefined);
  });

  it("takes a message with an idempotency key once: queued, being written, delivered, after a restart and a compaction", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    let open = false;
    const deliver: Deliver = (item) => {
      if (!open) return Promise.resolve({ kind: "retry", error: "closed" });
      sent.push(item.key);
      return Promise.resolve({ kind: "delivered", result: "AA" });
    };
    const first = await openQueue(dir, deliver, { compactMinBytes: 100, backoffMs: 5, backoffMaxMs: 5 });
    // Two at once (the second while the first is being written), then once more while queued.
    const [a, b] = await Promise.all([
      first.queue.enqueue("K1", "n", "MSH|1", Date.now(), "K1"),
      first.queue.enqueue("K1", "n", "MSH|1 again", Date.now(), "K1"),
    ]);
    assert.equal(a.ok && a.item !== undefined, true);
    assert.deepEqual(b, { ok: true, duplicate: "queued" });
    assert.deepEqual(await first.queue.enqueue("K1", "n", "MSH|1", Date.now(), "K1"), {
      ok: true,
      duplicate: "queued",
    });
    // Without a key nothing changes: the same control id is queued again (the receiver drops it).
    const plain = await first.queue.enqueue("K1", "n", "MSH|1 plain");
    assert.ok(plain.ok && plain.item);
    first.queue.start();
    open = true;
    await waitFor(() => first.settled.length === 2);
    assert.deepEqual(await first.queue.enqueue("K1", "n", "MSH|1", Date.now(), "K1"), {
      ok: true,
      duplicate: "ended",
    });
    // Enough ended records to compact the journal: the key is still known after it and a restart.
    for (let i = 2; i <= 8; i++) await first.queue.enqueue(`K${i}`, "n", `MSH|${"x".repeat(100)}`);
    await waitFor(() => first.settled.length === 9);
    await tick(20);
    await first.queue.close(() => undefined);
    const journal = readFileSync(join(dir, JOURNAL_FILE));
    assert.ok(!journal.includes("MSH|1 plain"), "compacted");
    const again = await openQueue(dir, deliver);
    assert.deepEqual(await again.queue.enqueue("K1", "n", "MSH|1", Date.now(), "K1"), {
      ok: true,
      duplicate: "ended",
    });
    const fresh = await again.queue.enqueue("K9", "n", "MSH|9", Date.now(), "K9");
    assert.ok(fresh.ok && fresh.item, "a new key is queued");
    await again.queue.close(() => undefined);
    assert.equal(sent.filter((k) => k === "K1").length, 2, "the keyed copy once, the plain copy once");
  });

  it("discards a waiting message (fsynced), not one in flight", async () => {
    const dir = tempDir();
    let stop: (() => void) | undefined;
    const deliver: Deliver = () =>
      new Promise((resolve) => {
        stop = () => resolve({ kind: "stopped" });
      });
    const { queue } = await openQueue(dir, deliver);
    await queue.enqueue("M1", "n", "MSH|1");
    await queue.enqueue("M2", "n", "MSH|2");
    queue.start();
    await waitFor(() => stop !== undefined);
    const [head, second] = queue.list();
    const inFlight = await queue.discard(head?.seq ?? -1, "test");
    assert.equal(inFlight.ok === false && inFlight.reason, "in-flight");
    assert.equal((await queue.discard(second?.seq ?? -1, "test")).ok, true);
    const unknown = await queue.discard(999, "test");
    assert.equal(unknown.ok === false && unknown.reason, "unknown");
    await queue.close(() => stop?.());
    const again = await openQueue(dir, never);
    assert.deepEqual(
      again.queue.list().map((i) => i.key),
      ["M1"],
    );
    await again.queue.close(() => undefined);
  });

  it("never sends a message whose discard is being written (a retry now or a backoff ending meanwhile)", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    let fail = true;
    const deliver: Deliver = (item) => {
      sent.push(item.key);
      if (fail) return Promise.resolve({ kind: "retry", error: "down" });
      return Promise.resolve({ kind: "delivered", result: "ok" });
    };
    const { queue, settled } = await openQueue(dir, deliver, { backoffMs: 60_000, backoffMaxMs: 60_000 });
    await queue.enqueue("M1", "n", "MSH|1");
    queue.start();
    await waitFor(() => sent.length === 1);
    fail = false;
    // The operator discards the waiting message; before its record is fsynced, someone asks for a retry.
    const discarded = queue.discard(queue.list()[0]?.seq ?? -1, "wrong patient");
    queue.retryNow();
    assert.equal((await discarded).ok, true);
    await tick(20);
    assert.deepEqual(sent, ["M1"], "the discarded message went out again");
    assert.deepEqual(settled, []);
    await queue.close(() => undefined);
  });

  it("keeps a journal whose last write failed whole (the next writes read back)", async () => {
    const dir = tempDir();
    const { queue } = await openQueue(dir, never);
    await queue.enqueue("M1", "n", "MSH|1");
    await queue.close(() => undefined);
    // A torn write from a crash: half of a header.
    appendFileSync(join(dir, JOURNAL_FILE), Buffer.from([0, 0, 0]));
    const again = await openQueue(dir, never);
    await again.queue.enqueue("M2", "n", "MSH|2");
    await again.queue.close(() => undefined);
    truncateSync(join(dir, JOURNAL_FILE), statSync(join(dir, JOURNAL_FILE)).size);
    const third = await openQueue(dir, never);
    assert.deepEqual(
      third.queue.list().map((i) => i.key),
      ["M1", "M2"],
    );
    await third.queue.close(() => undefined);
  });
});
