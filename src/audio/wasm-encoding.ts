/**
 * Just enough of the WebAssembly binary format to write the decimator's SIMD kernel
 * (src/audio/simd-fir.ts) in TypeScript: the module is built from these helpers when first needed,
 * so the package ships no .wasm file, the build copies nothing, and no assembler is needed to change
 * it. Each helper is named after the text-format instruction it encodes (`local.get` is `localGet`,
 * `f32x4.add` is `f32x4Add`), so the kernel reads like its .wat would.
 *
 * Reference: the WebAssembly core specification 2.0, "Binary Format" (instructions, modules), and
 * the fixed-width SIMD opcodes (prefix 0xfd).
 */
export type Code = number[];

/** Unsigned LEB128. */
export function uleb(value: number): Code {
  const bytes: Code = [];
  let v = value >>> 0;
  do {
    const byte = v & 0x7f;
    v >>>= 7;
    bytes.push(v === 0 ? byte : byte | 0x80);
  } while (v !== 0);
  return bytes;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(value: number): Code {
  const bytes: Code = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    bytes.push(done ? byte : byte | 0x80);
    if (done) return bytes;
  }
}

/** Joins pieces of code (in a loop: a spread argument could overflow the stack). */
function join(parts: Code[]): Code {
  const out: Code = [];
  for (const part of parts) for (const byte of part) out.push(byte);
  return out;
}

export const seq = (...parts: Code[]): Code => join(parts);

function vector(items: Code[]): Code {
  return seq(uleb(items.length), join(items));
}

function section(id: number, body: Code): Code {
  return seq([id], uleb(body.length), body);
}

function name(text: string): Code {
  const bytes = Array.from(Buffer.from(text, "utf8"));
  return seq(uleb(bytes.length), bytes);
}

export const I32 = 0x7f;
export const V128 = 0x7b;
type ValueType = typeof I32 | typeof V128;

export interface FunctionDef {
  /** Exported under this name; internal when undefined. */
  exportName?: string;
  params: ValueType[];
  results: ValueType[];
  /** Locals after the parameters (their indexes follow the parameters'), all starting at zero. */
  locals: ValueType[];
  body: Code;
}

/**
 * A module of `functions` (indexed in this order) and one memory of exactly `pages` 64 KiB pages,
 * exported as "memory": its maximum is its size, so it can never grow (a memory that grows detaches
 * its ArrayBuffer, which slows every typed-array access in the process: src/audio/decimator.ts).
 */
export function encodeModule(functions: FunctionDef[], pages: number): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) =>
    seq([0x60], uleb(f.params.length), f.params, uleb(f.results.length), f.results),
  );
  // (Not named `exports`: in the CommonJS that tsc emits, that would hide the module's own.)
  const exported = functions.flatMap((f, i) =>
    f.exportName ? [seq(name(f.exportName), [0x00], uleb(i))] : [],
  );
  exported.push(seq(name("memory"), [0x02], uleb(0)));
  const bodies = functions.map((f) => {
    const code = seq(vector(f.locals.map((type) => [1, type])), f.body, [0x0b]);
    return seq(uleb(code.length), code);
  });
  return Uint8Array.from(
    seq(
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      section(1, vector(types)),
      section(3, vector(functions.map((_, i) => uleb(i)))),
      section(5, vector([seq([0x01], uleb(pages), uleb(pages))])),
      section(7, vector(exported)),
      section(10, vector(bodies)),
    ),
  );
}

// Control. Blocks, loops and ifs here yield no value (block type 0x40).
export const block = (...body: Code[]): Code => seq([0x02, 0x40], join(body), [0x0b]);
export const loop = (...body: Code[]): Code => seq([0x03, 0x40], join(body), [0x0b]);
export const ifThen = (condition: Code, ...body: Code[]): Code =>
  seq(condition, [0x04, 0x40], join(body), [0x0b]);
export const br = (depth: number): Code => seq([0x0c], uleb(depth));
export const brIf = (depth: number, condition: Code): Code => seq(condition, [0x0d], uleb(depth));
export const call = (index: number, ...args: Code[]): Code => seq(join(args), [0x10], uleb(index));
export const select = (ifTrue: Code, ifFalse: Code, condition: Code): Code =>
  seq(ifTrue, ifFalse, condition, [0x1b]);

// Locals.
export const localGet = (i: number): Code => seq([0x20], uleb(i));
export const localSet = (i: number, value: Code): Code => seq(value, [0x21], uleb(i));
export const localTee = (i: number, value: Code): Code => seq(value, [0x22], uleb(i));

// 32-bit integers.
export const i32Const = (n: number): Code => seq([0x41], sleb(n));
const i32Binary =
  (opcode: number) =>
  (a: Code, b: Code): Code =>
    seq(a, b, [opcode]);
export const i32Eq = i32Binary(0x46);
export const i32LtS = i32Binary(0x48);
export const i32GtS = i32Binary(0x4a);
export const i32Add = i32Binary(0x6a);
export const i32Mul = i32Binary(0x6c);
export const i32Shl = i32Binary(0x74);
/** Stores the low 16 bits of `value` at `address` (+ `offset`). */
export const i32Store16 = (address: Code, value: Code, offset = 0): Code =>
  seq(address, value, [0x3b, 1], uleb(offset));

// SIMD (prefix 0xfd, then the opcode as unsigned LEB128).
const simd = (opcode: number): Code => seq([0xfd], uleb(opcode));
const memarg = (alignLog2: number, offset: number): Code => seq(uleb(alignLog2), uleb(offset));
export const v128Load = (address: Code, offset = 0): Code => seq(address, simd(0x00), memarg(0, offset));
export const v128Store = (address: Code, value: Code, offset = 0): Code =>
  seq(address, value, simd(0x0b), memarg(0, offset));
/** Picks 16 bytes out of the 32 of `a` then `b` (byte indexes 0–31). */
export const i8x16Shuffle = (a: Code, b: Code, lanes: number[]): Code => seq(a, b, simd(0x0d), lanes);
/** Four-lane shuffle of f32/i32 lanes (0–3 from `a`, 4–7 from `b`). */
export const shuffle32 = (a: Code, b: Code, lanes: [number, number, number, number]): Code =>
  i8x16Shuffle(
    a,
    b,
    lanes.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]),
  );
export const f32x4SplatConst = (x: number): Code => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setFloat32(0, x, true);
  return seq([0x43], Array.from(bytes), simd(0x13));
};
export const i16x8ExtractLaneS = (v: Code, lane: number): Code => seq(v, simd(0x18), [lane]);
const simdUnary =
  (opcode: number) =>
  (a: Code): Code =>
    seq(a, simd(opcode));
const simdBinary =
  (opcode: number) =>
  (a: Code, b: Code): Code =>
    seq(a, b, simd(opcode));
export const f32x4Nearest = simdUnary(0x6a);
export const i32x4ExtaddPairwiseI16x8S = simdUnary(0x7e);
export const i16x8NarrowI32x4S = simdBinary(0x85);
export const i32x4ExtendLowI16x8S = simdUnary(0xa7);
export const i32x4ExtendHighI16x8S = simdUnary(0xa8);
/** Shifts each i32 lane of `v` by the i32 `count`. */
export const i32x4Shl = simdBinary(0xab);
export const i32x4ShrS = simdBinary(0xac);
export const f32x4Add = simdBinary(0xe4);
export const f32x4Mul = simdBinary(0xe6);
export const i32x4TruncSatF32x4S = simdUnary(0xf8);
export const f32x4ConvertI32x4S = simdUnary(0xfa);
