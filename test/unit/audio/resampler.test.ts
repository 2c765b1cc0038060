import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Resampler, resamplerMemoryBytes, resamplerReady } from "../../../src/audio/resampler";
import { samplesOf, tone } from "../../support/audio-fixtures";

describe("resampler", () => {
  before(() => resamplerReady());

  it("consumes every sample, whatever the chunking: odd pieces give the same output as one piece", () => {
    const input = tone(440, 2, 22050);
    const whole = Resampler.acquire(1, 22050, 16000);
    const expected = whole.process(input);
    whole.release();
    const pieces = Resampler.acquire(1, 22050, 16000);
    const out: Buffer[] = [];
    for (let at = 0, n = 2; at < input.length; at += n * 2, n = (n * 13 + 7) % 1201 || 2) {
      out.push(pieces.process(input.subarray(at, at + n * 2)));
    }
    pieces.release();
    const got = Buffer.concat(out);
    assert.equal(samplesOf(expected).length, 32000, "2 s at 22.05 kHz become 2 s at 16 kHz, to the sample");
    assert.deepEqual(got, expected);
  });

  it("frees what it allocates: three thousand sessions' resamplers do not grow the module's memory", () => {
    const input = tone(440, 0.1, 48000, 2);
    const run = (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = Resampler.acquire(2, 48000, 16000);
        r.process(input);
        r.release();
      }
    };
    run(100);
    const before = resamplerMemoryBytes();
    assert.ok(before > 0);
    run(3000);
    assert.equal(resamplerMemoryBytes(), before);
  });

  it("keeps its memory bounded when one long recording arrives as a single Buffer", () => {
    const before = resamplerMemoryBytes();
    const r = Resampler.acquire(2, 44100, 16000);
    const twoMinutes = Buffer.alloc(120 * 44100 * 4, 1);
    const out = r.process(twoMinutes);
    r.release();
    assert.equal(out.length, 120 * 16000 * 4, "every sample converted");
    const grown = resamplerMemoryBytes() - before;
    assert.ok(
      grown < 1024 * 1024,
      `the module's memory grew by ${grown} bytes for a ${twoMinutes.length}-byte input`,
    );
  });

  it("leaves Node-RED's own handling of process errors alone when it loads", () => {
    const script = `
      const count = () => process.listenerCount("uncaughtException") + process.listenerCount("unhandledRejection");
      const before = count();
      require(${JSON.stringify(join(__dirname, "../../../src/audio/resampler"))}).resamplerReady().then(() => console.log(before, count()));`;
    const out = execFileSync(process.execPath, ["--require", require.resolve("tsx/cjs"), "-e", script], {
      encoding: "utf8",
    });
    const [before, after] = out.trim().split(" ").map(Number);
    assert.equal(after, before);
  });
});
