/**
 * Heap snapshots for the leak hunt of issue #23: written after a full GC, and compared by what the later
 * one holds that the earlier one did not. V8 keeps an object's snapshot id for its lifetime within one
 * process, so "new" means allocated after the first snapshot and still reachable at the second: the
 * retained growth, grouped by constructor, each group with one sample chain of retainers from a GC root.
 *   npx tsx bench/support/heap-snapshot.ts before.heapsnapshot after.heapsnapshot [--top 25]
 */
import { readFileSync } from "node:fs";
import { writeHeapSnapshot } from "node:v8";

/** Forces full collections (the process must run with --expose-gc), then writes a snapshot to `path`. */
export async function snapshotAfterGc(path: string): Promise<string> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return writeHeapSnapshot(path);
}

interface RawSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** A parsed snapshot: flat arrays as V8 writes them, with the offsets of the fields we read. */
export class HeapGraph {
  readonly count: number;
  private readonly nf: number;
  private readonly ef: number;
  private readonly firstEdge: Uint32Array;
  private readonly kTypes: string[];
  private readonly eTypes: string[];
  private retainersOf: Uint32Array[] | undefined;
  private depth: Int32Array | undefined;
  private owners: Map<number, string> | undefined;

  constructor(private readonly raw: RawSnapshot) {
    const meta = raw.snapshot.meta;
    this.nf = meta.node_fields.length;
    this.ef = meta.edge_fields.length;
    this.kTypes = meta.node_types[0];
    this.eTypes = meta.edge_types[0];
    this.count = raw.nodes.length / this.nf;
    this.firstEdge = new Uint32Array(this.count + 1);
    const edgeCount = meta.node_fields.indexOf("edge_count");
    for (let i = 0, e = 0; i < this.count; i++) {
      this.firstEdge[i] = e;
      e += raw.nodes[i * this.nf + edgeCount] * this.ef;
      this.firstEdge[i + 1] = e;
    }
  }

  static read(path: string): HeapGraph {
    return new HeapGraph(JSON.parse(readFileSync(path, "utf8")) as RawSnapshot);
  }

  id(i: number): number {
    return this.raw.nodes[i * this.nf + 2];
  }

  selfSize(i: number): number {
    return this.raw.nodes[i * this.nf + 3];
  }

  /** What a reader calls the node's kind: the constructor for objects, "(closure) name", "(string)", … */
  kind(i: number): string {
    const type = this.kTypes[this.raw.nodes[i * this.nf]];
    const name = this.raw.strings[this.raw.nodes[i * this.nf + 1]];
    if (type === "object" || type === "native") return name;
    if (type === "closure") return `(closure) ${name || "anonymous"}`;
    if (type === "string" || type === "concatenated string" || type === "sliced string") return "(string)";
    return `(${type})${type === "hidden" || type === "code" ? "" : ` ${name.slice(0, 40)}`}`;
  }

  private edgesOf(i: number, fn: (type: string, name: string, to: number) => void): void {
    const { edges, strings } = this.raw;
    for (let e = this.firstEdge[i]; e < this.firstEdge[i + 1]; e += this.ef) {
      const type = this.eTypes[edges[e]];
      const nameOrIndex = edges[e + 1];
      const name = type === "element" || type === "hidden" ? `[${nameOrIndex}]` : strings[nameOrIndex];
      fn(type, name, edges[e + 2] / this.nf);
    }
  }

  /** Breadth-first distance from the root over strong edges, and who retains whom. */
  private index(): { retainers: Uint32Array[]; depth: Int32Array } {
    if (this.retainersOf && this.depth) return { retainers: this.retainersOf, depth: this.depth };
    const lists: number[][] = Array.from({ length: this.count }, () => []);
    const depth = new Int32Array(this.count).fill(-1);
    depth[0] = 0;
    const queue = [0];
    for (let q = 0; q < queue.length; q++) {
      const from = queue[q];
      this.edgesOf(from, (type, _name, to) => {
        if (type === "weak") return;
        lists[to].push(from);
        if (depth[to] < 0) {
          depth[to] = depth[from] + 1;
          queue.push(to);
        }
      });
    }
    this.retainersOf = lists.map((l) => Uint32Array.from(l));
    this.depth = depth;
    return { retainers: this.retainersOf, depth };
  }

  /**
   * The first object on node `i`'s shortest path from the root for which `isNew` is false, with the edge
   * it holds the path by, and the kind of the next object ("Soak.sessions → Array"). Memoised.
   */
  owner(i: number, isNew: (i: number) => boolean): string {
    const { retainers, depth } = this.index();
    this.owners ??= new Map();
    const path: number[] = [];
    let at = i;
    let found: string | undefined;
    while (found === undefined) {
      const known = this.owners.get(at);
      if (known !== undefined) {
        found = known;
        break;
      }
      path.push(at);
      const from = depth[at] > 0 ? [...retainers[at]].find((r) => depth[r] === depth[at] - 1) : undefined;
      if (from === undefined) found = "(no owner)";
      else if (!isNew(from)) {
        // Two steps: "Map.table" alone does not say whose Map.
        const up = [...retainers[from]].find((r) => depth[r] === depth[from] - 1);
        const holder = up === undefined ? "" : `${this.kind(up)}.${this.edgeName(up, from)} → `;
        // Element indices would split one array's contents into groups of one.
        const edge = this.edgeName(from, at).replace(/^\[\d+\]$/, "[n]");
        found = `${holder}${this.kind(from)}.${edge} → ${this.kind(at)}`;
      } else at = from;
    }
    for (const p of path) this.owners.set(p, found);
    return found;
  }

  private edgeName(from: number, to: number): string {
    let edge = "?";
    this.edgesOf(from, (type, name, at) => {
      if (at === to && edge === "?" && type !== "weak") edge = name;
    });
    return edge;
  }

  /** One shortest chain of retainers from a GC root down to node `i`, as "Kind.edge" steps. */
  retainerChain(i: number, maxSteps = 14): string[] {
    const { retainers, depth } = this.index();
    const chain: string[] = [];
    let at = i;
    while (depth[at] > 0 && chain.length < maxSteps) {
      const from = [...retainers[at]].find((r) => depth[r] === depth[at] - 1);
      if (from === undefined) break;
      chain.push(`${this.kind(from)}.${this.edgeName(from, at)}`);
      at = from;
    }
    return chain.reverse();
  }
}

export interface Growth {
  kind: string;
  count: number;
  bytes: number;
  /** A retainer chain of one of the new objects of this kind. */
  sample: string[];
}

export interface Report {
  /** New objects by kind, largest total first. */
  byKind: Growth[];
  /**
   * New objects by their owner: the first object on their shortest path from a root that already existed
   * in `before`, with the edge it holds them by ("Soak.sessions", "Map.table", …). What grows per session
   * hangs off an owner like this, whatever kinds it is made of.
   */
  byOwner: Growth[];
  totalBytes: number;
}

/** Objects reachable in `after` that did not exist in `before`, by kind and by owner. */
export function newObjects(before: HeapGraph, after: HeapGraph, top: number): Report {
  const old = new Set<number>();
  for (let i = 0; i < before.count; i++) old.add(before.id(i));
  const isNew = (i: number): boolean => !old.has(after.id(i));
  const byKind = new Map<string, { count: number; bytes: number; first: number }>();
  const byOwner = new Map<string, { count: number; bytes: number; first: number }>();
  const add = (groups: typeof byKind, key: string, i: number): void => {
    const g = groups.get(key) ?? { count: 0, bytes: 0, first: i };
    g.count++;
    g.bytes += after.selfSize(i);
    groups.set(key, g);
  };
  let totalBytes = 0;
  for (let i = 0; i < after.count; i++) {
    if (!isNew(i)) continue;
    totalBytes += after.selfSize(i);
    add(byKind, after.kind(i), i);
    add(byOwner, after.owner(i, isNew), i);
  }
  const list = (groups: typeof byKind): Growth[] =>
    [...groups.entries()]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, top)
      .map(([kind, g]) => ({ kind, count: g.count, bytes: g.bytes, sample: after.retainerChain(g.first) }));
  return { byKind: list(byKind), byOwner: list(byOwner), totalBytes };
}

function main(argv: string[]): void {
  const [a, b] = argv.filter((x) => !x.startsWith("--"));
  const i = argv.indexOf("--top");
  const top = i >= 0 ? Number(argv[i + 1]) : 25;
  const before = HeapGraph.read(a);
  const after = HeapGraph.read(b);
  const report = newObjects(before, after, top);
  console.log(`new objects still reachable: ${(report.totalBytes / 1024).toFixed(0)} KiB`);
  const print = (title: string, groups: Growth[]): void => {
    console.log(title);
    for (const g of groups) {
      console.log(
        `${(g.bytes / 1024).toFixed(1).padStart(9)} KiB ${String(g.count).padStart(8)} × ${g.kind}`,
      );
      console.log(`             ← ${g.sample.join(" → ")}`);
    }
  };
  print(`by owner (top ${top}):`, report.byOwner);
  print(`by kind (top ${top}):`, report.byKind);
}

if (require.main === module) main(process.argv.slice(2));
