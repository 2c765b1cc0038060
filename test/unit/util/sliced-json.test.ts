import { strict as assert } from "node:assert";
import { JsonSyntaxError, parseJsonSliced } from "../../../src/util/sliced-json";
import { Slicer } from "../../../src/util/slices";
import { withTicks } from "../../support/loop-ticks";
import { prng } from "../../support/prng";

/** A random JSON value: every kind, escapes, unicode, odd numbers, "__proto__" keys, nesting. */
function randomValue(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 5 ? 6 : 8));
  const str = (): string => {
    const parts = ["a", "é", "\\", '"', "\n", "\u0001", "\u2028", "😀", "/", " ", "0", "\t"];
    let s = "";
    const n = Math.floor(rand() * 8);
    for (let i = 0; i < n; i++) s += parts[Math.floor(rand() * parts.length)] ?? "";
    return s;
  };
  switch (pick) {
    case 0:
      return null;
    case 1:
      return rand() < 0.5;
    case 2:
      return [0, -0, 1e21, -1.5e-7, 123456789, 0.1, Math.floor(rand() * 1e6) / 1000][Math.floor(rand() * 7)];
    case 3:
    case 4:
    case 5:
      return str();
    case 6: {
      const n = Math.floor(rand() * 5);
      return Array.from({ length: n }, () => randomValue(rand, depth + 1));
    }
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(rand() * 5);
      for (let i = 0; i < n; i++) {
        const key = rand() < 0.1 ? "__proto__" : str();
        Object.defineProperty(o, key, {
          value: randomValue(rand, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return o;
    }
  }
}

/** Like JSON.stringify, with random whitespace between tokens. */
function spaced(rand: () => number, text: string): string {
  const ws = [" ", "\n", "\t", "\r", ""];
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' && (i === 0 || text[i - 1] !== "\\" || text[i - 2] === "\\")) inString = !inString;
    out += c;
    if (!inString && ",:[]{}".includes(c)) out += ws[Math.floor(rand() * ws.length)] ?? "";
  }
  return out;
}

async function outcome(text: string, parse: (t: string) => unknown): Promise<unknown> {
  try {
    return { value: await parse(text) };
  } catch (err) {
    return { error: err instanceof SyntaxError };
  }
}

describe("parseJsonSliced (JSON.parse in slices)", () => {
  it("gives what JSON.parse gives on 2000 random documents, whitespace and all", async () => {
    const rand = prng(20261206);
    for (let i = 0; i < 2000; i++) {
      const text = spaced(rand, JSON.stringify(randomValue(rand, 0)) ?? "null");
      // A slicer that pauses after every token exercises every resume point; containers are walked
      // token by token (0), handed to JSON.parse when small (16), or both.
      const got = await parseJsonSliced(text, new Slicer(0, 1), [0, 16, 64, 8192][i % 4]);
      assert.deepStrictEqual(got, JSON.parse(text), text);
      if (got !== null && typeof got === "object")
        assert.equal(Object.getPrototypeOf(got), Array.isArray(got) ? Array.prototype : Object.prototype);
    }
  });

  it("refuses exactly what JSON.parse refuses, on damaged documents", async () => {
    const rand = prng(7);
    const junk = [
      "",
      ",",
      "]",
      "}",
      ":",
      '"',
      "\\",
      "01",
      "-",
      "1.",
      "tru",
      "nul",
      "\u0000",
      "{",
      "[",
      "x",
      "1e",
      ".5",
    ];
    let refused = 0;
    for (let i = 0; i < 2000; i++) {
      const text = JSON.stringify(randomValue(rand, 0)) ?? "null";
      const at = Math.floor(rand() * (text.length + 1));
      const cut = Math.floor(rand() * 3);
      const damaged =
        text.slice(0, at) + (junk[Math.floor(rand() * junk.length)] ?? "") + text.slice(at + cut);
      const expected = await outcome(damaged, (t) => JSON.parse(t));
      for (const leafChars of [0, 16, 8192]) {
        const got = await outcome(damaged, (t) => parseJsonSliced(t, new Slicer(0, 1), leafChars));
        assert.deepStrictEqual(got, expected, damaged);
      }
      if ((expected as { error?: boolean }).error) refused++;
    }
    assert.ok(refused > 500, `only ${refused} damaged documents were invalid`);
  });

  it("never puts the text into its error", async () => {
    await assert.rejects(parseJsonSliced('{"patient": "Jane Roe" x}'), (err: Error) => {
      assert.ok(err instanceof JsonSyntaxError);
      assert.doesNotMatch(err.message, /Jane/);
      return true;
    });
  });

  it("handles nesting far deeper than the call stack allows", async () => {
    const depth = 200_000;
    const value = await parseJsonSliced("[".repeat(depth) + "]".repeat(depth));
    let level = 0;
    for (let v: unknown = value; Array.isArray(v); v = v[0]) level++;
    assert.equal(level, depth);
  });

  it("lets a 10 ms timer keep firing while it parses a 24 MiB document", async function () {
    this.timeout(120_000);
    const item = JSON.stringify({
      start_time: "1.23",
      end_time: "1.50",
      alternatives: [{ confidence: "0.99", content: "metoprolol" }],
      type: "pronunciation",
    });
    const text = `{"results":{"items":[${Array.from({ length: Math.floor((24 * 2 ** 20) / (item.length + 1)) }, () => item).join(",")}]}}`;
    const { value, ticks } = await withTicks(() => parseJsonSliced(text));
    assert.deepStrictEqual(value, JSON.parse(text));
    // One block (JSON.parse) lets the timer run at most once; slices let it run throughout.
    assert.ok(ticks >= 5, `the timer ran ${ticks} times`);
  });
});
