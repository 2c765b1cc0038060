import { strict as assert } from "node:assert";
import { PcmFramer } from "../../../src/audio/framer";
import { PcmNormalizer } from "../../../src/audio/normalizer";

const bytes = (n: number, seed: number): Buffer => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
};

describe("audio framing", () => {
  it("cuts any chunking of a stream into the same fixed frames", () => {
    const stream = bytes(3200 * 7 + 1000, 3);
    for (const sizes of [[3200], [1], [1000, 4000, 7], [6400], [3199, 3201]]) {
      const framer = new PcmFramer(3200);
      const frames: Buffer[] = [];
      for (let at = 0, i = 0; at < stream.length; i++) {
        const size = sizes[i % sizes.length] ?? 1;
        frames.push(...framer.push(stream.subarray(at, at + size)));
        at += size;
      }
      assert.equal(frames.length, 7, `chunks of ${sizes.join("/")}`);
      assert.ok(frames.every((f) => f.length === 3200));
      const last = framer.flush(1600);
      assert.equal(last?.length, 1600, "the 1000 bytes left, padded");
      assert.deepEqual(
        Buffer.concat([...frames, last ?? Buffer.alloc(0)]).subarray(0, stream.length),
        stream,
      );
      assert.equal(framer.flush(), undefined, "nothing left after a flush");
    }
  });

  it("keeps no caller's Buffer: frames stay as they were when the sender reuses its buffer", () => {
    const framer = new PcmFramer(3200);
    const input = bytes(4800, 1);
    const expected = Buffer.from(input);
    const first = framer.push(input);
    input.fill(0x55);
    const second = framer.push(bytes(1600, 9));
    assert.deepEqual(first[0], expected.subarray(0, 3200));
    assert.deepEqual(second[0]?.subarray(0, 1600), expected.subarray(3200));
  });

  it("hands whole frames of bytes the caller owns on as views: the same frames, one copy fewer", () => {
    const stream = bytes(3200 * 7 + 1000, 3);
    for (const sizes of [[3200], [1], [1000, 4000, 7], [6400], [3199, 3201], [9600 + 17]]) {
      const copied = new PcmFramer(3200);
      const viewed = new PcmFramer(3200);
      const a: Buffer[] = [];
      const b: Buffer[] = [];
      let views = 0;
      for (let at = 0, i = 0; at < stream.length; i++) {
        const size = sizes[i % sizes.length] ?? 1;
        // A Buffer of its own per push (not from the shared pool), as a converter's output is.
        const piece = Buffer.alloc(Math.min(size, stream.length - at));
        stream.copy(piece, 0, at, at + size);
        a.push(...copied.push(piece));
        const frames = viewed.push(piece, true);
        views += frames.filter((f) => f.buffer === piece.buffer).length;
        b.push(...frames);
        at += size;
      }
      assert.deepEqual(b, a, `chunks of ${sizes.join("/")}`);
      assert.deepEqual(viewed.flush(1600), copied.flush(1600));
      // Every frame that lies wholly inside one push is a view of it.
      let expected = 0;
      for (let at = 0, i = 0; at < stream.length; i++) {
        const end = Math.min(stream.length, at + (sizes[i % sizes.length] ?? 1));
        for (let f = Math.ceil(at / 3200) * 3200; f + 3200 <= end; f += 3200) expected++;
        at = end;
      }
      assert.ok(sizes[0] === 1 || expected > 0);
      assert.equal(views, expected, `views with chunks of ${sizes.join("/")}`);
    }
  });

  it("pads the last frame with silence to the minimum length, never drops it", () => {
    const framer = new PcmFramer(3200);
    framer.push(Buffer.alloc(100, 0x7f));
    const last = framer.flush(1600);
    assert.equal(last?.length, 1600);
    assert.ok(last?.subarray(0, 100).every((b) => b === 0x7f));
    assert.ok(last?.subarray(100).every((b) => b === 0));
    const framer2 = new PcmFramer(1600);
    framer2.push(Buffer.alloc(10, 1));
    assert.equal(framer2.flush(3200)?.length, 3200, "a minimum above the frame size is honoured too");
  });

  it("passes 16-bit PCM through unchanged when no conversion is needed, holding odd bytes back", () => {
    const normalizer = new PcmNormalizer(
      { sampleRate: 16000, channels: 1, sampleFormat: "s16le" },
      { sampleRate: 16000, channels: "mono" },
    );
    const input = bytes(3201, 5);
    const out = normalizer.push(input);
    assert.deepEqual(out, input.subarray(0, 3200));
    assert.deepEqual(normalizer.push(bytes(1, 7)), Buffer.from([input[3200] ?? 0, 7]));
  });
});
