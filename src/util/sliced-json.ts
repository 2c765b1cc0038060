import { Slicer } from "./slices";

/**
 * JSON.parse in slices. `JSON.parse` of a 24 MiB transcript file holds the event loop for hundreds of
 * milliseconds in one block, during which no other session's audio moves; this parser builds the same
 * value and yields between slices (`Slicer`). It accepts exactly the JSON grammar (RFC 8259) and gives
 * the same value as `JSON.parse` (test/unit/util/sliced-json.test.ts compares them on random documents);
 * an error names the position, never the text (which may be PHI). Containers are kept on an explicit
 * stack, so nesting depth costs memory, never the call stack.
 *
 * Speed: a container that ends within `LEAF_CHARS` of its start (a transcript item, a word) is handed
 * whole to JSON.parse, which builds it natively: only the few large containers are walked token by
 * token. A container found larger than that by a scan is walked, and no other scan starts within half
 * a window of that one, so failed scans cost at most twice the text: linear, whatever the nesting.
 */

export class JsonSyntaxError extends SyntaxError {
  override readonly name = "JsonSyntaxError";
  constructor(readonly position: number) {
    super(`invalid JSON at position ${position}`);
  }
}

interface Frame {
  array: unknown[] | null;
  object: Record<string, unknown> | null;
  key: string;
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// What a string may not hold raw: a backslash (an escape, left to JSON.parse) or a control character.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NEEDS_DECODING = /[\\\u0000-\u001f]/;

/** The largest container parsed in one JSON.parse call: well under a millisecond of work. */
const LEAF_CHARS = 8192;

/** Expecting: a value; a value or "]"; a key or "}"; a key; "," or a closer (or the end). */
const VALUE = 0;
const FIRST_ITEM = 1;
const FIRST_KEY = 2;
const KEY = 3;
const AFTER = 4;

/** @param leafChars the largest container handed to JSON.parse whole (tests vary it). */
export async function parseJsonSliced(
  text: string,
  slicer = new Slicer(),
  leafChars = LEAF_CHARS,
): Promise<unknown> {
  const stack: Frame[] = [];
  const length = text.length;
  let pos = 0;
  let root: unknown = undefined;
  let state = VALUE;
  let scanFrom = 0;

  const skipSpace = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const readString = (): string => {
    // pos is at the opening quote; the closing one is the first not escaped by an odd run of backslashes.
    let end = pos;
    for (;;) {
      end = text.indexOf('"', end + 1);
      if (end < 0) throw new JsonSyntaxError(length);
      let slashes = 0;
      while (text.charCodeAt(end - 1 - slashes) === 0x5c) slashes++;
      if (slashes % 2 === 0) break;
    }
    const raw = text.slice(pos + 1, end);
    let value: string;
    if (!NEEDS_DECODING.test(raw)) value = raw;
    else {
      try {
        value = JSON.parse(text.slice(pos, end + 1)) as string;
      } catch {
        throw new JsonSyntaxError(pos);
      }
    }
    pos = end + 1;
    return value;
  };
  /**
   * Where the container opening at `pos` closes, if it closes within LEAF_CHARS: brackets are counted
   * outside strings only. -1 when it does not (or the text ends first).
   */
  const leafEnd = (): number => {
    const stop = Math.min(length, pos + leafChars);
    let depth = 0;
    for (let i = pos; i < stop; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        for (;;) {
          i = text.indexOf('"', i + 1);
          if (i < 0 || i >= stop) return -1;
          let slashes = 0;
          while (text.charCodeAt(i - 1 - slashes) === 0x5c) slashes++;
          if (slashes % 2 === 0) break;
        }
      } else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (--depth === 0) return i;
      }
    }
    return -1;
  };
  /** Puts a value into the container being filled, or makes it the result. */
  const place = (value: unknown): void => {
    const top = stack[stack.length - 1];
    if (!top) root = value;
    else if (top.array) top.array.push(value);
    else if (top.object) {
      // An own property named "__proto__", as JSON.parse makes it, never the prototype.
      if (top.key === "__proto__")
        Object.defineProperty(top.object, top.key, {
          value,
          writable: true,
          enumerable: true,
          configurable: true,
        });
      else top.object[top.key] = value;
    }
  };

  for (;;) {
    if (slicer.due()) await slicer.pause();
    skipSpace();
    const c = text.charCodeAt(pos);
    if (state === AFTER) {
      const top = stack[stack.length - 1];
      if (!top) {
        if (pos !== length) throw new JsonSyntaxError(pos);
        return root;
      }
      if (c === 0x2c) {
        pos++;
        state = top.array ? VALUE : KEY;
      } else if ((top.array && c === 0x5d) || (top.object && c === 0x7d)) {
        pos++;
        stack.pop();
      } else throw new JsonSyntaxError(pos);
      continue;
    }
    if (state === FIRST_KEY || state === KEY) {
      if (c === 0x7d && state === FIRST_KEY) {
        pos++;
        stack.pop();
        state = AFTER;
        continue;
      }
      if (c !== 0x22) throw new JsonSyntaxError(pos);
      const top = stack[stack.length - 1];
      top.key = readString();
      skipSpace();
      if (text.charCodeAt(pos) !== 0x3a) throw new JsonSyntaxError(pos);
      pos++;
      state = VALUE;
      continue;
    }
    if (state === FIRST_ITEM && c === 0x5d) {
      pos++;
      stack.pop();
      state = AFTER;
      continue;
    }
    // A value.
    if ((c === 0x7b || c === 0x5b) && pos >= scanFrom) {
      const end = leafEnd();
      if (end >= 0) {
        // The text between balanced brackets is one JSON value or the whole text is not JSON.
        let value: unknown;
        try {
          value = JSON.parse(text.slice(pos, end + 1));
        } catch {
          throw new JsonSyntaxError(pos);
        }
        place(value);
        pos = end + 1;
        state = AFTER;
        continue;
      }
      scanFrom = pos + leafChars / 2;
    }
    if (c === 0x7b) {
      const object: Record<string, unknown> = {};
      place(object);
      stack.push({ array: null, object, key: "" });
      pos++;
      state = FIRST_KEY;
      continue;
    }
    if (c === 0x5b) {
      const array: unknown[] = [];
      place(array);
      stack.push({ array, object: null, key: "" });
      pos++;
      state = FIRST_ITEM;
      continue;
    }
    if (c === 0x22) place(readString());
    else if (c === 0x74 && text.startsWith("true", pos)) {
      place(true);
      pos += 4;
    } else if (c === 0x66 && text.startsWith("false", pos)) {
      place(false);
      pos += 5;
    } else if (c === 0x6e && text.startsWith("null", pos)) {
      place(null);
      pos += 4;
    } else {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (m === null) throw new JsonSyntaxError(pos);
      place(Number(m[0]));
      pos = NUMBER.lastIndex;
    }
    state = AFTER;
  }
}
