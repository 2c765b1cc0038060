import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Node, NodeMessage } from "node-red";
import type { MedicalEntity } from "../../src/providers/comprehend/entities";
import { SessionCollector } from "../../src/transcript/document";
import type { TranscriptWord } from "../../src/transcript/result";
import { COMPREHEND_EMULATOR_CREDENTIALS, ComprehendMedicalEmulator } from "../emulators/comprehend/emulator";
import {
  builtNode,
  collect,
  coreNode,
  flowWithCatch,
  helper,
  loggedTexts,
  nodeRedVersion,
  runtimeLabel,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";
import { result } from "../support/results";

const MARKER = "Zzphimarker";
const modules = [builtNode("aws-transcribe-config"), builtNode("medical-entities")];
const catchSeesCodes = Number(nodeRedVersion.split(".")[0]) >= 4;

let emu: ComprehendMedicalEmulator;

/** Words as a transcriber gives them: "Mr. Zzphimarker takes metformin 500 mg daily." by two speakers. */
function dictationWords(): TranscriptWord[] {
  const spec: Array<[string, "word" | "punctuation", string]> = [
    ["Mr", "word", "spk_0"],
    [".", "punctuation", "spk_0"],
    [MARKER, "word", "spk_0"],
    ["takes", "word", "spk_0"],
    ["metformin", "word", "spk_1"],
    ["500", "word", "spk_1"],
    ["mg", "word", "spk_1"],
    ["daily", "word", "spk_1"],
    [".", "punctuation", "spk_1"],
  ];
  return spec.map(([text, kind, speaker], i) => ({
    text,
    kind,
    speaker,
    startTime: i,
    endTime: i + 0.5,
    confidence: 0.9,
  }));
}
const DICTATION = `Mr. ${MARKER} takes metformin 500 mg daily.`;

function load(
  config: Record<string, unknown> = {},
  secret = COMPREHEND_EMULATOR_CREDENTIALS.secretAccessKey,
): Promise<void> {
  const nodes: FlowNode[] = [
    { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
    {
      id: "me",
      type: "medical-entities",
      aws: "awscfg",
      opEntities: true,
      opIcd10cm: true,
      opRxnorm: true,
      opSnomedct: true,
      deidentify: true,
      concurrency: 2,
      queueLimit: 100,
      timeoutS: 5,
      retry: { baseMs: 5, capMs: 20 },
      wires: [["out"]],
      ...config,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["out"]), {
    awscfg: { accessKeyId: COMPREHEND_EMULATOR_CREDENTIALS.accessKeyId, secretAccessKey: secret },
  });
}

const me = (): Node => helper.getNode("me");
type Out = NodeMessage & {
  entities: MedicalEntity[];
  deidentified?: string;
  entitiesInfo: { requests: number };
};
type Caught = NodeMessage & { error: { message: string; code?: string } };

function assertClean(caught: NodeMessage[] = []): void {
  const texts = [
    ...statusTexts(me()),
    ...loggedTexts(me()),
    ...caught.map((m) => JSON.stringify((m as Caught).error)),
  ].join("\n");
  for (const marker of [MARKER, "metformin", "ZZ-SECRET-MARKER"]) {
    assert.ok(!texts.includes(marker), `${marker} leaked into status, log or error`);
  }
}

function assertCode(m: NodeMessage | undefined, code: string): void {
  const err = (m as Caught | undefined)?.error;
  assert.ok(err, "an error reached the catch node");
  if (catchSeesCodes) assert.equal(err.code, code);
}

describe(`medical-entities node (${runtimeLabel})`, function () {
  this.timeout(15000);
  beforeEach(async () => {
    emu = await new ComprehendMedicalEmulator().start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  it("finds the entities of a final result with codes, the words' times and speaker, and de-identifies it", async () => {
    await load();
    const out = collect("out");
    const caught = collect("caught");
    me().receive({ topic: "s1", payload: result({ text: DICTATION, words: dictationWords() }) });
    await until(() => out.length === 1);
    assert.equal(caught.length, 0);
    const msg = out[0] as Out;
    const metformin = msg.entities.find((e) => e.text === "metformin");
    assert.equal(metformin?.category, "MEDICATION");
    assert.deepEqual(
      metformin?.codes?.map((c) => `${c.system} ${c.code}`),
      ["RxNorm 6809"],
    );
    assert.deepEqual(
      metformin?.attributes.map((a) => a.type),
      ["DOSAGE", "FREQUENCY"],
    );
    assert.deepEqual(metformin?.timing, {
      firstWord: 4,
      lastWord: 4,
      startTime: 4,
      endTime: 4.5,
      speaker: "spk_1",
    });
    const name = msg.entities.find((e) => e.category === "PROTECTED_HEALTH_INFORMATION");
    assert.equal(name?.type, "NAME");
    assert.equal(name?.timing?.startTime, 2);
    assert.equal(msg.deidentified, "Mr. [NAME] takes metformin 500 mg daily.");
    // Five operations, one request each.
    assert.equal(msg.entitiesInfo.requests, 5);
    assert.deepEqual(emu.calls.map((c) => c.op).sort(), [
      "DetectEntitiesV2",
      "DetectPHI",
      "InferICD10CM",
      "InferRxNorm",
      "InferSNOMEDCT",
    ]);
    await until(() => statusTexts(me()).some((s) => /entities$/.test(s)));
    assertClean();
  });

  it("analyses a transcript document and maps entities to its words across speaker lines", async () => {
    await load({ opIcd10cm: false, opRxnorm: false, opSnomedct: false, deidentify: false });
    const out = collect("out");
    const collector = new SessionCollector("s2", "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11");
    collector.add(
      result({ text: DICTATION, words: dictationWords() }),
      undefined,
      Date.parse("2026-01-15T14:30:00Z"),
    );
    const doc = collector.build("flush", Date.parse("2026-01-15T14:31:00Z"));
    me().receive({ payload: doc });
    await until(() => out.length === 1);
    const msg = out[0] as Out;
    assert.equal(msg.deidentified, undefined);
    const metformin = msg.entities.find((e) => e.text === "metformin");
    assert.ok(metformin);
    assert.equal(doc.text.slice(metformin.beginOffset, metformin.endOffset), "metformin");
    assert.equal(metformin.timing?.speaker, "spk_1");
    assert.equal(metformin.codes, undefined, "no code operation asked for");
  });

  it("passes partials over and refuses what is not text with clear errors that carry no text", async () => {
    await load();
    const out = collect("out");
    const caught = collect("caught");
    me().receive({ payload: result({ isFinal: false, text: DICTATION }) });
    me().receive({ payload: Buffer.from(MARKER) });
    me().receive({ payload: 7 });
    me().receive({ payload: " \n" });
    me().receive({ payload: { toString: MARKER } });
    me().receive({ payload: "x".repeat(1024 * 1024 + 10) });
    await until(() => caught.length === 5);
    assert.equal(out.length, 0);
    assertCode(caught[0], "NOT_TEXT");
    assertCode(caught[2], "EMPTY_TEXT");
    assertCode(caught[4], "TEXT_TOO_LARGE");
    assert.match((caught[0] as Caught).error.message, /Buffer/);
    assert.match((caught[1] as Caught).error.message, /Accepted: a final transcript result/);
    assert.equal(emu.calls.length, 0);
    assertClean(caught);
  });

  it("retries throttling, then reports it by name without text", async () => {
    await load({ opIcd10cm: false, opRxnorm: false, opSnomedct: false, deidentify: false });
    const out = collect("out");
    const caught = collect("caught");
    emu.throttle(2);
    me().receive({ payload: DICTATION });
    await until(() => out.length === 1);
    assert.equal((out[0] as Out).entitiesInfo.requests, 3);
    emu.throttle(20);
    me().receive({ payload: DICTATION });
    await until(() => caught.length === 1);
    assertCode(caught[0], "TooManyRequestsException");
    await until(() => statusTexts(me()).some((s) => s.startsWith("error")));
    assertClean(caught);
  });

  it("reports a bad secret without echoing credentials", async () => {
    await load({}, "ZZ-SECRET-MARKER-wrong");
    const caught = collect("caught");
    me().receive({ payload: DICTATION });
    await until(() => caught.length === 1);
    assertCode(caught[0], "InvalidSignatureException");
    assertClean(caught);
  });

  it("bounds concurrency and the queue, refusing one more with QUEUE_FULL", async () => {
    await load({
      concurrency: 1,
      queueLimit: 1,
      opIcd10cm: false,
      opRxnorm: false,
      opSnomedct: false,
      deidentify: false,
    });
    emu.delayMs = 150;
    const out = collect("out");
    const caught = collect("caught");
    for (let i = 0; i < 3; i++) me().receive({ payload: DICTATION });
    await until(() => caught.length === 1);
    assertCode(caught[0], "QUEUE_FULL");
    await until(() => out.length === 2);
    assert.equal(emu.maxInFlight, 1);
  });

  it("stops at once with a request in flight, and sends nothing more after the stop", async () => {
    await load({
      concurrency: 1,
      queueLimit: 5,
      opIcd10cm: false,
      opRxnorm: false,
      opSnomedct: false,
      deidentify: false,
    });
    emu.delayMs = 5000;
    for (let i = 0; i < 3; i++) me().receive({ payload: DICTATION });
    await until(() => emu.calls.length === 1);
    const started = Date.now();
    await helper.unload();
    // The request in flight is cancelled, not waited for (the emulator would answer after 5 s).
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    assert.equal(emu.calls.length, 1, "the waiting messages were not sent after the stop");
  });

  it("refuses to start with nothing to do", async () => {
    await load({
      opEntities: false,
      opIcd10cm: false,
      opRxnorm: false,
      opSnomedct: false,
      deidentify: false,
    });
    const caught = collect("caught");
    me().receive({ payload: DICTATION });
    await until(() => caught.length === 1);
    assert.match((caught[0] as Caught).error.message, /choose at least one/);
    assert.ok(statusTexts(me()).includes("misconfigured"));
  });
});

describe(`medical-entities example flow (${runtimeLabel})`, function () {
  this.timeout(15000);
  const core = coreNode;

  beforeEach(async () => {
    emu = await new ComprehendMedicalEmulator().start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  it("examples/medical-entities.json: the dictation gives coded entities and a de-identified text", async () => {
    const shipped = JSON.parse(
      readFileSync(join(__dirname, "../../examples/medical-entities.json"), "utf8"),
    ) as FlowNode[];
    const flow: FlowNode[] = [
      { id: "tab", type: "tab" },
      ...shipped.map((n) => ({
        ...n,
        z: "tab",
        // The shipped flow points at AWS; here its config node points at the emulator.
        ...(n.type === "aws-transcribe-config" ? { endpoint: emu.endpoint } : {}),
        ...(n.type === "debug" ? { type: "helper" } : {}),
      })),
    ];
    await helper.load(
      [
        ...modules,
        core("common/20-inject.js"),
        core("function/10-function.js"),
        core("common/90-comment.js"),
        core("common/25-catch.js"),
      ],
      flow,
      {
        "me-aws": {
          accessKeyId: COMPREHEND_EMULATOR_CREDENTIALS.accessKeyId,
          secretAccessKey: COMPREHEND_EMULATOR_CREDENTIALS.secretAccessKey,
        },
      },
    );
    const out = collect("me-debug");
    const errors = collect("me-debug-errors");
    helper.getNode("me-inject").receive({});
    await until(() => out.length === 1);
    assert.equal(errors.length, 0);
    const payload = out[0]?.payload as { entities: string[]; deidentified: string };
    assert.deepEqual(payload.entities, [
      "PROTECTED_HEALTH_INFORMATION: [NAME]",
      "PROTECTED_HEALTH_INFORMATION: [AGE]",
      "PROTECTED_HEALTH_INFORMATION: [DATE]",
      "MEDICAL_CONDITION: chest pain (negated) {ICD-10-CM R07.9}",
      "MEDICAL_CONDITION: hypertension {ICD-10-CM I10}",
      "MEDICAL_CONDITION: type 2 diabetes {ICD-10-CM E11.9}",
      "MEDICATION: metformin [DOSAGE 500 mg, FREQUENCY twice daily] {RxNorm 6809}",
      "TEST_TREATMENT_PROCEDURE: electrocardiogram",
    ]);
    assert.match(payload.deidentified, /^Mr\. \[NAME\] is a \[AGE\]-year-old seen on \[DATE\]\./);
  });
});
