import { strict as assert } from "node:assert";
import type { Node, NodeMessage } from "node-red";
import { answerSafely, copyMessage, intake, messageFault, msgRoot } from "../../../nodes/shared/intake";

/** A node that records what it logged. */
function fakeNode(): Node & { logged: unknown[] } {
  const logged: unknown[] = [];
  return { logged, error: (m: unknown) => void logged.push(m) } as unknown as Node & { logged: unknown[] };
}

describe("intake (the one guard at every node's input)", () => {
  it("answers a hostile message at once with an error naming the field, never the value", () => {
    const msg = { topic: "s", payload: {} } as NodeMessage;
    Object.defineProperty(msg.payload, "words", {
      enumerable: true,
      get: () => {
        throw new Error("Zzphimarker");
      },
    });
    const answers: Array<Error | undefined> = [];
    const done = intake(fakeNode(), "filter-final", msg, (err) => answers.push(err), ["topic", "payload"]);
    assert.equal(done, undefined);
    assert.equal(answers.length, 1);
    assert.match(
      answers[0]?.message ?? "",
      /^filter-final: msg\.payload holds a getter or setter; accepted: plain data/,
    );
    assert.doesNotMatch(answers[0]?.message ?? "", /Zzphimarker/);
  });

  it("checks only the fields the node reads: a Proxy or getter elsewhere passes", () => {
    const msg = { payload: "MSH|", req: new Proxy({}, {}) } as unknown as NodeMessage;
    assert.equal(messageFault(msg, ["payload"]), undefined);
    assert.equal(messageFault(new Proxy(msg, {}), ["payload"]), "msg is a Proxy");
    const frozen = Object.freeze({ payload: Object.freeze({ text: "x" }) }) as NodeMessage;
    assert.equal(messageFault(frozen, ["payload"]), undefined);
  });

  it("a TypedInput path names its root field, only for msg", () => {
    assert.deepEqual(msgRoot("msg", "patient.id"), ["patient"]);
    assert.deepEqual(msgRoot("msg", "a[0].b"), ["a"]);
    assert.deepEqual(msgRoot("flow", "patient"), []);
  });

  it("a done that Node-RED's copy for Catch makes throw is logged, not thrown into the node", () => {
    const node = fakeNode();
    const done = answerSafely(node, "hl7-mdm", () => {
      throw new RangeError("Maximum call stack size exceeded");
    });
    assert.doesNotThrow(() => done(new Error("hl7-mdm: bad document")));
    assert.equal(node.logged.length, 1);
    assert.match(String(node.logged[0]), /bad document; Node-RED could not pass the message to Catch/);
  });

  it("copies a message for a second output without running getters or walking 2^32-1 holes", () => {
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    let reads = 0;
    const msg = Object.freeze(
      Object.defineProperty({ payload: { text: "x" }, other: sparse }, "late", {
        enumerable: true,
        get: () => ++reads,
      }),
    ) as unknown as NodeMessage & { control?: unknown };
    const copy = copyMessage(() => assert.fail("Node-RED's deep copy must not run"), msg) as Record<
      string,
      unknown
    >;
    assert.equal(reads, 0);
    assert.equal(copy.payload, msg.payload);
    delete copy.other;
    copy.payload = { text: "y" };
    assert.equal((msg.payload as { text: string }).text, "x");
    const plain = { payload: { text: "x" } } as NodeMessage;
    assert.equal(copyMessage(() => ({ cloned: true }), plain).cloned, true);
  });
});
