// Issue #23: provider I/O in worker threads, against the in-thread design and the provider's client used
// directly, measured in the same run against the same emulator (in a process of its own).
//   npm run bench:workers                        (both providers, about 25 minutes)
//   npm run bench:workers -- --provider aws --seconds 10 --sizes 100 --repeat 3 --ladder 150,50 --no-max
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
// in turn, the order rotating between repeats; then a ladder (--ladder from,step per provider) raises N
// for every variant still real time, to find each one's largest real-time N in the same run.
import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { fork } from "node:child_process";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { ASSEMBLYAI_KEY, EMULATOR_CREDENTIALS, EmulatorProcess, TLS_CERT } from "./support/emulator-process";
import type { Provider, StreamReport } from "./support/emulator-process";
import { layerFactory, type LayerSession, type LayerTarget, type OnFinal } from "./support/layer-sessions";
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

interface RunResult {
  cpuSeconds: number;
  loopDelayP99: number;
  loopDelayMax: number;
  /** Share of the run the main thread's event loop was busy (0–1). */
  mainBusy: number;
  t0: number;
  pushedAt: number[][];
  /** [session, first word start ms, last word start ms, when it reached the main thread]. */
  delivered: Array<[number, number, number, number]>;
  errors: string[];
  unfinished: number;
}

const STAGGER_MS = 2000;
const startMs = (session: number): number => Math.floor(((session * 0.6180339887) % 1) * STAGGER_MS);
const LAG_LIMIT_MS = 200;

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
  const t0 = epochMs();
  // Each session on a timer of its own, chunk seq due at t0 + startMs(i) + seq × 100 ms (absolute, so a
  // late chunk does not push the later ones back).
  await Promise.all(
    pushedAt.map(
      (at, i) =>
        new Promise<void>((resolve) => {
          const s = h.open(i + 1);
          let seq = 0;
          const tick = (): void => {
            if (seq === chunks) {
              endings.push(s.end().catch((err: Error) => void h.errors.push(err.message)));
              resolve();
              return;
            }
            at[seq] = epochMs();
            s.push(sessionChunk(i + 1, seq));
            seq++;
            setTimeout(tick, Math.max(0, t0 + startMs(i + 1) + seq * CHUNK_MS - epochMs()));
          };
          setTimeout(tick, startMs(i + 1));
        }),
    ),
  );
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

function runOnce(spec: RunSpec): Promise<RunResult> {
  const child = fork(__filename, ["measure", JSON.stringify(spec)], {
    execArgv: ["--require", "tsx/cjs", "--expose-gc"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: TLS_CERT },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("message", (m: unknown) => resolve(m as RunResult));
    child.once("exit", (code) =>
      reject(new Error(`measured process exited (${code}):\n${stderr.slice(-2000)}`)),
    );
  });
}

const keyOf = (session: number, first: number, last: number): string => `${session}|${first}|${last}`;

function figures(spec: RunSpec, r: RunResult, streams: StreamReport[], emuCpu: number): Figures {
  const inLat: number[] = [];
  const lags = new Map<number, number[]>();
  const produced = new Map<string, number>();
  for (const s of streams) {
    if (s.session === 0) continue;
    const own = lags.get(s.session) ?? [];
    lags.set(s.session, own);
    for (const [seq, at] of s.audio) {
      const pushed = r.pushedAt[s.session - 1]?.[seq];
      if (!pushed) continue;
      inLat.push(at - pushed);
      own.push(at - (r.t0 + startMs(s.session) + seq * CHUNK_MS));
    }
    for (const f of s.finals) {
      const w = f.wordStartsMs;
      if (w.length > 0) produced.set(keyOf(s.session, w[0], w[w.length - 1]), f.at);
    }
  }
  const outLat: number[] = [];
  for (const [session, first, last, at] of r.delivered) {
    const sent = produced.get(keyOf(session, first, last));
    if (sent !== undefined) outLat.push(at - sent);
  }
  const lagP99 = Math.max(0, ...[...lags.values()].map((l) => quantile(l, 0.99)));
  const notes = [`emulator ${((emuCpu / spec.seconds) * 100).toFixed(0)}% of a core`, ...r.errors];
  if (r.unfinished > 0) notes.push(`${r.unfinished} sessions did not end`);
  return {
    variant: spec.variant,
    n: spec.sessions,
    cpuPerSessionMinute: r.cpuSeconds / ((spec.sessions * spec.seconds) / 60),
    inP50: quantile(inLat, 0.5),
    inP99: quantile(inLat, 0.99),
    outP50: quantile(outLat, 0.5),
    outP99: quantile(outLat, 0.99),
    loopP99: r.loopDelayP99,
    loopMax: r.loopDelayMax,
    mainBusy: r.mainBusy,
    lagP99,
    produced: produced.size,
    delivered: outLat.length,
    realTime: lagP99 <= LAG_LIMIT_MS && outLat.length === produced.size && r.unfinished === 0,
    notes,
  };
}

async function run(emu: EmulatorProcess, spec: Omit<RunSpec, "url">): Promise<Figures> {
  const full: RunSpec = { ...spec, url: emu.url };
  const before = (await emu.report(true)).cpuSeconds;
  const result = await runOnce(full);
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
  ladder: Map<Provider, [number, number]>;
  max: boolean;
  variants: Variant[];
}

function options(argv: string[]): Options {
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const provider = get("provider");
  const providers: Provider[] =
    provider === "aws" || provider === "assemblyai" ? [provider] : ["aws", "assemblyai"];
  const ladderArg = get("ladder")?.split(",").map(Number);
  const ladder = new Map<Provider, [number, number]>([
    ["aws", [150, 50]],
    ["assemblyai", [400, 100]],
  ]);
  if (ladderArg && ladderArg.length === 2)
    for (const p of providers) ladder.set(p, [ladderArg[0], ladderArg[1]]);
  const wanted = (get("variants") ?? VARIANTS.join(",")).split(",");
  return {
    providers,
    seconds: Number(get("seconds") ?? 10),
    sizes: (get("sizes") ?? "100").split(",").map(Number),
    repeat: Number(get("repeat") ?? 2),
    ladder,
    max: !argv.includes("--no-max"),
    variants: VARIANTS.filter((v) => wanted.includes(v)),
  };
}

/** The variants in turn, starting one further each time, so none always runs first or last. */
const rotated = <T>(xs: readonly T[], by: number): T[] => xs.map((_, i) => xs[(i + by) % xs.length]);

const median = (xs: number[]): number => quantile(xs, 0.5);

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
  if (o.max) {
    const ladder = o.ladder.get(provider) ?? [100, 50];
    const best = new Map<Variant, number>();
    let alive = [...o.variants];
    for (let n = ladder[0]; alive.length > 0; n += ladder[1]) {
      const failed: Variant[] = [];
      for (const v of rotated(alive, turn++)) {
        const x = await run(emu, spec(v, n));
        printRow(provider, "ladder", x);
        if (x.realTime) best.set(v, n);
        else failed.push(v);
      }
      alive = alive.filter((v) => !failed.includes(v));
    }
    const sdkMax = best.get("sdk");
    for (const v of o.variants) {
      const m = best.get(v);
      console.log(
        `${provider.padEnd(10)} max     ${v.padEnd(7)} ${m === undefined ? `< ${ladder[0]}` : String(m)} real-time sessions${m !== undefined && sdkMax !== undefined ? ` = ${(m / sdkMax).toFixed(2)}x sdk` : ""}`,
      );
    }
  }
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

if (process.argv[2] === "measure") {
  process.on("disconnect", () => process.exit(1));
  void measure(JSON.parse(process.argv[3] ?? "{}") as RunSpec).then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: Error) => {
      console.error(err.stack);
      process.exit(1);
    },
  );
} else void main();
