import { strict as assert } from "node:assert";
import { FailedHere } from "../../../../src/hospital/queue/failed-here";

describe("FailedHere (the messages failing in this process)", () => {
  const queued =
    (...seqs: number[]) =>
    () =>
      seqs.map((seq) => ({ seq }));

  it("says a message's first failure once, and again only after it settled", () => {
    const failing = new FailedHere();
    assert.equal(failing.failed(1, queued(1)), true);
    assert.equal(failing.failed(1, queued(1)), false);
    assert.equal(failing.failed(2, queued(1, 2)), true);
    assert.equal(failing.size, 2);
    failing.settled(1);
    assert.equal(failing.size, 1);
    assert.equal(failing.failed(1, queued(1, 2)), true);
  });

  it("forgets a message the queue no longer holds (discarded through the admin endpoint) at the next first failure", () => {
    const failing = new FailedHere();
    failing.failed(1, queued(1));
    failing.failed(2, queued(1, 2));
    // 1 was discarded: it never settles here.
    assert.equal(failing.failed(3, queued(2, 3)), true);
    assert.equal(failing.size, 2);
    assert.equal(failing.failed(2, queued(2, 3)), false, "2 is still failing");
  });

  it("takes a queue that is not open (undefined) as holding nothing but the message", () => {
    const failing = new FailedHere();
    failing.failed(1, queued(1));
    assert.equal(
      failing.failed(2, () => undefined),
      true,
    );
    assert.equal(failing.size, 1);
  });
});
