// Soak: many live sessions through a real Node-RED 4 for a few minutes, with faults injected at random,
// a full redeploy in the middle, and an account at the end of what was lost, duplicated or left behind.
//   npm run bench:soak                      (2 minutes of sessions; about 3 minutes in all; a CI step)
//   npm run bench:soak -- --minutes 30 --concurrency 40 --seed 7
// One process runs Node-RED with both pipelines (audio-in → transcribe-medical | assemblyai-medical →
// filter-final → confidence-gate); the two emulators run in processes of their own (clock mode), so
// faults come from outside as the network and the services would: AWS streams reset, exceptions
// (InternalFailure, ServiceUnavailable), stalls and a 2 s outage; AssemblyAI connections dropped
// (1006), ended with an error (3005, 1011) or frozen half-open. Sessions arrive at random, 8–30 s long,
// fed in real time (one 100 ms chunk per session per tick).
//
// Exactly once, precisely. A word is identified by its session and its script start time (the
// emulators know which script words each final carries; the gate's output carries session-relative
// word times). For every session:
//   - no word reaches the gate's output twice, and none that no emulator final carried;
//   - every word the emulators put in a final reaches the gate's output;
//   - every script word that lies wholly in the session's audio reaches the gate's output (nothing lost
//     to a fault: replays after reconnects must cover it), unless the flow refused audio of the session;
//   - the session ends: its transcriber reports `ended` / `termination` for it.
// The redeploy (POST /flows, Node-RED-Deployment-Type: full) stops every node before any starts again:
// Node-RED takes all nodes out of its routing at once, then runs their close handlers. Sessions in
// flight at that moment ("cut": still fed, or fed to their end but not yet ended by their transcriber)
// end there: the feeder stops them, as a full deploy closes a websocket-in's clients; audio-in drops
// the frames it still paces (never sent, so never transcribed); the transcriber ends each provider
// stream cleanly and the providers flush their last finals. Filter-final and the gate are out of the
// routing by then: the transcribers keep what arrives while they stop, and their new instances send it
// once the new flows have started (nodes/shared/stop-handover.ts). So cut sessions are held to the same
// account (every produced word delivered once, the session's end reported), except for the words of
// their script that audio-in dropped.
//
// Leaks: before the first measured session (after a warm-up session per provider), and again after
// every session has ended, the process's active handles (process.getActiveResourcesInfo(): sockets,
// timers, ...) are counted by kind and the heap is measured after a full GC. The run fails if any kind
// ends above its baseline (after up to 20 s of settling; Node-RED's own 0–2 housekeeping timers
// tolerated) or the heap grew more than 32 MiB. The bench's own account is kept as it goes (every 10 s
// the emulators' reports are folded in and the sessions that ended are checked and forgotten,
// ./support/soak-ledger.ts) and settled in full before the heap is measured, so the growth measured is
// the product's and Node-RED's, not the bench's bookkeeping. `--heap-snapshots DIR` writes a snapshot
// at both points (compare with `npx tsx bench/support/heap-snapshot.ts DIR/before.heapsnapshot
// DIR/after.heapsnapshot`).
import { fork } from "node:child_process";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { assemblyAiFixture, awsFixture } from "./support/fixtures";
import { EmulatorProcess, type FaultCommand, type Provider } from "./support/emulator-process";
import { EmbeddedNodeRed, type FlowNode } from "./support/node-red";
import { edges, pipelineFlow } from "./support/pipeline-flow";
import { MemorySeries } from "./support/memory-series";
import { newSession, SoakLedger, type SoakSession as Session, type Tally } from "./support/soak-ledger";
import { snapshotAfterGc } from "./support/heap-snapshot";
import { epochMs, sleep } from "./support/stats";
import { CHUNK_MS, sessionChunk, sessionMark } from "./support/tagged-audio";
import { prng as random } from "../test/support/prng";

const PROVIDERS: Provider[] = ["aws", "assemblyai"];
const PREFIX: Record<Provider, string> = { aws: "aws-", assemblyai: "aai-" };
const MIN_CHUNKS = 80;
const MAX_CHUNKS = 300;
/** Faults only hit sessions with at least this much audio still to come, so each has time to recover. */
const FAULT_LEAD_CHUNKS = 120;
const TIMER_TOLERANCE = 2;
const HEAP_TOLERANCE_MB = 32;
/** A session is settled once it ended this long before a report of the emulators. */
const SETTLE_MS = 2000;
const COLLECT_EVERY_MS = 10_000;

interface Options {
  minutes: number;
  /** Concurrent sessions per provider. */
  concurrency: number;
  seed: number;
  faultEveryMs: number;
  /** A directory to write heap snapshots into (after a full GC, before and after the sessions). */
  heapSnapshots: string | undefined;
}

function options(argv: string[]): Options {
  const get = (name: string, fallback: number): number => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : fallback;
  };
  return {
    minutes: get("minutes", 2),
    concurrency: get("concurrency", 20),
    seed: get("seed", 1),
    faultEveryMs: get("fault-every-ms", 1500),
    heapSnapshots: argv.includes("--heap-snapshots") ? argv[argv.indexOf("--heap-snapshots") + 1] : undefined,
  };
}

/** Script words (start ms) that lie wholly within the first `ms` of session audio. */
function scriptWords(provider: Provider, ms: number): number[] {
  if (provider === "aws") {
    return awsFixture(MAX_CHUNKS / 10 + 5)
      .flatMap((seg) => seg.words)
      .filter((w) => !w.punctuation && w.end * 1000 <= ms + 0.5)
      .map((w) => Math.round(w.start * 1000));
  }
  return assemblyAiFixture(MAX_CHUNKS / 10 + 5)
    .turns.flatMap((t) => t.words)
    .filter((w) => w.endMs <= ms + 0.5)
    .map((w) => w.startMs);
}

/** The handles of this process, counted by kind. */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
  return counts;
}

async function heapMb(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await sleep(50);
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

class Soak {
  /** The sessions in flight and the account of those settled (see ./support/soak-ledger.ts). */
  readonly ledger = new SoakLedger(scriptWords);
  private nextSession = 1;
  cut = 0;
  private redeploying = false;
  /** Words of cut sessions delivered once the redeploy began (handed over to the new instances). */
  afterRedeploy = 0;
  redeployAt = 0;
  readonly notes: string[] = [];
  readonly errors: string[] = [];
  faults = 0;

  constructor(
    private readonly nr: EmbeddedNodeRed,
    private readonly flows: FlowNode[],
    private readonly emus: Record<Provider, EmulatorProcess>,
    private readonly rnd: () => number,
  ) {}

  /** Listens to the edges of both pipelines (again after every deploy: the nodes are new objects). */
  tap(): void {
    for (const provider of PROVIDERS) {
      const e = edges(PREFIX[provider]);
      this.nr.tap(e.out, (msg) => this.onResult(msg));
      this.nr.tap(e.events, (msg) => this.onEvent(msg));
      this.nr.tap(e.errors, (msg) => this.onError(msg));
    }
  }

  /** Sessions started, warm-up included. */
  get started(): number {
    return this.nextSession - 1;
  }

  private onResult(msg: NodeMessage): void {
    const words = (msg.payload as { words: Array<{ kind: string; startTime: number }> }).words;
    for (const w of words) {
      if (w.kind !== "word") continue;
      if (this.ledger.deliver(msg.topic, Math.round(w.startTime * 1000))?.cut) this.afterRedeploy++;
    }
  }

  private onEvent(msg: NodeMessage): void {
    const p = msg.payload as { event: string; code?: number; kind?: string; reason?: string };
    const ev = p.event;
    const s = this.ledger.get(msg.topic);
    s?.history.push([ev, p.code, p.kind, p.reason].filter((x) => x !== undefined).join(":"));
    if (s && (ev === "ended" || ev === "termination" || ev === "error")) {
      s.terminal ??= ev;
      s.terminalAt ??= epochMs();
    }
  }

  private onError(msg: NodeMessage): void {
    const text = String((msg as { error?: { message?: string } }).error?.message);
    const s = this.ledger.get(msg.topic);
    if (s && /refused/.test(text)) s.refused = true;
    if (this.errors.length < 2000) this.errors.push(text);
  }

  start(provider: Provider): Session {
    const n = this.nextSession++;
    const s = newSession(
      n,
      provider,
      `${PREFIX[provider]}${n}`,
      MIN_CHUNKS + Math.floor(this.rnd() * (MAX_CHUNKS - MIN_CHUNKS + 1)),
    );
    this.ledger.add(s);
    return s;
  }

  active(provider?: Provider): Session[] {
    return [...this.ledger.sessions()].filter(
      (s) => s.endedAt === undefined && (!provider || s.provider === provider),
    );
  }

  /** One tick: every active session sends its next chunk, or its end. */
  tick(): void {
    if (this.redeploying) return;
    for (const s of this.active()) {
      const src = edges(PREFIX[s.provider]).src;
      if (s.sent < s.chunks) {
        this.nr.send(src, { topic: s.topic, payload: sessionChunk(s.n, s.sent++) });
      } else {
        this.nr.send(src, { topic: s.topic, audio: { end: true } });
        s.endedAt = epochMs();
      }
    }
  }

  /** One random fault on a random session that has enough audio left to recover in. */
  async fault(): Promise<void> {
    const provider = PROVIDERS[Math.floor(this.rnd() * 2)];
    const sessions = this.active(provider)
      .filter((s) => s.chunks - s.sent >= FAULT_LEAD_CHUNKS)
      .map((s) => sessionMark(s.n));
    if (sessions.length === 0) return;
    const r = this.rnd();
    const pick = this.rnd();
    const command: FaultCommand =
      provider === "aws"
        ? {
            provider,
            pick,
            sessions,
            fault:
              r < 0.4
                ? { kind: "reset" }
                : r < 0.55
                  ? { kind: "exception", type: "InternalFailureException" }
                  : r < 0.7
                    ? { kind: "exception", type: "ServiceUnavailableException" }
                    : r < 0.85
                      ? { kind: "end" }
                      : { kind: "stall" },
          }
        : {
            provider,
            pick,
            sessions,
            action: r < 0.45 ? "drop" : r < 0.85 ? "fail" : "freeze",
            code: r < 0.65 ? 3005 : 1011,
          };
    if (await this.emus[provider].fault(command)) this.faults++;
  }

  async outage(): Promise<void> {
    await this.emus.aws.fault({ provider: "aws", outageMs: 2000, mode: "unavailable" });
    this.notes.push("AWS outage: 2 s of HTTP 503 with every open stream reset");
  }

  /** A full deploy of the same flows: every session open now is cut (see the file comment). */
  async redeploy(): Promise<void> {
    this.redeploying = true;
    this.redeployAt = epochMs();
    // In flight: still fed, or fed to the end but not yet ended by its transcriber (finishing a replay
    // after a fault, or waiting for the provider's last finals).
    const cut = [...this.ledger.sessions()].filter((s) => s.terminal === undefined);
    this.cut = cut.length;
    for (const s of cut) {
      s.cut = true;
      s.endedAt ??= this.redeployAt;
    }
    const t0 = Date.now();
    // Tapped as the new flows start: the transcribers' new instances send what the old ones flushed then.
    await this.nr.deploy(this.flows, "full", () => this.tap());
    this.notes.push(`full redeploy took ${Date.now() - t0} ms and cut ${cut.length} open sessions`);
    this.redeploying = false;
  }

  /**
   * Folds in what the emulators produced (forgetting their ended streams) and settles the sessions that
   * ended at least `SETTLE_MS` before: their last finals are in the report and their words delivered.
   * `all`: settle every session left (the end of the run).
   */
  async collect(all = false): Promise<void> {
    const asked = epochMs();
    for (const provider of PROVIDERS) this.ledger.fold((await this.emus[provider].report(true)).streams);
    if (all) this.ledger.settleAll(this.redeployAt);
    else this.ledger.settleEnded(asked - SETTLE_MS, this.redeployAt);
  }
}

function diffResources(before: Map<string, number>, after: Map<string, number>): string[] {
  const over: string[] = [];
  for (const [kind, n] of after) {
    const base = before.get(kind) ?? 0;
    const allowed = kind === "Timeout" ? base + TIMER_TOLERANCE : base;
    if (n > allowed) over.push(`${kind}: ${base} → ${n}`);
  }
  return over;
}

/** Runs one short session per provider, so the baseline holds what a warm runtime holds. */
async function warmUp(soak: Soak): Promise<void> {
  // The speech clocks of every chunk a session can have are cached by ./support/tagged-audio.ts
  // (0.9 MiB): made now, they belong to the baseline rather than to the growth.
  for (let seq = 0; seq < MAX_CHUNKS; seq++) sessionChunk(1, seq);
  const warm = PROVIDERS.map((p) => {
    const s = soak.start(p);
    s.chunks = 20;
    return s;
  });
  while (warm.some((s) => s.terminal === undefined)) {
    soak.tick();
    await sleep(CHUNK_MS);
  }
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const started = Date.now();
  const rnd = random(o.seed);
  const fixtureSeconds = MAX_CHUNKS / 10 + 5;
  const emus = {
    aws: await EmulatorProcess.start({ provider: "aws", fixtureSeconds }),
    assemblyai: await EmulatorProcess.start({ provider: "assemblyai", fixtureSeconds }),
  };
  const nr = await EmbeddedNodeRed.start();
  const flows = PROVIDERS.flatMap((provider) =>
    pipelineFlow({
      provider,
      endpoint: emus[provider].url,
      prefix: PREFIX[provider],
      // Stalls are found sooner than by default (20 s), so that a few minutes hold many of them.
      transcriber: provider === "aws" ? { tuning: { watchdogMs: 4000, backoffMaxMs: 2000 } } : {},
    }),
  );
  await nr.deploy(flows);
  const soak = new Soak(nr, flows, emus, rnd);
  soak.tap();
  await warmUp(soak);
  await sleep(1500);
  const heapBefore = await heapMb();
  if (o.heapSnapshots) await snapshotAfterGc(join(o.heapSnapshots, "before.heapsnapshot"));
  const before = resources();

  const runMs = o.minutes * 60_000;
  const t0 = epochMs();
  // A sample every 10 s in a short run, every minute in an hour.
  const memory = new MemorySeries(
    process.memoryUsage().rss / 2 ** 20,
    Math.min(60_000, Math.max(10_000, runMs / 60)),
    t0,
  );
  let nextFault = t0 + o.faultEveryMs;
  let nextCollect = t0 + COLLECT_EVERY_MS;
  let outageDone = false;
  let redeployDone = false;
  let tickAt = t0;
  for (;;) {
    const now = epochMs();
    const elapsed = now - t0;
    // New sessions only while their whole length fits in the run; at most one per provider per tick.
    const fits = elapsed + MAX_CHUNKS * CHUNK_MS < runMs;
    for (const p of PROVIDERS)
      if (fits && soak.active(p).length < o.concurrency && rnd() < 0.3) soak.start(p);
    soak.tick();
    memory.maybeSample(now, soak.active().length);
    if (now >= nextFault) {
      nextFault += o.faultEveryMs;
      await soak.fault();
    }
    if (now >= nextCollect) {
      nextCollect += COLLECT_EVERY_MS;
      await soak.collect();
    }
    if (!outageDone && elapsed > runMs * 0.3) {
      outageDone = true;
      await soak.outage();
    }
    if (!redeployDone && elapsed > runMs * 0.5) {
      redeployDone = true;
      await soak.redeploy();
    }
    if (!fits && soak.active().length === 0) break;
    // Ticks missed (the redeploy blocks the loop) are skipped, never sent in a burst: live sources
    // cannot send audio faster than it is spoken.
    tickAt = Math.max(tickAt + CHUNK_MS, epochMs() - CHUNK_MS);
    await sleep(Math.max(0, tickAt - epochMs()));
  }

  // Every session has sent its end; wait for the transcribers to report each one ended.
  const deadline = Date.now() + 60_000;
  const unfinished = (): boolean =>
    [...soak.ledger.sessions()].some((s) => !s.cut && s.terminal === undefined);
  while (unfinished() && Date.now() < deadline) await sleep(200);
  let after = resources();
  for (let i = 0; i < 100 && diffResources(before, after).length > 0; i++) {
    await sleep(200);
    after = resources();
  }
  const leaks = diffResources(before, after);
  // The account is settled before the heap is measured: what remains is the product's, not the bench's.
  await sleep(SETTLE_MS);
  await soak.collect(true);
  const heapAfter = await heapMb();
  if (o.heapSnapshots) await snapshotAfterGc(join(o.heapSnapshots, "after.heapsnapshot"));
  const openStreams = (await emus.aws.openStreams()) + (await emus.assemblyai.openStreams());
  const a = soak.ledger;
  await nr.stop();
  await Promise.all(PROVIDERS.map((p) => emus[p].stop()));

  const measured = soak.started - 2;
  console.log(
    `soak: ${measured} sessions (${soak.cut} cut by the redeploy) over ${o.minutes} min, up to ${o.concurrency} at once per provider, seed ${o.seed}`,
  );
  console.log(`  faults injected: ${soak.faults}; ${soak.notes.join("; ")}`);
  console.log(
    `  words delivered: ${a.deliveredWords}; of cut sessions after the redeploy began (flushed while it stopped the flows): ${soak.afterRedeploy}`,
  );
  console.log(`  errors seen by the Catch nodes: ${soak.errors.length}`);
  const listed = (found: string[]): Pick<Tally, "count" | "examples"> => ({
    count: found.length,
    examples: found,
  });
  const checks: Array<[string, Pick<Tally, "count" | "examples">]> = [
    ["lost words", a.lost],
    ["duplicated words", a.duplicated],
    ["words no final carried", a.phantom],
    ["sessions that never ended", a.hung],
    ["provider streams left open", listed(openStreams > 0 ? [`${openStreams} open`] : [])],
    ["handles above the baseline", listed(leaks)],
    [
      `heap growth over ${HEAP_TOLERANCE_MB} MiB`,
      listed(
        heapAfter - heapBefore > HEAP_TOLERANCE_MB
          ? [`${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB`]
          : [],
      ),
    ],
  ];
  for (const [what, found] of checks) {
    console.log(
      `  ${found.count === 0 ? "ok  " : "FAIL"} ${what}: ${found.count}${found.count ? ` (${found.examples.slice(0, 5).join("; ")})` : ""}`,
    );
  }
  console.log(
    `  heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MiB; handles ${JSON.stringify(Object.fromEntries(before))} → ${JSON.stringify(Object.fromEntries(after))}`,
  );
  for (const line of memory.report()) console.log(line);
  const failed = checks.some(([, found]) => found.count > 0);
  console.log(`soak ${failed ? "FAILED" : "passed"} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exit(failed ? 1 : 0);
}

/** Runs the soak in a child with the GC exposed (needed for the heap check) when started without it. */
if (!global.gc && !process.argv.includes("--no-relaunch")) {
  const child = fork(__filename, [...process.argv.slice(2), "--no-relaunch"], {
    execArgv: ["--require", "tsx/cjs", "--expose-gc"],
  });
  child.on("exit", (code) => process.exit(code ?? 1));
} else void main();
