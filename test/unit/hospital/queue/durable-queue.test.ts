import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import {
  appendFileSync,
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
  MAX_ENDED_KEYS,
  type AttemptResult,
  type DurableQueueOptions,
  type QueueItem,
} from "../../../../src/hospital/queue/durable-queue";
import {
  crc32,
  decodeJournal,
  encodeRecord,
  JOURNAL_FILE,
  MAX_DAMAGE_FILES,
  openJournal,
} from "../../../../src/hospital/queue/journal";
import { realScheduler } from "../../../../src/util/scheduler";
import { fileHandlePrototype, fsError, FsFaults, fsModule } from "../../../support/fs-faults";
import { prng } from "../../../support/prng";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

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

// A full GC without --expose-gc: the flag is turned on at run time, and `gc` read from a new context.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function heapMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await tick(20);
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

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

  it("keeps every whole record after damage in the middle, reports it and keeps the damaged bytes aside", async () => {
    const dir = tempDir();
    const bad = encodeRecord({ n: 2 });
    bad[bad.length - 2] ^= 0xff;
    writeFileSync(
      join(dir, JOURNAL_FILE),
      Buffer.concat([encodeRecord({ n: 1 }), bad, encodeRecord({ n: 3 })]),
    );
    const opened = await openJournal(dir, 1234);
    assert.deepEqual(opened.records, [{ n: 1 }, { n: 3 }]);
    assert.deepEqual(opened.damage, {
      spans: 1,
      bytes: bad.length,
      records: 1,
      keptIn: `${JOURNAL_FILE}.damaged-1234`,
      notKeptBytes: 0,
    });
    assert.deepEqual(readFileSync(join(dir, `${JOURNAL_FILE}.damaged-1234`)), bad);
    // Rewritten with the whole records: appends follow them, and the next open is clean.
    await opened.journal.append([{ n: 4 }]);
    await opened.journal.close();
    const again = await openJournal(dir);
    assert.deepEqual(again.records, [{ n: 1 }, { n: 3 }, { n: 4 }]);
    assert.equal(again.damage, undefined);
    await again.journal.close();
  });

  it("resynchronises after a damaged length field instead of cutting off the records after it", async () => {
    const dir = tempDir();
    const bad = encodeRecord({ t: "enq", seq: 2 });
    bad.writeUInt32BE(0x0fffffff, 0);
    writeFileSync(
      join(dir, JOURNAL_FILE),
      Buffer.concat([encodeRecord({ n: 1 }), bad, encodeRecord({ n: 3 }), encodeRecord({ n: 4 })]),
    );
    const opened = await openJournal(dir);
    assert.deepEqual(opened.records, [{ n: 1 }, { n: 3 }, { n: 4 }]);
    assert.equal(opened.tornBytes, 0);
    assert.equal(opened.damage?.records, 1);
    assert.equal(opened.damage?.bytes, bad.length);
    await opened.journal.close();
  });

  it("keeps at most MAX_DAMAGE_FILES side files, saying how many damaged bytes it did not keep", async () => {
    const dir = tempDir();
    const bad = encodeRecord({ n: 2 });
    bad[9] ^= 0x01;
    for (let i = 0; i < MAX_DAMAGE_FILES + 2; i++) {
      writeFileSync(
        join(dir, JOURNAL_FILE),
        Buffer.concat([encodeRecord({ n: 1 }), bad, encodeRecord({ n: 3 })]),
      );
      const opened = await openJournal(dir, 1000 + i);
      await opened.journal.close();
      assert.equal(opened.damage?.notKeptBytes, i < MAX_DAMAGE_FILES ? 0 : bad.length);
      assert.equal(opened.damage?.keptIn === undefined, i >= MAX_DAMAGE_FILES);
    }
    assert.equal(
      readdirSync(dir).filter((f) => f.startsWith(`${JOURNAL_FILE}.damaged-`)).length,
      MAX_DAMAGE_FILES,
    );
  });

  it("survives damage at every byte of a small journal: never a crash, every intact record kept, always a report", async function () {
    // About 600 journals opened, each with its fsyncs: 3–4 s alone, over 10 s beside the other test lane.
    this.timeout(60_000);
    const originals = [
      { t: "seq", next: 4 },
      { t: "enq", seq: 4, key: "K-4", origin: "n", at: 1, body: "MSH|a\rPID|1" },
      { t: "enq", seq: 5, key: "K-5", origin: "n", at: 2, body: "MSH|b" },
      { t: "ack", seq: 4 },
      { t: "enq", seq: 6, key: "K-6", origin: "n", at: 3, body: "MSH|c" },
    ];
    const encoded = originals.map((r) => encodeRecord(r));
    const whole = Buffer.concat(encoded);
    const starts: number[] = [];
    encoded.reduce((at, e) => (starts.push(at), at + e.length), 0);
    /** The records untouched by a change of bytes [from, to), and whether one after the change was lost. */
    const intact = (from: number, to: number): unknown[] =>
      originals.filter((_r, i) => starts[i] + encoded[i].length <= from || starts[i] >= to);
    const damages: Array<{ name: string; apply: (b: Buffer, at: number) => Buffer }> = [
      { name: "flip", apply: (b, at) => ((b[at] ^= 0xff), b) },
      { name: "zero a length", apply: (b, at) => (b.fill(0, at, Math.min(at + 4, b.length)), b) },
      { name: "truncate", apply: (b, at) => b.subarray(0, at) },
    ];
    let reports = 0;
    for (const damage of damages) {
      for (let at = 0; at < whole.length; at++) {
        const bytes = damage.apply(Buffer.from(whole), at);
        // The bytes that really changed (zeroing zeros changes nothing).
        let from = 0;
        while (from < bytes.length && bytes[from] === whole[from]) from++;
        let to = whole.length;
        if (damage.name !== "truncate") while (to > from && bytes[to - 1] === whole[to - 1]) to--;
        const expected = intact(from, to);
        const label = `${damage.name} at ${at}`;
        const decoded = decodeJournal(bytes);
        assert.deepEqual(decoded.records, expected, label);
        const lost = originals.length - expected.length;
        // A cut exactly between records leaves a shorter journal that reads whole: no framing can tell.
        const cutBetween = damage.name === "truncate" && starts.includes(at);
        if (lost > 0 && !cutBetween) {
          const reported = decoded.tornBytes + decoded.damaged.reduce((s, d) => s + d.bytes, 0);
          assert.ok(reported > 0, `${label}: a lost record is reported`);
          reports++;
        }
        // The same through the file: the records survive a reopen, and the damage is reported once.
        const dir = tempDir();
        writeFileSync(join(dir, JOURNAL_FILE), bytes);
        const opened = await openJournal(dir);
        assert.deepEqual(opened.records, expected, label);
        assert.equal(opened.damage !== undefined, decoded.damaged.length > 0, label);
        await opened.journal.close();
        const again = await openJournal(dir);
        assert.deepEqual(again.records, expected, `${label}, reopened`);
        assert.equal(again.damage, undefined, `${label}, reopened`);
        assert.equal(again.tornBytes, 0, `${label}, reopened`);
        await again.journal.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    assert.ok(reports > whole.length, "the loop met lost records");
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

  it("keeps a message's attempts, first attempt time and last error across a restart, backing off from where it was", async () => {
    const dir = tempDir();
    const failing: Deliver = () => Promise.resolve({ kind: "retry", error: "connect-failed" });
    const retries: number[] = [];
    const first = await openQueue(dir, failing, {
      backoffMs: 5,
      backoffMaxMs: 1000,
      onRetry: (_i, delay) => retries.push(delay),
    });
    const before = Date.now();
    await first.queue.enqueue("P1", "n", "MSH|poison");
    first.queue.start();
    await waitFor(() => retries.length >= 3);
    await first.queue.close(() => undefined);
    const [head] = first.queue.list();
    assert.ok(head.firstAttemptAt !== undefined && head.firstAttemptAt >= before);

    // The restart: the count goes on (4th failure, backoff 5 * 2^3) instead of starting again at 1.
    const again = await openQueue(dir, failing, {
      backoffMs: 5,
      backoffMaxMs: 1000,
      onRetry: (_i, delay) => retries.push(delay),
    });
    const [restored] = again.queue.list();
    assert.equal(restored.attempts, head.attempts);
    assert.equal(restored.firstAttemptAt, head.firstAttemptAt);
    assert.equal(restored.lastError, "connect-failed");
    const seen = retries.length;
    again.queue.start();
    await waitFor(() => retries.length > seen);
    assert.equal(again.queue.list()[0].attempts, head.attempts + 1);
    assert.equal(retries[seen], 5 * 2 ** head.attempts);
    await again.queue.close(() => undefined);
  });

  it("keeps the journal of a message failing for ever bounded: its attempt records are compacted", async () => {
    const dir = tempDir();
    let attempts = 0;
    const failing: Deliver = () => {
      attempts++;
      return Promise.resolve({ kind: "retry", error: "ack-timeout" });
    };
    const { queue } = await openQueue(dir, failing, { backoffMs: 0, backoffMaxMs: 0, compactMinBytes: 2048 });
    await queue.enqueue("P1", "n", "MSH|poison");
    queue.start();
    let largest = 0;
    await waitFor(() => {
      largest = Math.max(largest, statSync(join(dir, JOURNAL_FILE)).size);
      return attempts >= 400;
    }, 10_000);
    await queue.close(() => undefined);
    // 400 attempt records would take ~25 KB; compaction keeps the file near its 2 KiB threshold.
    assert.ok(largest < 4096, `journal grew to ${largest} bytes`);
    const reopened = await openQueue(dir, never);
    assert.ok(reopened.queue.list()[0].attempts >= 399);
    await reopened.queue.close(() => undefined);
  });

  it("waits at least an attempt's hold (a rejected certificate) instead of its short backoff, keeping the message", async () => {
    const dir = tempDir();
    const retries: number[] = [];
    const hold: Deliver = () =>
      Promise.resolve({ kind: "retry", error: "tls-certificate CERT_HAS_EXPIRED", holdMs: 60_000 });
    const { queue } = await openQueue(dir, hold, { onRetry: (_i, delay) => retries.push(delay) });
    await queue.enqueue("T1", "n", "MSH|1");
    queue.start();
    await waitFor(() => retries.length === 1);
    await tick(50);
    // One attempt, then a minute's wait (the backoff alone would have been 5 ms, 10 ms, ...).
    assert.deepEqual(retries, [60_000]);
    assert.equal(queue.depth, 1);
    assert.equal(queue.list()[0].lastError, "tls-certificate CERT_HAS_EXPIRED");
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

  it("holds its message bound against a burst that arrives while the journal is compacted to make room", async () => {
    const dir = tempDir();
    const deliver: Deliver = () => Promise.resolve({ kind: "delivered", result: "AA" });
    // Delivered messages leave ended records in the journal (not yet compacted).
    const first = await openQueue(dir, deliver);
    first.queue.start();
    for (let i = 0; i < 10; i++) await first.queue.enqueue(`D${i}`, "n", `MSH|${"x".repeat(100)}`);
    await waitFor(() => first.settled.length === 10);
    await first.queue.close(() => undefined);
    // Reopened with a disk bound the journal is at: the next enqueue has to compact first, and a burst
    // arriving meanwhile must not pass the bound of 3 messages.
    const full = statSync(join(dir, JOURNAL_FILE)).size;
    const { queue } = await openQueue(dir, never, { maxMessages: 3, maxDiskBytes: full + 50 });
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((i) => queue.enqueue(`M${i}`, "n", `MSH|${"y".repeat(100)}`)),
    );
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, false, false, false],
    );
    assert.equal(queue.depth, 3);
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

  it("keeps the idempotency keys of ended messages small whatever the sender's keys: the journal stays within its disk bound", async () => {
    const dir = tempDir();
    const deliver: Deliver = () => Promise.resolve({ kind: "delivered", result: "AA" });
    // 20 KiB keys (a flow may put anything in MSH-10); 200 KiB of journal at most.
    const maxDiskBytes = 200 * 1024;
    const { queue, settled } = await openQueue(dir, deliver, { maxDiskBytes, compactMinBytes: 1 });
    queue.start();
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) {
      const key = `${i}-${"k".repeat(20 * 1024)}`;
      keys.push(key);
      const stored = await queue.enqueue(`M${i}`, "n", `MSH|${i}`, Date.now(), key);
      assert.ok(stored.ok, `message ${i} taken`);
      await waitFor(() => settled.length === i + 1);
    }
    // 30 ended keys of 20 KiB would be 600 KiB of idempotency record: a queue that kept them as they
    // came would refuse everything from here on (its journal over the bound after every compaction).
    const plain = await queue.enqueue("P", "n", "MSH|plain");
    assert.ok(plain.ok && plain.item, `a new message is taken (${plain.ok ? "" : plain.detail})`);
    assert.ok(queue.diskBytes <= maxDiskBytes);
    // Every key is still known: after a restart too.
    assert.deepEqual(await queue.enqueue("M0", "n", "MSH|0", Date.now(), keys[0]), {
      ok: true,
      duplicate: "ended",
    });
    await queue.close(() => undefined);
    const again = await openQueue(dir, never);
    assert.deepEqual(await again.queue.enqueue("M29", "n", "MSH|29", Date.now(), keys[29]), {
      ok: true,
      duplicate: "ended",
    });
    await again.queue.close(() => undefined);
  });

  it("does not keep the messages of its remembered idempotency keys in memory", async () => {
    const dir = tempDir();
    const deliver: Deliver = () => Promise.resolve({ kind: "delivered", result: "AA" });
    let ended = 0;
    // Counted only: the harness's list of settled keys would itself hold them.
    const { queue } = await openQueue(dir, deliver, { maxBytes: 4 * 1024 * 1024, onSettled: () => ended++ });
    queue.start();
    const before = await heapMiB();
    const count = 24;
    for (let i = 0; i < count; i++) {
      // As mllp-out passes it: MSH-10 read out of the message text (a slice of the whole message).
      const body = `MSH|^~\\&|A|B|C|D|20260101||MDM^T02|CONTROL-ID-${i}-000000|P|2.5\rOBX|1|TX|||${"x".repeat(512 * 1024)}`;
      const controlId = body.split("\r")[0]?.split("|")[9] ?? "";
      assert.ok((await queue.enqueue(controlId, "n", body, Date.now(), controlId)).ok);
      await waitFor(() => ended === i + 1);
    }
    const grown = (await heapMiB()) - before;
    await queue.close(() => undefined);
    // The delivered messages are gone: 24 keys of 25 characters, not 24 messages of half a MiB (12 MiB).
    assert.ok(grown < 4, `the heap grew by ${grown.toFixed(1)} MiB`);
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

/** What the queue counts internally, read for the property below (no public view holds it). */
function internals(queue: DurableQueue<string>): { liveDiskBytes: number; loop: Promise<void> | undefined } {
  return queue as unknown as { liveDiskBytes: number; loop: Promise<void> | undefined };
}

/** The bytes of the queued messages' enqueue records, counted in the journal file itself. */
function liveBytesOnDisk(dir: string, queued: readonly QueueItem[]): number {
  const decoded = decodeJournal(readFileSync(join(dir, JOURNAL_FILE)));
  const seqs = new Set(queued.map((i) => i.seq));
  let sum = 0;
  decoded.records.forEach((raw, index) => {
    const r = raw as { t?: unknown; seq?: unknown };
    if (r.t === "enq" && typeof r.seq === "number" && seqs.has(r.seq))
      sum += decoded.spans[index]?.bytes ?? 0;
  });
  return sum;
}

/** A record framed as the journal frames it, from payload text another JSON writer made. */
function framed(json: string): Buffer {
  const payload = Buffer.from(json, "utf8");
  const header = Buffer.alloc(8);
  header.writeUInt32BE(payload.length, 0);
  header.writeUInt32BE(crc32(payload), 4);
  return Buffer.concat([header, payload]);
}

const BODY_PIECES = ["MSH|^~\\&|A|B", "é", "日本語", "🩺", "\ud800", "x".repeat(40), "\r", '"quoted"'];

describe("durable delivery queue: live journal bytes", () => {
  it("counts the live journal bytes as a recount from disk finds them, over random enqueues, acks, discards, retries, compactions and restarts", async function () {
    this.timeout(120_000);
    for (const seed of [7, 8, 9]) {
      const rand = prng(seed);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
      const dir = tempDir();
      // A record another writer escaped (\u00e9 for é): it re-encodes 7 bytes shorter than it lies on disk.
      writeFileSync(
        join(dir, JOURNAL_FILE),
        framed('{"t":"enq","seq":1,"key":"F","origin":"n","at":1,"body":"caf\\u00e9 \\u65e5"}'),
      );
      let pending: ((outcome: AttemptResult<string>) => void) | undefined;
      const deliver: Deliver = () =>
        new Promise((resolve) => {
          pending = resolve;
        });
      const options = {
        maxMessages: 40,
        maxDiskBytes: 9000,
        compactMinBytes: 400,
        // Long: a retry waits for the "retry now" step, so every step ends in a quiet journal.
        backoffMs: 60_000,
        backoffMaxMs: 60_000,
      };
      let opened = await openQueue(dir, deliver, options);
      opened.queue.start();
      const quiet = async (): Promise<void> => {
        await waitFor(() => internals(opened.queue).loop === undefined || pending !== undefined);
      };
      const answer = (outcome: AttemptResult<string>): void => {
        const resolve = pending;
        pending = undefined;
        resolve?.(outcome);
      };
      const body = (): string =>
        Array.from({ length: 1 + Math.floor(rand() * 12) }, () => pick(BODY_PIECES)).join("");
      const waiting = (): QueueItem[] => opened.queue.list().filter((i) => i !== opened.queue.sending);
      let keys = 0;
      for (let step = 0; step < 120; step++) {
        const what = rand();
        const kind = ["enqueue", "answer", "discard", "retry now", "burst", "restart"][
          [0.35, 0.6, 0.7, 0.77, 0.92, 1].findIndex((bound) => what < bound)
        ];
        const history = `seed ${seed} step ${step} (${kind})`;
        if (what < 0.35) {
          const idem = rand() < 0.5 ? `I${keys++ % 7}` : undefined;
          await opened.queue.enqueue(`K${step}`, "n", body(), Date.now(), idem);
        } else if (what < 0.6) {
          answer(
            pick<AttemptResult<string>>([
              { kind: "delivered", result: "AA" },
              { kind: "rejected", result: "AE", why: "AE" },
              { kind: "retry", error: `busy é ${step}` },
            ]),
          );
        } else if (what < 0.7) {
          const item = waiting()[0];
          if (item) await opened.queue.discard(item.seq, "operator");
        } else if (what < 0.77) {
          opened.queue.retryNow();
        } else if (what < 0.92) {
          // At once: an enqueue that may force a compaction to make room, a discard and an answer
          // arriving while that compaction rewrites the journal.
          const item = pick(waiting());
          await Promise.all([
            opened.queue.enqueue(`B${step}`, "n", `${body()}${"y".repeat(Math.floor(rand() * 2500))}`),
            item ? opened.queue.discard(item.seq, "operator") : undefined,
            Promise.resolve().then(() => answer({ kind: "delivered", result: "AA" })),
          ]);
        } else {
          await opened.queue.close(() => answer({ kind: "stopped" }));
          pending = undefined;
          opened = await openQueue(dir, deliver, options);
          opened.queue.start();
        }
        await quiet();
        assert.equal(
          internals(opened.queue).liveDiskBytes,
          liveBytesOnDisk(dir, opened.queue.list()),
          `${history}: the count of live journal bytes against the journal`,
        );
        assert.equal(opened.queue.diskBytes, statSync(join(dir, JOURNAL_FILE)).size, history);
      }
      await opened.queue.close(() => answer({ kind: "stopped" }));
    }
  });
});

describe("durable delivery queue: a discard whose write fails", () => {
  const faults = new FsFaults();
  afterEach(() => faults.restore());

  const digest = (key: string): string => createHash("sha256").update(key, "utf8").digest("base64url");

  it("loses no remembered key: a document ended long ago is still a duplicate afterwards", async () => {
    const dir = tempDir();
    // A full memory of ended keys (K0 the oldest), as a compaction writes it.
    const keys = Array.from({ length: MAX_ENDED_KEYS }, (_, i) => digest(`K${i}`));
    writeFileSync(join(dir, JOURNAL_FILE), encodeRecord({ t: "idem", keys }));
    const { queue } = await openQueue(dir, never);
    const stored = await queue.enqueue("X", "n", "MSH|X", Date.now(), "X");
    assert.ok(stored.ok && stored.item);
    faults.replace(
      await fileHandlePrototype(),
      "datasync",
      () => () => Promise.reject(fsError("EIO", "fdatasync")),
    );
    const discarded = await queue.discard(stored.item.seq, "operator");
    faults.restore();
    assert.deepEqual(discarded, { ok: false, reason: "write-failed" });
    assert.deepEqual(await queue.enqueue("K0", "n", "MSH|K0", Date.now(), "K0"), {
      ok: true,
      duplicate: "ended",
    });
    assert.deepEqual(await queue.enqueue("X", "n", "MSH|X", Date.now(), "X"), {
      ok: true,
      duplicate: "queued",
    });
    await queue.close(() => undefined);
  });

  it("leaves the document queued or known discarded after a restart, never both and never neither", async () => {
    const dir = tempDir();
    const first = await openQueue(dir, never);
    const a = await first.queue.enqueue("A", "n", "MSH|A", Date.now(), "A");
    const b = await first.queue.enqueue("B", "n", "MSH|B", Date.now(), "B");
    assert.ok(a.ok && a.item && b.ok && b.item);
    faults.replace(
      await fileHandlePrototype(),
      "datasync",
      () => () => Promise.reject(fsError("EIO", "fdatasync")),
    );
    // While the failing discard is being written, a copy of the document arrives (review-queue's resend).
    const [failed, copy] = await Promise.all([
      first.queue.discard(a.item.seq, "operator"),
      first.queue.enqueue("A", "n", "MSH|A", Date.now(), "A"),
    ]);
    faults.restore();
    assert.deepEqual(failed, { ok: false, reason: "write-failed" });
    assert.equal(copy.ok && copy.duplicate !== undefined, true, "the copy is not queued a second time");
    assert.deepEqual((await first.queue.discard(b.item.seq, "operator")).ok, true);
    await first.queue.close(() => undefined);
    const again = await openQueue(dir, never);
    // A: still queued (once), so a copy is a duplicate of a queued one. B: known discarded.
    assert.deepEqual(
      again.queue.list().map((i) => i.key),
      ["A"],
    );
    assert.deepEqual(await again.queue.enqueue("A", "n", "MSH|A", Date.now(), "A"), {
      ok: true,
      duplicate: "queued",
    });
    assert.deepEqual(await again.queue.enqueue("B", "n", "MSH|B", Date.now(), "B"), {
      ok: true,
      duplicate: "ended",
    });
    await again.queue.close(() => undefined);
  });
});

describe("durable delivery queue: compaction under file-system faults", () => {
  const faults = new FsFaults();
  afterEach(() => faults.restore());

  it("goes on delivering when compaction fails (rename refused), tells a named error without a path, and loses nothing", async () => {
    const dir = tempDir();
    const sent: string[] = [];
    let deliverNow = false;
    const deliver: Deliver = (item) => {
      if (!deliverNow) return new Promise(() => undefined);
      sent.push(item.key);
      return Promise.resolve({ kind: "delivered", result: "AA" });
    };
    const { queue, errors, settled } = await openQueue(dir, deliver, { compactMinBytes: 100 });
    for (let i = 1; i <= 8; i++) await queue.enqueue(`M${i}`, "n", `MSH|${"x".repeat(100)}|${i}`);
    faults.replace(fsModule, "renameSync", () => () => {
      throw fsError("EACCES", "rename");
    });
    deliverNow = true;
    queue.start();
    await waitFor(() => settled.length === 8);
    await tick(20);
    faults.restore();
    assert.deepEqual(sent, ["M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8"]);
    assert.ok(errors.length > 0, "the failed compaction is told");
    for (const err of errors) {
      assert.equal(err.name, "JournalError");
      assert.ok(!err.message.includes("/"), err.message);
    }
    assert.deepEqual(
      readdirSync(dir).filter((f) => f !== JOURNAL_FILE),
      [],
      "no temp file left",
    );
    // The next compaction (the fault gone) works; a restart finds nothing to resend.
    await queue.enqueue("M9", "n", "MSH|9");
    await waitFor(() => settled.length === 9);
    await tick(20);
    await queue.close(() => undefined);
    assert.ok(statSync(join(dir, JOURNAL_FILE)).size < 500, "compacted once the fault is gone");
    const again = await openQueue(dir, never);
    assert.equal(again.queue.depth, 0);
    await again.queue.close(() => undefined);
  });

  it("does not rewrite the whole queue at every ack while the disk refuses compaction: once per compaction threshold of growth", async () => {
    const dir = tempDir();
    let deliverNow = false;
    const deliver: Deliver = () =>
      deliverNow ? Promise.resolve({ kind: "delivered", result: "AA" }) : new Promise(() => undefined);
    const { queue, errors, settled } = await openQueue(dir, deliver, { compactMinBytes: 300 });
    for (let i = 1; i <= 60; i++) await queue.enqueue(`M${i}`, "n", `MSH|${"x".repeat(100)}|${i}`);
    let rewrites = 0;
    faults.replace(fsModule, "renameSync", () => () => {
      rewrites++;
      throw fsError("ENOSPC", "rename");
    });
    deliverNow = true;
    queue.start();
    await waitFor(() => settled.length === 60);
    await tick(20);
    faults.restore();
    // Acks of ~25 bytes each: one try per 300 bytes of journal growth, not one per ack once dead
    // records dominate (about 30 of the 60).
    assert.ok(rewrites >= 1 && rewrites <= 8, `${rewrites} rewrites tried`);
    assert.equal(errors.length, rewrites, "each failed try told once");
    await queue.close(() => undefined);
  });
});
