// Does a process that runs Node-RED make the same work cost more per call? (issue #23)
//   npx tsx bench/process-cost.ts                  (about 2 minutes)
//   npx tsx bench/process-cost.ts --repeat 5 --n 20000
// Runs one fixed set of micro-workloads, each the kind of call the pipeline makes per audio chunk
// (resolved promises, setImmediate hops, 3.2 KB writes to a loopback TCP and TLS socket read by another
// process, SigV4-style HMAC-SHA256 signing, Buffer allocation, an Error's stack), in fresh processes that
// differ only in what else they hold:
//   bare        the bench alone (forked with tsx's CommonJS hook and --expose-gc, as bench:pipeline forks);
//   nr-loaded   require("node-red") too, as every bench:pipeline process does (the SDK script's included);
//   nr-started  an embedded Node-RED 4 started, empty flow (what "sdk-beside-node-red" adds to the SDK);
//   nr-flows    the bench:pipeline flows of both providers deployed and idle (every node of the package
//               loaded, the AWS client made);
//   no-maps     bare, with source maps turned off again (tsx turns them on for every process it hooks).
// Prints the CPU (user + system) per call of each workload in each variant, the median of --repeat runs
// (variants in turn, the order rotating), and each variant's ratio to bare; and per variant whether any
// async hook, AsyncLocalStorage or diagnostics-channel subscriber exists (the cheap suspects: any of
// them makes every promise, callback and socket write cost more).
import { probeHooks, type HookProbe } from "./support/hook-probe";
import type * as NodeRedSupport from "./support/node-red";
import type * as FlowSupport from "./support/pipeline-flow";
import { createHmac } from "node:crypto";
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect as netConnect, createServer as createNetServer, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { forkMeasured, serveMeasured, argOf } from "./support/realtime-runs";
import { TLS_CERT } from "./support/emulator-process";

type Variant = "bare" | "nr-loaded" | "nr-started" | "nr-flows" | "no-maps";
const VARIANTS: Variant[] = ["bare", "nr-loaded", "nr-started", "nr-flows", "no-maps"];
const WORKLOADS = ["promise", "immediate", "tcp-write", "tls-write", "hmac", "alloc", "error-stack"] as const;
type Workload = (typeof WORKLOADS)[number];

interface Spec {
  variant: Variant;
  n: number;
  tcpPort: number;
  tlsPort: number;
}

interface Result {
  /** µs of CPU per call, by workload. */
  perCall: Record<Workload, number>;
  hooks: HookProbe;
  heapUsedMb: number;
}

const CHUNK = 3200;
const load = <T>(id: string): T => createRequire(__filename)(id) as T;
type NodeRedModule = typeof NodeRedSupport;
type FlowModule = typeof FlowSupport;

/** CPU µs (user + system) that `fn` takes, per call. */
async function cpuPerCall(n: number, fn: (n: number) => Promise<void> | void): Promise<number> {
  global.gc?.();
  const t = process.cpuUsage();
  await fn(n);
  const d = process.cpuUsage(t);
  return (d.user + d.system) / n;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** `n` writes of a new 3.2 KB Buffer, one per turn of the event loop (as a chunk is written). */
async function writes(socket: Socket, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (!socket.write(Buffer.alloc(CHUNK, i & 0xff))) await new Promise((r) => socket.once("drain", r));
    await nextTurn();
  }
}

async function measure(spec: Spec): Promise<Result> {
  const stops: Array<() => Promise<void>> = [];
  if (spec.variant === "no-maps") process.setSourceMapsEnabled(false);
  if (spec.variant.startsWith("nr-")) {
    // Loaded here, not at the top: "bare" must not hold Node-RED's modules.
    // (require, not import(): under tsx's CommonJS hook import() goes to Node's ESM loader, without .ts.)
    const { EmbeddedNodeRed } = load<NodeRedModule>("./support/node-red");
    if (spec.variant !== "nr-loaded") {
      const nr = await EmbeddedNodeRed.start();
      stops.push(() => nr.stop());
      if (spec.variant === "nr-flows") {
        const { pipelineFlow } = load<FlowModule>("./support/pipeline-flow");
        await nr.deploy([
          ...pipelineFlow({ provider: "aws", endpoint: "http://127.0.0.1:9", prefix: "a-" }),
          ...pipelineFlow({ provider: "assemblyai", endpoint: "wss://127.0.0.1:9", prefix: "b-" }),
        ]);
      }
    }
  }
  const tcp = netConnect({ host: "127.0.0.1", port: spec.tcpPort });
  tcp.setNoDelay(true);
  const tls = tlsConnect({ host: "127.0.0.1", port: spec.tlsPort, ca: readFileSync(TLS_CERT) });
  tls.setNoDelay(true);
  await Promise.all([
    new Promise((r) => tcp.once("connect", r)),
    new Promise((r) => tls.once("secureConnect", r)),
  ]);
  const key = Buffer.alloc(32, 7);
  const payload = Buffer.alloc(CHUNK, 3);
  const runs: Record<Workload, (n: number) => Promise<void> | void> = {
    promise: async (n) => {
      for (let i = 0; i < n; i++) await Promise.resolve(i);
    },
    immediate: async (n) => {
      for (let i = 0; i < n; i++) await nextTurn();
    },
    "tcp-write": (n) => writes(tcp, n),
    "tls-write": (n) => writes(tls, n),
    hmac: (n) => {
      for (let i = 0; i < n; i++) createHmac("sha256", key).update(payload).digest();
    },
    alloc: (n) => {
      let keep: unknown[] = [];
      for (let i = 0; i < n; i++) {
        keep.push({ seq: i, payload: Buffer.alloc(CHUNK), words: [{ text: "x", start: i }] });
        if (keep.length === 100) keep = [];
      }
    },
    "error-stack": (n) => {
      for (let i = 0; i < n; i++) void new Error("x").stack;
    },
  };
  const perCall = {} as Record<Workload, number>;
  // A first pass warms the JIT; the second is measured.
  for (const w of WORKLOADS) await cpuPerCall(Math.ceil(spec.n / 10), runs[w]);
  for (const w of WORKLOADS)
    perCall[w] = await cpuPerCall(w === "error-stack" ? spec.n / 10 : spec.n, runs[w]);
  tcp.destroy();
  tls.destroy();
  const hooks = await probeHooks();
  const heapUsedMb = process.memoryUsage().heapUsed / 2 ** 20;
  for (const stop of stops) await stop();
  return { perCall, hooks, heapUsedMb };
}

// ---------------------------------------------------------------------------------------------------
// The orchestrating process: a sink process that reads and drops, then the variants in turn.

async function startSink(): Promise<{ tcpPort: number; tlsPort: number; stop(): void }> {
  const child = fork(__filename, ["sink"], { execArgv: ["--require", "tsx/cjs"] });
  const ports = await new Promise<{ tcpPort: number; tlsPort: number }>((resolve) =>
    child.once("message", (m) => resolve(m as { tcpPort: number; tlsPort: number })),
  );
  return { ...ports, stop: () => void child.kill() };
}

function serveSink(): void {
  const drop = (s: Socket): void => void s.on("data", () => undefined).on("error", () => undefined);
  const dir = join(__dirname, "../test/fixtures/tls");
  const tcp = createNetServer(drop).listen(0, "127.0.0.1");
  const tls = createTlsServer(
    { key: readFileSync(join(dir, "receiver-key.pem")), cert: readFileSync(join(dir, "receiver-cert.pem")) },
    drop,
  ).listen(0, "127.0.0.1");
  const portOf = (s: { address(): unknown }): number => (s.address() as { port: number }).port;
  let listening = 0;
  const ready = (): void => {
    if (++listening === 2) process.send?.({ tcpPort: portOf(tcp), tlsPort: portOf(tls) });
  };
  tcp.once("listening", ready);
  tls.once("listening", ready);
  process.on("disconnect", () => process.exit(0));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const get = argOf(process.argv.slice(2));
  const repeat = Number(get("repeat") ?? 3);
  const n = Number(get("n") ?? 20_000);
  const sink = await startSink();
  const results = new Map<Variant, Result[]>(VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < repeat; r++) {
    for (let i = 0; i < VARIANTS.length; i++) {
      const variant = VARIANTS[(i + r) % VARIANTS.length];
      const spec: Spec = { variant, n, tcpPort: sink.tcpPort, tlsPort: sink.tlsPort };
      results.get(variant)?.push(await forkMeasured<Result>(__filename, spec));
    }
  }
  sink.stop();
  const bare = results.get("bare") ?? [];
  const base = (w: Workload): number => median(bare.map((x) => x.perCall[w]));
  console.log(`µs of CPU per call, median of ${repeat} fresh processes per variant (× bare)`);
  console.log(`${"variant".padEnd(11)} ${WORKLOADS.map((w) => w.padStart(17)).join("")}  heap MiB  hooks`);
  for (const [variant, rs] of results) {
    const cells = WORKLOADS.map((w) => {
      const m = median(rs.map((x) => x.perCall[w]));
      return `${m.toFixed(2)} (${(m / base(w)).toFixed(2)}x)`.padStart(17);
    });
    const h = rs[0]?.hooks;
    const hooks = h
      ? `async hooks ${h.asyncHooks}, promises tracked ${h.promisesTracked}, ALS ${h.storages}, channels ${h.channels.join(",") || "none"}, source maps ${h.sourceMaps}`
      : "";
    console.log(
      `${variant.padEnd(11)} ${cells.join("")}  ${median(rs.map((x) => x.heapUsedMb))
        .toFixed(0)
        .padStart(8)}  ${hooks}`,
    );
  }
}

if (process.argv[2] === "measure") serveMeasured(measure);
else if (process.argv[2] === "sink") serveSink();
else void main();
