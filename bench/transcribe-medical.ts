// transcribe-medical: cost per concurrent session and added latency, against a minimal script that
// uses the AWS SDK directly, measured in the same run against the same emulator.
//   NODE_OPTIONS=--expose-gc npx tsx bench/transcribe-medical.ts     (about a minute and a half)
// The emulator runs in a child process, so its CPU does not count. For 1, 10 and 100 concurrent
// real-time sessions of 100 ms chunks it prints, for the node's session layer
// (src/providers/aws/session.ts, what transcribe-medical runs per session) and for the baseline:
// CPU ms per session-second of audio, heap growth per session, chunk in → bytes at the emulator,
// and event out of the emulator → result in the client (median and p95, ms).
import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { fork } from "node:child_process";
import { join } from "node:path";
import { AwsStreamSession } from "../src/providers/aws/session";
import { medicalService } from "../src/providers/aws/service";
import { realScheduler } from "../src/util/scheduler";
import { awsMedicalParams, awsSdkSession } from "./support/sdk-sessions";
import { epochMs, quantile } from "./support/stats";

const RATE = 16000;
const SECONDS = 6;
const CHUNK_MS = 100;
const CREDENTIALS = {
  accessKeyId: "AKIDEMULATOR00000000",
  secretAccessKey: "emulator-secret-key-0000000000000000000000",
};
const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

interface Report {
  streams: Array<{
    audio: Array<[number, number, number]>;
    results: Array<[string, boolean, string, number]>;
  }>;
}

/** One client session under test: push chunks in, results come out through `onResult`. */
interface Runner {
  push(chunk: Buffer): void;
  end(): Promise<void>;
}
type Variant = (
  client: TranscribeStreamingClient,
  onResult: (segmentId: string, isFinal: boolean, text: string) => void,
) => Runner;

const params = awsMedicalParams(RATE);

const nodeLayer: Variant = (client, onResult) => {
  const session = new AwsStreamSession({
    sessionId: "bench",
    service: medicalService(client, params),
    scheduler: realScheduler,
    handlers: { result: (r) => onResult(r.segmentId, r.isFinal, r.text), event: () => undefined },
  });
  return { push: (c) => void session.push(c), end: () => session.end() };
};

/** The least a script can do: a queue feeding the SDK's iterable, and a loop over the results. */
const baseline: Variant = (client, onResult) =>
  awsSdkSession(client, RATE, (r) =>
    onResult(r.ResultId ?? "", r.IsPartial !== true, r.Alternatives?.[0]?.Transcript ?? ""),
  );

interface Figures {
  cpuMsPerSessionSecond: number;
  heapKbPerSession: number;
  inMedian: number;
  inP95: number;
  outMedian: number;
  outP95: number;
}

async function measure(
  variant: Variant,
  sessions: number,
  endpoint: string,
  report: () => Promise<Report>,
): Promise<Figures> {
  const client = new TranscribeStreamingClient({
    region: "us-east-1",
    endpoint,
    credentials: CREDENTIALS,
    logger: quiet,
  });
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const pushedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  const runners = Array.from({ length: sessions }, () =>
    variant(client, (id, fin, text) => receivedAt.set(`${id}|${fin}|${text}`, epochMs())),
  ).map((r, i) => ({ r, i }));
  let heapPeak = 0;
  const chunks = (SECONDS * 1000) / CHUNK_MS;
  for (let seq = 0; seq < chunks; seq++) {
    const tickStart = Date.now();
    for (const { r, i } of runners) {
      const c = Buffer.alloc((RATE * CHUNK_MS * 2) / 1000);
      // The first two samples name the session and the chunk, so the emulator's log can be matched.
      c.writeInt16LE(i + 1, 0);
      c.writeInt16LE(seq, 2);
      pushedAt.set(`${i + 1}|${seq}`, epochMs());
      r.push(c);
    }
    if (seq === chunks / 2) heapPeak = process.memoryUsage().heapUsed;
    await new Promise((res) => setTimeout(res, Math.max(0, CHUNK_MS - (Date.now() - tickStart))));
  }
  await Promise.all(runners.map(({ r }) => r.end()));
  const cpu = process.cpuUsage(cpu0);
  client.destroy();
  const { streams } = await report();
  const inLat: number[] = [];
  const outLat: number[] = [];
  for (const s of streams) {
    for (const [session, seq, at] of s.audio) {
      const sent = pushedAt.get(`${session}|${seq}`);
      if (sent !== undefined && session > 0) inLat.push(at - sent);
    }
    for (const [id, partial, text, at] of s.results) {
      const got = receivedAt.get(`${id}|${!partial}|${text}`);
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
  };
}

async function main(): Promise<void> {
  const child = fork(join(__dirname, "../test/emulators/aws/serve.ts"), [], {
    execArgv: ["--require", "tsx/cjs"],
  });
  const port = await new Promise<number>((resolve) =>
    child.once("message", (m: unknown) => resolve((m as { port: number }).port)),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const report = (): Promise<Report> =>
    new Promise((resolve) => {
      child.once("message", (m: unknown) => resolve(m as Report));
      child.send("report");
    });
  const f = (x: number): string => x.toFixed(2).padStart(8);
  console.log(
    `${SECONDS} s of real-time audio per session, ${CHUNK_MS} ms chunks; latencies in ms (median / p95)`,
  );
  console.log("sessions  variant      cpu ms/session-s  heap KB/session  chunk→emulator        event→result");
  // Warm up both paths (module loading, JIT, the first TLS-free HTTP/2 session) before measuring.
  await measure(baseline, 2, endpoint, report);
  await measure(nodeLayer, 2, endpoint, report);
  for (const n of [1, 10, 100]) {
    const base = await measure(baseline, n, endpoint, report);
    const node = await measure(nodeLayer, n, endpoint, report);
    for (const [name, x] of [
      ["SDK script", base],
      ["transcribe", node],
    ] as const) {
      console.log(
        `${String(n).padStart(8)}  ${name.padEnd(11)} ${f(x.cpuMsPerSessionSecond)}          ${f(x.heapKbPerSession)}        ${f(x.inMedian)} /${f(x.inP95)}  ${f(x.outMedian)} /${f(x.outP95)}`,
      );
    }
    console.log(`          ratio       ${f(node.cpuMsPerSessionSecond / base.cpuMsPerSessionSecond)}x`);
  }
  child.send("stop");
}

void main();
