import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

// The layering a newcomer can rely on: node adapters → providers, hospital delivery, routing and review →
// audio and transcripts → utilities. A file imports only from its own layer or below, and no files import
// each other in a cycle (a cycle makes load order matter and hides which file owns a type).

const ROOT = resolve(__dirname, "../../..");

/** Lower layers first; a folder not listed is a failure of its own, so a new folder gets a place. */
const LAYERS: readonly (readonly string[])[] = [
  ["src/util"],
  ["src/audio", "src/transcript"],
  ["src/providers", "src/hospital", "src/routing", "src/review"],
  ["nodes"],
];

function layerOf(file: string): number {
  const path = relative(ROOT, file);
  const layer = LAYERS.findIndex((folders) => folders.some((f) => path.startsWith(`${f}/`)));
  assert.notEqual(layer, -1, `${path} is in no layer: add its folder to LAYERS in this test`);
  return layer;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith(".ts") && !path.endsWith(".d.ts") ? [path] : [];
  });
}

const SPECIFIER = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*)"(\.{1,2}\/[^"]+)"/g;

/** The project files a source file imports (type-only imports included: they shape the design too). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const found: string[] = [];
  for (const match of text.matchAll(SPECIFIER)) {
    const base = resolve(dirname(file), match[1]);
    const target = [`${base}.ts`, join(base, "index.ts")].find((p) => existsSync(p));
    if (target !== undefined) found.push(target);
  }
  return found;
}

/** Strongly connected groups of more than one file (Tarjan), each a cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(relative(ROOT, w));
      } while (w !== v);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe("import graph of src/ and nodes/", () => {
  const files = [...sources(join(ROOT, "src")), ...sources(join(ROOT, "nodes"))];
  const graph = new Map(files.map((f) => [f, importsOf(f)]));

  it("reads the imports it checks", () => {
    assert.ok(files.length > 50, `only ${files.length} files found`);
    const edges = [...graph.values()].reduce((n, targets) => n + targets.length, 0);
    assert.ok(edges > 100, `only ${edges} imports found`);
  });

  it("has no import cycle", () => {
    assert.deepEqual(cycles(graph), []);
  });

  it("imports only from the same layer or below", () => {
    const upward = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((target) => layerOf(target) > layerOf(file))
        .map((target) => `${relative(ROOT, file)} → ${relative(ROOT, target)}`),
    );
    assert.deepEqual(upward, []);
  });
});
