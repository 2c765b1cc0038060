// Redeploys against an endpoint that never answers: does memory stay flat, and do sockets, descriptors
// and timers go back to where they were?
//   npx tsx --expose-gc bench/redeploy-memory.ts                 (50 full deploys; about five minutes)
//   npx tsx --expose-gc bench/redeploy-memory.ts --peer blackhole --scheme https --sessions 25
// Each deploy takes about 6.5 s: the node waits its 5 s for sessions to end cleanly before it cuts them.
// A real Node-RED 4 runs in this process (bench/support/node-red.ts) with an aws-transcribe-config node
// whose endpoint is a dead peer in a process of its own (test/support/dead-endpoints.ts): "silent"
// (accepts TCP, never answers: no HTTP/2 SETTINGS), "blackhole" (a connect that never completes) or
// "refused". Each cycle deploys the flow in full (every node stops, then starts), sends `--sessions`
// sessions of 1 s of audio (100 ms chunks) to a transcribe-medical node (the editor's defaults), and
// lets them try to connect for `--dwell-ms`. After the first deploy, every 10 deploys and at the end
// (after an empty deploy and `--settle-ms`) it forces a full GC and prints the heap, RSS, external
// memory, open descriptors (/proc/self/fd) and active handles by kind.
import type { NodeMessage } from "node-red";
import { readdirSync } from "node:fs";
import { deadEndpoint, type DeadKind } from "../test/support/dead-endpoints";
import { EmbeddedNodeRed, type FlowNode } from "./support/node-red";
import { sleep } from "./support/stats";

const RATE = 16000;
const CREDENTIALS = {
  accessKeyId: "AKIDBENCH0000000000",
  secretAccessKey: "bench-secret-key-000000000000000000000000",
};

function option(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? String(argv[i + 1]) : fallback;
}

const argv = process.argv.slice(2);
const REDEPLOYS = Number(option(argv, "redeploys", "50"));
const PEER = option(argv, "peer", "silent") as DeadKind;
const SESSIONS = Number(option(argv, "sessions", "5"));
const DWELL_MS = Number(option(argv, "dwell-ms", "1500"));
const SETTLE_MS = Number(option(argv, "settle-ms", "3000"));
const SCHEME = option(argv, "scheme", "http") as "http" | "https";

function flow(endpoint: string): FlowNode[] {
  return [
    { id: "tab", type: "tab", label: "redeploy" },
    { id: "src", type: "junction", z: "tab", x: 0, y: 0, wires: [["tm"]] },
    {
      id: "awscfg",
      type: "aws-transcribe-config",
      region: "us-east-1",
      endpoint,
      credentials: CREDENTIALS,
    },
    {
      id: "tm",
      type: "transcribe-medical",
      z: "tab",
      aws: "awscfg",
      specialty: "PRIMARYCARE",
      medicalType: "CONVERSATION",
      sampleRate: RATE,
      mediaEncoding: "pcm",
      showSpeakerLabel: false,
      channelIdentification: false,
      contentIdentification: "",
      vocabularyName: "",
      keepRaw: false,
      idleTimeoutS: 30,
      wires: [[], []],
    },
  ];
}

function chunk(sessionId: string, seq: number): NodeMessage {
  return {
    topic: sessionId,
    payload: Buffer.alloc((RATE / 10) * 2, seq % 251),
    audio: {
      sessionId,
      seq,
      sampleRate: RATE,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: seq * 100,
      durationMs: 100,
    },
  };
}

interface Figures {
  heapMiB: number;
  rssMiB: number;
  externalMiB: number;
  fds: number;
  handles: Record<string, number>;
}

async function measure(): Promise<Figures> {
  for (let i = 0; i < 4; i++) {
    global.gc?.();
    await sleep(50);
  }
  const m = process.memoryUsage();
  const handles: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) handles[r] = (handles[r] ?? 0) + 1;
  const mib = (n: number): number => Math.round((n / 2 ** 20) * 10) / 10;
  return {
    heapMiB: mib(m.heapUsed),
    rssMiB: mib(m.rss),
    externalMiB: mib(m.external),
    fds: readdirSync("/proc/self/fd").length,
    handles,
  };
}

function line(label: string, f: Figures): string {
  const kinds = Object.entries(f.handles)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}=${n}`)
    .join(" ");
  return `${label.padEnd(16)} heap ${f.heapMiB.toFixed(1).padStart(6)} MiB  rss ${f.rssMiB
    .toFixed(1)
    .padStart(6)} MiB  external ${f.externalMiB.toFixed(1).padStart(5)} MiB  fds ${String(f.fds).padStart(
    4,
  )}  handles: ${kinds}`;
}

async function main(): Promise<void> {
  if (!global.gc) console.log("(run with --expose-gc for figures after a full GC)");
  const peer = await deadEndpoint(PEER);
  const red = await EmbeddedNodeRed.start();
  const endpoint = peer.url(SCHEME);
  console.log(
    `${REDEPLOYS} full deploys of transcribe-medical → ${PEER} peer (${SCHEME}), ${SESSIONS} sessions of 1 s each, ${DWELL_MS} ms between deploys`,
  );
  const base = await measure();
  console.log(line("before", base));
  const started = Date.now();
  let first: Figures | undefined;
  for (let i = 1; i <= REDEPLOYS; i++) {
    await red.deploy(flow(endpoint), "full");
    for (let seq = 0; seq < 10; seq++) {
      for (let s = 0; s < SESSIONS; s++) red.send("src", chunk(`bench-${i}-${s}`, seq));
    }
    await sleep(DWELL_MS);
    if (i === 1 || i % 10 === 0) {
      const f = await measure();
      first ??= f;
      console.log(line(`deploy ${i}`, f));
    }
  }
  const deployMs = Date.now() - started;
  await red.deploy([], "full");
  await sleep(SETTLE_MS);
  const end = await measure();
  console.log(line("empty + settle", end));
  console.log(
    `heap growth from deploy 1 to the end: ${(end.heapMiB - (first?.heapMiB ?? base.heapMiB)).toFixed(1)} MiB; rss: ${(
      end.rssMiB - (first?.rssMiB ?? base.rssMiB)
    ).toFixed(1)} MiB; fds vs before: ${end.fds - base.fds}; ${REDEPLOYS} deploys took ${(
      deployMs / 1000
    ).toFixed(1)} s`,
  );
  await red.stop();
  await peer.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
