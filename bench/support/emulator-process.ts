/**
 * An emulator in a process of its own, so that its CPU never counts as the measured process's, and
 * faults can be injected into it from outside. The parent starts it with `EmulatorProcess.start`;
 * the child (this file, run with the argument "child") serves the AWS emulator (h2c) or the
 * AssemblyAI emulator (ws:// or wss://), both in clock mode over the tagged audio of
 * ./tagged-audio.ts, and answers with a provider-neutral report: per provider stream, the session
 * it carried, when each chunk arrived, and every final it produced with the script times of its words.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AssemblyAiEmulator } from "../../test/emulators/assemblyai/server";
import { AwsTranscribeEmulator, type Fault } from "../../test/emulators/aws/emulator";
import { assemblyAiFixture, awsFixture } from "./fixtures";
import { readMark } from "./tagged-audio";

export type Provider = "aws" | "assemblyai";

export interface EmulatorSpec {
  provider: Provider;
  /** Seconds of script: sessions longer than this hear silence after it. */
  fixtureSeconds: number;
  /** AssemblyAI only: serve wss:// with the test certificate (the official SDK speaks nothing else). */
  tls?: boolean;
}

/** One provider stream (AWS) or connection (AssemblyAI), as far as the benches need it. */
export interface StreamReport {
  /** The session its audio was marked with; 0 when it received no marked audio. */
  session: number;
  /** [chunk number, arrival (epoch ms)] of every marked 100 ms frame it received. */
  audio: Array<[number, number]>;
  /** Every final it sent: when (epoch ms), and the script start time of each word (ms). */
  finals: Array<{ at: number; wordStartsMs: number[] }>;
  open: boolean;
  /** How it ended, in the emulator's words (AWS closedBy, AssemblyAI close code). */
  closedBy: string;
}

/**
 * A fault for one open stream, picked at `pick` (0–1) among the open streams that carry one of
 * `sessions` (all open streams when absent); or an outage of the whole (AWS) service.
 */
export type FaultCommand =
  | { provider: "aws"; pick: number; sessions?: number[]; fault: Fault }
  | { provider: "aws"; outageMs: number; mode: "reset" | "unavailable" }
  | {
      provider: "assemblyai";
      pick: number;
      sessions?: number[];
      action: "drop" | "freeze" | "fail";
      code?: number;
    };

type Command =
  | { type: "report"; clear: boolean }
  | { type: "fault"; fault: FaultCommand }
  | { type: "open" }
  | { type: "stop" };

type Reply =
  | { type: "ready"; url: string; wsUrl?: string; cpuSeconds: number }
  | { type: "report"; streams: StreamReport[]; cpuSeconds: number }
  | { type: "fault"; applied: boolean }
  | { type: "open"; count: number };

export const TLS_CERT = join(__dirname, "../../test/fixtures/tls/receiver-cert.pem");
const TLS_KEY = join(__dirname, "../../test/fixtures/tls/receiver-key.pem");
/** The one API key the AssemblyAI emulator accepts, and the AWS emulator's static credentials. */
export const ASSEMBLYAI_KEY = "bench-api-key";
export { EMULATOR_CREDENTIALS } from "../../test/emulators/aws/emulator";

/** The parent's handle on an emulator process. */
export class EmulatorProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    /** The AWS emulator's WebSocket endpoint (its own port, as the service's 8443). */
    readonly wsUrl: string | undefined,
  ) {}

  static async start(spec: EmulatorSpec): Promise<EmulatorProcess> {
    const child = fork(__filename, ["child", JSON.stringify(spec)], { execArgv: ["--require", "tsx/cjs"] });
    const ready = await new Promise<Reply>((resolve, reject) => {
      child.once("message", (m: unknown) => resolve(m as Reply));
      child.once("exit", (code) => reject(new Error(`emulator process exited (${code})`)));
    });
    if (ready.type !== "ready") throw new Error("emulator process did not start");
    return new EmulatorProcess(child, ready.url, ready.wsUrl);
  }

  private ask<T extends Reply["type"]>(command: Command, type: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve) => {
      const onMessage = (m: unknown): void => {
        if ((m as Reply).type !== type) return;
        this.child.off("message", onMessage);
        resolve(m as Extract<Reply, { type: T }>);
      };
      this.child.on("message", onMessage);
      this.child.send(command);
    });
  }

  /**
   * What every stream so far received and produced, and the CPU seconds the emulator process has used;
   * `clear` forgets the streams that have ended.
   */
  async report(clear: boolean): Promise<{ streams: StreamReport[]; cpuSeconds: number }> {
    const { streams, cpuSeconds } = await this.ask({ type: "report", clear }, "report");
    return { streams, cpuSeconds };
  }

  async fault(fault: FaultCommand): Promise<boolean> {
    return (await this.ask({ type: "fault", fault }, "fault")).applied;
  }

  /** Streams or connections open right now. */
  async openStreams(): Promise<number> {
    return (await this.ask({ type: "open" }, "open")).count;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.send({ type: "stop" } satisfies Command);
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------------
// The child.

interface Served {
  url: string;
  wsUrl?: string;
  report(clear: boolean): StreamReport[];
  fault(f: FaultCommand): boolean;
  open(): number;
  close(): Promise<void>;
}

/** Session and arrivals of a stream's audio, from the marks of its first samples. */
function audioOf(heads: Iterable<[Buffer | [number, number] | undefined, number]>): {
  session: number;
  audio: Array<[number, number]>;
} {
  let session = 0;
  const audio: Array<[number, number]> = [];
  for (const [head, at] of heads) {
    if (!head) continue;
    const bytes = Buffer.isBuffer(head) ? head : Buffer.from(Int16Array.from(head).buffer);
    const mark = readMark(bytes);
    if (!mark) continue;
    session ||= mark.session;
    audio.push([mark.seq, at]);
  }
  return { session, audio };
}

const eligibleSession = (sessions: number[] | undefined, session: number): boolean =>
  sessions === undefined || sessions.includes(session);

const sessionOfAws = (audio: Buffer[]): number => {
  for (const a of audio) {
    const mark = readMark(a);
    if (mark) return mark.session;
  }
  return 0;
};

const sessionOfFrames = (frames: Array<{ head: [number, number] | undefined }>): number =>
  audioOf(frames.map((f): [[number, number] | undefined, number] => [f.head, 0])).session;

async function serveAws(spec: EmulatorSpec): Promise<Served> {
  const emu = await new AwsTranscribeEmulator({
    fixture: awsFixture(spec.fixtureSeconds),
    clock: "clock",
    maxConcurrentStreams: 100_000,
    keepAudioBytes: 4,
  }).start();
  return {
    url: emu.endpoint,
    wsUrl: emu.wsEndpoint,
    report: (clear) => {
      const streams = emu.streams.map((s) => ({
        ...audioOf(s.audio.map((a, i): [Buffer, number] => [a, s.audioAt[i] ?? 0])),
        finals: s.finals,
        open: s.closedBy === "open",
        closedBy: s.closedBy,
      }));
      if (clear) {
        const open = emu.streams.filter((s) => s.closedBy === "open");
        emu.streams.length = 0;
        emu.streams.push(...open);
      }
      return streams;
    },
    fault: (f) => {
      if (f.provider !== "aws") return false;
      if ("outageMs" in f) {
        emu.startOutage(f.mode);
        setTimeout(() => emu.endOutage(), f.outageMs);
        return true;
      }
      const open = emu.streams.filter((r) => r.closedBy === "open");
      const eligible = open.filter((r) => eligibleSession(f.sessions, sessionOfAws(r.audio)));
      const target = eligible[Math.floor(f.pick * eligible.length)];
      if (!target) return false;
      // Open streams keep their opening order in both lists.
      return emu.faultOpenStream(open.indexOf(target), f.fault);
    },
    open: () => emu.activeStreams,
    close: () => emu.stop(),
  };
}

async function serveAssemblyAi(spec: EmulatorSpec): Promise<Served> {
  const emu = await AssemblyAiEmulator.start({
    fixture: assemblyAiFixture(spec.fixtureSeconds),
    apiKeys: [ASSEMBLYAI_KEY],
    ...(spec.tls ? { tls: { key: readFileSync(TLS_KEY), cert: readFileSync(TLS_CERT) } } : {}),
  });
  const isOpen = (c: (typeof emu.connections)[number]): boolean => c.closeCode === undefined;
  const frozen = new Set<(typeof emu.connections)[number]>();
  return {
    url: emu.url,
    report: (clear) => {
      const streams = emu.connections.map((c) => ({
        ...audioOf(c.frames.map((f): [[number, number] | undefined, number] => [f.head, f.at])),
        finals: c.finals,
        // A frozen connection stays open here for good; the client has given it up (as open() counts).
        open: isOpen(c) && !frozen.has(c),
        closedBy: String(c.closeCode ?? "open"),
      }));
      if (clear) {
        // A frozen connection is reported once more as given up, then forgotten like a closed one.
        const open = emu.connections.filter((c) => isOpen(c) && !frozen.has(c));
        emu.connections.length = 0;
        emu.connections.push(...open);
      }
      return streams;
    },
    fault: (f) => {
      if (f.provider !== "assemblyai") return false;
      const open = emu.connections.filter(
        (c) => isOpen(c) && !frozen.has(c) && eligibleSession(f.sessions, sessionOfFrames(c.frames)),
      );
      const c = open[Math.floor(f.pick * open.length)];
      if (!c) return false;
      if (f.action === "drop") c.drop();
      else if (f.action === "freeze") {
        // A frozen connection never learns that the client went away: it stays "open" here for good.
        frozen.add(c);
        c.freeze();
      } else c.fail(f.code ?? 3005);
      return true;
    },
    open: () => emu.connections.filter((c) => isOpen(c) && !frozen.has(c)).length,
    close: () => emu.close(),
  };
}

async function child(spec: EmulatorSpec): Promise<void> {
  const served = spec.provider === "aws" ? await serveAws(spec) : await serveAssemblyAi(spec);
  const reply = (r: Reply): void => void process.send?.(r);
  process.on("message", (m: Command) => {
    if (m.type === "report") {
      const cpu = process.cpuUsage();
      reply({ type: "report", streams: served.report(m.clear), cpuSeconds: (cpu.user + cpu.system) / 1e6 });
    } else if (m.type === "fault") reply({ type: "fault", applied: served.fault(m.fault) });
    else if (m.type === "open") reply({ type: "open", count: served.open() });
    else void served.close().then(() => process.exit(0));
  });
  // An orphan (the parent died) must not keep serving.
  process.on("disconnect", () => process.exit(0));
  reply({
    type: "ready",
    url: served.url,
    ...(served.wsUrl !== undefined ? { wsUrl: served.wsUrl } : {}),
    cpuSeconds: 0,
  });
}

if (require.main === module && process.argv[2] === "child") {
  void child(JSON.parse(process.argv[3] ?? "{}") as EmulatorSpec);
}
