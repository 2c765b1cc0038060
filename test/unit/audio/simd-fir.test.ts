import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Decimator, decimatorTaps } from "../../../src/audio/decimator";
import { loadSimdKernel, MAX_TAPS, simdKernel, simdModuleBytes } from "../../../src/audio/simd-fir";

// The SIMD filter sums in float32 where the JavaScript one sums in doubles: on 16-bit input the sums
// differ by well under a tenth of a sample step, so a rounded output differs by at most one step (where
// the exact value lies next to a half), and rarely (about 1 sample in 1,000 on loud noise).
const MAX_LSB_DIFFERENCE = 1;
const MAX_DIFFERING_FRACTION = 0.005;

const LAYOUTS = [
  { inputChannels: 1, outputChannels: 1, label: "mono" },
  { inputChannels: 2, outputChannels: 1, label: "stereo mixed down" },
  { inputChannels: 2, outputChannels: 2, label: "stereo kept" },
] as const;
const FACTORS = [2, 3, 4, 6];

/**
 * `frames` frames of loud test audio: full-scale noise, tones, and runs at both ends of the range
 * (where the filter's overshoot clips), the same every run.
 */
function testSignal(frames: number, channels: number): Int16Array {
  const out = new Int16Array(frames * channels);
  let seed = 987654321;
  for (let i = 0; i < out.length; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const section = Math.floor(i / 3000) % 4;
    out[i] =
      section === 0
        ? (seed % 65536) - 32768
        : section === 1
          ? Math.round(20000 * Math.sin(i * (0.003 + (i % channels) * 0.2)))
          : section === 2
            ? Math.floor(i / 240) % 2
              ? -32768
              : 32767
            : (seed % 2001) - 1000;
  }
  return out;
}

const concat = (parts: Int16Array[]): Int16Array => Int16Array.from(parts.flatMap((p) => Array.from(p)));

/** Feeds `samples` in pieces of `frames` frames, then flushes; returns all the output. */
function inPieces(d: Decimator, samples: Int16Array, frames: number): Int16Array {
  const parts: Int16Array[] = [];
  const step = frames * d.inputChannels;
  for (let at = 0; at < samples.length; at += step) parts.push(d.process(samples.subarray(at, at + step)));
  parts.push(d.flush());
  return concat(parts);
}

describe("decimator: the WebAssembly SIMD filter", () => {
  it("runs on this runtime (Node has had WebAssembly SIMD since 16.4)", () => {
    assert.ok(WebAssembly.validate(simdModuleBytes()), "the module validates");
    assert.ok(simdKernel(), "the kernel loads");
    assert.equal(new Decimator(3, 2, 1).engine, "wasm-simd");
  });

  it("runs in the built package too (tsc's CommonJS, as Node-RED loads it)", function () {
    // The tests run the TypeScript through tsx (esbuild), which emits other code than tsc: a name that
    // only tsc's output trips over once sent every session to the fallback, and no test here saw it.
    const built = join(__dirname, "../../../dist/src/audio/decimator.js");
    if (!existsSync(built)) this.skip(); // npm test builds first
    const engine = execFileSync(process.execPath, [
      "-e",
      `const { Decimator } = require(${JSON.stringify(built)}); process.stdout.write(new Decimator(3, 2, 1).engine)`,
    ]).toString();
    assert.equal(engine, "wasm-simd");
  });

  for (const factor of FACTORS) {
    for (const { inputChannels, outputChannels, label } of LAYOUTS) {
      it(`factor ${factor}, ${label}: matches the JavaScript filter within ${MAX_LSB_DIFFERENCE} LSB`, () => {
        const input = testSignal(24001, inputChannels);
        const simd = inPieces(new Decimator(factor, inputChannels, outputChannels), input, 4800);
        const js = inPieces(
          new Decimator(factor, inputChannels, outputChannels, { simd: false }),
          input,
          4800,
        );
        assert.equal(simd.length, js.length);
        let worst = 0;
        let differing = 0;
        for (let i = 0; i < js.length; i++) {
          const d = Math.abs((simd[i] ?? 0) - (js[i] ?? 0));
          worst = Math.max(worst, d);
          if (d > 0) differing++;
        }
        assert.ok(worst <= MAX_LSB_DIFFERENCE, `largest difference ${worst} LSB`);
        assert.ok(differing / js.length <= MAX_DIFFERING_FRACTION, `${differing} of ${js.length} differ`);
      });

      it(`factor ${factor}, ${label}: the same output whole or in pieces of 1, 7, 4095 or 4097 frames`, () => {
        // Long enough to cross several of the kernel's 4096-frame blocks within one push.
        const input = testSignal(12345, inputChannels);
        const whole = inPieces(new Decimator(factor, inputChannels, outputChannels), input, 12345);
        for (const frames of [1, 7, 4095, 4097]) {
          const got = inPieces(new Decimator(factor, inputChannels, outputChannels), input, frames);
          assert.deepEqual(got, whole, `pieces of ${frames} frames`);
        }
      });
    }
  }

  it("keeps each session's filter tail its own while sessions of other factors and layouts interleave", () => {
    const layouts = [
      [3, 2, 1],
      [6, 2, 2],
      [2, 1, 1],
      [3, 1, 1],
    ] as const;
    const inputs = layouts.map(([, channels], i) => testSignal(20000 + i, channels));
    const alone = layouts.map(([f, c, o], i) =>
      inPieces(new Decimator(f, c, o), inputs[i] ?? new Int16Array(0), 1000),
    );
    const decimators = layouts.map(([f, c, o]) => new Decimator(f, c, o));
    const parts: Int16Array[][] = layouts.map(() => []);
    // 997 frames at a time, every session in turn: each push reloads the shared kernel's taps and history.
    for (let at = 0; at < 20003; at += 997) {
      decimators.forEach((d, i) => {
        const input = inputs[i] ?? new Int16Array(0);
        parts[i]?.push(d.process(input.subarray(at * d.inputChannels, (at + 997) * d.inputChannels)));
      });
    }
    decimators.forEach((d, i) => parts[i]?.push(d.flush()));
    parts.forEach((p, i) => assert.deepEqual(concat(p), alone[i], `session ${i}`));
  });

  it("never grows its memory: one 64 KiB page, declared as its maximum, for any length of input", () => {
    const kernel = simdKernel();
    assert.ok(kernel);
    const buffer = kernel.memory.buffer;
    const d = new Decimator(2, 2, 2);
    // Ten seconds at 48 kHz in one push: processed in blocks, in the same page.
    const out = d.process(testSignal(480000, 2));
    assert.equal(out.length, 480000);
    assert.equal(kernel.memory.buffer, buffer, "the same ArrayBuffer: never detached");
    assert.equal(buffer.byteLength, 65536);
    assert.ok(kernel.history.length > 0, "the views of it are still attached");
    // Growing past the declared maximum fails (and so leaves the buffer attached).
    assert.throws(() => kernel.memory.grow(1), RangeError);
    assert.equal(kernel.memory.buffer, buffer);
  });

  describe("fallback to JavaScript", () => {
    it("is taken where the runtime rejects the SIMD module", () => {
      let asked: Uint8Array | undefined;
      const kernel = loadSimdKernel((bytes) => {
        asked = bytes;
        return false;
      });
      assert.equal(kernel, undefined);
      assert.deepEqual(asked, simdModuleBytes(), "the check is WebAssembly.validate of the kernel itself");
    });

    it("gives the same output as the JavaScript filter always did, when forced", () => {
      const input = testSignal(9000, 2);
      const forced = new Decimator(3, 2, 1, { simd: false });
      assert.equal(forced.engine, "js");
      const whole = inPieces(forced, input, 9000);
      assert.deepEqual(inPieces(new Decimator(3, 2, 1, { simd: false }), input, 7), whole);
      const simd = inPieces(new Decimator(3, 2, 1), input, 9000);
      assert.ok(
        simd.some((v, i) => v !== whole[i]),
        "the two are distinct filters (float32 against double)",
      );
    });

    it("is taken for what the kernel does not take: more than two channels, or a filter over its size", () => {
      assert.equal(new Decimator(3, 4, 1).engine, "js");
      assert.ok(decimatorTaps(24).length > MAX_TAPS);
      assert.equal(new Decimator(24, 1, 1).engine, "js");
      assert.ok(decimatorTaps(12).length <= MAX_TAPS);
      assert.equal(new Decimator(12, 1, 1).engine, "wasm-simd");
    });
  });
});
