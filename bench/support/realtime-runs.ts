/**
 * What the real-time benches (bench/pipeline.ts, bench/workers.ts) share: the feeder that gives every
 * session its next 100 ms chunk on a schedule of its own, the measured process forked per run, and the
 * account of a run against the emulator's report (chunk → emulator latency, lag behind schedule, finals
 * produced and delivered).
 */
import { fork } from "node:child_process";
import { TLS_CERT, type StreamReport } from "./emulator-process";
import { epochMs, quantile } from "./stats";
import { CHUNK_MS, sessionChunk } from "./tagged-audio";

/**
 * Session starts are spread over this long, as real sessions do not all start at once; and each
 * session's 100 ms clock has its own phase, as independent encounters (each on its own socket) do not
 * deliver their chunks in the same millisecond. Golden-ratio steps spread any N evenly.
 */
export const STAGGER_MS = 2000;
export const startMs = (session: number): number => Math.floor(((session * 0.6180339887) % 1) * STAGGER_MS);
/** A session is real time while 99 % of its chunks reach the emulator within this of their schedule. */
export const LAG_LIMIT_MS = 200;

export interface FedSession {
  push(c: Buffer): void;
  end(): void;
}

/**
 * Feeds every session in real time: each on its own schedule (chunk `seq` of session i due at
 * t0 + startMs(i) + seq × 100 ms) and its own timer, so each chunk is handed on in a turn of the event
 * loop of its own, as a chunk from a socket is. Records when each chunk was handed on in
 * `pushedAt[i - 1][seq]`; resolves with t0 once every session has had its last chunk (and its end).
 */
export async function feedRealTime(
  sessions: readonly FedSession[],
  chunks: number,
  pushedAt: number[][],
): Promise<number> {
  const t0 = epochMs();
  await Promise.all(
    sessions.map(
      (s, i) =>
        new Promise<void>((resolve) => {
          let seq = 0;
          const tick = (): void => {
            if (seq === chunks) {
              s.end();
              resolve();
              return;
            }
            pushedAt[i][seq] = epochMs();
            s.push(sessionChunk(i + 1, seq));
            seq++;
            // The schedule is absolute: a late chunk does not push the later ones back.
            setTimeout(tick, Math.max(0, t0 + startMs(i + 1) + seq * CHUNK_MS - epochMs()));
          };
          setTimeout(tick, startMs(i + 1));
        }),
    ),
  );
  return t0;
}

/**
 * Runs `file` with the argument "measure" and the spec as JSON in a fresh process (tsx's CommonJS
 * hook, which worker threads inherit; the test certificate trusted) and resolves with what it sends.
 */
export function forkMeasured<R>(file: string, spec: unknown, execArgv: readonly string[] = []): Promise<R> {
  // BENCH_NODE_ARGS="--trace-gc ..." adds V8/Node flags to every measured process, and shows its output.
  const extra = (process.env.BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
  const child = fork(file, ["measure", JSON.stringify(spec)], {
    execArgv: ["--require", "tsx/cjs", "--expose-gc", ...execArgv, ...extra],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: TLS_CERT },
    stdio: ["ignore", extra.length > 0 ? "inherit" : "ignore", "pipe", "ipc"],
  });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once("message", (m: unknown) => resolve(m as R));
    child.once("exit", (code) =>
      reject(new Error(`measured process exited (${code}):\n${stderr.slice(-2000)}`)),
    );
  });
}

/** The measured process's side of forkMeasured: run `measure` on the spec, send the result, exit. */
export function serveMeasured<S, R>(measure: (spec: S) => Promise<R>): void {
  // An orphan (the bench was stopped) must not keep running.
  process.on("disconnect", () => process.exit(1));
  void measure(JSON.parse(process.argv[3] ?? "{}") as S).then(
    (r) => process.send?.(r, () => process.exit(0)),
    (err: Error) => {
      console.error(err.stack);
      process.exit(1);
    },
  );
}

/** What a measured process records for the account. */
export interface FedRun {
  /** Feeder start (epoch ms). */
  t0: number;
  /** pushedAt[i - 1][seq]: when chunk seq of session i was handed on (epoch ms). */
  pushedAt: number[][];
  /** Finals delivered: [session, first word start ms, last word start ms, when]. */
  delivered: Array<[number, number, number, number]>;
}

export interface RunAccount {
  /** Chunk handed on → its arrival at the emulator (ms), every chunk. */
  inLat: number[];
  /** Final out of the emulator → delivered (ms), every final that was delivered. */
  outLat: number[];
  /** Worst chunk lag behind its schedule, and the worst session's 99th-percentile lag (ms). */
  lagMax: number;
  lagP99: number;
  /** Finals the emulator produced. */
  produced: number;
}

const keyOf = (session: number, first: number, last: number): string => `${session}|${first}|${last}`;

/** A run's latencies, lags and finals, matched against the emulator's report of its streams. */
export function accountRun(r: FedRun, streams: readonly StreamReport[]): RunAccount {
  const inLat: number[] = [];
  let lagMax = 0;
  const lagBySession = new Map<number, number[]>();
  const produced = new Map<string, number>();
  for (const s of streams) {
    if (s.session === 0) continue;
    for (const [seq, at] of s.audio) {
      const pushed = r.pushedAt[s.session - 1]?.[seq];
      if (!pushed) continue;
      inLat.push(at - pushed);
      const lag = at - (r.t0 + startMs(s.session) + seq * CHUNK_MS);
      lagMax = Math.max(lagMax, lag);
      const lags = lagBySession.get(s.session) ?? [];
      lagBySession.set(s.session, lags);
      lags.push(lag);
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
  const lagP99 = Math.max(0, ...[...lagBySession.values()].map((lags) => quantile(lags, 0.99)));
  return { inLat, outLat, lagMax, lagP99, produced: produced.size };
}

/** `--name value` from the command line. */
export const argOf =
  (argv: readonly string[]) =>
  (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
