import { strict as assert } from "node:assert";
import { boundedTuning } from "../../../../src/providers/aws/tuning";

describe("AWS streaming node: the hidden tuning property", () => {
  it("keeps finite numbers only, and holds those that size a queue or pace a timer to their range", () => {
    assert.deepEqual(
      boundedTuning({
        maxQueueSeconds: 1e9,
        maxReplaySeconds: -5,
        keepaliveMs: 0,
        watchdogMs: 1000,
        refuseReportMs: 0,
        closeTimeoutMs: 1e12,
        backoffBaseMs: 50,
        somethingNew: 7,
      }),
      {
        maxQueueSeconds: 120,
        maxReplaySeconds: 0,
        keepaliveMs: 100,
        watchdogMs: 1000,
        refuseReportMs: 100,
        closeTimeoutMs: 10_000,
        backoffBaseMs: 50,
        somethingNew: 7,
      },
    );
    assert.deepEqual(
      boundedTuning({ keepaliveMs: "0", watchdogMs: null, maxAttempts: Number.NaN, healthyMs: Infinity }),
      {},
      "text, null and non-finite numbers leave the default",
    );
    for (const raw of [undefined, null, 5, "fast", [1, 2], true]) assert.deepEqual(boundedTuning(raw), {});
    const polluted = boundedTuning(JSON.parse('{"__proto__": 5, "constructor": 3, "keepaliveMs": 5000}'));
    assert.deepEqual(polluted, { constructor: 3, keepaliveMs: 5000 });
    assert.equal(Object.getPrototypeOf(polluted), Object.prototype);
  });
});
