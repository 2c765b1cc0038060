import fc from "fast-check";
import { closeSync, constants, openSync } from "node:fs";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { Node, NodeMessage } from "node-red";
import { helper, runtimeEvents, type FlowNode } from "../support/node-red";
import { untilResourcesBack, type ResourceSnapshot } from "../support/resources";
import { PHI_NEEDLE, SECRET_NEEDLE } from "./generators";
import { BombError } from "./objects";
import type { Target } from "./targets";

/**
 * The fuzz suite's view of the one Node-RED runtime: who answered which message (a `complete` and a
 * `catch` node scoped to each target), everything written to the log, every status, every error to
 * Catch, every process warning, what left the targets' outputs, and process-wide counters of uncaught
 * exceptions, unhandled rejections and errors the package's backstop caught.
 */

// The same module instance the nodes use (they load dist/), so its counter is theirs.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module, by path
const backstop = require(join(__dirname, "../../dist/src/util/backstop.js")) as { backstopErrors(): number };

/** A message that takes longer than this to be answered (done or an error to Catch) is a stall. */
export const STALL_MS = 2000;
/** Once a target is known to stall, later messages are waited for this long only (the suite stays bounded). */
const KNOWN_STALL_WAIT_MS = 200;
/** An event loop blocked longer than this during a run is a finding ("slow"). */
const BLOCKED_LOOP_MS = 1000;

/** Errors the package's backstop caught in this process (dist/src/util/backstop.ts, as the nodes load it). */
export function backstopCount(): number {
  return backstop.backstopErrors();
}

export interface Finding {
  target: string;
  /** What kind of failure, and where: "stall", "double answer", "leak of PHI in a log", "uncaught TypeError"… */
  signature: string;
  detail: string;
  /** The counterexample fast-check shrank to (or an example message), printed. */
  example: string;
  /** How to replay it: FUZZ_SEED and the fast-check path. */
  replay: string;
  occurrences: number;
}

export interface TargetStats {
  messages: number;
  runs: number;
  ms: number;
  byDone: number;
  byError: number;
  maxAnswerMs: number;
  outputs: number;
}

interface Text {
  where: string;
  text: string;
}

interface Pending {
  resolve: () => void;
  sentAt: number;
}

const PROTOTYPES: Array<[string, object]> = [
  ["Object.prototype", Object.prototype],
  ["Array.prototype", Array.prototype],
  ["Function.prototype", Function.prototype],
  ["String.prototype", String.prototype],
];

export function prototypeKeys(): string[] {
  return PROTOTYPES.flatMap(([name, proto]) => Reflect.ownKeys(proto).map((k) => `${name}.${String(k)}`));
}

/** Why a run failed: the signatures (what kind of failure) and the details. */
class RunFailure extends Error {
  override readonly name = "RunFailure";
  constructor(readonly problems: Array<{ signature: string; detail: string }>) {
    super(problems.map((p) => `${p.signature}: ${p.detail}`).join("\n"));
  }
}

export class FuzzObserver {
  uncaught: Error[] = [];
  unhandled: unknown[] = [];
  internalErrors = 0;
  warnings = new Map<string, number>();
  private texts: Text[] = [];
  private secretOutputs: string[] = [];
  private readonly answers = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();
  private readonly lastStatus = new Map<string, string>();
  private readonly recent = new Map<string, unknown>();
  /** Messages not answered in time, kept (a few) to show what they were. */
  private readonly stalled = new Map<string, unknown>();
  private readonly doubles: string[] = [];
  private readonly loop = monitorEventLoopDelay({ resolution: 20 });
  private readonly basePrototype = prototypeKeys().join("\n");
  private seq = 0;
  private stats: TargetStats = emptyStats();
  private readonly restore: Array<() => void> = [];
  /** The id of every message object sent, by identity: a hostile message may throw when its `_msgid` is read. */
  private readonly sentIds = new WeakMap<object, string>();
  /** Messages Node-RED itself could not take (its `receive` read a bomb before the node saw the message). */
  refusedByRuntime = 0;
  /** Messages whose answer Node-RED could not copy (see `copyAsNodeRedWould`). */
  private readonly uncopyable = new Set<string>();

  /** Takes over the process's uncaught-exception, unhandled-rejection and warning events. */
  install(): void {
    const uncaught = process.listeners("uncaughtException");
    const unhandled = process.listeners("unhandledRejection");
    process.removeAllListeners("uncaughtException");
    process.removeAllListeners("unhandledRejection");
    const onUncaught = (err: Error): void => void this.uncaught.push(err);
    const onUnhandled = (reason: unknown): void => void this.unhandled.push(reason);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUnhandled);
    // Mocha's own handlers would end the running test at once; they come back when the suite ends.
    this.restore.push(() => {
      process.off("uncaughtException", onUncaught);
      process.off("unhandledRejection", onUnhandled);
      for (const l of uncaught) process.on("uncaughtException", l);
      for (const l of unhandled) process.on("unhandledRejection", l);
    });
    const onWarning = (w: Error & { code?: string }): void => {
      const key = w.code ?? w.name;
      this.warnings.set(key, (this.warnings.get(key) ?? 0) + 1);
      if (w.code === "MEDSTREAM_INTERNAL_ERROR") this.internalErrors++;
      this.texts.push({ where: `a process warning (${key})`, text: `${w.name}: ${w.message}` });
    };
    process.on("warning", onWarning);
    this.restore.push(() => process.off("warning", onWarning));
    const onStatus = (e: { id: string; status?: { text?: unknown } }): void => {
      const text = typeof e.status?.text === "string" ? e.status.text : "";
      this.lastStatus.set(e.id, text);
      this.texts.push({ where: `the status of ${e.id}`, text });
    };
    runtimeEvents().on("node-status", onStatus);
    this.restore.push(() => runtimeEvents().off("node-status", onStatus));
    this.loop.enable();
    this.restore.push(() => this.loop.disable());
  }

  uninstall(): void {
    for (const r of this.restore.splice(0).reverse()) r();
  }

  /** Listens to each target's complete, catch and output sink nodes (after the flow is loaded). */
  attach(targets: Target[]): void {
    helper.getNode("complete-fuzz").on("input", (msg: NodeMessage) => this.answered(msg, "done"));
    helper.getNode("catch-fuzz").on("input", (msg: NodeMessage) => {
      const error = (msg as { error?: { message?: unknown; source?: { id?: unknown } } }).error;
      this.texts.push({
        where: `an error to Catch from ${String(error?.source?.id)}`,
        text: String(error?.message),
      });
      this.answered(msg, "error");
    });
    for (const t of targets) {
      helper.getNode(`out-${t.type}`).on("input", (msg: NodeMessage) => {
        this.stats.outputs++;
        const found = findNeedle(msg, SECRET_NEEDLE);
        if (found) this.secretOutputs.push(`${t.type} output ${found}`);
      });
    }
  }

  /**
   * Counts answers as each instance gives them to Node-RED (`done`, `done(err)`, `node.error(err, msg)`),
   * before Node-RED copies the message for Complete and Catch nodes: that copy is Node-RED's and may
   * throw on a hostile object (a getter, a proxy, 10^5 levels), which would hide the answer. Error texts
   * are checked for markers as they leave the node.
   *
   * The objects suite's flow has no Complete or Catch node: Node-RED's copy for them (lodash cloneDeep)
   * runs out of memory on an array of length 2^32-1, whoever answers. Instead each answer is copied
   * here as Node-RED would copy it for a Catch node, with `structuredClone` (stricter: it refuses every
   * proxy and function), and the call throws what the copy throws: a node must survive its own `done`
   * throwing, as it does under Node-RED with a Catch node in the flow.
   */
  attachCalls(targets: Target[]): void {
    for (const t of targets) {
      for (const instance of t.instances) {
        // Node-RED's own methods, called back with the node as `this`.
        const node = helper.getNode(instance.id) as Node & {
          _complete: (this: Node, msg: unknown, err?: unknown) => void;
        };
        const complete = node._complete;
        const error = Reflect.get(node, "error") as (this: Node, log: unknown, msg?: unknown) => void;
        let completing = false;
        node._complete = (msg: unknown, err?: unknown): void => {
          this.answeredBy(instance.id, msg, err ? "error" : "done", err);
          completing = true;
          try {
            complete.call(node, msg, err);
          } finally {
            completing = false;
          }
          this.copyAsNodeRedWould(msg);
        };
        node.error = (log: unknown, msg?: unknown): void => {
          if (msg !== undefined && !completing) this.answeredBy(instance.id, msg, "error", log);
          error.call(node, log, msg);
          if (msg !== undefined && !completing) this.copyAsNodeRedWould(msg);
        };
        this.restore.push(() => {
          node._complete = complete;
          node.error = error;
        });
      }
      helper.getNode(`out-${t.type}`).on("input", () => void this.stats.outputs++);
    }
  }

  /**
   * Throws what Node-RED's copy for a Catch node would throw. Node-RED then reports the throw itself
   * (its try/catch around `input` calls node.error with the same message): that second report is
   * Node-RED's, not a second answer of the node's.
   */
  private copyAsNodeRedWould(msg: unknown): void {
    try {
      structuredClone(msg);
    } catch (err) {
      const id = typeof msg === "object" && msg !== null ? this.sentIds.get(msg) : undefined;
      if (id) this.uncopyable.add(id);
      throw err;
    }
  }

  private answeredBy(source: string, msg: unknown, how: "done" | "error", err: unknown): void {
    if (how === "error") this.texts.push({ where: `an error to Catch from ${source}`, text: errorText(err) });
    const id = typeof msg === "object" && msg !== null ? (this.sentIds.get(msg) ?? idOf(msg)) : undefined;
    if (id) this.answeredId(id, how);
  }

  private answered(msg: NodeMessage, how: "done" | "error"): void {
    if (msg._msgid) this.answeredId(msg._msgid, how);
  }

  private answeredId(id: string, how: "done" | "error"): void {
    if (!id.startsWith("fz-")) return;
    if (this.uncopyable.has(id) && this.answers.has(id)) return;
    const n = (this.answers.get(id) ?? 0) + 1;
    this.answers.set(id, n);
    if (n === 2) this.doubles.push(id);
    this.stalled.delete(id);
    if (how === "done") this.stats.byDone++;
    else this.stats.byError++;
    const p = this.pending.get(id);
    if (p) {
      this.stats.maxAnswerMs = Math.max(this.stats.maxAnswerMs, Date.now() - p.sentAt);
      this.pending.delete(id);
      p.resolve();
    }
  }

  /** Log entries since the last call, as texts. */
  private drainLog(): void {
    const spy = (helper as unknown as { log(): { args: Array<[unknown]>; resetHistory(): void } }).log();
    for (const [entry] of spy.args) {
      const e = entry as { level?: number; id?: string; msg?: unknown };
      if (e.level === 99) continue;
      this.texts.push({
        where: `a log entry (level ${String(e.level)}) of ${String(e.id)}`,
        text: describe(e.msg),
      });
    }
    spy.resetHistory();
    // The helper records every call of these Node methods; they would hold every message ever sent.
    const proto = (helper as unknown as { _NodePrototype: Record<string, { resetHistory?: () => void }> })
      ._NodePrototype;
    for (const m of ["log", "status", "warn", "error", "debug", "trace", "send"]) proto[m]?.resetHistory?.();
  }

  beginTarget(): void {
    this.stats = emptyStats();
    // What an earlier target never answered is its finding, not this one's: forget the waiters
    // (a late answer still counts, and a second one is still a double answer).
    for (const p of this.pending.values()) p.resolve();
    this.pending.clear();
  }

  endTarget(): TargetStats {
    return this.stats;
  }

  /** The last status text the node showed. */
  statusOf(id: string): string | undefined {
    return this.lastStatus.get(id);
  }

  /** Messages sent but not answered yet. */
  get unanswered(): number {
    return this.pending.size;
  }

  /** An example of what an unanswered message was (the oldest still remembered). */
  unansweredExample(): string {
    for (const id of this.pending.keys()) {
      const v = this.stalled.get(id) ?? this.recent.get(id);
      if (v !== undefined) return show(v);
    }
    return "(not remembered)";
  }

  /** Waits until every message sent so far was answered, or `ms` passed. */
  async settle(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(20);
  }

  /**
   * Sends a run's messages to the target (all at once, or one after the other for delivery nodes),
   * waits for their answers, and throws a RunFailure naming every new kind of problem.
   */
  async run(
    target: Target,
    batch: Array<{ to: number; msg: Record<string, unknown> }>,
    known: Set<string>,
    after?: () => void,
  ): Promise<void> {
    await this.deliver(
      target,
      batch.map(({ to, msg }) => ({
        to,
        // A copy per delivery: fast-check keeps the value it generated for shrinking and printing.
        prepare: (id: string) => {
          const copy = clone(msg);
          copy._msgid = id;
          return { msg: copy, shown: msg };
        },
      })),
      known,
      after,
      true,
    );
  }

  /**
   * Sends messages that are delivered as built (hostile objects, not copied: a copy would defuse them),
   * each shown by its label. A `receive` that throws a BombError before any answer is Node-RED's own
   * read of the message (its `_msgid`): counted as refused by the runtime, as Node-RED logs it and goes on.
   * Only stalls and throws of `receive` are checked here: a bomb may go off between runs (in a timer),
   * so the caller checks everything else over many runs, from `mark()` to `problemsSince`.
   */
  async runBuilt(
    target: Target,
    batch: Array<{ to: number; build: (id: string) => { msg: Record<string, unknown>; label: string } }>,
    known: Set<string>,
    after?: () => void,
  ): Promise<void> {
    await this.deliver(
      target,
      batch.map(({ to, build }) => ({
        to,
        prepare: (id: string) => {
          const { msg, label } = build(id);
          return { msg, shown: label };
        },
      })),
      known,
      after,
      false,
    );
  }

  private async deliver(
    target: Target,
    batch: Array<{ to: number; prepare: (id: string) => { msg: Record<string, unknown>; shown: unknown } }>,
    known: Set<string>,
    after: (() => void) | undefined,
    checkEach: boolean,
  ): Promise<void> {
    this.stats.runs++;
    const start = checkEach ? this.mark() : undefined;
    const wait = known.has("stall") ? KNOWN_STALL_WAIT_MS : STALL_MS;
    const problems: Array<{ signature: string; detail: string }> = [];
    const waits: Array<Promise<void>> = [];
    for (const { to, prepare } of batch) {
      const instance = target.instances[to] ?? target.instances[0];
      if (!instance) continue;
      const id = `fz-${++this.seq}`;
      let prepared: { msg: Record<string, unknown>; shown: unknown };
      try {
        prepared = prepare(id);
      } catch {
        continue;
      }
      this.sentIds.set(prepared.msg, id);
      this.remember(id, prepared.shown);
      const answered = new Promise<void>((resolve) => this.pending.set(id, { resolve, sentAt: Date.now() }));
      this.stats.messages++;
      try {
        (helper.getNode(instance.id) as Node & { receive(m: unknown): void }).receive(prepared.msg);
      } catch (err) {
        if (this.answers.has(id)) {
          // Answered; Node-RED then failed to copy the message for Catch or Complete: its own, logged.
        } else if (err instanceof BombError) {
          this.refusedByRuntime++;
          this.answeredId(id, "done");
          this.stats.byDone--;
        } else problems.push({ signature: "receive threw", detail: describe(err) });
      }
      const timed = withTimeout(answered, wait).then((ok) => {
        if (!ok)
          problems.push({
            signature: "stall",
            detail: `no answer within ${wait} ms (done or an error to Catch): ${show(prepared.shown)}`,
          });
      });
      if (target.sequential) await timed;
      else waits.push(timed);
    }
    await Promise.all(waits);
    // Answers that come late or twice show up within a moment; so do errors thrown from timers.
    await new Promise((resolve) => setImmediate(resolve));
    after?.();
    if (start) problems.push(...this.problemsSince(start));
    const fresh = problems.filter((p) => !known.has(p.signature));
    if (fresh.length > 0) throw new RunFailure(dedupe(fresh));
  }

  private remember(id: string, msg: unknown): void {
    this.recent.set(id, msg);
    if (this.recent.size > 300) {
      const oldest = this.recent.keys().next().value;
      if (oldest !== undefined) this.recent.delete(oldest);
    }
  }

  /** Where a check begins: counters now, texts and the event-loop maximum from here on. */
  mark(): {
    uncaught: number;
    unhandled: number;
    internal: number;
    backstop: number;
    doubles: number;
  } {
    this.drainLog();
    this.texts = [];
    this.secretOutputs = [];
    this.loop.reset();
    return {
      uncaught: this.uncaught.length,
      unhandled: this.unhandled.length,
      internal: this.internalErrors,
      backstop: backstop.backstopErrors(),
      doubles: this.doubles.length,
    };
  }

  /** Every kind of problem since `start`: counters that moved, markers in texts, doubles, pollution, blocking. */
  problemsSince(start: ReturnType<FuzzObserver["mark"]>): Array<{ signature: string; detail: string }> {
    this.drainLog();
    const problems: Array<{ signature: string; detail: string }> = [];
    for (const err of this.uncaught.slice(start.uncaught)) {
      problems.push({ signature: `uncaught ${err.name}`, detail: firstLines(err) });
    }
    for (const reason of this.unhandled.slice(start.unhandled)) {
      problems.push({
        signature: `unhandled rejection ${reason instanceof Error ? reason.name : typeof reason}`,
        detail: reason instanceof Error ? firstLines(reason) : describe(reason),
      });
    }
    if (backstop.backstopErrors() > start.backstop) {
      problems.push({
        signature: "backstop",
        detail: "an error reached the package's backstop (src/util/backstop.ts)",
      });
    }
    if (this.internalErrors > start.internal) {
      const texts = this.texts.filter((t) => /MEDSTREAM_INTERNAL_ERROR/.test(t.where)).map((t) => t.text);
      problems.push({
        signature: "internal error caught by a guard",
        detail: texts[0]?.split("\n").slice(0, 4).join(" | ") ?? "",
      });
    }
    for (const id of this.doubles.slice(start.doubles)) {
      problems.push({
        signature: "double answer",
        detail: `${id} was answered ${this.answers.get(id)} times: ${show(this.recent.get(id))}`,
      });
    }
    for (const t of this.texts) {
      const lower = t.text.toLowerCase();
      if (lower.includes(PHI_NEEDLE)) {
        problems.push({ signature: `PHI in ${kindOf(t.where)}`, detail: `${t.where}: ${clip(t.text)}` });
      }
      if (lower.includes(SECRET_NEEDLE)) {
        problems.push({ signature: `secret in ${kindOf(t.where)}`, detail: `${t.where}: ${clip(t.text)}` });
      }
    }
    for (const s of this.secretOutputs)
      problems.push({ signature: "secret in an output message", detail: s });
    const blockedMs = this.loop.max / 1e6;
    if (blockedMs > BLOCKED_LOOP_MS) {
      problems.push({
        signature: "slow",
        detail: `the event loop was blocked for ${Math.round(blockedMs)} ms`,
      });
    }
    const now = prototypeKeys().join("\n");
    if (now !== this.basePrototype) {
      problems.push({ signature: "prototype pollution", detail: diffLines(this.basePrototype, now) });
    }
    return problems;
  }
}

/**
 * Runs `target` through fast-check until `messages` were sent or `budgetMs` passed. A run that shows a
 * new kind of problem is shrunk by fast-check and recorded as a finding; later runs with the same kind
 * are counted, not stopped on, so one fuzz pass finds every kind it can.
 */
export async function fuzzTarget(
  observer: FuzzObserver,
  target: Target,
  opts: { seed: number; messages: number; budgetMs: number; shrinkMs: number; after?: () => void },
): Promise<{ findings: Finding[]; stats: TargetStats }> {
  observer.beginTarget();
  const findings: Finding[] = [];
  const known = new Set<string>();
  const started = Date.now();
  const batchArb = fc.array(target.arbitrary, { minLength: 1, maxLength: target.sequential ? 4 : 8 });
  const property = fc.asyncProperty(batchArb, async (batch) => {
    if (observer.endTarget().messages >= opts.messages) return;
    await observer.run(target, batch, known, opts.after);
  });
  for (let round = 0; round < 12; round++) {
    const remaining = opts.messages - observer.endTarget().messages;
    const left = opts.budgetMs - (Date.now() - started);
    if (remaining <= 0 || left <= 0) break;
    const seed = (opts.seed + round * 7919 + hash(target.type)) | 0;
    // Find: stop at the first run with a new kind of problem ...
    const found = await fc.check(property, {
      seed,
      numRuns: remaining,
      endOnFailure: true,
      interruptAfterTimeLimit: left,
    });
    if (!found.failed || found.counterexamplePath === null) break;
    // ... then shrink it, from where it was found, for a bounded time.
    const shrunk = await fc.check(property, {
      seed: found.seed,
      path: found.counterexamplePath,
      interruptAfterTimeLimit: opts.shrinkMs,
    });
    const details = shrunk.failed && shrunk.counterexample !== null ? shrunk : found;
    const error = details.errorInstance;
    const problems =
      error instanceof RunFailure
        ? error.problems
        : [{ signature: "property threw", detail: describe(error) }];
    for (const p of problems) {
      if (known.has(p.signature)) continue;
      known.add(p.signature);
      findings.push({
        target: target.type,
        signature: p.signature,
        detail: p.detail,
        example: show(details.counterexample?.[0]),
        replay: `FUZZ_SEED=${opts.seed} (fast-check seed ${details.seed}, path "${details.counterexamplePath ?? ""}")`,
        occurrences: 1,
      });
    }
  }
  const stats = observer.endTarget();
  stats.ms = Date.now() - started;
  if (stats.messages < opts.messages) {
    findings.push({
      target: target.type,
      signature: "slow",
      detail: `only ${stats.messages} of ${opts.messages} messages within the ${opts.budgetMs} ms budget`,
      example: "",
      replay: `FUZZ_SEED=${opts.seed}`,
      occurrences: 1,
    });
  }
  return { findings, stats };
}

/**
 * The flow: every target's instances on one tab, each target's outputs to its own sink, and one
 * `complete` and one `catch` node for the whole tab (the test helper registers each core node type
 * once per flow entry, so a flow may hold only one of each); answers are told apart by message id.
 */
export function fuzzFlow(targets: Target[], configs: FlowNode[], answerNodes = true): FlowNode[] {
  const z = "tab-fuzz";
  const flow: FlowNode[] = [...configs, { id: z, type: "tab", label: "fuzz" }];
  const ids: string[] = [];
  for (const t of targets) {
    for (const instance of t.instances) {
      ids.push(instance.id);
      flow.push({
        ...instance,
        type: t.type,
        z,
        wires: Array.from({ length: t.outputs }, () => [`out-${t.type}`]),
      });
    }
    flow.push({ id: `out-${t.type}`, type: "helper", z });
  }
  if (!answerNodes) return flow;
  flow.push(
    { id: "complete-fuzz", type: "complete", z, scope: ids, uncaught: false, wires: [] },
    { id: "catch-fuzz", type: "catch", z, scope: ids, uncaught: false, wires: [] },
  );
  return flow;
}

/** Ends every session the fuzz left open and waits for each instance's status to show none. */
export async function closeSessions(
  observer: FuzzObserver,
  target: Target,
  after: () => void,
  closeMs: number,
): Promise<string[]> {
  if (!target.openIn) return [];
  const known = new Set(["stall", "double answer"]);
  for (const instance of target.instances.map((_, i) => i)) {
    for (const msg of target.cleanup ?? []) {
      await observer.run(target, [{ to: instance, msg }], known, after).catch(() => undefined);
    }
  }
  const deadline = Date.now() + closeMs;
  const open = (): string[] =>
    target.instances
      .map((i) => ({ id: i.id, text: observer.statusOf(i.id) ?? "" }))
      .filter(({ text }) => (target.openIn?.(text) ?? 0) > 0)
      .map(({ id, text }) => `${id} still shows "${text}" ${closeMs / 1000} s after its sessions were ended`);
  while (open().length > 0 && Date.now() < deadline) await sleep(100);
  return open();
}

/**
 * Unloads every flow and says what is wrong afterwards: resources above the baseline, uncaught
 * exceptions, unhandled rejections, errors at the package's backstop, a changed prototype.
 */
export async function unloadAndCheck(
  observer: FuzzObserver,
  world: { files: { fifo: string }; baseline: ResourceSnapshot },
): Promise<string[]> {
  const prototypesBefore = prototypeKeys().join(",");
  await helper.unload();
  releaseFifoReaders(world.files.fifo);
  const problems = await untilResourcesBack(world.baseline, 10_000);
  if (observer.uncaught.length) problems.push(`${observer.uncaught.length} uncaught exceptions`);
  if (observer.unhandled.length) problems.push(`${observer.unhandled.length} unhandled rejections`);
  const errors = backstopCount();
  if (errors > 0) problems.push(`${errors} errors reached the backstop`);
  if (prototypeKeys().join(",") !== prototypesBefore) problems.push("a prototype changed");
  return problems;
}

export function formatFinding(f: Finding): string {
  return `${f.signature}: ${f.detail}${f.example ? `\n      counterexample: ${f.example}` : ""}\n      replay: ${f.replay}`;
}

/** Opens a FIFO for writing and closes it at once, as often as readers wait on it: each reader gets EOF. */
export function releaseFifoReaders(path: string): number {
  let released = 0;
  for (let i = 0; i < 64; i++) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
      released++;
    } catch {
      return released;
    }
  }
  return released;
}

function emptyStats(): TargetStats {
  return { messages: 0, runs: 0, ms: 0, byDone: 0, byError: 0, maxAnswerMs: 0, outputs: 0 };
}

/**
 * A deep copy of a generated message for one delivery: a node may change the message it gets, and
 * fast-check must keep the value it generated for shrinking and printing. Own "__proto__" keys stay own
 * keys (Node-RED's cloneMessage would turn them into prototypes), and Buffers, typed arrays, Maps,
 * Sets, Dates, boxed values and null prototypes survive.
 */
function clone<T>(value: T, depth = 0, seen = new Map<object, unknown>()): T {
  if (typeof value !== "object" || value === null || depth > 2000) return value;
  const v = value as object;
  // Shared references stay shared (a huge word list is one word repeated): linear, and faithful.
  if (seen.has(v)) return seen.get(v) as T;
  let out: unknown;
  if (Buffer.isBuffer(v)) out = Buffer.from(v);
  else if (ArrayBuffer.isView(v)) out = (v as unknown as { slice(): unknown }).slice();
  else if (v instanceof Date) out = new Date(v.getTime());
  else if (v instanceof Map)
    out = new Map(
      [...(v as Map<unknown, unknown>)].map(([k, x]) => [
        clone(k, depth + 1, seen),
        clone(x, depth + 1, seen),
      ]),
    );
  else if (v instanceof Set) out = new Set([...(v as Set<unknown>)].map((x) => clone(x, depth + 1, seen)));
  else if (v instanceof Number || v instanceof String || v instanceof Boolean) out = Object(v.valueOf());
  else if (Array.isArray(v)) {
    const list = new Array<unknown>(v.length);
    seen.set(v, list);
    for (const key of Object.keys(v))
      (list as unknown as Record<string, unknown>)[key] = clone(
        (v as unknown as Record<string, unknown>)[key],
        depth + 1,
        seen,
      );
    return list as T;
  } else {
    const obj = Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>;
    seen.set(v, obj);
    for (const key of Object.keys(v)) {
      const x = clone((v as Record<string, unknown>)[key], depth + 1, seen);
      if (key === "__proto__")
        Object.defineProperty(obj, key, { value: x, enumerable: true, writable: true, configurable: true });
      else obj[key] = x;
    }
    return obj as T;
  }
  seen.set(v, out);
  return out as T;
}

/** A message's `_msgid`, read defensively (the message may be a hostile object). */
function idOf(msg: object): string | undefined {
  try {
    const id = (msg as { _msgid?: unknown })._msgid;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/** The text an error shows, read defensively. */
function errorText(err: unknown): string {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    return "(an error whose text cannot be read)";
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function dedupe(
  list: Array<{ signature: string; detail: string }>,
): Array<{ signature: string; detail: string }> {
  const seen = new Map<string, { signature: string; detail: string }>();
  for (const p of list) if (!seen.has(p.signature)) seen.set(p.signature, p);
  return [...seen.values()];
}

function kindOf(where: string): string {
  if (where.startsWith("a log")) return "a log entry";
  if (where.startsWith("the status")) return "a status";
  if (where.startsWith("an error to Catch")) return "an error message";
  return "a process warning";
}

/** Where in a value (its path) a needle appears, in a string or a key; Buffers are audio, not text. */
export function findNeedle(
  value: unknown,
  needle: string,
  path = "msg",
  depth = 0,
  budget = { n: 100_000 },
): string | undefined {
  if (--budget.n < 0 || depth > 64) return undefined;
  if (typeof value === "string") return value.toLowerCase().includes(needle) ? path : undefined;
  if (typeof value !== "object" || value === null) return undefined;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return undefined;
  if (value instanceof Map || value instanceof Set) return undefined;
  for (const key of Object.keys(value)) {
    if (key.toLowerCase().includes(needle)) return `${path} key ${clip(key)}`;
    const found = findNeedle(
      (value as Record<string, unknown>)[key],
      needle,
      `${path}.${key}`,
      depth + 1,
      budget,
    );
    if (found) return found;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

function firstLines(err: Error): string {
  return (err.stack ?? `${err.name}: ${err.message}`).split("\n").slice(0, 4).join(" | ");
}

/** A printable counterexample, cut to a readable length (long strings and big arrays abbreviated). */
export function show(value: unknown): string {
  let text: string;
  try {
    text = fc.stringify(abbreviated(value));
  } catch {
    text = describe(value);
  }
  return clip(text, 1500);
}

/** The value with long Buffers and strings shortened, so that a counterexample stays readable. */
function abbreviated(value: unknown, depth = 0): unknown {
  if (typeof value === "string")
    return value.length > 200 ? `${value.slice(0, 200)}…(${value.length} chars)` : value;
  if (typeof value !== "object" || value === null || depth > 30) return value;
  if (Buffer.isBuffer(value)) return value.length > 16 ? `<Buffer of ${value.length} bytes>` : value;
  if (Array.isArray(value)) {
    const head = value.slice(0, 20).map((v) => abbreviated(v, depth + 1));
    return value.length > 20 ? [...head, `…${value.length} items`] : head;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = abbreviated((value as Record<string, unknown>)[key], depth + 1);
    if (key === "__proto__") Object.defineProperty(out, key, { value: v, enumerable: true, writable: true });
    else out[key] = v;
  }
  return out;
}

function clip(text: string, max = 400): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

function diffLines(before: string, after: string): string {
  const was = new Set(before.split("\n"));
  return after
    .split("\n")
    .filter((k) => !was.has(k))
    .join(", ");
}

export function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h | 0;
}
