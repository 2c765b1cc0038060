import { strict as assert } from "node:assert";
import { MemorySeries, slope } from "../../../bench/support/memory-series";

describe("soak memory series (drift and cost per session)", () => {
  it("finds the slope of a line and none of a flat series", () => {
    assert.equal(slope([]), 0);
    assert.equal(slope([[1, 5]]), 0);
    assert.ok(
      Math.abs(
        slope([
          [0, 1],
          [1, 3],
          [2, 5],
        ]) - 2,
      ) < 1e-12,
    );
    assert.equal(
      slope([
        [0, 7],
        [1, 7],
        [2, 7],
      ]),
      0,
    );
    assert.ok(
      Math.abs(
        slope([
          [0, 0],
          [1, 1],
          [2, 0],
          [3, 1],
        ]) - 0.2,
      ) < 1e-12,
      "noise fits a small slope",
    );
  });

  it("samples only when due and reports the cost per session at the peak of sessions", () => {
    const series = new MemorySeries(100, 10_000, 0);
    for (let t = 0; t <= 60_000; t += 1_000) series.maybeSample(t, t === 30_000 ? 40 : 10);
    assert.equal(series.samples.length, 7, "one per 10 s over a minute, both ends included");
    const [perSession, drift, table] = series.report();
    assert.match(perSession, /at the peak of 40 live sessions/);
    assert.match(drift, /RSS -?\d+\.\d MiB\/h/);
    assert.equal(table.split("  ").filter((x) => x.includes("·")).length, 7);
  });
});
