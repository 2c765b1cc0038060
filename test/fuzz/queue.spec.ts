import { strict as assert } from "node:assert";
import { appendFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import {
  DurableQueue,
  type AttemptResult,
  type DurableQueueOptions,
  type QueueItem,
} from "../../src/hospital/queue/durable-queue";
import { encodeRecord, JOURNAL_FILE } from "../../src/hospital/queue/journal";
import { realScheduler } from "../../src/util/scheduler";

/**
 * The durable delivery queue against a model, under random sequences of: enqueue, the receiver
 * answering the message on the wire (accepted, a failure worth retrying, a final rejection), a
 * restart, a crash during a write (a torn record left in the journal) and a crash after the receiver
 * took a message but before its answer was recorded. After each step, and after a final drain:
 *   - every message confirmed to the flow (enqueue resolved ok) is delivered or rejected, never lost;
 *   - none is accepted twice, except one the receiver took just before a crash (at least once);
 *   - every attempt is for the oldest message not yet ended (order);
 *   - a message's failed attempts are counted across restarts and crashes;
 *   - the journal stays within its disk bound.
 * Deterministic given FUZZ_SEED (printed on failure with the shrunk sequence).
 *
 *   FUZZ_SEED=7 FUZZ_QUEUE_RUNS=500 npx mocha test/fuzz/queue.spec.ts
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260117) | 0;
const RUNS = Number(process.env.FUZZ_QUEUE_RUNS ?? 300);
const MAX_DISK_BYTES = 64 * 1024;

type Step =
  | { op: "enqueue"; bytes: number }
  | { op: "accept" }
  | { op: "fail" }
  | { op: "reject" }
  | { op: "restart" }
  | { op: "crash-mid-write"; cut: number }
  | { op: "crash-after-receipt" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("enqueue" as const), bytes: fc.nat(3000) }) },
  { weight: 3, arbitrary: fc.constant({ op: "accept" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "fail" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "reject" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "restart" as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("crash-mid-write" as const), cut: fc.nat() }) },
  { weight: 1, arbitrary: fc.constant({ op: "crash-after-receipt" as const }) },
);

const tick = (ms = 1): Promise<void> => new Promise((r) => realScheduler.setTimeout(r, ms));

/** One run: a queue in a fresh directory, the receiver it talks to, and the model. */
class Run {
  private readonly dir = mkdtempSync(join(tmpdir(), "queue-fuzz-"));
  private queue: DurableQueue<string> | undefined;
  /** The attempt on the wire: answer it with `resolve`. */
  private wire: { item: QueueItem; resolve: (r: AttemptResult<string>) => void } | undefined;
  private calls = 0;
  private nextKey = 1;
  // The model.
  private readonly queued: string[] = [];
  private readonly failures = new Map<string, number>();
  private readonly accepted = new Map<string, number>();
  /** Keys the receiver took without the answer being recorded (a crash in between): may come again. */
  private readonly mayRepeat = new Set<string>();
  private readonly errors: Error[] = [];

  async open(): Promise<void> {
    const options: DurableQueueOptions<string> = {
      dir: this.dir,
      maxMessages: 10_000,
      maxBytes: 10 * 1024 * 1024,
      maxDiskBytes: MAX_DISK_BYTES,
      compactMinBytes: 4096,
      backoffMs: 0,
      backoffMaxMs: 0,
      deliver: (item) =>
        new Promise((resolve) => {
          // Checked in settle(): an enqueue's first attempt starts before the enqueue resolves.
          this.calls++;
          this.wire = { item, resolve };
        }),
      onSettled: () => undefined,
      scheduler: realScheduler,
      onError: (err) => this.errors.push(err),
    };
    const { queue, report } = await DurableQueue.open(options);
    assert.equal(report.damage, undefined, "no damage from crashes and restarts");
    assert.deepEqual(
      queue.list().map((i) => i.key),
      this.queued,
      "the queue after a restart is what was confirmed and not ended",
    );
    this.queue = queue;
    queue.start();
    await this.settle();
  }

  /** Waits until the queue is on the wire or empty with nothing running. */
  private async settle(before = -1): Promise<void> {
    const queue = this.queue;
    if (!queue) return;
    for (let i = 0; i < 2000; i++) {
      const wire = this.wire;
      if (wire && this.calls !== before) {
        // Order: the attempt is for the oldest message the model still holds; its count goes on.
        assert.equal(wire.item.key, this.queued[0], "an attempt for the head of the queue");
        assert.equal(wire.item.attempts - 1, this.failures.get(wire.item.key) ?? 0, "attempts counted");
        return;
      }
      if (queue.depth === 0 && this.queued.length === 0) {
        await tick();
        return;
      }
      await tick();
    }
    throw new Error(
      `the queue neither sent nor emptied within 2 s (depth ${queue.depth}, model ${this.queued.length}, wire ${this.wire?.item.key}, calls ${this.calls}/${before}, errors ${this.errors.map((e) => e.message).join("; ")})`,
    );
  }

  private answer(result: AttemptResult<string>): { key: string; before: number } | undefined {
    const wire = this.wire;
    if (!wire) return undefined;
    this.wire = undefined;
    const before = this.calls;
    wire.resolve(result);
    return { key: wire.item.key, before };
  }

  async step(step: Step): Promise<void> {
    const queue = this.queue;
    assert.ok(queue);
    if (step.op === "enqueue") {
      const key = `K-${this.nextKey++}`;
      // Busy: the new message waits behind the one on the wire. Idle: it goes on the wire at once.
      const before = this.wire ? -1 : this.calls;
      const result = await queue.enqueue(key, "node", `MSH|${key}|${"x".repeat(step.bytes)}`);
      if (result.ok) this.queued.push(key);
      else assert.equal(result.reason, "full-disk", "only the disk bound refuses here");
      await this.settle(before);
    } else if (step.op === "accept") {
      const answered = this.answer({ kind: "delivered", result: "AA" });
      if (!answered) return;
      this.received(answered.key);
      assert.equal(this.queued.shift(), answered.key);
      this.failures.delete(answered.key);
      await this.settle(answered.before);
    } else if (step.op === "reject") {
      const answered = this.answer({ kind: "rejected", result: "AE", why: "AE" });
      if (!answered) return;
      assert.equal(this.queued.shift(), answered.key);
      this.failures.delete(answered.key);
      await this.settle(answered.before);
    } else if (step.op === "fail") {
      const answered = this.answer({ kind: "retry", error: "connect-failed" });
      if (!answered) return;
      this.failures.set(answered.key, (this.failures.get(answered.key) ?? 0) + 1);
      await this.settle(answered.before);
    } else if (step.op === "restart") {
      await this.close();
      await this.open();
    } else if (step.op === "crash-after-receipt") {
      // The receiver has it; the process dies before the answer is written: it will come again.
      const head = this.wire?.item.key;
      if (head !== undefined) {
        this.received(head);
        this.mayRepeat.add(head);
      }
      await this.close();
      await this.open();
    } else {
      // Killed while writing a new enqueue that was never confirmed: a torn record at the end.
      await this.close();
      const record = encodeRecord({ t: "enq", seq: 999_999, key: "TORN", origin: "n", at: 0, body: "MSH|t" });
      appendFileSync(join(this.dir, JOURNAL_FILE), record.subarray(0, 1 + (step.cut % (record.length - 1))));
      await this.open();
    }
    assert.ok(statSync(join(this.dir, JOURNAL_FILE)).size <= MAX_DISK_BYTES, "the journal within its bound");
  }

  private received(key: string): void {
    const times = (this.accepted.get(key) ?? 0) + 1;
    this.accepted.set(key, times);
    assert.ok(times === 1 || this.mayRepeat.has(key), `${key} accepted ${times} times`);
  }

  /** Accepts everything left: every confirmed message ends, none is lost. */
  async drain(): Promise<void> {
    for (let i = 0; i < 10_000 && this.queued.length > 0; i++) await this.step({ op: "accept" });
    assert.deepEqual(this.queued, []);
    assert.equal(this.queue?.depth, 0);
    await this.close();
    await this.open();
    assert.equal(this.queue?.depth, 0, "nothing comes back after the last restart");
    assert.deepEqual(this.errors, []);
  }

  private async close(): Promise<void> {
    const queue = this.queue;
    this.queue = undefined;
    // The transport closed under the attempt: it answers "stopped" and the message stays queued.
    await queue?.close(() => this.answer({ kind: "stopped" }));
    this.wire = undefined;
  }

  async dispose(): Promise<void> {
    await this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe("fuzz: the durable delivery queue against a model (enqueue, answers, restarts, crashes)", function () {
  this.timeout(60_000);

  it("never loses a confirmed message, never accepts one twice, keeps order, counts attempts across restarts and stays bounded", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 40 }), async (steps) => {
        const run = new Run();
        try {
          await run.open();
          for (const step of steps) await run.step(step);
          await run.drain();
        } finally {
          await run.dispose();
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
