// The whole pipeline in a real Node-RED 4: how many live sessions one process carries, what it costs per
// session, and what it adds in latency, against each provider's SDK used directly by a minimal script,
// measured in the same run against the same emulator.
//   npm run bench:pipeline                               (both providers, about 10 minutes)
//   npm run bench:pipeline -- --provider aws --seconds 20 --sizes 1,10,100 --max-from 200 --max-step 50
//   npm run bench:pipeline -- --provider aws --transport websocket   (AWS over WebSocket: the node and the
//   session layer; the SDK script stays on HTTP/2, the SDK's only transport in Node)
//   npm run bench:profile   (= --sizes 100 --max-from 0 --no-fanout --profile bench-profiles: a CPU and an
//   allocation profile of each measured run at 100 sessions, both variants, summarised as top frames by
//   where the code lives; bench/profile.ts summarises saved profiles again)
// Flow: junction → audio-in → transcribe-medical | assemblyai-medical → filter-final → confidence-gate →
// junction. Every run is a fresh process (so RSS per session is that run's own): either Node-RED 4
// embedded with the flow (bench/support/node-red.ts), or the SDK script. Both get the same audio from
// the same feeder: every 100 ms each session gets its next 100 ms chunk (16 kHz s16le, a new Buffer per
// chunk) from a timer of its own, Node-RED through a junction's node.send(), as a websocket-in or tcp-in
// node hands on what it receives. Session starts are spread over the first 2 s, and so are the sessions'
// phases within the 100 ms: independent encounters do not send their chunks in the same millisecond. The emulator runs in a
// process of its own (its CPU does not count), in clock mode, so the finals come from the audio that
// actually arrived. Figures per run:
//   CPU s per session-minute of audio (process CPU, connection set-up and ending included);
//   RSS per session (peak during the run minus the process's RSS before the first session, / N);
//   chunk in → bytes at the emulator, and final out of the emulator → message out of the gate (or the
//   SDK's callback): p50 / p99 ms;
//   lag: how far a chunk reached the emulator behind its real-time schedule. A run is "real time" when
//   every session keeps 99 % of its chunks within 200 ms of schedule (a lone GC pause or a moment
//   without the CPU is a spike, not audio falling behind; the worst single chunk is printed too) and
//   every final the emulator produced arrived.
// Finally the largest N that stays real time through Node-RED (searched upwards from --max-from in steps
// of --max-step), with the SDK script at the same N; with --max-sdk also the SDK script's own largest N
// (the same search), for the ratio of sessions per process.
import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { monitorEventLoopDelay, PerformanceObserver } from "node:perf_hooks";
import { EmulatorProcess, EMULATOR_CREDENTIALS, ASSEMBLYAI_KEY } from "./support/emulator-process";
import type { Provider, StreamReport } from "./support/emulator-process";
import { EmbeddedNodeRed } from "./support/node-red";
import { edges, pipelineFlow } from "./support/pipeline-flow";
import {
  createTranscribeClient,
  createWebSocketTransport,
  type AwsTransport,
} from "../src/providers/aws/client";
import { medicalService } from "../src/providers/aws/service";
import { AwsStreamSession } from "../src/providers/aws/session";
import { realScheduler } from "../src/util/scheduler";
import { assemblyAiSdkSession, awsMedicalParams, awsSdkSession, type Runner } from "./support/sdk-sessions";
import {
  accountRun,
  argOf,
  feedRealTime,
  forkMeasured,
  LAG_LIMIT_MS,
  serveMeasured,
  STAGGER_MS,
  type FedRun,
} from "./support/realtime-runs";
import { cpuSecondsSince, epochMs, quantile, sleep } from "./support/stats";
import { CHUNK_MS, RATE, sessionChunk } from "./support/tagged-audio";
import { formatSummary, PhaseProfiler, summariseCpu, summariseHeap } from "./support/profile";
import { constants as perfConstants } from "node:perf_hooks";
import { mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

type Variant =
  | "sdk"
  | "node-red"
  | "node-red-fanout"
  | "node-red-direct"
  | "node-red-sync"
  | "node-red-baseline"
  | "sdk-beside-node-red"
  | "session-layer";

interface RunSpec {
  provider: Provider;
  variant: Variant;
  sessions: number;
  seconds: number;
  url: string;
  /** AWS: the transport of the node and the session layer, and its endpoint (`url` stays HTTP/2's). */
  transport: AwsTransport;
  wsUrl?: string;
  /** Write a CPU and an allocation profile of the measured phase to this directory (--profile). */
  profileDir?: string;
  /** Node/V8 flags for the measured process (--node-flags: the same flow, with the process run so). */
  nodeFlags?: string[];
}

/** What a measured process sends back. */
interface RunResult extends FedRun {
  cpuSeconds: number;
  /** Time spent in garbage collection (part of cpuSeconds). */
  gcSeconds: number;
  /** Event-loop delay over the run, p99 and max (ms): how long a chunk can wait for the thread. */
  loopDelayP99: number;
  loopDelayMax: number;
  rssBefore: number;
  rssPeak: number;
  errors: string[];
  /** Sessions that did not end within the wait after their last chunk. */
  unfinished: number;
  /** Garbage collections during the run: scavenges (minor) and the others. */
  gcMinor: number;
  gcMajor: number;
  /** With --profile: the profiles written. */
  profiles?: { cpu: string; heap: string };
}

// ---------------------------------------------------------------------------------------------------
// The measured process.

/** The sessions under test, one way or the other, and how results reach `onFinal`. */
interface Harness {
  sessions: Array<{ push(c: Buffer): void; end(): void }>;
  /** Resolves when every session has ended (or after `ms`); the number that did not. */
  settled(ms: number): Promise<number>;
  errors: string[];
  stop(): Promise<void>;
}

type OnFinal = (session: number, wordStartsMs: number[]) => void;

function baselineRoot(): string {
  const root = process.env.BENCH_BASELINE_ROOT;
  if (!root) throw new Error("the node-red-baseline variant needs BENCH_BASELINE_ROOT (a built checkout)");
  return root;
}

async function nodeRedHarness(spec: RunSpec, onFinal: OnFinal): Promise<Harness> {
  // "node-red-sync": Node-RED's runtimeSyncDelivery, every wire a direct call instead of a setImmediate.
  // "node-red-baseline": the package of another checkout (BENCH_BASELINE_ROOT), for before/after in one run.
  const nr = await EmbeddedNodeRed.start({
    syncDelivery: spec.variant === "node-red-sync",
    ...(spec.variant === "node-red-baseline" ? { packageRoot: baselineRoot() } : {}),
  });
  const flow = pipelineFlow({
    provider: spec.provider,
    endpoint: spec.url,
    audioTap: spec.variant === "node-red-fanout",
    withoutAudioIn: spec.variant === "node-red-direct",
  });
  if (spec.transport === "websocket") {
    for (const n of flow) {
      if (n.type === "aws-transcribe-config")
        Object.assign(n, { transport: "websocket", endpoint: spec.wsUrl });
    }
  }
  await nr.deploy(flow);
  const e = edges();
  const errors: string[] = [];
  const open = new Set<string>();
  let allEnded: () => void = () => undefined;
  nr.tap(e.out, (msg) => {
    const p = msg.payload as { words: Array<{ kind: string; startTime: number }> };
    const words = p.words.filter((w) => w.kind === "word").map((w) => Math.round(w.startTime * 1000));
    onFinal(Number(String(msg.topic).slice(1)), words);
  });
  nr.tap(e.events, (msg) => {
    const ev = (msg.payload as { event: string }).event;
    if (ev === "ended" || ev === "termination" || ev === "error") {
      open.delete(String(msg.topic));
      if (open.size === 0) allEnded();
    }
  });
  nr.tap(e.errors, (msg) => errors.push(String((msg as { error?: { message?: string } }).error?.message)));
  const sessions = Array.from({ length: spec.sessions }, (_, i) => {
    const topic = `s${i + 1}`;
    return {
      push: (c: Buffer): void => {
        open.add(topic);
        nr.send(e.src, { topic, payload: c });
      },
      end: (): void => nr.send(e.src, { topic, audio: { end: true } }),
    };
  });
  return {
    sessions,
    errors,
    settled: (ms) =>
      Promise.race([
        new Promise<number>((resolve) => {
          allEnded = () => resolve(0);
          if (open.size === 0) resolve(0);
        }),
        sleep(ms).then(() => open.size),
      ]),
    stop: () => nr.stop(),
  };
}

/** The node's session layer without Node-RED (AWS only): what bench/transcribe-medical.ts measures. */
function sessionHarness(spec: RunSpec, onFinal: OnFinal): Harness {
  if (spec.provider !== "aws") throw new Error("the session-layer variant is for AWS only");
  const settings = {
    region: "us-east-1",
    endpoint: spec.transport === "websocket" ? (spec.wsUrl ?? spec.url) : spec.url,
    credentials: EMULATOR_CREDENTIALS,
    transport: spec.transport,
    problems: [],
  };
  const client = createTranscribeClient(settings);
  const websocket = createWebSocketTransport(client, settings);
  const sessions = Array.from({ length: spec.sessions }, (_, i) => {
    const s = new AwsStreamSession({
      sessionId: `s${i + 1}`,
      service: medicalService(client, awsMedicalParams(RATE), websocket),
      scheduler: realScheduler,
      handlers: {
        result: (r) => {
          if (r.isFinal)
            onFinal(
              i + 1,
              r.words.filter((w) => w.kind === "word").map((w) => Math.round(w.startTime * 1000)),
            );
        },
        event: () => undefined,
      },
    });
    return s;
  });
  return {
    sessions: sessions.map((s) => ({ push: (c) => void s.push(c), end: () => void s.end() })),
    errors: [],
    settled: async (ms) => {
      await Promise.race([Promise.all(sessions.map((s) => s.done)), sleep(ms)]);
      return sessions.filter((s) => s.state !== "ended").length;
    },
    stop: () => Promise.resolve(client.destroy()),
  };
}

function sdkHarness(spec: RunSpec, onFinal: OnFinal): Harness {
  const errors: string[] = [];
  const client =
    spec.provider === "aws"
      ? new TranscribeStreamingClient({
          region: "us-east-1",
          endpoint: spec.url,
          credentials: EMULATOR_CREDENTIALS,
        })
      : undefined;
  const runners: Runner[] = Array.from({ length: spec.sessions }, (_, i) => {
    const session = i + 1;
    if (client) {
      return awsSdkSession(client, RATE, (r) => {
        if (r.IsPartial) return;
        const items = r.Alternatives?.[0]?.Items ?? [];
        onFinal(
          session,
          items.filter((w) => w.Type === "pronunciation").map((w) => Math.round((w.StartTime ?? 0) * 1000)),
        );
      });
    }
    return assemblyAiSdkSession(
      spec.url,
      ASSEMBLYAI_KEY,
      (turn) => {
        if (turn.end_of_turn)
          onFinal(
            session,
            turn.words.map((w) => w.start),
          );
      },
      (err) => errors.push(err.message),
    );
  });
  const endings: Array<Promise<void>> = [];
  return {
    sessions: runners.map((r) => ({
      push: (c) => r.push(c),
      end: () => void endings.push(r.end().catch((err: Error) => void errors.push(err.message))),
    })),
    errors,
    settled: async (ms) => {
      let left = endings.length;
      const all = Promise.all(endings.map((p) => p.then(() => void left--)));
      await Promise.race([all, sleep(ms)]);
      return left + (spec.sessions - endings.length);
    },
    stop: () => Promise.resolve(client?.destroy()),
  };
}

async function measure(spec: RunSpec): Promise<RunResult> {
  const chunks = (spec.seconds * 1000) / CHUNK_MS;
  for (let seq = 0; seq < chunks; seq++) sessionChunk(1, seq); // the clock templates, made up front
  const delivered: RunResult["delivered"] = [];
  const onFinal: OnFinal = (session, words) => {
    if (words.length > 0) delivered.push([session, words[0], words[words.length - 1], epochMs()]);
  };
  // "sdk-beside-node-red": the SDK script in a process where an idle Node-RED runs too.
  const idle = spec.variant === "sdk-beside-node-red" ? await EmbeddedNodeRed.start() : undefined;
  const h = spec.variant.startsWith("sdk")
    ? sdkHarness(spec, onFinal)
    : spec.variant === "session-layer"
      ? sessionHarness(spec, onFinal)
      : await nodeRedHarness(spec, onFinal);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  let gcMs = 0;
  let gcMinor = 0;
  let gcMajor = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gcMinor++;
      else gcMajor++;
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const profiler = spec.profileDir ? new PhaseProfiler() : undefined;
  await profiler?.start();
  const cpu0 = process.cpuUsage();
  const pushedAt = Array.from({ length: spec.sessions }, () => new Array<number>(chunks).fill(0));
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), CHUNK_MS);
  const t0 = await feedRealTime(h.sessions, chunks, pushedAt);
  clearInterval(sampler);
  const unfinished = await h.settled(30_000);
  const cpuSeconds = cpuSecondsSince(cpu0);
  const profiles = spec.profileDir
    ? await profiler?.stop(spec.profileDir, `${spec.provider}-${spec.variant}-${spec.sessions}`)
    : undefined;
  loopDelay.disable();
  gcObserver.disconnect();
  await h.stop();
  await idle?.stop();
  return {
    cpuSeconds,
    gcSeconds: gcMs / 1000,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
    loopDelayMax: loopDelay.max / 1e6,
    rssBefore,
    rssPeak,
    t0,
    pushedAt,
    delivered,
    errors: h.errors.slice(0, 5),
    unfinished,
    gcMinor,
    gcMajor,
    ...(profiles ? { profiles } : {}),
  };
}

// ---------------------------------------------------------------------------------------------------
// The orchestrating process.

interface Figures {
  n: number;
  cpuPerSessionMinute: number;
  rssMbPerSession: number;
  inP50: number;
  inP99: number;
  outP50: number;
  outP99: number;
  /** Worst chunk lag of the run (ms). */
  lagMax: number;
  /** The worst session's 99th-percentile lag (ms): what decides "real time". */
  lagP99: number;
  produced: number;
  delivered: number;
  realTime: boolean;
  notes: string[];
}

function runOnce(spec: RunSpec): Promise<RunResult> {
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of every measured process there.
  const dir = process.env.BENCH_CPU_PROF;
  return forkMeasured<RunResult>(__filename, spec, [
    ...(dir ? ["--cpu-prof", `--cpu-prof-dir=${dir}`] : []),
    ...(spec.nodeFlags ?? []),
  ]);
}

/** Audio chunks a run hands on, all sessions together. */
const chunkCount = (spec: RunSpec): number => (spec.sessions * spec.seconds * 1000) / CHUNK_MS;

/** Prints the top frames of a run's profiles, with the bytes allocated per audio chunk. */
function printProfiles(spec: RunSpec, profiles: { cpu: string; heap: string }): void {
  const cpu = summariseCpu(
    JSON.parse(readFileSync(profiles.cpu, "utf8")) as Parameters<typeof summariseCpu>[0],
  );
  const heap = summariseHeap(
    JSON.parse(readFileSync(profiles.heap, "utf8")) as Parameters<typeof summariseHeap>[0],
  );
  const title = `${spec.provider} ${spec.variant} N=${spec.sessions}`;
  console.log(
    `\n${formatSummary(`${title}: CPU`, cpu, `${(cpu.amount / 1000).toFixed(1)} s of non-idle samples (wall time); ${profiles.cpu}`)}`,
  );
  console.log(
    `${formatSummary(`${title}: allocations`, heap, `${(heap.amount / chunkCount(spec) / 1024).toFixed(1)} KiB allocated per audio chunk; ${profiles.heap}`)}\n`,
  );
}

function figures(spec: RunSpec, r: RunResult, streams: StreamReport[]): Figures {
  const { inLat, outLat, lagMax, lagP99, produced } = accountRun(r, streams);
  const notes = [
    ...r.errors,
    `gc ${((r.gcSeconds / r.cpuSeconds) * 100).toFixed(0)}% of cpu`,
    `loop delay p99 ${r.loopDelayP99.toFixed(1)} max ${r.loopDelayMax.toFixed(0)} ms`,
    `GCs per 1000 chunks ${(((r.gcMinor + r.gcMajor) * 1000) / chunkCount(spec)).toFixed(1)} (${r.gcMajor} not scavenges)`,
  ];
  if (r.unfinished > 0) notes.push(`${r.unfinished} sessions did not end`);
  const minutes = (spec.sessions * spec.seconds) / 60;
  return {
    n: spec.sessions,
    cpuPerSessionMinute: r.cpuSeconds / minutes,
    rssMbPerSession: Math.max(0, r.rssPeak - r.rssBefore) / 2 ** 20 / spec.sessions,
    inP50: quantile(inLat, 0.5),
    inP99: quantile(inLat, 0.99),
    outP50: quantile(outLat, 0.5),
    outP99: quantile(outLat, 0.99),
    lagMax,
    lagP99,
    produced,
    delivered: outLat.length,
    realTime: lagP99 <= LAG_LIMIT_MS && outLat.length === produced && r.unfinished === 0,
    notes,
  };
}

async function run(
  emu: EmulatorProcess,
  spec: Omit<RunSpec, "url" | "transport" | "wsUrl">,
): Promise<Figures> {
  const full: RunSpec = {
    ...spec,
    url: emu.url,
    transport: TRANSPORT,
    ...(emu.wsUrl !== undefined ? { wsUrl: emu.wsUrl } : {}),
    ...(PROFILE_DIR !== undefined ? { profileDir: PROFILE_DIR } : {}),
  };
  const before = (await emu.report(true)).cpuSeconds;
  const result = await runOnce(full);
  const { streams, cpuSeconds } = await emu.report(true);
  const f = figures(full, result, streams);
  if (result.profiles) printProfiles(full, result.profiles);
  f.notes.unshift(`emulator ${(((cpuSeconds - before) / spec.seconds) * 100).toFixed(0)}% of a core`);
  return f;
}

const f1 = (x: number, w = 7): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "-").padStart(w);

function printRow(label: string, name: string, x: Figures): void {
  console.log(
    `${label.padEnd(10)} ${String(x.n).padStart(5)}  ${name.padEnd(16)} ${f1(x.cpuPerSessionMinute)} ${f1(x.rssMbPerSession)}  ${f1(x.inP50)} /${f1(x.inP99)}  ${f1(x.outP50)} /${f1(x.outP99)}  ${f1(x.lagP99)} ${f1(x.lagMax)}  ${String(x.delivered).padStart(5)}/${String(x.produced).padEnd(5)} ${x.realTime ? "yes" : "NO "} ${x.notes.join("; ").slice(0, 200)}`,
  );
}

function printPair(label: string, base: Figures, node: Figures): void {
  printRow(label, "SDK script", base);
  printRow(label, "Node-RED", node);
  console.log(
    `${"".padEnd(10)} ${"".padStart(5)}  ${"ratio".padEnd(16)} ${f1(node.cpuPerSessionMinute / base.cpuPerSessionMinute)}x${f1(node.rssMbPerSession / base.rssMbPerSession)}x ${f1(node.inP50 / base.inP50)}x/${f1(node.inP99 / base.inP99)}x ${f1(node.outP50 / base.outP50)}x/${f1(node.outP99 / base.outP99)}x`,
  );
}

interface Options {
  providers: Provider[];
  seconds: number;
  sizes: number[];
  maxFrom: number;
  maxStep: number;
  /** --max-sdk: search the SDK script's own largest real-time N too. */
  maxSdk: boolean;
  fanout: boolean;
  /** Further variants to run at every size, for finding where the cost is. */
  extra: Variant[];
  /** --node-flags "A;B": the Node-RED variant again with each set of Node/V8 flags (space-separated). */
  nodeFlags: string[][];
  transport: AwsTransport;
  /** --profile <dir>: a CPU and an allocation profile of every measured run, summarised as it ends. */
  profile: string | undefined;
}

function options(argv: string[]): Options {
  const get = argOf(argv);
  const provider = get("provider");
  return {
    providers: provider ? [provider as Provider] : ["aws", "assemblyai"],
    seconds: Number(get("seconds") ?? 20),
    sizes: (get("sizes") ?? "1,10,100").split(",").map(Number),
    maxFrom: Number(get("max-from") ?? 200),
    maxStep: Number(get("max-step") ?? 50),
    maxSdk: argv.includes("--max-sdk"),
    fanout: !argv.includes("--no-fanout"),
    extra: (get("variants") ?? "").split(",").filter((v): v is Variant => v !== ""),
    nodeFlags: (get("node-flags") ?? "")
      .split(";")
      .map((f) => f.split(" ").filter((a) => a !== ""))
      .filter((f) => f.length > 0),
    transport: get("transport") === "websocket" ? "websocket" : "http2",
    profile: get("profile"),
  };
}

/**
 * The largest N (a multiple of --max-step) at which Node-RED stays real time: upwards from --max-from
 * while it holds, downwards while it does not.
 */
async function searchMax(
  emu: EmulatorProcess,
  o: Options,
  spec: (n: number) => Omit<RunSpec, "url" | "transport" | "wsUrl">,
  provider: Provider,
  label = "search",
): Promise<Figures | undefined> {
  let best: Figures | undefined;
  let failedAt = Infinity;
  for (let n = o.maxFrom; n > 0 && n < failedAt;) {
    const node = await run(emu, spec(n));
    console.log(
      `${provider.padEnd(10)} ${String(n).padStart(5)}  ${label.padEnd(16)} worst session's p99 lag ${f1(node.lagP99)} ms (max ${f1(node.lagMax)}), finals ${node.delivered}/${node.produced}: ${node.realTime ? "real time" : "NOT real time"} ${node.notes.join("; ").slice(0, 200)}`,
    );
    if (node.realTime) {
      best = node;
      n += o.maxStep;
    } else {
      failedAt = n;
      if (best) break;
      n -= o.maxStep;
    }
  }
  return best;
}

async function benchProvider(provider: Provider, o: Options): Promise<void> {
  const emu = await EmulatorProcess.start({
    provider,
    fixtureSeconds: o.seconds + 5,
    tls: provider === "assemblyai",
  });
  const spec = (variant: Variant, sessions: number): Omit<RunSpec, "url" | "transport" | "wsUrl"> => ({
    provider,
    variant,
    sessions,
    seconds: o.seconds,
  });
  // Warm-up runs load the modules and settle the emulator; their figures are not kept (nor profiled).
  const profileDir = PROFILE_DIR;
  PROFILE_DIR = undefined;
  await run(emu, spec("sdk", 2));
  await run(emu, spec("node-red", 2));
  PROFILE_DIR = profileDir;
  for (const n of o.sizes) {
    printPair(provider, await run(emu, spec("sdk", n)), await run(emu, spec("node-red", n)));
    for (const v of o.extra) printRow(provider, v, await run(emu, spec(v, n)));
    for (const flags of o.nodeFlags) {
      printRow(provider, flags.join(" "), await run(emu, { ...spec("node-red", n), nodeFlags: flags }));
    }
  }
  if (o.fanout) {
    // The same flow with audio-in's output wired to a second node: Node-RED deep-copies every chunk for it.
    const n = o.sizes.includes(100) ? 100 : (o.sizes.at(-1) ?? 10);
    printRow(provider, "fan-out", await run(emu, spec("node-red-fanout", n)));
  }
  const best = await searchMax(emu, o, (n) => spec("node-red", n), provider);
  if (best) printPair(`${provider} max`, await run(emu, spec("sdk", best.n)), best);
  else if (o.maxFrom > 0) console.log(`${provider}: not real time at ${o.maxStep} sessions`);
  if (o.maxSdk && o.maxFrom > 0) {
    const sdk = await searchMax(emu, o, (n) => spec("sdk", n), provider, "search sdk");
    console.log(
      `${provider}: largest real-time N, SDK script ${sdk?.n ?? `< ${o.maxStep}`}, Node-RED ${best?.n ?? `< ${o.maxStep}`}` +
        (sdk && best ? ` (${(best.n / sdk.n).toFixed(2)}x)` : ""),
    );
  }
  await emu.stop();
}

/** The AWS transport of this bench run (--transport). */
let TRANSPORT: AwsTransport = "http2";
/** Where the measured runs write their profiles (--profile), if anywhere. */
let PROFILE_DIR: string | undefined;

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  TRANSPORT = o.transport;
  if (o.profile !== undefined) {
    PROFILE_DIR = resolve(o.profile);
    mkdirSync(PROFILE_DIR, { recursive: true });
  }
  console.log(`AWS transport of the node and the session layer: ${TRANSPORT}`);
  console.log(
    `${o.seconds} s of real-time 16 kHz audio per session in 100 ms chunks, starts spread over ${STAGGER_MS} ms, each session on its own 100 ms phase; ` +
      `latencies p50 / p99 ms; "real time": every session's p99 lag within ${LAG_LIMIT_MS} ms and every final delivered`,
  );
  console.log(
    "provider       N  variant          cpu s/    RSS MB/   chunk→emulator     final→out (gate)   lag ms         finals  real",
  );
  console.log(
    "                                  sess-min  session  p50     p99        p50     p99        p99     max    out/made  time",
  );
  for (const provider of o.providers) await benchProvider(provider, o);
}

if (process.argv[2] === "measure") serveMeasured(measure);
else void main();
