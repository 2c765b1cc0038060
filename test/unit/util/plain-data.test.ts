import { strict as assert } from "node:assert";
import { runInNewContext } from "node:vm";
import { PLAIN_DATA_LIMITS, plainDataFault } from "../../../src/util/plain-data";

describe("plain data (the intake check of every node's message fields)", () => {
  it("accepts what JSON holds, Buffers, typed arrays, Dates, frozen objects and shared (not cyclic) references", () => {
    const word = { text: "pain", confidence: 0.9 };
    const ok = [
      null,
      "x",
      1n,
      { a: [1, "b", null, { c: true }] },
      Buffer.alloc(4),
      new Int16Array(2),
      new ArrayBuffer(8),
      new Date(0),
      Object.freeze({ a: Object.freeze([1]) }),
      Object.create(null) as object,
      Array.from({ length: 1000 }, () => word),
    ];
    for (const v of ok) assert.equal(plainDataFault(v), undefined);
  });

  it("accepts objects and arrays a function node builds (its own vm context's prototypes), not look-alikes", () => {
    // What a function node sends: built in a context of its own, so with that context's prototypes.
    const built = runInNewContext(
      "({ payload: { sessionId: 's1', isFinal: true, words: [{ text: 'pain', confidence: 0.9 }] }, list: [1, 2] })",
    ) as Record<string, unknown>;
    assert.notEqual(Object.getPrototypeOf(built), Object.prototype, "another realm's object");
    assert.equal(plainDataFault(built), undefined);
    assert.match(String(plainDataFault(runInNewContext("new Map()"))), /not plain data/);
    assert.match(String(plainDataFault(runInNewContext("({ get a() { return 1; } })"))), /getter/);
    // A prototype dressed as Object.prototype, with a getter a node would run.
    const fake = Object.create(null) as Record<string, unknown>;
    fake.constructor = function Object(): void {};
    Object.defineProperty(fake, "payload", { get: () => "boom" });
    assert.match(String(plainDataFault(Object.create(fake))), /not plain data/);
    class Result {
      isFinal = true;
    }
    assert.match(String(plainDataFault(new Result())), /not plain data/);
  });

  it("refuses what runs code or never ends when read again later, naming the kind of problem only", () => {
    const getter = Object.defineProperty({}, "a", { get: () => "Zzphimarker", enumerable: true });
    const cyclic: Record<string, unknown> = { text: "Zzphimarker" };
    cyclic.self = cyclic;
    const cyclicArray: unknown[] = [];
    cyclicArray.push({ list: cyclicArray });
    let deep: unknown = "Zzphimarker";
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    const cases: Array<[unknown, RegExp]> = [
      [new Proxy({}, {}), /Proxy/],
      [{ a: new Proxy([], {}) }, /Proxy/],
      [getter, /getter/],
      [{ toJSON: () => "x" }, /function/],
      [{ [Symbol.toPrimitive]: () => 1 }, /symbol/],
      [cyclic, /cycle/],
      [cyclicArray, /cycle/],
      [deep, /deeper than 64/],
      [sparse, /longer than 1000000/],
      [{ payload: Buffer.from(new SharedArrayBuffer(8)) }, /shared memory/],
      [new SharedArrayBuffer(8), /shared memory/],
      [new Map(), /not plain/],
      [Object.assign(new Date(0), { toJSON: () => "x" }), /Date/],
    ];
    for (const [value, problem] of cases) {
      const fault = plainDataFault(value);
      assert.match(fault ?? "", problem);
      assert.doesNotMatch(fault ?? "", /Zzphimarker/);
    }
  });

  it("walks each object once: a word list of one repeated word, a DAG of 2^64 paths", () => {
    let dag: unknown = "leaf";
    for (let i = 0; i < 64 - 1; i++) dag = { left: dag, right: dag };
    const started = process.hrtime.bigint();
    assert.equal(plainDataFault(dag), undefined);
    assert.ok(process.hrtime.bigint() - started < 1_000_000_000n, "linear in the objects, not the paths");
    assert.equal(PLAIN_DATA_LIMITS.maxDepth, 64);
  });
});
