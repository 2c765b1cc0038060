/**
 * V8 profiles of a measured phase, taken in-process through `node:inspector` (so Node-RED's start-up
 * and the deploy are not in them), and their summary as top frames grouped by where the code lives.
 *
 * - CPU: the sampling CPU profiler (`Profiler`), 1 ms interval; self and total time per function.
 * - Allocations: the sampling heap profiler (`HeapProfiler.startSampling`) with the objects that
 *   garbage collection has already freed kept in the profile, so it counts every allocation (sampled
 *   every 32 KiB and scaled by V8), not only what is still alive at the end: bytes allocated per
 *   function, and per audio chunk when the caller says how many chunks went through.
 */
import { Session } from "node:inspector";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: CpuNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

interface HeapProfile {
  head: HeapNode;
}

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))),
  );
}

/** Profiles from `start()` to `stop()`; `stop` writes `<name>.cpuprofile` and `<name>.heapprofile` in `dir`. */
export class PhaseProfiler {
  private readonly session = new Session();

  async start(): Promise<void> {
    this.session.connect();
    await post(this.session, "Profiler.enable");
    await post(this.session, "Profiler.setSamplingInterval", { interval: 1000 });
    await post(this.session, "HeapProfiler.enable");
    await post(this.session, "HeapProfiler.startSampling", {
      samplingInterval: 32 * 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    await post(this.session, "Profiler.start");
  }

  async stop(dir: string, name: string): Promise<{ cpu: string; heap: string }> {
    const { profile } = await post<{ profile: CpuProfile }>(this.session, "Profiler.stop");
    const heap = await post<{ profile: HeapProfile }>(this.session, "HeapProfiler.stopSampling");
    this.session.disconnect();
    const paths = { cpu: join(dir, `${name}.cpuprofile`), heap: join(dir, `${name}.heapprofile`) };
    writeFileSync(paths.cpu, JSON.stringify(profile));
    writeFileSync(paths.heap, JSON.stringify(heap.profile));
    return paths;
  }
}

export type Group =
  "ours" | "node-red" | "sdk" | "node core" | "gc" | "bench" | "other js" | "idle" | "program" | "root";

/** Where a frame's code lives, from its script URL. */
export function groupOf(frame: CallFrame): Group {
  const { url, functionName } = frame;
  if (functionName === "(garbage collector)") return "gc";
  if (functionName === "(idle)") return "idle";
  if (functionName === "(program)") return "program";
  if (functionName === "(root)") return "root";
  if (/node_modules[\\/](node-red|@node-red)[\\/]/.test(url)) return "node-red";
  if (/node_modules[\\/](@aws-sdk|@smithy|@aws-crypto|assemblyai|ws)[\\/]/.test(url)) return "sdk";
  if (url.startsWith("node:") || url === "") return "node core";
  if (/[\\/]bench[\\/]/.test(url)) return "bench";
  if (/[\\/](src|nodes|dist)[\\/]/.test(url) && !url.includes("node_modules")) return "ours";
  return "other js";
}

function frameKey(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*node_modules[\\/]/, "");
  const short = file.replace(/^.*?[\\/](src|nodes|dist|bench)[\\/]/, "$1/");
  return `${f.functionName || "(anonymous)"} ${short}${f.url ? `:${f.lineNumber + 1}` : ""}`;
}

export interface FrameCost {
  key: string;
  group: Group;
  /** Share of the profile's non-idle time (CPU) or of the bytes allocated (heap), 0–1. */
  self: number;
  total: number;
}

export interface Summary {
  /** Share of each group in the non-idle samples (CPU) or in the bytes allocated (heap). */
  groups: Map<Group, { self: number; total: number }>;
  top: FrameCost[];
  /** CPU: non-idle sampled milliseconds; heap: bytes allocated (scaled estimate). */
  amount: number;
}

/**
 * Self and total per function of a CPU profile, as shares of the non-idle time. Total counts a
 * function once per stack (recursion is not double-counted); a group's total is the share of stacks
 * in which any of its functions appears.
 */
export function summariseCpu(profile: CpuProfile, topN = 25, only?: Group): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per node from the samples (hitCount × interval is coarser).
  const time = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const dt = deltas[i + 1] ?? 0;
    time.set(samples[i], (time.get(samples[i]) ?? 0) + dt);
  }
  const t = new Tally();
  for (const [id, us] of time) {
    const leaf = byId.get(id);
    if (!leaf || groupOf(leaf.callFrame) === "idle") continue;
    t.all += us;
    t.addSelf(frameKey(leaf.callFrame), groupOf(leaf.callFrame), us);
    const seenKeys = new Set<string>();
    const seenGroups = new Set<Group>();
    for (let n: CpuNode | undefined = leaf; n; n = byId.get(parent.get(n.id) ?? -1)) {
      const key = frameKey(n.callFrame);
      const group = groupOf(n.callFrame);
      if (group === "root") continue;
      t.groupOfKey.set(key, group);
      if (!seenKeys.has(key)) add(t.total, key, us);
      seenKeys.add(key);
      if (!seenGroups.has(group)) add(t.groupTotal, group, us);
      seenGroups.add(group);
    }
  }
  return t.summary(topN, t.all / 1000, only);
}

/** Bytes allocated per function of a sampling heap profile (self: allocated there; total: beneath). */
export function summariseHeap(profile: HeapProfile, topN = 25, only?: Group): Summary {
  const t = new Tally();
  const walk = (node: HeapNode, keys: Set<string>, groups: Set<Group>): void => {
    const key = frameKey(node.callFrame);
    const group = groupOf(node.callFrame);
    t.groupOfKey.set(key, group);
    const counted = group !== "root";
    const nextKeys = !counted || keys.has(key) ? keys : new Set(keys).add(key);
    const nextGroups = !counted || groups.has(group) ? groups : new Set(groups).add(group);
    const bytes = node.selfSize;
    if (bytes > 0) {
      t.all += bytes;
      t.addSelf(key, group, bytes);
      for (const k of nextKeys) add(t.total, k, bytes);
      for (const g of nextGroups) add(t.groupTotal, g, bytes);
    }
    for (const c of node.children) walk(c, nextKeys, nextGroups);
  };
  walk(profile.head, new Set(), new Set());
  return t.summary(topN, t.all, only);
}

function add<K>(map: Map<K, number>, key: K, amount: number): void {
  map.set(key, (map.get(key) ?? 0) + amount);
}

/** Self and total amounts per frame and per group, and the whole (the shares' denominator). */
class Tally {
  readonly self = new Map<string, number>();
  readonly total = new Map<string, number>();
  readonly groupOfKey = new Map<string, Group>();
  readonly groupSelf = new Map<Group, number>();
  readonly groupTotal = new Map<Group, number>();
  all = 0;

  addSelf(key: string, group: Group, amount: number): void {
    this.groupOfKey.set(key, group);
    add(this.self, key, amount);
    add(this.groupSelf, group, amount);
  }

  summary(topN: number, amount: number, only: Group | undefined): Summary {
    const share = (x: number): number => (this.all > 0 ? x / this.all : 0);
    const groups = new Map<Group, { self: number; total: number }>();
    for (const [g, s] of [...this.groupSelf].sort((a, b) => b[1] - a[1]))
      groups.set(g, { self: share(s), total: share(this.groupTotal.get(g) ?? 0) });
    const top = [...this.self]
      .filter(([key]) => only === undefined || this.groupOfKey.get(key) === only)
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([key, s]) => ({
        key,
        group: this.groupOfKey.get(key) ?? "other js",
        self: share(s),
        total: share(this.total.get(key) ?? 0),
      }));
    return { groups, top, amount };
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1).padStart(5)} %`;

/** The summary as text: the groups, then the top frames by self share. */
export function formatSummary(title: string, s: Summary, unit: string): string {
  const lines = [`${title} (${unit})`, "  group        self    total"];
  for (const [g, v] of s.groups) lines.push(`  ${g.padEnd(10)} ${pct(v.self)} ${pct(v.total)}`);
  lines.push("  top frames by self share:        self    total  group");
  for (const f of s.top)
    lines.push(`  ${f.key.slice(0, 70).padEnd(70)} ${pct(f.self)} ${pct(f.total)}  ${f.group}`);
  return lines.join("\n");
}
