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

/** The same value as JSON.parse: deeply, with -0, prototypes and the order of keys. */
async function sameAsJsonParse(text: string, leafChars: number): Promise<void> {
  const expected = await outcome(text, (t) => JSON.parse(t));
  const got = await outcome(text, (t) => parseJsonSliced(t, new Slicer(0, 1), leafChars));
  assert.deepStrictEqual(got, expected, `${JSON.stringify(text)} (leaf ${leafChars})`);
  const value = (got as { value?: unknown }).value;
  if (value !== undefined) {
    assert.equal(JSON.stringify(value), JSON.stringify((expected as { value: unknown }).value), "key order");
  }
}

describe("parseJsonSliced against adversarial text", () => {
  const leaves = [0, 2, 8, 32, 8192];

  it("gives JSON.parse's value or refusal for the grammar's corners", async () => {
    const cases = [
      // numbers
      "-0",
      "[-0, -0.0, -0e0]",
      "1e400",
      "[-1e400, 1e-400, 1E+2, 1e-2, 0.5E2]",
      "12345678901234567890123",
      "[9007199254740993, -9007199254740993]",
      "[01]",
      "[-01]",
      "[.5]",
      "[+1]",
      "[1.e2]",
      "[1e]",
      "[0x10]",
      "[NaN, Infinity]",
      "-",
      "1 2",
      // strings and escapes
      '"\\ud800"',
      '["\\udc00x\\ud83d\\ude00", "\\uD83D"]',
      '"\\u0000"',
      '{"\\u0000": 1, "a\\u0000b": 2}',
      '"\ud800 raw lone surrogate"',
      '"\\/\\b\\f\\n\\r\\t\\"\\\\"',
      '"\\x41"',
      '"\\u12"',
      '"\\U0041"',
      '"tab\tinside"',
      '"\u007f\u2028\u2029"',
      '["\\\\"]',
      '["\\\\\\""]',
      '["\\\\\\\\"x]',
      "'a'",
      // whitespace: only space, tab, LF, CR
      " \t\n\r[ \t\n\r] \t\n\r",
      "\uFEFF{}",
      "{}\uFEFF",
      "\f[]",
      "[\u000b]",
      "[\u00a0]",
      "[\u2028]",
      "[1,\u00a02]",
      "",
      " ",
      // structure and trailing text
      "{} x",
      "{}\u0000",
      '{"a":1}}',
      "[[]]]",
      "[[1],[2]",
      '{"a":[}',
      "[1,]",
      '{"a":1,}',
      '{"a" "b"}',
      '{"a":1 "b":2}',
      "{1:2}",
      "[true,false,null]",
      "true false",
      "nul",
      "[truex]",
      // keys: the last of duplicates wins in the first one's place; __proto__ is an own key
      '{"a":1,"b":2,"a":3}',
      '{"1":1,"0":0,"b":2,"a":1,"b":[3]}',
      '{"__proto__":{"polluted":true}}',
      '{"__proto__":1,"x":[],"__proto__":[2]}',
      '{"a":{"__proto__":null,"b":{"__proto__":{"c":1}}}}',
      '[{"constructor":{"prototype":{"x":1}}},{"toString":1,"hasOwnProperty":2}]',
    ];
    for (const text of cases) for (const leaf of leaves) await sameAsJsonParse(text, leaf);
    const polluted = ({} as { polluted?: unknown }).polluted;
    assert.equal(polluted, undefined, "Object.prototype untouched");
  });

  it("gives JSON.parse's value or refusal on 3000 seeded documents written token by token", async () => {
    // Raw text, not JSON.stringify's: numbers as written (-0, 1e400, big integers), escapes of lone
    // surrogates and NUL, runs of backslashes before quotes, duplicate and __proto__ keys, and now and
    // then whitespace JSON does not allow or a stray token.
    const rand = prng(20261207);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
    const numbers = [
      "-0",
      "0",
      "-0.0e-0",
      "1e400",
      "-1E+400",
      "1E+2",
      "12345678901234567890123",
      "0.1",
      "5e-324",
    ];
    const pieces = [
      "a",
      "\\\\",
      '\\"',
      "\\ud800",
      "\\udfff",
      "\\u0000",
      "\\n",
      "\\/",
      "\u2028",
      "é",
      "😀",
      "\\\\\\\\",
    ];
    const keys = ["__proto__", "a", "b", "a", "", "1", "constructor"];
    const space = (): string =>
      rand() < 0.01 ? pick(["\u00a0", "\f", "\uFEFF"]) : pick(["", " ", "\n", "\t", "\r"]);
    const str = (): string => {
      let s = '"';
      const n = Math.floor(rand() * 6);
      for (let i = 0; i < n; i++) s += pick(pieces);
      return s + '"';
    };
    const value = (depth: number): string => {
      const kind = Math.floor(rand() * (depth > 6 ? 4 : 6));
      if (rand() < 0.002) return pick(["", ",", "]", "}", '"', "\\", "01", "tru"]);
      if (kind === 0) return pick(numbers);
      if (kind === 1) return pick(["true", "false", "null"]);
      if (kind <= 3) return str();
      const n = Math.floor(rand() * 6);
      const items = Array.from({ length: n }, () =>
        kind === 4
          ? value(depth + 1)
          : `${JSON.stringify(pick(keys))}${space()}:${space()}${value(depth + 1)}`,
      );
      return (
        (kind === 4 ? "[" : "{") +
        space() +
        items.join(`${space()},${space()}`) +
        space() +
        (kind === 4 ? "]" : "}")
      );
    };
    let refused = 0;
    for (let i = 0; i < 3000; i++) {
      const text = space() + value(0) + space();
      for (const leaf of [0, 8, 32, 8192]) await sameAsJsonParse(text, leaf);
      if ("error" in ((await outcome(text, (t) => JSON.parse(t))) as object)) refused++;
    }
    assert.ok(refused > 10 && refused < 1500, `${refused} of 3000 refused`);
  });

  it("stays linear on containers just over the leaf limit, deep or unclosed nesting and backslash runs", async function () {
    this.timeout(120_000);
    const KiB = 1024;
    const fill = (unit: string, size: number): string =>
      "[" + Array.from({ length: Math.floor(size / (unit.length + 1)) }, () => unit).join(",") + "]";
    // Each item 8,400 characters: the scan from its bracket fails just past the 8 KiB leaf limit.
    const justOver = (size: number): string =>
      fill("[" + Array.from({ length: 2100 }, () => "[1]").join(",") + "]", size);
    const deep = (size: number): string => "[".repeat(size / 2) + "]".repeat(size / 2);
    const slashes = (size: number): string => fill(`"${"\\\\".repeat(3000)}\\""`, size);
    // Refused at its end: every bracket opens a container that no scan can close.
    const unclosed = (size: number): string => "[".repeat(size);
    // The nesting cases with a 64-character leaf limit: scans start every 32 characters, so a scan not
    // bounded by its window would cost the text's length each time.
    for (const [name, make, leafChars] of [
      ["just over the leaf limit", justOver, 8192],
      ["deep nesting", deep, 64],
      ["backslash runs", slashes, 8192],
      ["unclosed nesting", unclosed, 64],
    ] as const) {
      const time = async (size: number): Promise<number> => {
        const text = make(size);
        let best = Infinity;
        for (let run = 0; run < 2; run++) {
          const start = performance.now();
          await parseJsonSliced(text, new Slicer(), leafChars).catch((err: unknown) =>
            assert.ok(err instanceof JsonSyntaxError),
          );
          best = Math.min(best, performance.now() - start);
        }
        return best;
      };
      const small = await time(256 * KiB);
      const large = await time(2048 * KiB);
      // Eight times the text: linear work takes about eight times as long, quadratic sixty-four.
      assert.ok(
        large < small * 24,
        `${name}: ${small.toFixed(0)} ms for 256 KiB, ${large.toFixed(0)} ms for 2 MiB`,
      );
    }
  });
});
