import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
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
import { ComprehendMedicalEmulator } from "../emulators/comprehend/emulator";
import {
  hostileFhirServer,
  hostileMllpPeer,
  silentListener,
  type HostilePeer,
} from "../support/hostile-peers";
import { builtNodes, helper } from "../support/node-red";
import { prng } from "../support/prng";
import { snapshotResources, type ResourceSnapshot } from "../support/resources";
import { PHI, type FuzzFiles } from "./generators";
import { fuzzFlow, releaseFifoReaders, type FuzzObserver } from "./harness";
import {
  AAI_KEY,
  AWS_KEY_ID,
  AWS_SECRET,
  configNodes,
  monoWav,
  targets,
  type Peers,
  type Target,
} from "./targets";

/**
 * What the fuzz suites run against, in one Node-RED runtime: the emulators and hostile peers every
 * target points at, the files the generators name, and the flow of every target. Both fuzz suites
 * (hostile values in fuzz.spec.ts, hostile objects in objects.spec.ts) start it the same way.
 */
export interface FuzzWorld {
  list: Target[];
  files: FuzzFiles;
  /** The process's resources once the runtime's one-off ones were opened, before the flows loaded. */
  baseline: ResourceSnapshot;
  /** Unloads nothing: stops the peers and removes the files (unload the flows first). */
  stop(): Promise<void>;
}

/**
 * Starts the peers, loads every target's flow and installs the observer. With `faults`, the peers fail
 * at random (seeded): streams reset, stall or throw, receivers refuse, one Comprehend request in ten fails.
 * Without `answerNodes`, the flow has no Complete and no Catch node.
 */
export async function startWorld(
  observer: FuzzObserver,
  opts: { seed: number; faults: boolean; only?: string; answerNodes?: boolean },
): Promise<FuzzWorld> {
  const random = prng(opts.seed);
  const dir = mkdtempSync(join(tmpdir(), "fuzz-"));
  const files = makeFiles(dir);
  const stops: Array<() => Promise<unknown>> = [];

  const aws = await new AwsTranscribeEmulator({
    fixture: scriptedFixture([
      { text: "Patient denies chest pain." },
      { text: `Mister [PHI]${PHI} has no allergies.` },
    ]),
    credentials: { [AWS_KEY_ID]: AWS_SECRET },
    maxConcurrentStreams: 25,
  }).start();
  stops.push(() => aws.stop());
  // Each new stream takes the next planned fault list: most are healthy, the rest fail in every way
  // the emulator can, at a point in the audio the seed chooses.
  if (opts.faults) for (let i = 0; i < 2000; i++) aws.planFaults(...awsFaults(random));

  const aai = await AssemblyAiEmulator.start({
    fixture: { turns: [turn(100, "Blood pressure stable."), turn(1300, `Mister ${PHI} has no edema.`)] },
    apiKeys: [AAI_KEY],
    inactivitySecondMs: 50,
  });
  stops.push(() => aai.close());
  if (opts.faults) {
    for (let i = 0; i < 2000; i++) aai.plan(aaiPlan(random));
    aai.on("connection", (c: EmulatedConnection) => aaiMidStream(c, random));
  }

  const s3 = await new LocalS3(["media", "uploads", "transcripts"]).start();
  stops.push(() => s3.stop());
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
  const batch = await new AwsBatchTranscribeEmulator({
    s3Endpoint: s3.endpoint,
    s3Credentials: S3RVER_CREDENTIALS,
    credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
    queuedMs: 20,
    inProgressMs: 20,
    script: [{ text: `Mister ${PHI} denies chest pain.`, speaker: "spk_0", channel: "ch_0" }],
  }).start();
  stops.unshift(() => batch.stop());

  const mllp: HostilePeer = await hostileMllpPeer({ slowMs: 100, phiText: PHI });
  const fhir = await hostileFhirServer({ slowMs: 100, phiText: PHI });
  const silent = await silentListener();
  stops.push(
    () => mllp.close(),
    () => fhir.close(),
    () => silent.close(),
  );
  // One request in ten throttled or failing: the retries and their bound are fuzzed too.
  const comprehend = await new ComprehendMedicalEmulator({
    credentials: { [AWS_KEY_ID]: AWS_SECRET },
    randomFault: () => {
      if (!opts.faults) return null;
      const r = random();
      if (r < 0.05) return { type: "TooManyRequestsException", status: 429, message: `slow ${PHI}` };
      if (r < 0.1) return { type: "InternalServerException", status: 500, message: `failed on ${PHI}` };
      return null;
    },
  }).start();
  stops.push(() => comprehend.stop());

  const peers: Peers = {
    awsEndpoint: aws.endpoint,
    aaiUrl: aai.url,
    batchEndpoint: batch.endpoint,
    s3Endpoint: s3.endpoint,
    mllpPort: mllp.port,
    fhirBaseUrl: fhir.baseUrl,
    silentPort: silent.port,
    files,
    comprehendEndpoint: comprehend.endpoint,
  };
  let list = targets(peers);
  if (opts.only) list = list.filter((t) => opts.only?.split(",").includes(t.type));

  // Whatever the runtime opens once and keeps (the thread pool, a first socket) is opened before
  // the baseline, so that only what the flows leave behind counts.
  await warmUp();
  const baseline = snapshotResources();
  observer.install();
  const { nodes, credentials } = configNodes(peers);
  const types = Object.keys(
    (
      JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")) as {
        "node-red": { nodes: object };
      }
    )["node-red"].nodes,
  );
  await helper.load(builtNodes(types), fuzzFlow(list, nodes, opts.answerNodes ?? true), credentials);
  return {
    list,
    files,
    baseline,
    stop: async () => {
      releaseFifoReaders(files.fifo);
      for (const stop of stops) await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
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
  writeFileSync(files.truncatedWav, monoWav(32_000).subarray(0, 1000));
  writeFileSync(files.notAudio, `Patient ${PHI}, seen today.\n`);
  writeFileSync(files.wav, monoWav(16_000));
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
