import { types } from "node:util";

/**
 * Whether a value a flow sent is plain data: what JSON holds (objects, arrays, strings, numbers,
 * booleans, null), plus Buffers, typed arrays, ArrayBuffers, Dates and BigInts. A node checks the fields it reads
 * once, at intake; afterwards reading them again (in a timer, a stream handler, a promise continuation)
 * runs no code of the flow's and cannot throw, so no later read can stop Node-RED.
 *
 * Refused, each with a reason that names the kind of problem, never a key or value (they may be PHI):
 * a Proxy (its traps run code), a getter or setter, a function (toJSON, valueOf, toString run by
 * JSON.stringify and string conversion), a symbol key (Symbol.toPrimitive), a cycle, nesting deeper
 * than `maxDepth`, an array longer than `maxItems` (an array of length 2^32-1 is nearly all holes, and
 * code that walks or copies it runs for hours or out of memory), a view of shared memory (another
 * thread may change it while the node works), and any other kind of object (Map, Set, class instances,
 * whose methods or prototype getters a node would run).
 */
export interface PlainDataLimits {
  /** Levels of nesting below the field; recursive code (a schema check, JSON) stays far from the stack limit. */
  maxDepth: number;
  /** Items in one array. */
  maxItems: number;
}

/**
 * The package's bounds: 64 levels (the deepest contract, a document's review list of words, has 5),
 * 1,000,000 items (the schema bounds words per result far below; a document of a long session stays under).
 */
export const PLAIN_DATA_LIMITS: PlainDataLimits = { maxDepth: 64, maxItems: 1_000_000 };

const IN_PROGRESS = 1;
const CHECKED = 2;

/** Why `value` is not plain data, or undefined when it is. Linear in the objects it holds (shared ones once). */
export function plainDataFault(
  value: unknown,
  limits: PlainDataLimits = PLAIN_DATA_LIMITS,
): string | undefined {
  return faultOf(value, 0, new Map<object, number>(), limits);
}

function faultOf(
  value: unknown,
  depth: number,
  seen: Map<object, number>,
  limits: PlainDataLimits,
): string | undefined {
  if (typeof value === "function") return "holds a function";
  if (typeof value !== "object" || value === null) return undefined;
  if (types.isProxy(value)) return "is or holds a Proxy";
  const state = seen.get(value);
  if (state === CHECKED) return undefined;
  if (state === IN_PROGRESS) return "holds a cycle (an object that contains itself)";
  if (types.isArrayBuffer(value)) return undefined;
  if (types.isSharedArrayBuffer(value)) return "is or holds a view of shared memory";
  if (ArrayBuffer.isView(value)) {
    return types.isSharedArrayBuffer(value.buffer) ? "is or holds a view of shared memory" : undefined;
  }
  if (types.isDate(value)) return ownKeysFault(value) ?? undefined;
  const proto: unknown = Object.getPrototypeOf(value);
  const array = Array.isArray(value);
  if (!(array ? isRealmPrototype(proto, "Array") : proto === null || isRealmPrototype(proto, "Object"))) {
    return "holds an object that is not plain data (a Map, a Set, a class instance)";
  }
  if (depth >= limits.maxDepth) return `is nested deeper than ${limits.maxDepth} levels`;
  if (array && value.length > limits.maxItems) return `holds an array longer than ${limits.maxItems} items`;
  seen.set(value, IN_PROGRESS);
  const keys = Reflect.ownKeys(value);
  for (const key of keys) {
    if (typeof key === "symbol") return "holds a symbol-keyed property";
    const d = Reflect.getOwnPropertyDescriptor(value, key);
    if (!d) continue;
    if (d.get !== undefined || d.set !== undefined) return "holds a getter or setter";
    const fault = faultOf(d.value, depth + 1, seen, limits);
    if (fault !== undefined) return fault;
  }
  seen.set(value, CHECKED);
  return undefined;
}

/**
 * The `Object.prototype` / `Array.prototype` of this realm or of another one: a function node runs in a
 * `vm` context of its own, so the objects and arrays it builds have that context's prototypes. Known
 * by the prototype's own constructor being the built-in of that name (native code, which flow code cannot
 * make) whose `prototype` is this very object, read through descriptors so that no getter runs.
 */
const realmPrototypes = {
  Object: new WeakSet<object>([Object.prototype]),
  Array: new WeakSet<object>([Array.prototype]),
};

function isRealmPrototype(proto: unknown, name: "Object" | "Array"): boolean {
  if (typeof proto !== "object" || proto === null) return false;
  const known = realmPrototypes[name];
  if (known.has(proto)) return true;
  if (types.isProxy(proto)) return false;
  const above: unknown = Object.getPrototypeOf(proto);
  if (name === "Object" ? above !== null : !isRealmPrototype(above, "Object")) return false;
  const ctor: unknown = Reflect.getOwnPropertyDescriptor(proto, "constructor")?.value;
  if (typeof ctor !== "function" || types.isProxy(ctor)) return false;
  if (Function.prototype.toString.call(ctor) !== `function ${name}() { [native code] }`) return false;
  if (Reflect.getOwnPropertyDescriptor(ctor, "prototype")?.value !== proto) return false;
  known.add(proto);
  return true;
}

/** A Date is plain unless something was attached to it (a getter, a toJSON of its own). */
function ownKeysFault(date: object): string | undefined {
  return Reflect.ownKeys(date).length > 0 ? "holds a Date with properties of its own" : undefined;
}
