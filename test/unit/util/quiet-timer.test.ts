import { strict as assert } from "node:assert";
import { QuietTimer } from "../../../src/util/quiet-timer";
import { ManualScheduler } from "../../support/manual-scheduler";

describe("quiet timer (idle, keep-alive and stall detection)", () => {
  it("fires once the time has passed since the last touch, not since the first", () => {
    const clock = new ManualScheduler();
    let fired = 0;
    const t = new QuietTimer(clock, 1000, () => fired++);
    t.touch();
    clock.advance(600);
    t.touch();
    clock.advance(600);
    assert.equal(fired, 0, "1200 ms after the first touch, 600 after the last");
    clock.advance(400);
    assert.equal(fired, 1);
    assert.equal(t.active, false);
    clock.advance(5000);
    assert.equal(fired, 1, "once, until touched again");
  });

  it("fires nothing while paused or after stop, and starts again on the next touch", () => {
    const clock = new ManualScheduler();
    let fired = 0;
    const t = new QuietTimer(clock, 1000, () => fired++);
    t.touch();
    t.pause();
    clock.advance(2000);
    assert.equal(fired, 0);
    t.touch();
    t.stop();
    clock.advance(2000);
    assert.equal(fired, 0);
    t.touch();
    clock.advance(1000);
    assert.equal(fired, 1);
  });
});
