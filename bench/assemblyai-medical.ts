// assemblyai-medical: cost per concurrent session and added latency, against a minimal script that
// uses the official SDK's StreamingTranscriber (npm assemblyai) directly, measured in the same run
// against the same emulator.
//   npx tsx bench/assemblyai-medical.ts     (about a minute and a half)
// The SDK only speaks wss:// and gives ws no TLS options, so the emulator serves TLS with the test
// certificate (test/fixtures/tls) and the measuring process trusts it through NODE_EXTRA_CA_CERTS,
// which Node reads only at start-up: run as above, this file relaunches itself with that variable
// (and --expose-gc) set. Both variants connect over the same wss://. The emulator runs in a further
// child process (this file again, with the argument "emulator"), so its CPU does not count.
// For 1, 10 and 100 concurrent real-time sessions of 100 ms chunks it prints, for the node's session
// layer (src/providers/assemblyai/session.ts, what assemblyai-medical runs per session) and for the
// baseline: CPU ms per session-second of audio (connection set-up included), heap growth per session,
// chunk in → bytes at the emulator, and Turn out of the emulator → result in the client (median and
// p95, ms). Audio starts once every session of a run has its Begin, so latencies are steady-state.
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connectionUrl, MEDICAL_DEFAULTS } from "../src/providers/assemblyai/params";
import { AssemblyAiSession } from "../src/providers/assemblyai/session";
import { taggedPcm, turn, type Fixture } from "../test/emulators/assemblyai/fixture";
import type { ReceivedFrame } from "../test/emulators/assemblyai/server";
import { AssemblyAiEmulator } from "../test/emulators/assemblyai/server";
import { assemblyAiSdkSession } from "./support/sdk-sessions";
import { epochMs, quantile } from "./support/stats";

const RATE = MEDICAL_DEFAULTS.sample_rate;
const SECONDS = 6;
const CHUNK_MS = 100;
const MAX_SESSIONS = 100;
const CERT = join(__dirname, "../test/fixtures/tls/receiver-cert.pem");
const KEY = join(__dirname, "../test/fixtures/tls/receiver-key.pem");
/** One API key per session, so the emulator's log says which session each connection is. */
const keyOf = (session: number): string => `bench-key-${session}`;

/** Three turns in 6 s, each followed by more than the medical default min_turn_silence (800 ms). */
const FIXTURE: Fixture = {
  turns: [
    turn(200, "Patient denies chest pain."),
    turn(2000, "Blood pressure is normal."),
    turn(3800, "Follow up in two weeks."),
  ],
};

interface Report {
  connections: Array<{
    /** The session number (from the API key). */
    session: number;
    /** [chunk number, arrival time] per audio frame. */
    audio: Array<[number, number]>;
    /** [turn_order, end_of_turn, transcript, send time] per Turn. */
    turns: Array<[number, boolean, string, number]>;
  }>;
}

// ---------------------------------------------------------------------------------------------------
// The emulator process.

async function serveEmulator(): Promise<void> {
  const emu = await AssemblyAiEmulator.start({
    fixture: FIXTURE,
    apiKeys: Array.from({ length: MAX_SESSIONS }, (_, i) => keyOf(i + 1)),
    tls: { key: readFileSync(KEY), cert: readFileSync(CERT) },
  });
  const log = new Map<object, Report["connections"][number]>();
  emu.on("connection", (conn: AssemblyAiEmulator["connections"][number]) => {
    const entry: Report["connections"][number] = {
      session: Number(/(\d+)$/.exec(conn.headers.authorization ?? "")?.[1] ?? 0),
      audio: [],
      turns: [],
    };
    log.set(conn, entry);
    // Timestamps without touching the emulator: its logs are plain arrays, so their push is wrapped.
    const pushFrame = conn.frames.push.bind(conn.frames);
    conn.frames.push = (...frames: ReceivedFrame[]): number => {
      const at = epochMs();
      for (const f of frames) {
        if (f.contentMs !== undefined) entry.audio.push([Math.round(f.contentMs / CHUNK_MS), at]);
      }
      return pushFrame(...frames);
    };
    const pushSent = conn.sent.push.bind(conn.sent);
    conn.sent.push = (...messages: Array<Record<string, unknown>>): number => {
      const at = epochMs();
      for (const m of messages) {
        if (m.type === "Turn") {
          entry.turns.push([Number(m.turn_order), m.end_of_turn === true, String(m.transcript), at]);
        }
      }
      return pushSent(...messages);
    };
  });
  process.send?.({ url: emu.url });
  process.on("message", (msg: unknown) => {
    if (msg === "report") {
      const connections = emu.connections.map((c) => log.get(c)).filter((e) => e !== undefined);
      emu.connections.length = 0;
      log.clear();
      process.send?.({ connections } satisfies Report);
    } else if (msg === "stop") {
      void emu.close().then(() => process.exit(0));
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// The measuring process.

/** One client session under test: ready once the service's Begin arrived; chunks in, results out. */
interface Runner {
  ready: Promise<void>;
  push(chunk: Buffer): void;
  end(): Promise<void>;
}
type Variant = (
  url: string,
  session: number,
  onResult: (turnOrder: number, endOfTurn: boolean, transcript: string) => void,
) => Runner;

const nodeLayer: Variant = (url, session, onResult) => {
  let ready: () => void = () => undefined;
  const s = new AssemblyAiSession(
    {
      sessionId: `bench-${session}`,
      url: connectionUrl(url, MEDICAL_DEFAULTS),
      apiKey: keyOf(session),
      params: MEDICAL_DEFAULTS,
    },
    {
      result: (_, raw) => raw && onResult(raw.turn_order, raw.end_of_turn, raw.transcript),
      event: () => undefined,
      state: (state) => {
        if (state === "streaming") ready();
      },
    },
  );
  const r: Runner = {
    ready: new Promise((resolve) => (ready = resolve)),
    push: (c) => void s.write(c),
    end: () => s.end(),
  };
  s.start();
  return r;
};

/** The least a script can do with the SDK: connect, sendAudio each chunk, close. */
const baseline: Variant = (url, session, onResult) =>
  assemblyAiSdkSession(
    url,
    keyOf(session),
    (turn) => onResult(turn.turn_order, turn.end_of_turn, turn.transcript),
    (err) => console.error(`SDK session ${session}: ${err.message}`),
  );

interface Figures {
  cpuMsPerSessionSecond: number;
  heapKbPerSession: number;
  inMedian: number;
  inP95: number;
  outMedian: number;
  outP95: number;
  /** Results the client delivered, and Turns the emulator sent (a check that nothing was lost). */
  delivered: number;
  sent: number;
}

/** The test audio, chunk by chunk: each sample tags its 10 ms of the session (see the fixture). */
const CHUNKS = Array.from({ length: (SECONDS * 1000) / CHUNK_MS }, (_, seq) =>
  taggedPcm(seq * CHUNK_MS, CHUNK_MS, RATE),
);

async function measure(
  variant: Variant,
  sessions: number,
  url: string,
  report: () => Promise<Report>,
): Promise<Figures> {
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const pushedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  const runners = Array.from({ length: sessions }, (_, i) =>
    variant(url, i + 1, (order, end, text) => receivedAt.set(`${i + 1}|${order}|${end}|${text}`, epochMs())),
  );
  await Promise.all(runners.map((r) => r.ready));
  let heapPeak = 0;
  for (let seq = 0; seq < CHUNKS.length; seq++) {
    const tickStart = Date.now();
    const source = CHUNKS[seq];
    runners.forEach((r, i) => {
      // A new Buffer per chunk and session, as audio-in emits a new message per chunk.
      const c = Buffer.alloc(source.length);
      source.copy(c);
      pushedAt.set(`${i + 1}|${seq}`, epochMs());
      r.push(c);
    });
    if (seq === CHUNKS.length / 2) heapPeak = process.memoryUsage().heapUsed;
    await new Promise((res) => setTimeout(res, Math.max(0, CHUNK_MS - (Date.now() - tickStart))));
  }
  await Promise.all(runners.map((r) => r.end()));
  const cpu = process.cpuUsage(cpu0);
  const { connections } = await report();
  const inLat: number[] = [];
  const outLat: number[] = [];
  let sent = 0;
  for (const c of connections) {
    for (const [seq, at] of c.audio) {
      const pushed = pushedAt.get(`${c.session}|${seq}`);
      if (pushed !== undefined) inLat.push(at - pushed);
    }
    for (const [order, end, text, at] of c.turns) {
      sent++;
      const got = receivedAt.get(`${c.session}|${order}|${end}|${text}`);
      if (got !== undefined) outLat.push(got - at);
    }
  }
  return {
    cpuMsPerSessionSecond: (cpu.user + cpu.system) / 1000 / (sessions * SECONDS),
    heapKbPerSession: Math.max(0, heapPeak - heap0) / 1024 / sessions,
    inMedian: quantile(inLat, 0.5),
    inP95: quantile(inLat, 0.95),
    outMedian: quantile(outLat, 0.5),
    outP95: quantile(outLat, 0.95),
    delivered: outLat.length,
    sent,
  };
}

async function main(): Promise<void> {
  const child = fork(__filename, ["emulator"], { execArgv: ["--require", "tsx/cjs"] });
  const url = await new Promise<string>((resolve) =>
    child.once("message", (m: unknown) => resolve((m as { url: string }).url)),
  );
  const report = (): Promise<Report> =>
    new Promise((resolve) => {
      child.once("message", (m: unknown) => resolve(m as Report));
      child.send("report");
    });
  const f = (x: number): string => x.toFixed(2).padStart(8);
  console.log(
    `${SECONDS} s of real-time audio per session, ${CHUNK_MS} ms chunks, over wss:// to the emulator; latencies in ms (median / p95)`,
  );
  console.log(
    "sessions  variant      cpu ms/session-s  heap KB/session  chunk→emulator        event→result       results",
  );
  // Warm up both paths (module loading, JIT, TLS) before measuring.
  await measure(baseline, 2, url, report);
  await measure(nodeLayer, 2, url, report);
  for (const n of [1, 10, 100]) {
    const base = await measure(baseline, n, url, report);
    const node = await measure(nodeLayer, n, url, report);
    for (const [name, x] of [
      ["SDK script", base],
      ["assemblyai", node],
    ] as const) {
      console.log(
        `${String(n).padStart(8)}  ${name.padEnd(11)} ${f(x.cpuMsPerSessionSecond)}          ${f(x.heapKbPerSession)}        ${f(x.inMedian)} /${f(x.inP95)}  ${f(x.outMedian)} /${f(x.outP95)}  ${x.delivered}/${x.sent}`,
      );
    }
    console.log(`          ratio       ${f(node.cpuMsPerSessionSecond / base.cpuMsPerSessionSecond)}x`);
  }
  child.send("stop");
}

/** Starts the measuring process with the test certificate trusted and the garbage collector exposed. */
function relaunch(): void {
  const child = fork(__filename, [], {
    execArgv: ["--require", "tsx/cjs", "--expose-gc"],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: CERT },
  });
  child.on("exit", (code) => process.exit(code ?? 1));
}

if (process.argv[2] === "emulator") void serveEmulator();
else if (process.env.NODE_EXTRA_CA_CERTS !== CERT) relaunch();
else void main();
