import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { turn } from "../emulators/assemblyai/fixture";
import { AssemblyAiEmulator, type EmulatedConnection } from "../emulators/assemblyai/server";
import { AwsBatchTranscribeEmulator } from "../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import { AwsTranscribeEmulator, type ExceptionType, type Fault } from "../emulators/aws/emulator";
import { scriptedFixture } from "../emulators/aws/fixture";
import {
  hostileFhirServer,
  hostileMllpPeer,
  silentListener,
  type HostilePeer,
} from "../support/hostile-peers";
import { builtNodes, helper, runtimeLabel } from "../support/node-red";
import { snapshotResources, untilResourcesBack, type ResourceSnapshot } from "../support/resources";
import { PHI, type FuzzFiles } from "./generators";
import {
  backstopCount,
  FuzzObserver,
  fuzzFlow,
  fuzzTarget,
  prototypeKeys,
  releaseFifoReaders,
  type Finding,
  type TargetStats,
} from "./harness";
import { AAI_KEY, AWS_KEY_ID, AWS_SECRET, configNodes, targets, type Target } from "./targets";
import { ComprehendMedicalEmulator } from "../emulators/comprehend/emulator";

/**
 * Hostile messages to every node type that has an input, all in one Node-RED runtime: at least
 * FUZZ_MESSAGES (10,000) generated messages per type, structured ones with hostile values and
 * arbitrary anything, against hostile peers. Deterministic given FUZZ_SEED (printed); a failure prints
 * the counterexample fast-check shrank to and how to replay it. What each test asserts is in its title.
 *
 *   FUZZ_SEED=123 npx mocha test/fuzz/fuzz.spec.ts        another seed
 *   FUZZ_MESSAGES=1000 npx mocha test/fuzz/fuzz.spec.ts   a quicker pass
 */

const SEED = Number(process.env.FUZZ_SEED ?? 20260117) | 0;
const MESSAGES = Number(process.env.FUZZ_MESSAGES ?? 10_000);
/**
 * Time for one type's messages; a type that cannot take them in time is reported as slow. Most types
 * take their 10,000 in 5–17 s on two cores shared with other work, two took over 20 s; the budget leaves room
 * for that (it costs time only when a type is slow), while a node that blocks or serialises on a timer fails.
 */
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? 40_000);
/** Extra time fast-check may spend shrinking a failure. */
const SHRINK_MS = 8_000;
/** How long sessions may take to close once told to end (idle timeouts are 1 s in the fuzz flows). */
const SESSIONS_CLOSE_MS = 6_000;

/** Node types with an input, from the package's list (config nodes have none). */
const TYPES_WITH_INPUT = [
  "audio-in",
  "filter-final",
  "confidence-gate",
  "transcript-document",
  "hl7-mdm",
  "review-queue",
  "mllp-out",
  "fhir-document",
  "transcribe-medical",
  "transcribe-standard",
  "assemblyai-medical",
  "transcribe-medical-batch",
  "medical-entities",
];

/** A seeded generator for the peers' behaviour (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe(`fuzz: hostile messages to every node type (${runtimeLabel}, seed ${SEED})`, function () {
  this.timeout(BUDGET_MS + SHRINK_MS + SESSIONS_CLOSE_MS + 30_000);

  const observer = new FuzzObserver();
  const allFindings: Finding[] = [];
  const allStats = new Map<string, TargetStats>();
  let list: Target[] = [];
  let dir = "";
  let files: FuzzFiles;
  let aws: AwsTranscribeEmulator;
  let aai: AssemblyAiEmulator;
  let s3: LocalS3;
  let batch: AwsBatchTranscribeEmulator;
  let mllp: HostilePeer;
  let fhir: HostilePeer & { baseUrl: string };
  let silent: HostilePeer;
  let comprehend: ComprehendMedicalEmulator | undefined;
  let baseline: ResourceSnapshot;
  const startedAt = Date.now();

  before(async function () {
    this.timeout(60_000);
    console.log(
      `    fuzz seed ${SEED} (set FUZZ_SEED to replay another), ${MESSAGES} messages per node type`,
    );
    const random = prng(SEED);
    dir = mkdtempSync(join(tmpdir(), "fuzz-"));
    files = makeFiles(dir);

    aws = await new AwsTranscribeEmulator({
      fixture: scriptedFixture([
        { text: "Patient denies chest pain." },
        { text: `Mister [PHI]${PHI} has no allergies.` },
      ]),
      credentials: { [AWS_KEY_ID]: AWS_SECRET },
      maxConcurrentStreams: 25,
    }).start();
    // Each new stream takes the next planned fault list: most are healthy, the rest fail in every way
    // the emulator can, at a point in the audio the seed chooses.
    for (let i = 0; i < 2000; i++) aws.planFaults(...awsFaults(random));

    aai = await AssemblyAiEmulator.start({
      fixture: { turns: [turn(100, "Blood pressure stable."), turn(1300, `Mister ${PHI} has no edema.`)] },
      apiKeys: [AAI_KEY],
      inactivitySecondMs: 50,
    });
    for (let i = 0; i < 2000; i++) aai.plan(aaiPlan(random));
    aai.on("connection", (c: EmulatedConnection) => aaiMidStream(c, random));

    s3 = await new LocalS3(["media", "uploads", "transcripts"]).start();
    const client = new S3Client({
      region: "us-east-1",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    await client.send(
      new PutObjectCommand({ Bucket: "media", Key: "fuzz.wav", Body: readFileSync(files.wav) }),
    );
    client.destroy();
    batch = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
      queuedMs: 20,
      inProgressMs: 20,
      script: [{ text: `Mister ${PHI} denies chest pain.`, speaker: "spk_0", channel: "ch_0" }],
    }).start();

    mllp = await hostileMllpPeer({ slowMs: 100, phiText: PHI });
    fhir = await hostileFhirServer({ slowMs: 100, phiText: PHI });
    silent = await silentListener();
    // One request in ten throttled or failing: the retries and their bound are fuzzed too.
    comprehend = await new ComprehendMedicalEmulator({
      credentials: { [AWS_KEY_ID]: AWS_SECRET },
      randomFault: () => {
        const r = random();
        if (r < 0.05) return { type: "TooManyRequestsException", status: 429, message: `slow ${PHI}` };
        if (r < 0.1) return { type: "InternalServerException", status: 500, message: `failed on ${PHI}` };
        return null;
      },
    }).start();

    list = targets({
      awsEndpoint: aws.endpoint,
      aaiUrl: aai.url,
      batchEndpoint: batch.endpoint,
      s3Endpoint: s3.endpoint,
      mllpPort: mllp.port,
      fhirBaseUrl: fhir.baseUrl,
      silentPort: silent.port,
      files,
      comprehendEndpoint: comprehend.endpoint,
    });
    const only = process.env.FUZZ_ONLY;
    if (only) list = list.filter((t) => only.split(",").includes(t.type));

    // Whatever the runtime opens once and keeps (the thread pool, a first socket) is opened before
    // the baseline, so that only what the flows leave behind counts.
    await warmUp();
    baseline = snapshotResources();
    observer.install();
    const { nodes, credentials } = configNodes({
      awsEndpoint: aws.endpoint,
      aaiUrl: aai.url,
      batchEndpoint: batch.endpoint,
      s3Endpoint: s3.endpoint,
      mllpPort: mllp.port,
      fhirBaseUrl: fhir.baseUrl,
      silentPort: silent.port,
      files,
      comprehendEndpoint: comprehend.endpoint,
    });
    const types = Object.keys(
      (
        JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")) as {
          "node-red": { nodes: object };
        }
      )["node-red"].nodes,
    );
    await helper.load(builtNodes(types), fuzzFlow(list, nodes), credentials);
    observer.attach(list);
  });

  after(async function () {
    this.timeout(30_000);
    observer.uninstall();
    await helper.unload().catch(() => undefined);
    releaseFifoReaders(files.fifo);
    await aws?.stop();
    await aai?.close();
    await batch?.stop();
    await s3?.stop();
    await mllp?.close();
    await fhir?.close();
    await silent?.close();
    await comprehend?.stop();
    rmSync(dir, { recursive: true, force: true });
    printSummary(allFindings, allStats, Date.now() - startedAt);
  });

  // One test per node type with an input; the targets are known once the peers run, so the titles
  // come from the package's list.
  for (const type of TYPES_WITH_INPUT) {
    it(`${type}: answers every message exactly once (done or Catch), within ${2} s, leaking no marker, crashing nothing`, async function () {
      const target = list.find((t) => t.type === type);
      if (!target) this.skip();
      const after = (): void => {
        releaseFifoReaders(files.fifo);
      };
      const { findings, stats } = await fuzzTarget(observer, target, {
        seed: SEED,
        messages: MESSAGES,
        budgetMs: BUDGET_MS,
        shrinkMs: SHRINK_MS,
        after,
      });
      // Late answers, then the end of every session the fuzz opened.
      await observer.settle(3000);
      if (observer.unanswered > 0) {
        findings.push({
          target: type,
          signature: "missing answer",
          detail: `${observer.unanswered} messages never answered (done or an error to Catch)`,
          example: observer.unansweredExample(),
          replay: `FUZZ_SEED=${SEED}`,
          occurrences: observer.unanswered,
        });
      }
      for (const problem of await closeSessions(observer, target, after)) {
        findings.push({
          target: type,
          signature: "sessions left open",
          detail: problem,
          example: "",
          replay: `FUZZ_SEED=${SEED}`,
          occurrences: 1,
        });
      }
      allStats.set(type, stats);
      allFindings.push(...findings);
      console.log(
        `      ${stats.messages} messages in ${stats.runs} runs, ${(stats.ms / 1000).toFixed(1)} s; ` +
          `answered: ${stats.byDone} by done, ${stats.byError} by an error to Catch; slowest answer ${stats.maxAnswerMs} ms; ${stats.outputs} outputs`,
      );
      assert.deepEqual(findings.map(formatFinding), [], `${type}: ${findings.length} findings`);
    });
  }

  it("closes every flow back to its baseline: descriptors, timers, sockets; no crash, no backstop, no pollution", async () => {
    const prototypesBefore = prototypeKeys().join(",");
    await helper.unload();
    releaseFifoReaders(files.fifo);
    const growth = await untilResourcesBack(baseline, 10_000);
    const problems = [...growth];
    if (observer.uncaught.length) problems.push(`${observer.uncaught.length} uncaught exceptions`);
    if (observer.unhandled.length) problems.push(`${observer.unhandled.length} unhandled rejections`);
    const errors = backstopCount();
    if (errors > 0) problems.push(`${errors} errors reached the backstop`);
    if (prototypeKeys().join(",") !== prototypesBefore) problems.push("a prototype changed");
    assert.deepEqual(problems, [], "after all flows were closed");
  });
});

/** Ends every session the fuzz left open and waits for each instance's status to show none. */
async function closeSessions(observer: FuzzObserver, target: Target, after: () => void): Promise<string[]> {
  if (!target.openIn) return [];
  const known = new Set(["stall", "double answer"]);
  for (const instance of target.instances.map((_, i) => i)) {
    for (const msg of target.cleanup ?? []) {
      await observer.run(target, [{ to: instance, msg }], known, after).catch(() => undefined);
    }
  }
  const deadline = Date.now() + SESSIONS_CLOSE_MS;
  const open = (): string[] =>
    target.instances
      .map((i) => ({ id: i.id, text: observer.statusOf(i.id) ?? "" }))
      .filter(({ text }) => (target.openIn?.(text) ?? 0) > 0)
      .map(
        ({ id, text }) =>
          `${id} still shows "${text}" ${SESSIONS_CLOSE_MS / 1000} s after its sessions were ended`,
      );
  while (open().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return open();
}

function awsFaults(random: () => number): Fault[] {
  const r = random();
  const at = Math.round(random() * 20) / 10;
  if (r < 0.8) return [];
  const exceptions: ExceptionType[] = [
    "BadRequestException",
    "LimitExceededException",
    "InternalFailureException",
    "ConflictException",
    "ServiceUnavailableException",
  ];
  const faults: Fault[] = [
    { kind: "reset", afterAudioSec: at },
    { kind: "end", afterAudioSec: at },
    { kind: "stall", afterAudioSec: at },
    {
      kind: "exception",
      type: exceptions[Math.floor(random() * exceptions.length)] ?? "BadRequestException",
      message: `failed for ${PHI}`,
      afterAudioSec: at,
    },
    { kind: "error", code: "InternalFailure", message: `broken near ${PHI}`, afterAudioSec: at },
    { kind: "reject-auth" },
    { kind: "throttle" },
  ];
  return [faults[Math.floor(random() * faults.length)] ?? { kind: "reset" }];
}

function aaiPlan(random: () => number): Parameters<AssemblyAiEmulator["plan"]>[0] {
  const r = random();
  if (r < 0.85) return { beginDelayMs: 0 };
  if (r < 0.9)
    return { reject: [1008, 3005, 3009, 4001][Math.floor(random() * 4)] ?? 3005, message: `refused ${PHI}` };
  if (r < 0.95) return { beginDelayMs: 300 };
  return { stall: true };
}

function aaiMidStream(connection: EmulatedConnection, random: () => number): void {
  const r = random();
  const delay = Math.round(random() * 400);
  if (r < 0.9) return;
  setTimeout(
    () => (r < 0.95 ? connection.drop() : connection.fail(3005, `Session Cancelled: ${PHI}`)),
    delay,
  );
}

/** Files the generators point at: a FIFO, a directory, an empty file, a truncated WAV, a non-audio file, a WAV. */
function makeFiles(dir: string): FuzzFiles {
  const wav = (dataBytes: number): Buffer => {
    const b = Buffer.alloc(44 + dataBytes);
    b.write("RIFF", 0, "latin1");
    b.writeUInt32LE(36 + dataBytes, 4);
    b.write("WAVEfmt ", 8, "latin1");
    b.writeUInt32LE(16, 16);
    b.writeUInt16LE(1, 20);
    b.writeUInt16LE(1, 22);
    b.writeUInt32LE(16000, 24);
    b.writeUInt32LE(32000, 28);
    b.writeUInt16LE(2, 32);
    b.writeUInt16LE(16, 34);
    b.write("data", 36, "latin1");
    b.writeUInt32LE(dataBytes, 40);
    return b;
  };
  const files: FuzzFiles = {
    directory: join(dir, `dir-${PHI}`),
    fifo: join(dir, `fifo-${PHI}`),
    empty: join(dir, `empty-${PHI}.wav`),
    truncatedWav: join(dir, `truncated-${PHI}.wav`),
    notAudio: join(dir, `notes-${PHI}.txt`),
    wav: join(dir, `dictation-${PHI}.wav`),
  };
  mkdirSync(files.directory);
  execFileSync("mkfifo", [files.fifo]);
  writeFileSync(files.empty, Buffer.alloc(0));
  writeFileSync(files.truncatedWav, wav(32_000).subarray(0, 1000));
  writeFileSync(files.notAudio, `Patient ${PHI}, seen today.\n`);
  writeFileSync(files.wav, wav(16_000));
  return files;
}

/** Opens what the runtime keeps open once used (the libuv thread pool, a socket), before the baseline. */
async function warmUp(): Promise<void> {
  await import("node:fs/promises").then((fs) => fs.stat(__filename));
  await new Promise<void>((resolve) => {
    const server = net.createServer((s) => s.destroy());
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      const socket = net.connect(port, "127.0.0.1", () => socket.destroy());
      socket.on("close", () => server.close(() => resolve()));
      socket.on("error", () => undefined);
    });
  });
}

function formatFinding(f: Finding): string {
  return `${f.signature}: ${f.detail}${f.example ? `\n      counterexample: ${f.example}` : ""}\n      replay: ${f.replay}`;
}

function printSummary(findings: Finding[], stats: Map<string, TargetStats>, ms: number): void {
  const total = [...stats.values()].reduce((n, s) => n + s.messages, 0);
  console.log(
    `\n    fuzz: ${total} messages to ${stats.size} node types in ${(ms / 1000).toFixed(1)} s (seed ${SEED})`,
  );
  for (const [type, s] of stats) {
    console.log(
      `      ${type}: ${s.messages} messages, ${(s.ms / 1000).toFixed(1)} s, slowest answer ${s.maxAnswerMs} ms`,
    );
  }
  if (findings.length === 0) return;
  console.log(`    ${findings.length} findings:`);
  for (const f of findings) console.log(`    - ${f.target}: ${formatFinding(f)}`);
}
