// Bytes and objects allocated per 100 ms audio chunk on the live path, by the code that allocated them:
// junction → audio-in → assemblyai-medical | transcribe-medical → filter-final → confidence-gate, in a
// real Node-RED 4 (the flow of bench:pipeline, bench/support/pipeline-flow.ts), against the emulator in
// a process of its own.
//   npx tsx bench/allocations.ts                                   (AssemblyAI, 20 sessions × 10 s)
//   npx tsx bench/allocations.ts --provider aws --sessions 20 --seconds 10 --top 20
//   npx tsx bench/allocations.ts --baseline ../main                (a built checkout beside this one)
//   npx tsx bench/allocations.ts --warmup-sessions 100 --warmup-seconds 30   (counted once the JIT is warm)
//   npx tsx bench/allocations.ts --detail "pump src/providers"     (what those frames allocate, by callee)
// Counts, not times: the sampling heap profiler (node:inspector) runs with a sampling interval far below
// the size of any object (--interval, 16 bytes by default), with the objects that garbage collection
// has already freed kept in, so it sees essentially every allocation, whatever the machine's load. Each
// allocation is charged to the innermost frame of code that is not Node's or V8's own (a Buffer made by
// `subarray` in our framer is the framer's), grouped as ours (src/, nodes/, dist/), Node-RED, the SDKs
// (ws, @aws-sdk, @smithy) and the bench's feeder. Each variant runs in a fresh process, one after the
// other (the counts do not depend on what else the machine does); a warm-up of the same flow runs
// before measuring, so that start-up and compilation are left out.
import { Session } from "node:inspector";
import { resolve } from "node:path";
import { EmulatorProcess, type Provider } from "./support/emulator-process";
import { EmbeddedNodeRed } from "./support/node-red";
import { edges, pipelineFlow } from "./support/pipeline-flow";
import { groupOf, type Group } from "./support/profile";
import { feedRealTime, forkMeasured, serveMeasured } from "./support/realtime-runs";
import { sleep } from "./support/stats";
import { CHUNK_MS } from "./support/tagged-audio";

interface Spec {
  provider: Provider;
  url: string;
  sessions: number;
  seconds: number;
  interval: number;
  /** The warm-up before counting: sessions and seconds of audio each. */
  warmup: { sessions: number; seconds: number };
  /** A built checkout whose package the flow loads instead of this one's. */
  root?: string;
  /** Frames of ours (a substring of "function file") whose allocations are broken down by the innermost frame. */
  detail?: string;
}

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface HeapNode {
  id: number;
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}
interface HeapProfile {
  head: HeapNode;
  samples: Array<{ size: number; nodeId: number }>;
}

/** Bytes and objects per chunk, per group and per frame of our code. */
interface Result {
  chunks: number;
  finals: number;
  groups: Record<string, { bytes: number; objects: number }>;
  frames: Array<{ key: string; bytes: number; objects: number }>;
  /** With --detail: what the matching frames allocated, by the innermost frame (Node core and V8 too). */
  detail: Array<{ key: string; bytes: number; objects: number }>;
}

/** Groups whose frames own an allocation; Node core, V8 and unknown code pass it on to their caller. */
const OWNERS = new Set<Group>(["ours", "node-red", "sdk", "bench"]);

/** "function file" with the path from src/, nodes/ or dist/ on: stable across the two checkouts. */
function frameKey(f: CallFrame): string {
  const file = f.url.replace(/^file:\/\//, "").replace(/^.*?[\\/](src|nodes|dist)[\\/]/, "$1/");
  return `${f.functionName || "(anonymous)"} ${file.replace(/^dist\//, "")}`;
}

function post<T>(session: Session, method: string, params: object = {}): Promise<T> {
  return new Promise((res, rej) => session.post(method, params, (err, r) => (err ? rej(err) : res(r as T))));
}

function account(profile: HeapProfile, chunks: number, finals: number, detail?: string): Result {
  const owner = new Map<number, { group: Group | "other"; key: string }>();
  const innermost = new Map<number, string>();
  const walk = (node: HeapNode, inherited: { group: Group | "other"; key: string }): void => {
    const group = groupOf(node.callFrame);
    const mine = OWNERS.has(group) ? { group, key: frameKey(node.callFrame) } : inherited;
    owner.set(node.id, mine);
    innermost.set(node.id, `${frameKey(node.callFrame)}:${node.callFrame.lineNumber + 1}`);
    for (const c of node.children) walk(c, mine);
  };
  walk(profile.head, { group: "other", key: "" });
  const groups: Result["groups"] = {};
  const frames = new Map<string, { bytes: number; objects: number }>();
  const inner = new Map<string, { bytes: number; objects: number }>();
  for (const s of profile.samples) {
    const o = owner.get(s.nodeId) ?? { group: "other", key: "" };
    const g = (groups[o.group] ??= { bytes: 0, objects: 0 });
    g.bytes += s.size / chunks;
    g.objects += 1 / chunks;
    if (o.group !== "ours") continue;
    const f = frames.get(o.key) ?? { bytes: 0, objects: 0 };
    f.bytes += s.size / chunks;
    f.objects += 1 / chunks;
    frames.set(o.key, f);
    if (detail === undefined || !o.key.includes(detail)) continue;
    const k = innermost.get(s.nodeId) ?? "";
    const d = inner.get(k) ?? { bytes: 0, objects: 0 };
    d.bytes += s.size / chunks;
    d.objects += 1 / chunks;
    inner.set(k, d);
  }
  return {
    chunks,
    finals,
    groups,
    frames: [...frames].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.bytes - a.bytes),
    detail: [...inner].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.bytes - a.bytes),
  };
}

/** One feeding of `sessions` sessions; resolves when every session has ended, with the finals seen. */
async function run(nr: EmbeddedNodeRed, sessions: number, chunks: number, tag: string): Promise<number> {
  const e = edges();
  let finals = 0;
  const open = new Set<string>();
  let allEnded: () => void = () => undefined;
  nr.tap(e.out, () => finals++);
  nr.tap(e.events, (msg) => {
    const ev = (msg.payload as { event: string }).event;
    if (ev !== "ended" && ev !== "termination" && ev !== "error") return;
    open.delete(String(msg.topic));
    if (open.size === 0) allEnded();
  });
  const fed = Array.from({ length: sessions }, (_, i) => {
    const topic = `${tag}${i + 1}`;
    open.add(topic);
    return {
      push: (c: Buffer): void => nr.send(e.src, { topic, payload: c }),
      end: (): void => nr.send(e.src, { topic, audio: { end: true } }),
    };
  });
  const ended = new Promise<void>((res) => (allEnded = res));
  await feedRealTime(
    fed,
    chunks,
    fed.map(() => new Array<number>(chunks).fill(0)),
  );
  await Promise.race([ended, sleep(30_000)]);
  return finals;
}

async function measure(spec: Spec): Promise<Result> {
  const nr = await EmbeddedNodeRed.start(spec.root ? { packageRoot: spec.root } : {});
  await nr.deploy(pipelineFlow({ provider: spec.provider, endpoint: spec.url }));
  const chunks = (spec.seconds * 1000) / CHUNK_MS;
  // Warm-up: every path compiled, every module loaded, before counting.
  await run(nr, spec.warmup.sessions, (spec.warmup.seconds * 1000) / CHUNK_MS, "w");
  const session = new Session();
  session.connect();
  await post(session, "HeapProfiler.enable");
  await post(session, "HeapProfiler.startSampling", {
    samplingInterval: spec.interval,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const finals = await run(nr, spec.sessions, chunks, "s");
  const { profile } = await post<{ profile: HeapProfile }>(session, "HeapProfiler.stopSampling");
  session.disconnect();
  await nr.stop();
  return account(profile, spec.sessions * chunks, finals, spec.detail);
}

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};

const num = (x: number, digits = 0): string => x.toFixed(digits).padStart(7);

function print(provider: Provider, variants: Array<[string, Result]>, top: number): void {
  const names = variants.map(([n]) => n);
  console.log(`\n${provider}: allocated per 100 ms chunk (bytes / objects), ${names.join(" → ")}`);
  const cell = (v: { bytes: number; objects: number } | undefined): string =>
    `${num(v?.bytes ?? 0)} B ${num(v?.objects ?? 0, 1)}`;
  console.log(`  ${"group".padEnd(60)} ${names.map((n) => n.padStart(18)).join(" ")}`);
  for (const g of ["ours", "node-red", "sdk", "bench", "other"]) {
    console.log(`  ${g.padEnd(60)} ${variants.map(([, r]) => cell(r.groups[g])).join(" ")}`);
  }
  const all = (r: Result): { bytes: number; objects: number } =>
    Object.values(r.groups).reduce((a, b) => ({ bytes: a.bytes + b.bytes, objects: a.objects + b.objects }), {
      bytes: 0,
      objects: 0,
    });
  console.log(`  ${"all".padEnd(60)} ${variants.map(([, r]) => cell(all(r))).join(" ")}`);
  console.log(`  our frames (innermost frame of ours; Node core and V8 builtins charged to their caller):`);
  const keys = new Set(variants.flatMap(([, r]) => r.frames.slice(0, top).map((f) => f.key)));
  const rows = [...keys].map((key) => ({
    key,
    cells: variants.map(([, r]) => r.frames.find((f) => f.key === key)),
  }));
  rows.sort((a, b) => (b.cells[0]?.bytes ?? 0) - (a.cells[0]?.bytes ?? 0));
  for (const row of rows)
    console.log(`  ${row.key.slice(0, 60).padEnd(60)} ${row.cells.map(cell).join(" ")}`);
  for (const [name, r] of variants) {
    if (r.detail.length === 0) continue;
    console.log(`  ${name}: what the --detail frames allocated, by innermost frame:`);
    for (const d of r.detail.slice(0, top)) console.log(`    ${d.key.slice(0, 70).padEnd(70)} ${cell(d)}`);
  }
  console.log(
    `  chunks counted: ${variants.map(([, r]) => r.chunks).join(", ")}; finals out of the gate: ${variants.map(([, r]) => r.finals).join(", ")}`,
  );
}

async function main(): Promise<void> {
  const providers = (arg("provider") ?? "assemblyai").split(",") as Provider[];
  const sessions = Number(arg("sessions") ?? 20);
  const seconds = Number(arg("seconds") ?? 10);
  const interval = Number(arg("interval") ?? 16);
  const top = Number(arg("top") ?? 15);
  const baseline = arg("baseline");
  const detail = arg("detail");
  // A longer warm-up (--warmup-sessions 100 --warmup-seconds 30) lets the JIT optimise the per-chunk
  // code first: the counts then show the steady state of a long-running process.
  const warmup = {
    sessions: Number(arg("warmup-sessions") ?? Math.min(sessions, 10)),
    seconds: Number(arg("warmup-seconds") ?? seconds),
  };
  // --node-flags "--no-turbo-inlining": V8's sampling heap profiler names the outermost function of an
  // optimised frame, so what the JIT inlined into a function (ws's send into the session's pump) counts
  // as that function's; without inlining every allocation is charged to the function that made it.
  const nodeFlags = (arg("node-flags") ?? "").split(" ").filter((f) => f !== "");
  for (const provider of providers) {
    const emulator = await EmulatorProcess.start({ provider, fixtureSeconds: seconds });
    const base = { provider, url: emulator.url, sessions, seconds, interval, detail, warmup };
    const variants: Array<[string, Result]> = [];
    if (baseline)
      variants.push([
        "baseline",
        await forkMeasured<Result>(__filename, { ...base, root: resolve(baseline) }, nodeFlags),
      ]);
    variants.push(["this checkout", await forkMeasured<Result>(__filename, base, nodeFlags)]);
    await emulator.stop();
    print(provider, variants, top);
  }
}

if (process.argv[2] === "measure") serveMeasured(measure);
else void main();
