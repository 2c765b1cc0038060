// Issue #23: provider I/O in worker threads, against the in-thread design and the provider's client used
// directly, measured in the same run against the same emulator (in a process of its own).
//   npm run bench:workers                        (both providers, 30–40 minutes)
//   npm run bench:workers -- --provider aws --seconds 20 --sizes 50,100 --repeat 3 --from 25 --rounds 2 --no-max
// 20 s sessions (the default, as bench/pipeline.ts): with 200 chunks a session's nearest-rank p99 lag is
// its second-worst chunk; with 10 s (100 chunks) it is its worst, often the first, which waits for the
// connection.
// Variants, each run in a fresh measured process (forked with `--require tsx/cjs`, which its worker
// threads inherit):
//   sdk      the provider's SDK used directly by a minimal script, one thread (bench/support/sdk-sessions);
//   inline   the package's session layer (bench/support/layer-sessions: src/providers/aws/session.ts or
//            src/providers/assemblyai/session.ts), in the measuring thread, as the nodes run today;
//   pool-K   the same session layer in K worker threads behind bench/support/session-pool.ts: audio
//            handed over as transferred ArrayBuffers, finals back as plain arrays, batched per turn.
// Every session gets its next 100 ms chunk (16 kHz s16le, a new Buffer) from a timer of its own, on its
// own phase, starts spread over 2 s (as bench/pipeline.ts feeds). Figures per run: CPU s per session-minute
// (the whole process, every thread); the main thread's event-loop delay p99 / max (monitorEventLoopDelay:
// what other flows in the process feel) and its utilisation; chunk in → bytes at the emulator and final
// out of the emulator → final in the main thread, p50 / p99 ms; real time as bench/pipeline.ts: every
// session's p99 lag within 200 ms of schedule and every final delivered. Sizes are run with the variants
// in turn, the order rotating between repeats; then each variant's largest real-time N is searched in the
// same run (see searchMaxima).
import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { ASSEMBLYAI_KEY, EMULATOR_CREDENTIALS, EmulatorProcess } from "./support/emulator-process";
import type { Provider, StreamReport } from "./support/emulator-process";
import { layerFactory, type LayerSession, type LayerTarget, type OnFinal } from "./support/layer-sessions";
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
import { assemblyAiSdkSession, awsSdkSession } from "./support/sdk-sessions";
import { SessionPool } from "./support/session-pool";
import { cpuSecondsSince, epochMs, quantile, sleep } from "./support/stats";
import { CHUNK_MS, RATE, sessionChunk } from "./support/tagged-audio";

type Variant = "sdk" | "inline" | "pool-1" | "pool-2";
const VARIANTS: readonly Variant[] = ["sdk", "inline", "pool-1", "pool-2"];

interface RunSpec extends LayerTarget {
  variant: Variant;
  sessions: number;
  seconds: number;
}

interface RunResult extends FedRun {
  cpuSeconds: number;
  loopDelayP99: number;
  loopDelayMax: number;
  /** Share of the run the main thread's event loop was busy (0–1). */
  mainBusy: number;
  errors: string[];
  unfinished: number;
}

// ---------------------------------------------------------------------------------------------------
// The measured process.

interface Harness {
  /** Resolves when the sessions can start (a pool's workers have loaded their modules). */
  ready: Promise<void>;
  open(session: number): LayerSession;
  errors: string[];
  close(): Promise<void>;
}

function harness(spec: RunSpec, onFinal: OnFinal): Harness {
  if (spec.variant === "pool-1" || spec.variant === "pool-2") {
    const pool = new SessionPool(spec, Number(spec.variant.slice(5)), onFinal);
    return { ready: pool.ready, open: (n) => pool.open(n), errors: pool.errors, close: () => pool.close() };
  }
  if (spec.variant === "inline") {
    const factory = layerFactory(spec);
    return {
      ready: Promise.resolve(),
      open: (n) => factory.open(n, onFinal),
      errors: [],
      close: () => Promise.resolve(factory.close()),
    };
  }
  const errors: string[] = [];
  if (spec.provider === "aws") {
    const client = new TranscribeStreamingClient({
      region: "us-east-1",
      endpoint: spec.url,
      credentials: EMULATOR_CREDENTIALS,
    });
    return {
      ready: Promise.resolve(),
      open: (n) =>
        awsSdkSession(client, RATE, (r) => {
          if (r.IsPartial) return;
          const items = r.Alternatives?.[0]?.Items ?? [];
          const words = items.filter((w) => w.Type === "pronunciation");
          onFinal(
            n,
            words.map((w) => Math.round((w.StartTime ?? 0) * 1000)),
          );
        }),
      errors,
      close: () => Promise.resolve(client.destroy()),
    };
  }
  return {
    ready: Promise.resolve(),
    open: (n) =>
      assemblyAiSdkSession(
        spec.url,
        ASSEMBLYAI_KEY,
        (turn) => {
          if (turn.end_of_turn)
            onFinal(
              n,
              turn.words.map((w) => w.start),
            );
        },
        (err) => errors.push(err.message),
      ),
    errors,
    close: () => Promise.resolve(),
  };
}

async function measure(spec: RunSpec): Promise<RunResult> {
  const chunks = (spec.seconds * 1000) / CHUNK_MS;
  for (let seq = 0; seq < chunks; seq++) sessionChunk(1, seq);
  const delivered: RunResult["delivered"] = [];
  const h = harness(spec, (session, words) => {
    if (words.length > 0) delivered.push([session, words[0], words[words.length - 1], epochMs()]);
  });
  await h.ready;
  global.gc?.();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const pushedAt = Array.from({ length: spec.sessions }, () => new Array<number>(chunks).fill(0));
  const endings: Array<Promise<void>> = [];
  const sessions = pushedAt.map((_, i) => {
    const s = h.open(i + 1);
    return {
      push: (c: Buffer) => s.push(c),
      end: () => void endings.push(s.end().catch((err: Error) => void h.errors.push(err.message))),
    };
  });
  const t0 = await feedRealTime(sessions, chunks, pushedAt);
  let left = endings.length;
  await Promise.race([Promise.all(endings.map((p) => p.then(() => void left--))), sleep(30_000)]);
  const cpuSeconds = cpuSecondsSince(cpu0);
  const mainBusy = performance.eventLoopUtilization(elu0).utilization;
  loopDelay.disable();
  await h.close();
  return {
    cpuSeconds,
    loopDelayP99: loopDelay.percentile(99) / 1e6,
    loopDelayMax: loopDelay.max / 1e6,
    mainBusy,
    t0,
    pushedAt,
    delivered,
    errors: h.errors.slice(0, 3),
    unfinished: left,
  };
}

// ---------------------------------------------------------------------------------------------------
// The orchestrating process.

interface Figures {
  variant: Variant;
  n: number;
  cpuPerSessionMinute: number;
  inP50: number;
  inP99: number;
  outP50: number;
  outP99: number;
  loopP99: number;
  loopMax: number;
  mainBusy: number;
  lagP99: number;
  produced: number;
  delivered: number;
  realTime: boolean;
  notes: string[];
}

function figures(spec: RunSpec, r: RunResult, streams: StreamReport[], emuCpu: number): Figures {
  const a = accountRun(r, streams);
  const notes = [`emulator ${((emuCpu / spec.seconds) * 100).toFixed(0)}% of a core`, ...r.errors];
  if (r.unfinished > 0) notes.push(`${r.unfinished} sessions did not end`);
  return {
    variant: spec.variant,
    n: spec.sessions,
    cpuPerSessionMinute: r.cpuSeconds / ((spec.sessions * spec.seconds) / 60),
    inP50: quantile(a.inLat, 0.5),
    inP99: quantile(a.inLat, 0.99),
    outP50: quantile(a.outLat, 0.5),
    outP99: quantile(a.outLat, 0.99),
    loopP99: r.loopDelayP99,
    loopMax: r.loopDelayMax,
    mainBusy: r.mainBusy,
    lagP99: a.lagP99,
    produced: a.produced,
    delivered: a.outLat.length,
    realTime: a.lagP99 <= LAG_LIMIT_MS && a.outLat.length === a.produced && r.unfinished === 0,
    notes,
  };
}

async function run(emu: EmulatorProcess, spec: Omit<RunSpec, "url">): Promise<Figures> {
  const full: RunSpec = { ...spec, url: emu.url };
  const before = (await emu.report(true)).cpuSeconds;
  const result = await forkMeasured<RunResult>(__filename, full);
  const { streams, cpuSeconds } = await emu.report(true);
  return figures(full, result, streams, cpuSeconds - before);
}

const f = (x: number, w = 7): string => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : "-").padStart(w);

function printRow(provider: Provider, label: string, x: Figures): void {
  console.log(
    `${provider.padEnd(10)} ${label.padEnd(7)} ${String(x.n).padStart(4)}  ${x.variant.padEnd(7)} ${f(x.cpuPerSessionMinute)}  ${f(x.inP50)} /${f(x.inP99)}  ${f(x.outP50)} /${f(x.outP99)}  ${f(x.loopP99)} /${f(x.loopMax)}  ${f(x.mainBusy * 100, 5)}%  ${f(x.lagP99)}  ${String(x.delivered).padStart(5)}/${String(x.produced).padEnd(5)} ${x.realTime ? "yes" : "NO "} ${x.notes.join("; ").slice(0, 160)}`,
  );
}

interface Options {
  providers: Provider[];
  seconds: number;
  sizes: number[];
  repeat: number;
  /** Where the search for the largest real-time N starts (doubling from there), per provider. */
  from: Map<Provider, number>;
  /** Bisection rounds between the last N that held and the first that did not. */
  rounds: number;
  max: boolean;
  variants: Variant[];
}

function options(argv: string[]): Options {
  const get = argOf(argv);
  const provider = get("provider");
  const providers: Provider[] =
    provider === "aws" || provider === "assemblyai" ? [provider] : ["aws", "assemblyai"];
  const from = new Map<Provider, number>([
    ["aws", 25],
    ["assemblyai", 50],
  ]);
  const fromArg = get("from");
  if (fromArg !== undefined) for (const p of providers) from.set(p, Number(fromArg));
  const wanted = (get("variants") ?? VARIANTS.join(",")).split(",");
  return {
    providers,
    seconds: Number(get("seconds") ?? 20),
    sizes: (get("sizes") ?? "100").split(",").map(Number),
    repeat: Number(get("repeat") ?? 2),
    from,
    rounds: Number(get("rounds") ?? 2),
    max: !argv.includes("--no-max"),
    variants: VARIANTS.filter((v) => wanted.includes(v)),
  };
}

/** The variants in turn, starting one further each time, so none always runs first or last. */
const rotated = <T>(xs: readonly T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length]);

const median = (xs: number[]): number => quantile(xs, 0.5);

/**
 * The largest real-time N of every variant, in one run: N doubles from --from while any variant holds
 * (the variants in turn at each N); then --rounds rounds of bisection, each variant between its last N
 * that held and its first that did not (to a resolution of --from / 2), again in turn.
 */
async function searchMaxima(
  o: Options,
  provider: Provider,
  runAt: (v: Variant, n: number) => Promise<Figures>,
  turn: number,
): Promise<void> {
  const from = o.from.get(provider) ?? 50;
  const held = new Map<Variant, number>(o.variants.map((v) => [v, 0]));
  const failed = new Map<Variant, number>();
  const tryAt = async (v: Variant, n: number): Promise<void> => {
    const x = await runAt(v, n);
    printRow(provider, "search", x);
    if (x.realTime) held.set(v, Math.max(held.get(v) ?? 0, n));
    else failed.set(v, Math.min(failed.get(v) ?? Infinity, n));
  };
  for (let n = from; failed.size < o.variants.length; n *= 2) {
    for (const v of rotated(o.variants, turn++)) if (!failed.has(v)) await tryAt(v, n);
  }
  const resolution = Math.max(1, Math.floor(from / 2));
  for (let round = 0; round < o.rounds; round++) {
    for (const v of rotated(o.variants, turn++)) {
      const lo = held.get(v) ?? 0;
      const hi = failed.get(v) ?? lo;
      if (hi - lo > resolution) await tryAt(v, Math.round((lo + hi) / 2 / resolution) * resolution);
    }
  }
  const sdkMax = held.get("sdk") ?? 0;
  for (const v of o.variants) {
    const m = held.get(v) ?? 0;
    console.log(
      `${provider.padEnd(10)} max     ${v.padEnd(7)} ${m} real-time sessions (${failed.get(v)} was not)${sdkMax > 0 ? ` = ${(m / sdkMax).toFixed(2)}x sdk` : ""}`,
    );
  }
}

async function benchProvider(provider: Provider, o: Options): Promise<void> {
  // AssemblyAI over wss:// for every variant: the official SDK speaks nothing else.
  const emu = await EmulatorProcess.start({
    provider,
    fixtureSeconds: o.seconds + 5,
    tls: provider === "assemblyai",
  });
  const spec = (variant: Variant, sessions: number): Omit<RunSpec, "url"> => ({
    provider,
    variant,
    sessions,
    seconds: o.seconds,
  });
  for (const v of o.variants) await run(emu, spec(v, 2)); // warm-up: module loading, the emulator's JIT
  const byVariant = new Map<Variant, Figures[]>(o.variants.map((v) => [v, []]));
  let turn = 0;
  for (let r = 0; r < o.repeat; r++) {
    for (const n of o.sizes) {
      for (const v of rotated(o.variants, turn++)) {
        const x = await run(emu, spec(v, n));
        byVariant.get(v)?.push(x);
        printRow(provider, `run ${r + 1}`, x);
      }
    }
  }
  // Ratios against the SDK script at each size: medians over the repeats, and their spread.
  for (const n of o.sizes) {
    const at = (v: Variant): Figures[] => (byVariant.get(v) ?? []).filter((x) => x.n === n);
    const base = at("sdk");
    for (const v of o.variants) {
      const xs = at(v);
      const cpu = xs.map((x) => x.cpuPerSessionMinute);
      const range = (pick: (x: Figures) => number): string =>
        `${f(median(xs.map(pick)), 1)} (${f(Math.min(...xs.map(pick)), 1)}–${f(Math.max(...xs.map(pick)), 1)})`;
      console.log(
        `${provider.padEnd(10)} median  ${String(n).padStart(4)}  ${v.padEnd(7)} cpu ${range((x) => x.cpuPerSessionMinute)} = ${f(median(cpu) / median(base.map((x) => x.cpuPerSessionMinute)), 1)}x sdk; ` +
          `chunk→emu p99 ${range((x) => x.inP99)}; final→main p99 ${range((x) => x.outP99)}; loop p99 ${range((x) => x.loopP99)} ms; main busy ${range((x) => x.mainBusy * 100)} %`,
      );
    }
  }
  if (o.max) await searchMaxima(o, provider, (v, n) => run(emu, spec(v, n)), turn);
  await emu.stop();
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  console.log(
    `${o.seconds} s of real-time 16 kHz audio per session, 100 ms chunks, starts over ${STAGGER_MS} ms; variants ${o.variants.join(", ")}; ${o.repeat} repeats`,
  );
  console.log(
    "provider   what       N  variant cpu s/     chunk→emulator     final→main         main loop delay   main   lag ms  finals  real",
  );
  console.log(
    "                                  sess-min  p50     p99        p50     p99        p99      max      busy   p99     out/made time",
  );
  for (const provider of o.providers) await benchProvider(provider, o);
}

if (process.argv[2] === "measure") serveMeasured(measure);
else void main();
