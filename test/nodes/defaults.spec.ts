import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { strict as assert } from "node:assert";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { taggedPcm, turn } from "../emulators/assemblyai/fixture";
import { AssemblyAiEmulator } from "../emulators/assemblyai/server";
import { AwsBatchTranscribeEmulator } from "../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import { AwsScribeEmulator } from "../emulators/aws-scribe/emulator";
import { COMPREHEND_EMULATOR_CREDENTIALS, ComprehendMedicalEmulator } from "../emulators/comprehend/emulator";
import { scriptedFixture } from "../emulators/aws/fixture";
import { wavOf, tone } from "../support/audio-fixtures";
import { audioChunks, hl7Text, play } from "../support/audio-messages";
import { editorDefinitions, type EditorDefinition } from "../support/editor-definitions";
import { documentWithText, syntheticPatient } from "../support/documents";
import { stubFhirServer, type FhirPeer } from "../support/fhir-peers";
import { medplumPeer, type Peer } from "../support/hl7-peers";
import { builtNode, helper, runtimeLabel, statusTexts, until, type FlowNode } from "../support/node-red";
import { result } from "../support/results";
import { tempDir } from "../support/temp-dir";

/**
 * Every node type starts with only `id`, `type`, `z` and `wires` (and its required config-node
 * references) in its configuration, as a flow written by hand, by an older version of the package or by
 * an import tool may hold it: the editor's defaults (`nodes/<type>/<type>.html`, as assembled into dist/)
 * apply to the rest, through `withDefaults(config, DEFAULTS)` with `DEFAULTS` in `nodes/<type>/defaults.ts`.
 */

const root = join(__dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  "node-red": { nodes: Record<string, string> };
};
const TYPES = Object.keys(pkg["node-red"].nodes);

/** The definitions the assembled editor file of `type` (dist/nodes/<type>/<type>.html) registers. */
function editorDefinitionsOf(type: string): Map<string, EditorDefinition> {
  const html = readFileSync(join(root, "dist/nodes", type, `${type}.html`), "utf8");
  return editorDefinitions(html, `${type}.html`);
}

const definitions = new Map<string, EditorDefinition>();
for (const type of TYPES) for (const [t, def] of editorDefinitionsOf(type)) definitions.set(t, def);
const CONFIG_TYPES = new Set(TYPES.filter((t) => definitions.get(t)?.category === "config"));

/** Properties that hold a reference to a config node (`type:` naming one), by property name. */
function configReferences(type: string): Record<string, string> {
  const defaults = definitions.get(type)?.defaults ?? {};
  return Object.fromEntries(
    Object.entries(defaults)
      .filter(([, p]) => typeof p.type === "string" && CONFIG_TYPES.has(p.type))
      .map(([name, p]) => [name, p.type as string]),
  );
}

/** The editor's default values, minus `name` and config-node references (as plain JSON values). */
function editorDefaults(type: string): Record<string, unknown> {
  const defaults = definitions.get(type)?.defaults ?? {};
  const refs = configReferences(type);
  const values = Object.fromEntries(
    Object.entries(defaults)
      .filter(([name]) => name !== "name" && !(name in refs))
      .map(([name, p]) => [name, p.value]),
  );
  // Values made inside the sandbox have its own Object prototype: compare plain JSON.
  return JSON.parse(JSON.stringify(values)) as Record<string, unknown>;
}

/** What is missing or different between the editor's defaults and nodes/<type>/defaults.ts. */
function defaultsProblems(type: string): string[] {
  const expected = editorDefaults(type);
  const file = join(root, "dist/nodes", type, "defaults.js");
  if (!existsSync(file)) {
    return [
      `nodes/${type}/defaults.ts is missing; it must export const DEFAULTS = ${JSON.stringify(expected)}`,
    ];
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the built module the node uses
  const mod = require(file) as { DEFAULTS?: Record<string, unknown> };
  if (typeof mod.DEFAULTS !== "object" || mod.DEFAULTS === null) {
    return [`nodes/${type}/defaults.ts exports no DEFAULTS object`];
  }
  const actual = mod.DEFAULTS;
  const problems: string[] = [];
  for (const [key, value] of Object.entries(expected)) {
    if (!Object.hasOwn(actual, key)) {
      problems.push(`DEFAULTS lacks ${key} (the editor's default is ${JSON.stringify(value)})`);
    } else if (JSON.stringify(actual[key]) !== JSON.stringify(value)) {
      problems.push(
        `DEFAULTS.${key} is ${JSON.stringify(actual[key])}, the editor's default is ${JSON.stringify(value)}`,
      );
    }
  }
  for (const key of Object.keys(actual)) {
    if (!Object.hasOwn(expected, key)) problems.push(`DEFAULTS has ${key}, which the editor's defaults lack`);
  }
  return problems.map((p) => `${type}: ${p}`);
}

describe("node defaults: nodes/<type>/defaults.ts mirrors the editor's defaults", () => {
  it("reads a definition with defaults from every node type's editor file", () => {
    assert.deepEqual(
      TYPES.filter((t) => !definitions.get(t)?.defaults),
      [],
      "node types whose <type>.html registers no definition with defaults",
    );
    assert.ok(CONFIG_TYPES.has("aws-transcribe-config") && CONFIG_TYPES.has("mllp-endpoint"));
  });

  for (const type of TYPES) {
    it(`${type}: DEFAULTS equals the editor's defaults (minus name and config-node references)`, () => {
      const problems = defaultsProblems(type);
      assert.deepEqual(problems, [], problems.join("\n"));
    });
  }
});

// ---------------------------------------------------------------------------------------------------
// Each type started with a minimal configuration, and given a valid message.

const PHI_FREE_FIXTURE = scriptedFixture([{ text: "Patient denies chest pain." }]);
const AAI_KEY = "defaults-test-api-key";
const PCM16 = { rate: 16000, channels: 1, bits: 16 };

let aws: AwsTranscribeEmulator;
let aai: AssemblyAiEmulator;
let s3: LocalS3;
let batch: AwsBatchTranscribeEmulator;
let mllp: Peer;
let fhir: FhirPeer;
let comprehend: ComprehendMedicalEmulator;
let scribe: AwsScribeEmulator;

/**
 * A config node as a flow may hold it: its id and type, plus only what points it at the local peer
 * (an address the user must always give) — everything else comes from its defaults.
 */
function minimalConfig(type: string, id: string): FlowNode {
  switch (type) {
    case "aws-transcribe-config":
      return {
        id,
        type,
        endpoint:
          id === "batchaws"
            ? batch.endpoint
            : id === "cmaws"
              ? comprehend.endpoint
              : id === "scribeaws"
                ? scribe.endpoint
                : aws.endpoint,
      };
    case "assemblyai-config":
      return { id, type, endpoint: aai.url };
    case "mllp-endpoint":
      return { id, type, port: mllp.port };
    case "fhir-server":
      return { id, type, baseUrl: fhir.baseUrl };
    default:
      throw new Error(`no minimal configuration for config type ${type}`);
  }
}

const CREDENTIALS: Record<string, Record<string, string>> = {
  aws: { ...EMULATOR_CREDENTIALS },
  batchaws: { ...S3RVER_CREDENTIALS },
  cmaws: { ...COMPREHEND_EMULATOR_CREDENTIALS },
  scribeaws: { ...S3RVER_CREDENTIALS },
  assemblyai: { apiKey: AAI_KEY },
};

/**
 * Properties the editor marks required and gives no usable default (the user always fills them in),
 * and the address of the local peer where a node holds it itself.
 */
function userSupplied(type: string): Record<string, unknown> {
  if (type === "transcribe-medical-batch") return { outputBucket: "transcripts", s3Endpoint: s3.endpoint };
  if (type === "scribe-medical") {
    return {
      outputBucket: "transcripts",
      roleArn: "arn:aws:iam::111122223333:role/HealthScribeOutput",
      s3Endpoint: s3.endpoint,
    };
  }
  return {};
}

const CONFIG_IDS: Record<string, string> = {
  "aws-transcribe-config": "aws",
  "assemblyai-config": "assemblyai",
};

interface Flow {
  nodes: FlowNode[];
  credentials: Record<string, Record<string, string>>;
  /** The node under test, and the config node under test when the type is a config type. */
  subject: string;
}

/** The flow for one type: the type (or, for a config type, a node that uses it), minimal, with sinks. */
function minimalFlow(type: string): Flow {
  const user = CONFIG_TYPES.has(type)
    ? TYPES.find((t) => !CONFIG_TYPES.has(t) && Object.values(configReferences(t)).includes(type))
    : type;
  if (!user) throw new Error(`no node type uses the config type ${type}`);
  const configs: FlowNode[] = [];
  const node: FlowNode = { id: "subject", type: user, z: "tab", wires: [] };
  for (const [property, configType] of Object.entries(configReferences(user))) {
    // The batch node's AWS account is the batch emulator's (s3rver's credentials).
    // medical-entities: the Comprehend Medical emulator's account.
    const id =
      user === "transcribe-medical-batch"
        ? "batchaws"
        : user === "medical-entities"
          ? "cmaws"
          : user === "scribe-medical"
            ? "scribeaws"
            : (CONFIG_IDS[configType] ?? `cfg-${configType}`);
    configs.push(minimalConfig(configType, id));
    node[property] = id;
  }
  Object.assign(node, userSupplied(user));
  const outputs = OUTPUTS[user] ?? 1;
  node.wires = Array.from({ length: outputs }, (_, i) => [`out${i}`]);
  const credentials = Object.fromEntries(
    configs.filter((c) => CREDENTIALS[c.id]).map((c) => [c.id, CREDENTIALS[c.id] ?? {}]),
  );
  return {
    nodes: [
      { id: "tab", type: "tab", label: "defaults" },
      ...configs,
      node,
      ...Array.from({ length: outputs }, (_, i) => ({ id: `out${i}`, z: "tab", type: "helper" })),
      { id: "catcher", z: "tab", type: "catch", scope: ["subject"], uncaught: false, wires: [["caught"]] },
      { id: "caught", z: "tab", type: "helper" },
      { id: "completed", z: "tab", type: "complete", scope: ["subject"], wires: [["done"]] },
      { id: "done", z: "tab", type: "helper" },
    ],
    credentials,
    subject: CONFIG_TYPES.has(type) ? (configs.find((c) => c.type === type)?.id ?? "") : "subject",
  };
}

const OUTPUTS: Record<string, number> = {
  "confidence-gate": 2,
  "transcribe-medical": 2,
  "transcribe-standard": 2,
  "assemblyai-medical": 2,
  "transcribe-medical-batch": 2,
  "scribe-medical": 2,
  "mllp-out": 3,
  "fhir-document": 3,
  "review-queue": 2,
};

/** Sends a valid message (or a session's worth) and resolves once it was processed as a user would see. */
type Exercise = (send: (msg: NodeMessage) => void, seen: Seen) => Promise<void>;
interface Seen {
  out: NodeMessage[][];
  caught: NodeMessage[];
  done: NodeMessage[];
}

/** A session of `seconds` of speech, in 100 ms chunks, the last one ending it. */
const awsChunks = (sessionId: string, seconds: number): NodeMessage[] =>
  audioChunks(sessionId, Math.round(seconds * 10), { end: true });

const firstResult = (seen: Seen): boolean => seen.out[0]?.some((m) => typeof m.payload === "object") ?? false;

const EXERCISES: Record<string, Exercise> = {
  "audio-in": async (send, seen) => {
    send({ topic: "defaults-1", payload: wavOf(tone(440, 0.3, 16000), PCM16) });
    await until(
      () => seen.out[0]?.some((m) => (m as { audio?: { end?: boolean } }).audio?.end === true) ?? false,
      5000,
    );
  },
  "filter-final": async (send, seen) => {
    send({ topic: "session-1", payload: result() });
    await until(() => seen.out[0]?.length === 1);
  },
  "confidence-gate": async (send, seen) => {
    send({ topic: "session-1", payload: result() });
    await until(() => seen.out[0]?.length === 1);
  },
  "transcript-document": async (send, seen) => {
    send({ topic: "session-1", payload: result() });
    send({ topic: "session-1", control: "flush" });
    await until(() => seen.out[0]?.length === 1);
  },
  "review-queue": async (send, seen) => {
    send({ payload: documentWithText("Patient denies chest pain."), patient: syntheticPatient });
    await until(() => seen.out[1]?.some((m) => m.topic === "review-audit") ?? false);
  },
  "hl7-mdm": async (send, seen) => {
    send({ payload: documentWithText("Patient denies chest pain."), patient: syntheticPatient });
    await until(() => seen.out[0]?.length === 1);
    assert.match(String(seen.out[0]?.[0]?.payload), /^MSH\|/);
  },
  "mllp-out": async (send, seen) => {
    send({ payload: hl7Text() });
    await until(() => seen.out[0]?.length === 1, 5000);
  },
  "fhir-document": async (send, seen) => {
    send({ payload: documentWithText("Patient denies chest pain."), patient: { id: "TEST-0001" } });
    await until(() => seen.out[0]?.length === 1, 5000);
  },
  "transcribe-medical": async (send, seen) => {
    await play(send, awsChunks("defaults-aws-1", 2.5), 10);
    await until(() => firstResult(seen), 8000);
  },
  "scribe-medical": async (send, seen) => {
    await play(send, awsChunks("defaults-scribe-1", 2.5), 10);
    await until(() => firstResult(seen), 8000);
  },
  "transcribe-standard": async (send, seen) => {
    await play(send, awsChunks("defaults-aws-2", 2.5), 10);
    await until(() => firstResult(seen), 8000);
  },
  "assemblyai-medical": async (send, seen) => {
    const msgs = Array.from({ length: 20 }, (_, i) => ({
      topic: "defaults-aai-1",
      payload: taggedPcm(i * 100, 100),
      audio: {
        sessionId: "defaults-aai-1",
        seq: i,
        sampleRate: 16000,
        channels: 1,
        encoding: "pcm_s16le",
        offsetMs: i * 100,
        durationMs: 100,
        ...(i === 19 ? { end: true } : {}),
      },
    }));
    // AssemblyAI refuses audio faster than real time: play it as a live source does.
    await play(send, msgs, 100);
    await until(() => firstResult(seen), 8000);
  },
  "medical-entities": async (send, seen) => {
    send({ payload: "Patient denies chest pain." });
    await until(() => (seen.out[0]?.length ?? 0) === 1, 5000);
  },
  "transcribe-medical-batch": async (send, seen) => {
    send({ payload: "s3://media/defaults.wav" });
    // The default first poll comes after 2 s.
    await until(() => (seen.out[1]?.length ?? 0) === 1, 10000);
  },
};

describe(`node defaults: every type starts with a minimal configuration (${runtimeLabel})`, function () {
  this.timeout(20000);

  // Node-RED always has a user directory; review-queue's worklist and the durable queues of mllp-endpoint
  // and fhir-server (their default queue store) live below it. The test helper sets none: a temporary one.
  const userDir = tempDir("defaults-userdir-");
  after(() => rmSync(userDir, { recursive: true, force: true }));

  before(async () => {
    helper.settings({ userDir });
    aws = await new AwsTranscribeEmulator({ fixture: PHI_FREE_FIXTURE }).start();
    aai = await AssemblyAiEmulator.start({
      fixture: { turns: [turn(100, "Blood pressure stable.")] },
      apiKeys: [AAI_KEY],
    });
    s3 = await new LocalS3(["media", "uploads", "transcripts"]).start();
    batch = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
      queuedMs: 10,
      inProgressMs: 10,
      script: [{ text: "Patient denies chest pain.", speaker: "spk_0", channel: "ch_0" }],
    }).start();
    const client = new S3Client({
      region: "us-east-1",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    await client.send(
      new PutObjectCommand({
        Bucket: "media",
        Key: "defaults.wav",
        Body: wavOf(tone(440, 0.2, 16000), PCM16),
      }),
    );
    client.destroy();
    mllp = await medplumPeer("AA");
    fhir = await stubFhirServer();
    comprehend = await new ComprehendMedicalEmulator().start();
    scribe = await new AwsScribeEmulator({
      fixture: PHI_FREE_FIXTURE,
      credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
      s3: { endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS },
    }).start();
  });

  after(async () => {
    await aws.stop();
    await aai.close();
    await batch.stop();
    await s3.stop();
    await mllp.close();
    await fhir.close();
    await comprehend.stop();
    await scribe.stop();
  });

  afterEach(() => helper.unload());

  for (const type of TYPES) {
    it(`${type}: starts with only id, type, z, wires and its config references, and processes a valid message`, async () => {
      const flow = minimalFlow(type);
      const types = [...new Set(flow.nodes.map((n) => n.type))].filter((t) => TYPES.includes(t));
      await helper.load(
        types.map((t) => builtNode(t)),
        flow.nodes,
        flow.credentials,
      );
      const node = helper.getNode("subject");
      const subject = helper.getNode(flow.subject);
      assert.ok(node, "the node was created");
      assert.ok(subject, "the config node was created");
      const logSpy = (
        helper as unknown as { log(): { args: Array<[{ level?: number; id?: string; msg?: unknown }]> } }
      ).log();
      const startErrors = (): string[] =>
        logSpy.args
          .filter(([e]) => (e.level ?? 99) <= 20 && (e.id === "subject" || e.id === flow.subject))
          .map(([e]) => `${e.id}: ${e.msg instanceof Error ? e.msg.message : String(e.msg)}`);
      assert.deepEqual(startErrors(), [], "errors logged at start");
      const red = statusTexts(node).filter((t) => /misconfigured/i.test(t));
      assert.deepEqual(red, [], "a misconfigured status at start");

      const seen: Seen = { out: [], caught: [], done: [] };
      const outputs = OUTPUTS[node.type] ?? 1;
      for (let i = 0; i < outputs; i++) {
        const list: NodeMessage[] = [];
        seen.out.push(list);
        helper.getNode(`out${i}`).on("input", (m: NodeMessage) => list.push(m));
      }
      helper.getNode("caught").on("input", (m: NodeMessage) => seen.caught.push(m));
      helper.getNode("done").on("input", (m: NodeMessage) => seen.done.push(m));
      const exercise = EXERCISES[node.type];
      assert.ok(exercise, `no valid message is known for ${node.type}`);
      const send = (m: NodeMessage): void => node.receive(m);
      try {
        await exercise(send, seen);
      } catch (err) {
        const errors = seen.caught.map((m) => (m.error as { message?: string } | undefined)?.message);
        assert.fail(
          `${type}: a valid message was not processed (${(err as Error).message}); errors to Catch: ${JSON.stringify(errors)}`,
        );
      }
      assert.ok(seen.done.length > 0, "done() was called for the valid message");
      const errors = seen.caught.map((m) => (m.error as { message?: string } | undefined)?.message);
      assert.deepEqual(errors, [], "errors to Catch while processing a valid message");
      assert.deepEqual(startErrors(), [], "errors logged while processing");
    });
  }
});
