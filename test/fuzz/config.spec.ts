import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { taggedPcm } from "../emulators/assemblyai/fixture";
import { speechClockPcm } from "../emulators/aws/fixture";
import { PHI, PHI_NEEDLE, SECRET, SECRET_NEEDLE } from "../fuzz/generators";
import { backstopCount, prototypeKeys } from "../fuzz/harness";
import { tone, wavOf } from "../support/audio-fixtures";
import { audioChunks, hl7Text } from "../support/audio-messages";
import { documentWithText, syntheticPatient } from "../support/documents";
import { editorDefinitions, type EditorDefinition } from "../support/editor-definitions";
import { builtNodes, delay, helper, runtimeEvents, runtimeLabel, type FlowNode } from "../support/node-red";
import { prng } from "../support/prng";
import { snapshotResources, untilResourcesBack } from "../support/resources";
import { result } from "../support/results";
import { tempDir } from "../support/temp-dir";

/**
 * Hostile configurations for every node type: each optional setting (the editor's defaults), and each
 * credential of a config node, replaced by a value a hand-edited, imported or old flow may hold: the
 * wrong JSON type, NaN/Infinity/negative/huge/fractional numbers, empty and 100 KB strings, unknown enum
 * values, `__proto__`/`constructor` keys, a reference to a missing config node or to one of the wrong
 * type, credentials missing or of the wrong type. One node instance per (setting, value), all of one
 * type in one flow. Asserted for each instance: Node-RED created it (no throw); either it started
 * without an error, or the error it logged at start names the setting (its key or its editor label) and
 * every message sent to it then gets an error to Catch; no log line, status or error holds a credential
 * or PHI marker (planted in the credentials and the hostile strings) or is longer than 1,000 characters;
 * no prototype gained a key; no error reached the package's backstop; nothing was created in the working
 * directory (a relative folder setting); after the flow is unloaded, no timer, socket, server or file
 * descriptor of the flow is left. Deterministic given CONFIG_FUZZ_SEED
 * (printed); CONFIG_FUZZ_VALUES sets how many hostile values each setting gets (default 10).
 */

const SEED = Number(process.env.CONFIG_FUZZ_SEED ?? 20261206) | 0;
const VALUES_PER_SETTING = Number(process.env.CONFIG_FUZZ_VALUES ?? 10);
/** Time for a refused instance to answer a message with its error. */
const ANSWER_MS = 3000;
/** A log line or error longer than this echoes a setting the flow gave (a 100 KB string). */
const MAX_TEXT = 1000;

const root = join(__dirname, "../..");
const TYPES = Object.keys(
  (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { "node-red": { nodes: object } })[
    "node-red"
  ].nodes,
);
const definitions = new Map<string, EditorDefinition>();
for (const type of TYPES) {
  const html = readFileSync(join(root, "dist/nodes", type, `${type}.html`), "utf8");
  for (const [t, def] of editorDefinitions(html, `${type}.html`)) definitions.set(t, def);
}
const CONFIG_TYPES = TYPES.filter((t) => definitions.get(t)?.category === "config");

function configReferences(type: string): Record<string, string> {
  return Object.fromEntries(
    Object.entries(definitions.get(type)?.defaults ?? {})
      .filter(([, p]) => typeof p.type === "string" && CONFIG_TYPES.includes(p.type))
      .map(([name, p]) => [name, p.type as string]),
  );
}

/** A label from the node's en-US catalog (`<type>.label.<key>`), without its unit in brackets. */
function labelOf(type: string, key: string): string | undefined {
  const catalog = JSON.parse(
    readFileSync(join(root, "dist/nodes", type, "locales/en-US", `${type}.json`), "utf8"),
  ) as Record<string, { label?: Record<string, unknown> }>;
  const label = catalog[type]?.label?.[key];
  return typeof label === "string" ? label.replace(/\(.*?\)/g, "") : undefined;
}

const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** Words of a key that say nothing on their own ("maxSessions" is named by "session limit"). */
const GENERIC_WORDS = new Set(["max", "min", "code", "ms", "s", "id", "name", "names"]);

/**
 * Whether `text` names the setting `key` of `type`: its key or its editor label, ignoring case and
 * spacing, or every telling word of the key ("the maximum OBX-5 length" names maxObxLength).
 */
function namesSetting(text: string, type: string, key: string): boolean {
  const t = squash(text);
  const names = [key, labelOf(type, key) ?? ""].map(squash).filter((n) => n.length > 1);
  if (names.some((n) => t.includes(n))) return true;
  const words = key
    .split(/(?=[A-Z])/)
    .map((w) => w.toLowerCase().replace(/s$/, ""))
    .filter((w) => w.length > 1 && !GENERIC_WORDS.has(w));
  return words.length > 0 && words.every((w) => t.includes(w));
}

// ---------------------------------------------------------------------------------------------------
// Hostile values

interface Hostile {
  what: string;
  value: unknown;
}

const BIG = `${PHI}-${"x".repeat(100 * 1024)}`;

/** Values any setting may hold in a flow it was not written for. */
const GENERIC: Hostile[] = [
  { what: "null", value: null },
  { what: "true", value: true },
  { what: "false", value: false },
  { what: "an empty array", value: [] },
  { what: "an array", value: [1, "two", null] },
  { what: "an empty object", value: {} },
  { what: "an object", value: { value: 1, type: "num" } },
  { what: "NaN", value: Number.NaN },
  { what: "Infinity", value: Number.POSITIVE_INFINITY },
  { what: "-Infinity", value: Number.NEGATIVE_INFINITY },
  { what: "-1", value: -1 },
  { what: "0", value: 0 },
  { what: "a huge number", value: 1e308 },
  { what: "a fraction", value: 0.37 },
  { what: "a string of a huge number", value: "9".repeat(400) },
  { what: "a negative string", value: "-5" },
  { what: "an empty string", value: "" },
  { what: "a blank string", value: "   " },
  { what: "a 100 KB string", value: BIG },
  { what: "an unknown value", value: "bogus-value" },
  { what: "a path naming a patient", value: `/data/${PHI}/notes` },
  { what: "the string __proto__", value: "__proto__" },
  { what: "the string constructor", value: "constructor" },
  { what: "an object with an own __proto__", value: JSON.parse(`{"__proto__":{"polluted":"${PHI}"}}`) },
  { what: "an object with constructor.prototype", value: { constructor: { prototype: { polluted: PHI } } } },
];

/** The default's value in the other JSON type: a number as a string and back, a boolean as a string. */
function swapped(value: unknown): Hostile[] {
  if (typeof value === "number") return [{ what: `"${value}" as a string`, value: String(value) }];
  if (typeof value === "boolean") {
    return [
      { what: `"${value}" as a string`, value: String(value) },
      { what: `${Number(value)} for a boolean`, value: Number(value) },
    ];
  }
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) {
    return [{ what: `${value} as a number`, value: Number(value) }];
  }
  return [{ what: "a number for a string", value: 7 }];
}

/** The values one setting gets: its default in the other type, and a seeded pick of the generic ones. */
function valuesFor(defaultValue: unknown, random: () => number): Hostile[] {
  const pool = [...GENERIC];
  const picked: Hostile[] = [];
  while (picked.length < VALUES_PER_SETTING && pool.length > 0) {
    picked.push(...pool.splice(Math.floor(random() * pool.length), 1));
  }
  return [...swapped(defaultValue), ...picked];
}

// ---------------------------------------------------------------------------------------------------
// Flows

/** A port nothing listens on (connections are refused at once). */
let closedPort = 0;
const endpointOf = (configType: string): Record<string, unknown> => {
  switch (configType) {
    case "aws-transcribe-config":
      return { region: "us-east-1", endpoint: `http://127.0.0.1:${closedPort}` };
    case "assemblyai-config":
      return { endpoint: `ws://127.0.0.1:${closedPort}/v3/ws` };
    case "mllp-endpoint":
      return { port: closedPort, queueStore: "memory", retries: 0, connectTimeout: 1 };
    case "fhir-server":
      return { baseUrl: `http://127.0.0.1:${closedPort}/fhir`, queueStore: "memory", retries: 0 };
    default:
      return {};
  }
};

/** Credentials of each config type, with the secret marker planted in each. */
function credentialsOf(configType: string): Record<string, string> {
  const keys = Object.keys(definitions.get(configType)?.credentials ?? {});
  if (configType === "aws-transcribe-config") {
    return {
      accessKeyId: "AKIDCONFIGFUZZ000000",
      secretAccessKey: `${SECRET}-aws`,
      sessionToken: `${SECRET}-t`,
    };
  }
  if (configType === "fhir-server") return {};
  return Object.fromEntries(
    keys.filter((k) => k !== "passphrase" && k !== "key").map((k) => [k, `${SECRET}-${k}`]),
  );
}

/** What a node of the type needs besides its defaults (values the user always gives). */
function userSupplied(type: string): Record<string, unknown> {
  if (type === "transcribe-medical-batch") {
    return { outputBucket: "transcripts", s3Endpoint: `http://127.0.0.1:${closedPort}` };
  }
  if (type === "scribe-medical") {
    return {
      outputBucket: "transcripts",
      roleArn: "arn:aws:iam::111122223333:role/HealthScribeOutput",
      s3Endpoint: `http://127.0.0.1:${closedPort}`,
    };
  }
  return {};
}

/** How many outputs the type has, as its editor definition says. */
const outputsOf = (type: string): number => {
  const outputs = (definitions.get(type) as { outputs?: unknown } | undefined)?.outputs;
  return typeof outputs === "number" ? outputs : 1;
};

/** One instance under test: the node that receives messages, and the node whose setting is hostile. */
interface Instance {
  receiver: string;
  /** The receiver's type (the config type's user, for a config type). */
  receiverType: string;
  configured: string;
  setting: string;
  what: string;
}

interface Built {
  nodes: FlowNode[];
  credentials: Record<string, Record<string, unknown>>;
  instances: Instance[];
}

/** The flow for `type`: one instance per (setting, hostile value), each with its own config nodes. */
function hostileFlow(type: string, random: () => number): Built {
  const nodes: FlowNode[] = [{ id: "tab", type: "tab", label: "config fuzz" }];
  const credentials: Record<string, Record<string, unknown>> = {};
  const instances: Instance[] = [];
  const isConfig = CONFIG_TYPES.includes(type);
  const user = isConfig
    ? TYPES.find((t) => !CONFIG_TYPES.includes(t) && Object.values(configReferences(t)).includes(type))
    : type;
  assert.ok(user, `no node type uses ${type}`);
  const refs = configReferences(user);
  // A config node of another type, for references to a node of the wrong type.
  nodes.push({ id: "wrong-type", type: "mllp-endpoint", port: closedPort, queueStore: "memory" });
  nodes.push({ id: "wrong-type-aws", type: "aws-transcribe-config", ...endpointOf("aws-transcribe-config") });
  credentials["wrong-type-aws"] = credentialsOf("aws-transcribe-config");

  let n = 0;
  const add = (
    setting: string,
    what: string,
    patchNode: Record<string, unknown>,
    patchConfig: Record<string, unknown>,
    configCredentials?: Record<string, unknown>,
  ): void => {
    const id = `i${n++}`;
    const node: FlowNode = { id, type: user, z: "tab", wires: [] };
    let configured = id;
    for (const [property, configType] of Object.entries(refs)) {
      const cfgId = `${id}-${property}`;
      const cfg: FlowNode = { id: cfgId, type: configType, ...endpointOf(configType) };
      if (configType === type) {
        Object.assign(cfg, patchConfig);
        configured = cfgId;
        credentials[cfgId] = configCredentials ?? credentialsOf(configType);
      } else {
        credentials[cfgId] = credentialsOf(configType);
      }
      nodes.push(cfg);
      node[property] = cfgId;
    }
    // review-queue serves a page under its path: each instance its own, or all but one are refused.
    if (user === "review-queue") node.path = `/review-${id}`;
    Object.assign(node, userSupplied(user), patchNode);
    node.wires = Array.from({ length: outputsOf(user) }, () => ["sink"]);
    nodes.push(node);
    instances.push({ receiver: id, receiverType: user, configured, setting, what });
  };

  const settings = Object.entries(definitions.get(type)?.defaults ?? {});
  for (const [setting, property] of settings) {
    const values = valuesFor(property.value, random);
    if (!isConfig && setting in refs) {
      values.unshift(
        { what: "a missing config node", value: "no-such-node" },
        {
          what: "a config node of the wrong type",
          value: refs[setting] === "mllp-endpoint" ? "wrong-type-aws" : "wrong-type",
        },
      );
    }
    for (const { what, value } of values) {
      if (isConfig) add(setting, what, {}, { [setting]: value });
      else add(setting, what, { [setting]: value }, {});
    }
  }
  // Own __proto__ and constructor keys on the node's configuration itself.
  const polluted = JSON.parse(
    `{"__proto__":{"polluted":"${PHI}"},"constructor":{"prototype":{"x":1}}}`,
  ) as Record<string, unknown>;
  if (isConfig) add("__proto__", "own __proto__ and constructor keys", {}, polluted);
  else add("__proto__", "own __proto__ and constructor keys", polluted, {});
  if (isConfig) {
    // fhir-server's client key applies to an https base URL only (its refusal says so).
    const keys = Object.keys(definitions.get(type)?.credentials ?? {}).filter(
      (k) => type !== "fhir-server" || (k !== "key" && k !== "passphrase"),
    );
    add("credentials", "no credentials", {}, {}, {});
    for (const key of keys) {
      for (const { what, value } of [
        { what: "a number", value: 4711 },
        { what: "an object", value: { secret: `${SECRET}-obj` } },
        { what: "an array", value: [`${SECRET}-arr`] },
        { what: "a 100 KB string", value: `${SECRET}-${"k".repeat(100 * 1024)}` },
        { what: "null", value: null },
      ]) {
        add(`credentials.${key}`, what, {}, {}, { ...credentialsOf(type), [key]: value });
      }
    }
  }
  nodes.push(
    { id: "sink", z: "tab", type: "helper" },
    { id: "catcher", z: "tab", type: "catch", scope: null, uncaught: false, wires: [["caught"]] },
    { id: "caught", z: "tab", type: "helper" },
  );
  return { nodes, credentials, instances };
}

/** A message each type takes when configured well (the same as the defaults test's). */
function probe(type: string): NodeMessage {
  const chunk = (sessionId: string, payload: Buffer): NodeMessage =>
    audioChunks(sessionId, 1, { end: true, payload: () => payload })[0] ?? {};
  switch (type) {
    case "audio-in":
      return {
        topic: "cf-1",
        payload: wavOf(tone(440, 0.2, 16000), { rate: 16000, channels: 1, bits: 16 }),
      };
    case "filter-final":
    case "confidence-gate":
    case "transcript-document":
      return { topic: "session-1", payload: result() };
    case "review-queue":
    case "hl7-mdm":
    case "fhir-document":
      return {
        payload: documentWithText("Patient denies chest pain."),
        patient: syntheticPatient,
      };
    case "mllp-out":
      return { payload: hl7Text("No acute distress.") };
    case "medical-entities":
      return { payload: "Patient denies chest pain." };
    case "transcribe-medical-batch":
      return { payload: "s3://media/config-fuzz.wav" };
    case "assemblyai-medical":
      return chunk("cf-aai", taggedPcm(0, 100));
    default:
      return chunk("cf-aws", speechClockPcm(0, 0.1, 16000));
  }
}

// ---------------------------------------------------------------------------------------------------

interface LogEntry {
  level?: number;
  id?: string;
  msg?: unknown;
}

const text = (v: unknown): string =>
  v instanceof Error
    ? `${v.name}: ${v.message}`
    : typeof v === "string"
      ? v
      : (JSON.stringify(v) ?? String(v));

describe(`config fuzz: hostile settings for every node type (${runtimeLabel}, seed ${SEED})`, function () {
  this.timeout(120_000);
  const basePrototype = prototypeKeys().join("\n");

  before(async () => {
    console.log(`    config fuzz seed ${SEED} (set CONFIG_FUZZ_SEED to replay another)`);
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closedPort = (server.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    // What the runtime opens once and keeps (its first flow, the thread pool) is opened before any baseline.
    const warmUp = hostileFlow("filter-final", prng(SEED));
    helper.settings({ userDir });
    await helper.load(
      builtNodes(["filter-final", "mllp-endpoint", "aws-transcribe-config"]),
      warmUp.nodes.slice(0, 4),
      {},
    );
    await helper.unload();
  });

  afterEach(() => helper.unload());
  // Node-RED always has a user directory (the durable queues and review-queue's store live below it).
  const userDir = tempDir("config-fuzz-");
  after(() => rmSync(userDir, { recursive: true, force: true }));

  for (const [index, type] of TYPES.entries()) {
    it(`${type}: every hostile setting starts with a default or is refused by name, and nothing leaks`, async () => {
      const random = prng(SEED + index);
      const flow = hostileFlow(type, random);
      const statuses: Array<{ id: string; text: string }> = [];
      const onStatus = (e: { id: string; status?: { text?: unknown; fill?: unknown } }): void =>
        void statuses.push({ id: e.id, text: typeof e.status?.text === "string" ? e.status.text : "" });
      const events = runtimeEvents();
      const backstopBefore = backstopCount();
      // Mocha arms this test's timeout timer once the test function returned its promise: after that.
      await delay(10);
      const baseline = snapshotResources();
      // A relative folder setting would land in Node-RED's working directory: nothing may appear there.
      const cwdBefore = new Set(readdirSync(process.cwd()));
      events.on("node-status", onStatus);
      const problems: string[] = [];
      try {
        const types = [...new Set(flow.nodes.map((n) => n.type))].filter((t) => TYPES.includes(t));
        try {
          await helper.load(builtNodes(types), flow.nodes, flow.credentials);
        } catch (err) {
          // The helper compares the started flow with the one given (should.deepEqual), which NaN and own
          // __proto__ keys fail once the runtime copied them; the flow started all the same.
          if (!helper.getNode("sink")) throw err;
        }
        const logSpy = (helper as unknown as { log(): { args: Array<[LogEntry]> } }).log();
        await delay(300);
        const startLog = logSpy.args.map(([e]) => e);
        const answered = new Map<string, string>();
        const caught: string[] = [];
        helper.getNode("caught").on("input", (m: NodeMessage) => {
          const error = (m as { error?: { message?: unknown; source?: { id?: string } } }).error;
          const id = String(error?.source?.id);
          caught.push(String(error?.message));
          if (!answered.has(id)) answered.set(id, "error");
        });

        const refused: Instance[] = [];
        for (const inst of flow.instances) {
          const label = `${inst.setting} = ${inst.what}`;
          const node = helper.getNode(inst.receiver);
          if (!node) {
            problems.push(`${label}: Node-RED could not create the node (its constructor threw)`);
            continue;
          }
          const ids = new Set([inst.receiver, inst.configured]);
          const errors = startLog
            .filter((e) => (e.level ?? 99) <= 20 && e.id !== undefined && ids.has(e.id))
            .map((e) => text(e.msg));
          if (errors.length > 0) {
            if (!errors.some((e) => namesSetting(e, type, inst.setting.replace(/^credentials\./, "")))) {
              if (!(
                inst.setting === "credentials" && errors.some((e) => /credential|key|token|secret/i.test(e))
              )) {
                problems.push(
                  `${label}: refused without naming the setting: ${errors.join(" | ").slice(0, 300)}`,
                );
              }
            }
            refused.push(inst);
          }
        }
        // Every instance gets a message; a refused one must answer it with an error.
        for (const inst of flow.instances) helper.getNode(inst.receiver)?.receive(probe(inst.receiverType));
        const deadline = Date.now() + ANSWER_MS;
        while (Date.now() < deadline && refused.some((i) => !answered.has(i.receiver))) await delay(50);
        for (const inst of refused) {
          if (!answered.has(inst.receiver)) {
            problems.push(
              `${inst.setting} = ${inst.what}: refused at start, but a message sent to it got no error within ${ANSWER_MS} ms`,
            );
          }
        }
        const texts = [
          ...logSpy.args.map(([e]) => ({ where: `the log (${String(e.id)})`, text: text(e.msg) })),
          ...statuses.map((s) => ({ where: `the status of ${s.id}`, text: s.text })),
          ...caught.map((t) => ({ where: "an error to Catch", text: t })),
        ];
        for (const t of texts) {
          const lower = t.text.toLowerCase();
          if (lower.includes(SECRET_NEEDLE))
            problems.push(`a credential in ${t.where}: ${t.text.slice(0, 200)}`);
          if (lower.includes(PHI_NEEDLE))
            problems.push(`a planted value in ${t.where}: ${t.text.slice(0, 200)}`);
          if (t.text.length > MAX_TEXT)
            problems.push(`${t.text.length} characters in ${t.where}: ${t.text.slice(0, 120)}…`);
        }
        if (prototypeKeys().join("\n") !== basePrototype) problems.push("a prototype gained a key");
        const inBackstop = backstopCount() - backstopBefore;
        if (inBackstop > 0) problems.push(`${inBackstop} errors reached the package's backstop`);
      } finally {
        events.off("node-status", onStatus);
      }
      const started = Date.now();
      await helper.unload();
      const closeMs = Date.now() - started;
      if (closeMs > 15_000) problems.push(`closing the flow took ${closeMs} ms (Node-RED allows 15 s)`);
      const left = await untilResourcesBack(baseline, 5000);
      if (left.length > 0) problems.push(`left after the flow closed: ${left.join("; ")}`);
      const created = readdirSync(process.cwd()).filter((f) => !cwdBefore.has(f));
      for (const f of created) rmSync(join(process.cwd(), f), { recursive: true, force: true });
      if (created.length > 0) problems.push(`created in the working directory: ${created.join(", ")}`);
      const unique = [...new Set(problems)];
      if (unique.length > 0)
        assert.fail(`${type} (${flow.instances.length} instances):\n${unique.join("\n")}`);
    });
  }
});
