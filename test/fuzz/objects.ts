import { PHI } from "./generators";

/**
 * Hostile objects: messages whose harm shows only when a node touches them (again), possibly later, in
 * a timer, a stream handler or a promise continuation where Node-RED's try/catch around `input` no
 * longer protects the process. Each bomb takes a message of the shape a node reads (from the value
 * fuzz's generators) and arms one place in it: the whole message, a top-level field, or a field one
 * level down (msg.payload.words, msg.audio.sessionId, msg.patient.id…).
 *
 * Every error a bomb throws carries the PHI marker, so a node that echoes it shows up as a leak.
 */

/** What a bomb throws: a class of its own, so the suite can tell it from the node's own errors. */
export class BombError extends Error {
  override readonly name = "BombError";
  constructor(what: string) {
    super(`${what} went off for patient ${PHI}`);
  }
}

export type BombKind =
  | "frozen message"
  | "sealed message"
  | "frozen field"
  | "getter throws"
  | "getter throws from a later read"
  | "getter throws after a delay"
  | "proxy trap throws"
  | "proxy trap throws later"
  | "cycle"
  | "cycle through an array"
  | "deep nesting"
  | "conversion throws"
  | "huge sparse array"
  | "detached buffer"
  | "shared memory view"
  | "other typed array";

export const BOMB_KINDS: BombKind[] = [
  "frozen message",
  "sealed message",
  "frozen field",
  "getter throws",
  "getter throws from a later read",
  "getter throws after a delay",
  "proxy trap throws",
  "proxy trap throws later",
  "cycle",
  "cycle through an array",
  "deep nesting",
  "conversion throws",
  "huge sparse array",
  "detached buffer",
  "shared memory view",
  "other typed array",
];

/** A message with one bomb armed; `label` says which and where (printed for a finding, never the value). */
export interface ArmedMessage {
  label: string;
  msg: Record<string, unknown>;
}

/** Levels of nesting for "deep nesting": recursive code overflows the stack long before this. */
export const DEEP_LEVELS = 100_000;

type Random = () => number;

const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)];

const TRAPS = ["get", "has", "ownKeys", "getOwnPropertyDescriptor"] as const;

/**
 * Arms `base` (a fresh message the caller may change) with one bomb of `kind`, chosen by `random`, and
 * gives it the id `id` first: Node-RED reads and may write `_msgid`, and the suite tells answers apart by it.
 */
export function arm(base: Record<string, unknown>, id: string, kind: BombKind, random: Random): ArmedMessage {
  const msg: Record<string, unknown> = { ...base, _msgid: id };
  const path = pickPath(msg, random);
  const where = path.length === 0 ? "msg" : `msg.${path.join(".")}`;
  const label = `${kind} at ${where}`;
  switch (kind) {
    case "frozen message":
      return { label: `${kind}`, msg: deepFreeze(msg) };
    case "sealed message":
      for (const v of Object.values(msg)) if (isPlainContainer(v)) Object.seal(v);
      return { label: `${kind}`, msg: Object.seal(msg) };
    case "frozen field":
      replace(msg, path, (v) => (typeof v === "object" && v !== null ? deepFreeze(v) : Object.freeze({ v })));
      return { label, msg };
    case "getter throws":
      return { label, msg: withGetter(msg, path, () => true) };
    case "getter throws from a later read": {
      const safeReads = 1 + Math.floor(random() * 4);
      let reads = 0;
      return {
        label: `${label} (read ${safeReads + 1})`,
        msg: withGetter(msg, path, () => ++reads > safeReads),
      };
    }
    case "getter throws after a delay": {
      const ms = pick(random, [10, 100, 400, 1200]);
      const armedAt = Date.now();
      return { label: `${label} (${ms} ms)`, msg: withGetter(msg, path, () => Date.now() - armedAt >= ms) };
    }
    case "proxy trap throws":
    case "proxy trap throws later": {
      const trap = pick(random, TRAPS);
      const later = kind === "proxy trap throws later";
      const safeCalls = later ? 1 + Math.floor(random() * 12) : 0;
      const ms = later && random() < 0.5 ? pick(random, [20, 200, 800]) : 0;
      const armedAt = Date.now();
      let calls = 0;
      const goesOff = (): boolean => ++calls > safeCalls && Date.now() - armedAt >= ms;
      const detail = later ? ` (after ${safeCalls} calls${ms ? `, ${ms} ms` : ""})` : "";
      if (path.length === 0)
        return { label: `${kind}: ${trap} at msg${detail}`, msg: trapping(msg, trap, goesOff) };
      replace(msg, path, (v) => trapping(asObject(v), trap, goesOff));
      return { label: `${kind}: ${trap} at ${where}${detail}`, msg };
    }
    case "cycle":
      if (path.length === 0) {
        msg.self = msg;
        return { label: `${kind} at msg.self`, msg };
      }
      replace(msg, path, (v) => {
        const o = Array.isArray(v) ? v : asObject(v);
        if (Array.isArray(o)) o.push(o);
        else (o as Record<string, unknown>).self = o;
        return o;
      });
      return { label, msg };
    case "cycle through an array":
      replace(msg, path, (v) => {
        const holder: Record<string, unknown> = { text: PHI, value: v };
        const list: unknown[] = [holder, v];
        holder.list = list;
        return list;
      });
      return { label, msg };
    case "deep nesting": {
      const arrays = random() < 0.5;
      replace(msg, path, (v) => nested(v, arrays));
      return { label: `${label} (${DEEP_LEVELS} levels of ${arrays ? "arrays" : "objects"})`, msg };
    }
    case "conversion throws": {
      const method = pick(random, ["toJSON", "valueOf", "toString", "Symbol.toPrimitive", "all"] as const);
      replace(msg, path, () => converting(method));
      return { label: `${label} (${method})`, msg };
    }
    case "huge sparse array":
      replace(msg, path, (v) => {
        const a: unknown[] = [v];
        a.length = 2 ** 32 - 1;
        return a;
      });
      return { label, msg };
    case "detached buffer":
    case "shared memory view":
    case "other typed array": {
      // Where a Buffer is expected: msg.payload, mostly.
      const at = random() < 0.75 && "payload" in msg ? ["payload"] : path;
      const made =
        kind === "detached buffer"
          ? detached()
          : kind === "shared memory view"
            ? shared()
            : otherView(random);
      replace(msg, at, () => made.value);
      return { label: `${kind} at msg.${at.join(".") || "payload"} (${made.what})`, msg };
    }
  }
}

/** The place to arm: the message itself, one of its fields, or a field of an object field. */
function pickPath(msg: Record<string, unknown>, random: Random): string[] {
  const top = Object.keys(msg).filter((k) => k !== "_msgid");
  const r = random();
  if (r < 0.1 || top.length === 0) return [];
  const key = pick(random, top);
  const v = msg[key];
  if (r < 0.55 && isPlainContainer(v) && !Array.isArray(v)) {
    const inner = Object.keys(v);
    if (inner.length > 0) return [key, pick(random, inner)];
  }
  return [key];
}

/**
 * The object holding the last key of `path`, and that key; the containers on the way are copied (or
 * made) so that arming never changes an object another message shares.
 */
function holderOf(msg: Record<string, unknown>, path: string[]): [Record<string, unknown>, string] {
  let holder = msg;
  for (const key of path.slice(0, -1)) {
    const next = holder[key];
    const copy = isPlainContainer(next) && !Array.isArray(next) ? { ...next } : {};
    holder[key] = copy;
    holder = copy;
  }
  return [holder, path[path.length - 1] ?? "payload"];
}

/** Replaces the value at `path` (an empty path: nothing, the message is the caller's). */
function replace(msg: Record<string, unknown>, path: string[], make: (v: unknown) => unknown): void {
  if (path.length === 0) return;
  const [holder, last] = holderOf(msg, path);
  holder[last] = make(holder[last]);
}

/** Puts a getter at `path` that returns the value until `goesOff()` says so, then throws. */
function withGetter(
  msg: Record<string, unknown>,
  path: string[],
  goesOff: () => boolean,
): Record<string, unknown> {
  const [holder, last] = holderOf(msg, path.length === 0 ? ["payload"] : path);
  const value = holder[last];
  Object.defineProperty(holder, last, {
    enumerable: true,
    configurable: true,
    get() {
      if (goesOff()) throw new BombError(`a getter of ${last}`);
      return value;
    },
  });
  return msg;
}

function trapping<T extends object>(target: T, trap: (typeof TRAPS)[number], goesOff: () => boolean): T {
  const handler: ProxyHandler<T> = {
    [trap]: (...args: unknown[]) => {
      if (goesOff()) throw new BombError(`a proxy's ${trap} trap`);
      return (Reflect[trap] as (...a: unknown[]) => unknown).apply(Reflect, args);
    },
  };
  return new Proxy(target, handler);
}

function converting(method: "toJSON" | "valueOf" | "toString" | "Symbol.toPrimitive" | "all"): object {
  const boom = (): never => {
    throw new BombError(`a ${method} conversion`);
  };
  const o: Record<string | symbol, unknown> = { text: PHI };
  if (method === "toJSON" || method === "all") o.toJSON = boom;
  if (method === "valueOf" || method === "all") o.valueOf = boom;
  if (method === "toString" || method === "all") o.toString = boom;
  if (method === "Symbol.toPrimitive" || method === "all") o[Symbol.toPrimitive] = boom;
  return o;
}

function nested(inner: unknown, arrays: boolean): unknown {
  let v: unknown = inner;
  for (let i = 0; i < DEEP_LEVELS; i++) v = arrays ? [v] : { nested: v };
  return v;
}

function detached(): { value: Buffer; what: string } {
  const buf = Buffer.alloc(3200, 1);
  structuredClone(buf.buffer, { transfer: [buf.buffer] });
  return { value: buf, what: "a Buffer whose memory was transferred away" };
}

function shared(): { value: Buffer; what: string } {
  const memory = new SharedArrayBuffer(3200);
  return { value: Buffer.from(memory), what: "a Buffer over a SharedArrayBuffer" };
}

function otherView(random: Random): { value: ArrayBufferView; what: string } {
  const memory = new ArrayBuffer(3200);
  const views: Array<{ value: ArrayBufferView; what: string }> = [
    { value: new Float32Array(memory), what: "Float32Array" },
    { value: new Int16Array(memory), what: "Int16Array" },
    { value: new DataView(memory), what: "DataView" },
    { value: new Uint8Array(memory, 1, 3199), what: "Uint8Array at an odd offset" },
    { value: new Float64Array(memory), what: "Float64Array" },
  ];
  return pick(random, views);
}

function asObject(v: unknown): object {
  return typeof v === "object" && v !== null ? v : { value: v };
}

function isPlainContainer(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || ArrayBuffer.isView(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === Array.prototype || proto === null;
}

function deepFreeze<T>(value: T, seen = new Set<object>()): T {
  if (typeof value !== "object" || value === null || seen.has(value) || ArrayBuffer.isView(value))
    return value;
  seen.add(value);
  for (const v of Object.values(value)) deepFreeze(v, seen);
  return Object.freeze(value);
}
