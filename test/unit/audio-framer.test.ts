import { strict as assert } from "node:assert";
import { PcmFramer } from "../../src/audio/framer";
import { PcmNormalizer } from "../../src/audio/normalizer";

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
