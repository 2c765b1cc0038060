import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import net from "node:net";
import type { NodeMessage } from "node-red";
import { taggedPcm, turn } from "../emulators/assemblyai/fixture";
import { AssemblyAiEmulator } from "../emulators/assemblyai/server";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import { scriptedFixture } from "../emulators/aws/fixture";
import { audioChunks, hl7Text, play } from "../support/audio-messages";
import { ffmpegFile, tone, wavOf } from "../support/audio-fixtures";
import { documentWithText, syntheticPatient } from "../support/documents";
import { silentListener, type HostilePeer } from "../support/hostile-peers";
import { builtNodes, delay, helper, redeploy, runtimeLabel, type FlowNode } from "../support/node-red";
import { snapshotResources, untilResourcesBack } from "../support/resources";
import { result } from "../support/results";
import { tempDir } from "../support/temp-dir";

/**
 * Close leaves nothing running: each node type that holds sessions, sockets, timers, child processes
 * or files is given work (a live session against an emulator, a request to a peer that accepts the
 * connection and never answers, a recording paced in real time, an ffmpeg decode, a queued delivery, a
 * batch job, the review page), then closed while that work runs, both ways Node-RED closes a node:
 * removed from the flow (`removed` true) and stopped by a redeploy (`removed` false). Asserted: the close
 * finished within Node-RED's 15 s (Node-RED logs "Close timed out" otherwise, so done was called); no
 * timer, socket, server or file descriptor beyond what the process held before the flow started
 * (`process.getActiveResourcesInfo()` and /proc/self/fd); no child process of ours lives; nothing leaves
 * the old node's outputs after its close.
 */

const AAI_KEY = "close-test-key";
/** Node-RED's close timeout (settings.nodeCloseTimeout). */
const CLOSE_LIMIT_MS = 15_000;
/**
 * How long what a close let go of may take to be gone: a socket Node's own fetch (undici) holds in its
 * shared pool closes after its keep-alive time, 4 s, whoever used it.
 */
const SETTLE_MS = 6000;

let aws: AwsTranscribeEmulator;
let aai: AssemblyAiEmulator;
let silent: HostilePeer;
let mp3 = "";

interface Case {
  name: string;
  nodes: () => FlowNode[];
  credentials?: () => Record<string, Record<string, string>>;
  /** Starts the work, and resolves once it is in flight. */
  start: (send: (msg: NodeMessage) => void) => Promise<void>;
}

const awsConfig = (endpoint: () => string): FlowNode => ({
  id: "aws",
  type: "aws-transcribe-config",
  region: "us-east-1",
  endpoint: endpoint(),
});
const awsCredentials = (): Record<string, Record<string, string>> => ({ aws: { ...EMULATOR_CREDENTIALS } });
const silentUrl = (): string => `http://127.0.0.1:${silent.port}`;

const CASES: Case[] = [
  {
    name: "transcribe-medical, two live sessions against the emulator",
    nodes: () => [awsConfig(() => aws.endpoint), { id: "subject", type: "transcribe-medical", aws: "aws" }],
    credentials: awsCredentials,
    start: async (send) => {
      await play(send, [...audioChunks("live-a", 8), ...audioChunks("live-b", 8)], 20);
    },
  },
  {
    name: "transcribe-medical, a stream to a service that never answers",
    nodes: () => [awsConfig(silentUrl), { id: "subject", type: "transcribe-medical", aws: "aws" }],
    credentials: awsCredentials,
    start: (send) => play(send, audioChunks("stuck", 5), 20),
  },
  {
    name: "transcribe-standard, a stream to a service that never answers",
    nodes: () => [awsConfig(silentUrl), { id: "subject", type: "transcribe-standard", aws: "aws" }],
    credentials: awsCredentials,
    start: (send) => play(send, audioChunks("stuck", 5), 20),
  },
  {
    name: "scribe-medical, a stream to a service that never answers",
    nodes: () => [
      awsConfig(silentUrl),
      {
        id: "subject",
        type: "scribe-medical",
        aws: "aws",
        outputBucket: "transcripts",
        roleArn: "arn:aws:iam::111122223333:role/HealthScribeOutput",
        s3Endpoint: silentUrl(),
      },
    ],
    credentials: awsCredentials,
    start: (send) => play(send, audioChunks("stuck", 5), 20),
  },
  {
    name: "assemblyai-medical, a live session against the emulator",
    nodes: () => [
      { id: "aai", type: "assemblyai-config", endpoint: aai.url },
      { id: "subject", type: "assemblyai-medical", config: "aai" },
    ],
    credentials: () => ({ aai: { apiKey: AAI_KEY } }),
    start: async (send) => {
      const msgs = audioChunks("live-aai", 6, { payload: (i) => taggedPcm(i * 100, 100) });
      await play(send, msgs, 100);
    },
  },
  {
    name: "assemblyai-medical, a connection the service never answers",
    nodes: () => [
      { id: "aai", type: "assemblyai-config", endpoint: `ws://127.0.0.1:${silent.port}/v3/ws` },
      { id: "subject", type: "assemblyai-medical", config: "aai" },
    ],
    credentials: () => ({ aai: { apiKey: AAI_KEY } }),
    start: async (send) => {
      send({ topic: "stuck-aai", payload: taggedPcm(0, 100), audio: { sampleRate: 16000 } });
      await delay(300);
    },
  },
  {
    name: "transcribe-medical-batch, a job whose S3 upload never gets an answer",
    nodes: () => [
      awsConfig(silentUrl),
      {
        id: "subject",
        type: "transcribe-medical-batch",
        aws: "aws",
        outputBucket: "transcripts",
        uploadBucket: "uploads",
        s3Endpoint: silentUrl(),
      },
    ],
    credentials: awsCredentials,
    start: async (send) => {
      send({ payload: wavOf(tone(440, 0.5, 16000), { rate: 16000, channels: 1, bits: 16 }) });
      await delay(300);
    },
  },
  {
    name: "medical-entities, a request Comprehend Medical never answers",
    nodes: () => [awsConfig(silentUrl), { id: "subject", type: "medical-entities", aws: "aws" }],
    credentials: awsCredentials,
    start: async (send) => {
      send({ payload: "Patient denies chest pain." });
      await delay(300);
    },
  },
  {
    name: "mllp-out, a message the receiver never acknowledges (disk queue)",
    nodes: () => [
      { id: "mllp", type: "mllp-endpoint", port: silent.port },
      { id: "subject", type: "mllp-out", endpoint: "mllp" },
    ],
    start: async (send) => {
      send({ payload: hl7Text("No acute distress.") });
      await delay(300);
    },
  },
  {
    name: "fhir-document, a Bundle the server never answers (disk queue)",
    nodes: () => [
      { id: "fhir", type: "fhir-server", baseUrl: `${silentUrl()}/fhir` },
      { id: "subject", type: "fhir-document", server: "fhir" },
    ],
    start: async (send) => {
      send({ payload: documentWithText("No acute distress."), patient: { id: "TEST-0001" } });
      await delay(300);
    },
  },
  {
    name: "audio-in, a recording paced in real time and an mp3 decoded by ffmpeg",
    nodes: () => [{ id: "subject", type: "audio-in", pace: "realtime" }],
    start: async (send) => {
      send({ topic: "paced", payload: wavOf(tone(440, 5, 16000), { rate: 16000, channels: 1, bits: 16 }) });
      send({ topic: "decoded", payload: mp3 });
      await delay(400);
    },
  },
  {
    name: "review-queue, its page served and a document in its worklist",
    nodes: () => [{ id: "subject", type: "review-queue", path: "/review-close" }],
    start: async (send) => {
      send({ payload: documentWithText("Patient denies chest pain."), patient: syntheticPatient });
      await delay(300);
    },
  },
  {
    name: "transcript-document and filter-final, an open session and a held partial",
    nodes: () => [
      { id: "subject", type: "transcript-document", wires: [["second"]] },
      { id: "second", type: "filter-final", partials: "throttle", wires: [["sink"]] },
    ],
    start: async (send) => {
      send({ topic: "session-1", payload: result() });
      helper.getNode("second").receive({ topic: "s2", payload: result({ isFinal: false }) });
      helper.getNode("second").receive({ topic: "s2", payload: result({ isFinal: false, text: "x" }) });
      await delay(100);
    },
  },
];

/** The child processes of this process ("pid command"), but for the `ps` that lists them. */
function children(): string[] {
  const out = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(process.pid)], { encoding: "utf8" });
  return out
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/\sps$/.test(l));
}

/** The process's open TCP sockets by their ends, to tell which peer a leaked one talks to. */
function openSockets(): string[] {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return handles
    .filter((h): h is { localPort?: number; remotePort?: number } => h instanceof net.Socket)
    .filter((h) => h.remotePort !== undefined)
    .map(
      (h) =>
        `${String(h.localPort)}→${String(h.remotePort)}${h.remotePort === silent.port ? " (the silent peer)" : ""}`,
    );
}

function flowOf(c: Case): FlowNode[] {
  const nodes = c
    .nodes()
    .map((n) =>
      n.type.endsWith("-config") || n.type === "mllp-endpoint" || n.type === "fhir-server"
        ? n
        : { z: "tab", wires: [["sink"], ["sink"], ["sink"]], ...n },
    );
  return [
    { id: "tab", type: "tab", label: "close" },
    ...nodes,
    { id: "sink", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  ];
}

describe(`close leaves nothing running (${runtimeLabel})`, function () {
  this.timeout(60_000);
  const userDir = tempDir("close-userdir-");
  const types = [
    "aws-transcribe-config",
    "assemblyai-config",
    "mllp-endpoint",
    "fhir-server",
    "transcribe-medical",
    "transcribe-standard",
    "scribe-medical",
    "assemblyai-medical",
    "transcribe-medical-batch",
    "medical-entities",
    "mllp-out",
    "fhir-document",
    "audio-in",
    "review-queue",
    "transcript-document",
    "filter-final",
  ];

  before(async function () {
    this.timeout(60_000);
    helper.settings({ userDir });
    aws = await new AwsTranscribeEmulator({
      fixture: scriptedFixture([{ text: "Patient denies chest pain." }]),
    }).start();
    aai = await AssemblyAiEmulator.start({
      fixture: { turns: [turn(100, "Blood pressure stable.")] },
      apiKeys: [AAI_KEY],
    });
    silent = await silentListener();
    mp3 = ffmpegFile("close-test.mp3", ["-ar", "16000", "-ac", "1"]);
    // What the runtime and the libraries open once and keep (the first flow, the thread pool, the SDK's
    // agents, the first ffmpeg) are opened before any baseline: every case runs once unmeasured.
    for (const c of CASES) {
      await helper.load(builtNodes(types), flowOf(c), c.credentials?.() ?? {});
      await c.start((m) => helper.getNode("subject").receive(m));
      await helper.unload();
    }
    await delay(500);
  });

  after(async () => {
    await aws.stop();
    await aai.close();
    await silent.close();
    rmSync(userDir, { recursive: true, force: true });
  });

  afterEach(() => helper.unload());

  for (const c of CASES) {
    for (const mode of ["removed", "redeployed"] as const) {
      it(`${c.name}: ${mode} while working, closes in time and leaves nothing running`, async () => {
        await delay(10);
        const baseline = snapshotResources();
        // tsx keeps an esbuild service as a child: only children the flow started count.
        const childrenBefore = new Set(children());
        await helper.load(builtNodes(types), flowOf(c), c.credentials?.() ?? {});
        const logSpy = (
          helper as unknown as { log(): { args: Array<[{ level?: number; msg?: unknown }]> } }
        ).log();
        const out: NodeMessage[] = [];
        helper.getNode("sink").on("input", (m: NodeMessage) => out.push(m));
        await c.start((m) => helper.getNode("subject").receive(m));

        const started = Date.now();
        let after: NodeMessage[] = [];
        if (mode === "removed") {
          // A full deploy of a flow without the node (its sink stays): its close gets `removed` true.
          const left = await redeploy(
            [
              { id: "tab", type: "tab", label: "close" },
              { id: "sink", z: "tab", type: "helper" },
            ],
            {},
            ["sink"],
          );
          after = left.sink ?? [];
        } else {
          // Stopping the flows (as a redeploy or a restart does): `removed` false.
          await helper.unload();
        }
        const closeMs = Date.now() - started;
        const sentAtClose = out.length;
        const timedOut = logSpy.args
          .map(([e]) => String(e.msg))
          .filter((m) => /close timed out|stopping-error/i.test(m));
        assert.deepEqual(timedOut, [], "Node-RED's close timeout fired: done was not called in time");
        assert.ok(closeMs < CLOSE_LIMIT_MS, `the close took ${closeMs} ms`);

        await delay(300);
        assert.equal(out.length + after.length, sentAtClose, "a message left the closed node");
        if (mode === "removed") await helper.unload();
        const held = await untilResourcesBack(baseline, SETTLE_MS);
        assert.deepEqual(
          held,
          [],
          `held after the close: ${openSockets().join("; ")} (aws ${aws.endpoint}, aai ${aai.url})`,
        );
        assert.deepEqual(
          children().filter((p) => !childrenBefore.has(p)),
          [],
          "child processes alive after the close",
        );
      });
    }
  }
});
