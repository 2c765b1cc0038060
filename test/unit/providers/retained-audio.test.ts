import { strict as assert } from "node:assert";
import { RetainedAudio } from "../../../src/providers/retained-audio";
import { ReplayBuffer, type Frame } from "../../../src/providers/assemblyai/replay";
import { AudioLedger } from "../../../src/providers/aws/timeline";

const FRAME = 3200;

/** A frame of 100 ms whose bytes say which frame it is. */
function frame(n: number): Frame {
  return { bytes: Buffer.alloc(FRAME, n % 251), startMs: n * 100, durationMs: 100 };
}

describe("retained audio (the replay buffer's own storage)", () => {
  it("keeps what was sent even when the caller's chunk is reused afterwards", () => {
    const replay = new ReplayBuffer(60_000, new RetainedAudio(20 * FRAME));
    const chunk = Buffer.alloc(FRAME, 7);
    replay.add({ bytes: chunk, startMs: 0, durationMs: 100 });
    // A source that refills one Buffer for every chunk (or a pool that hands the memory on).
    chunk.fill(9);
    const [kept] = replay.takeAll();
    assert.ok(kept);
    assert.ok(
      kept.bytes.every((b) => b === 7),
      "the replayed frame carries the audio that was sent",
    );
  });

  it("replays every unconfirmed frame intact while slabs are reused, over many finals", () => {
    const replay = new ReplayBuffer(60_000, new RetainedAudio(20 * FRAME));
    let next = 0;
    for (let turn = 0; turn < 50; turn++) {
      // 25 frames sent (2.5 s), then a final covers all but the last 5.
      for (let i = 0; i < 25; i++) replay.add(frame(next++));
      replay.confirm((next - 5) * 100);
    }
    const left = replay.takeAll();
    assert.equal(left.length, 5);
    for (const f of left) {
      const n = f.startMs / 100;
      assert.ok(
        f.bytes.every((b) => b === n % 251),
        `frame ${n} is intact`,
      );
    }
  });

  it("reuses a slab once every frame in it is confirmed, instead of allocating new memory", () => {
    const store = new RetainedAudio(4 * FRAME);
    const replay = new ReplayBuffer(60_000, store);
    const slabs = new Set<ArrayBufferLike>();
    for (let n = 0; n < 400; n++) {
      const f = frame(n);
      replay.add(f);
      slabs.add(f.bytes.buffer);
      replay.confirm((n - 3) * 100);
    }
    // Four frames held at a time: the slab being filled and a few waiting for their last final.
    assert.ok(slabs.size <= 4, `${slabs.size} slabs for 400 frames`);
  });

  it("a replayed frame is kept once: confirming it after the replay frees its place", () => {
    const store = new RetainedAudio(2 * FRAME);
    const replay = new ReplayBuffer(60_000, store);
    replay.add(frame(0));
    replay.add(frame(1));
    // A reconnect: both go again, and come back to the buffer as they are sent, not copied again.
    for (const f of replay.takeAll()) {
      const before = f.bytes;
      replay.add(f);
      assert.equal(f.bytes, before);
    }
    replay.confirm(200);
    const a = frame(2);
    replay.add(a);
    const b = frame(3);
    replay.add(b);
    // Both slabs' frames were released exactly once: the next frames share one reused slab.
    assert.equal(a.bytes.buffer, b.bytes.buffer);
    assert.ok(a.bytes.every((x) => x === 2) && b.bytes.every((x) => x === 3));
  });

  it("gives a frame larger than a slab a copy of its own", () => {
    const store = new RetainedAudio(FRAME);
    const big = Buffer.alloc(2 * FRAME, 5);
    const kept = store.keep(big);
    big.fill(0);
    assert.equal(kept.slab, undefined);
    assert.ok(kept.bytes.every((b) => b === 5));
  });

  describe("the AWS session's ledger", () => {
    const BYTES_PER_SECOND = 32_000;

    it("replays the audio that was pushed even when the caller's chunk is reused afterwards", () => {
      const ledger = new AudioLedger(BYTES_PER_SECOND, 120 * BYTES_PER_SECOND, new RetainedAudio(64 * 1024));
      const chunk = Buffer.alloc(FRAME, 7);
      ledger.add(chunk);
      chunk.fill(9);
      assert.ok(ledger.frameAt(0)?.data.every((b) => b === 7));
    });

    it("keeps every uncovered frame intact while finals free slabs for reuse", () => {
      const ledger = new AudioLedger(BYTES_PER_SECOND, 120 * BYTES_PER_SECOND, new RetainedAudio(8 * FRAME));
      const slabs = new Set<ArrayBufferLike>();
      for (let n = 0; n < 500; n++) {
        slabs.add(ledger.add(Buffer.alloc(FRAME, n % 251)).data.buffer);
        // A final every 25 frames covers all but the last 5.
        if (n % 25 === 24) ledger.coverUntil((n - 4) * 0.1);
      }
      for (let offset = ledger.replayFrom; offset < ledger.receivedBytes; offset += FRAME) {
        const f = ledger.frameAt(offset);
        assert.ok(
          f?.data.every((b) => b === (offset / FRAME) % 251),
          `frame at ${offset} is intact`,
        );
      }
      assert.ok(slabs.size <= 6, `${slabs.size} slabs for 500 frames`);
    });
  });
});
