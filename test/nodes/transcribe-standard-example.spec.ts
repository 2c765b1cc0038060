import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NodeInitializer } from "node-red";
import type { TranscriptResult } from "../../src/transcript/result";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import { scriptedFixture } from "../emulators/aws/fixture";
import { assertTranscriptResult } from "../support/contract";
import { builtNode, collect, delay, helper, runtimeLabel, type FlowNode } from "../support/node-red";

// The example flow as shipped, with its AWS config node pointed at the emulator instead of AWS.
const nodesDir = join(
  dirname(
    require.resolve("@node-red/nodes/package.json", {
      paths: [
        dirname(
          require.resolve("node-red/package.json", { paths: [process.env.NODE_RED_DIR ?? process.cwd()] }),
        ),
      ],
    }),
  ),
  "core",
);
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED's own core node, by path
const core = (file: string): NodeInitializer => require(join(nodesDir, file)) as NodeInitializer;

const modules = [
  builtNode("aws-transcribe-config"),
  builtNode("transcribe-medical"),
  builtNode("transcribe-standard"),
  builtNode("filter-final"),
  core("common/20-inject.js"),
  core("function/10-function.js"),
  core("function/10-switch.js"),
  core("common/90-comment.js"),
];

describe(`example flow transcribe-standard.json (${runtimeLabel})`, function () {
  this.timeout(15000);
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    // One endpoint, as AWS has: the medical path hears English, the standard path Spanish.
    emu = await new AwsTranscribeEmulator({
      fixture: scriptedFixture([{ text: "Patient denies chest pain." }]),
      standardFixture: scriptedFixture([{ text: "El paciente niega dolor." }]),
      spokenLanguage: "es-US",
    }).start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  it("routes the Spanish encounter to standard Transcribe and the English one to Transcribe Medical", async () => {
    const shipped = JSON.parse(
      readFileSync(join(__dirname, "../../examples/transcribe-standard.json"), "utf8"),
    ) as FlowNode[];
    const aws = shipped.find((n) => n.type === "aws-transcribe-config");
    assert.equal(aws?.endpoint, "", "the example points at AWS itself");
    const flow: FlowNode[] = [
      { id: "tab", type: "tab" },
      ...shipped.map((n) => ({
        ...n,
        ...(n.type === "aws-transcribe-config" ? { endpoint: emu.endpoint } : { z: "tab" }),
        ...(n.type === "debug" ? { type: "helper" } : {}),
      })),
    ];
    await helper.load(modules, flow, { [aws?.id ?? ""]: { ...EMULATOR_CREDENTIALS } });
    const finals = collect("lr-debug-finals");
    const events = collect("lr-debug-events");
    helper.getNode("lr-inject-en").receive({ topic: "encounter-en", language: "en-US" });
    helper.getNode("lr-inject-es").receive({ topic: "encounter-es", language: "es-US" });
    await delay(3800);
    assert.deepEqual(events.map((m) => (m.payload as { event: string }).event).sort(), [
      "ended",
      "ended",
      "started",
      "started",
    ]);
    for (const m of finals) assertTranscriptResult(m.payload);
    const bySession = (prefix: string): TranscriptResult[] =>
      finals.map((m) => m.payload as TranscriptResult).filter((r) => r.sessionId.startsWith(prefix));
    assert.deepEqual(
      bySession("encounter-en").map((r) => [r.provider, r.language, r.text]),
      [["aws-transcribe-medical", "en-US", "Patient denies chest pain."]],
    );
    assert.deepEqual(
      bySession("encounter-es").map((r) => [r.provider, r.language, r.text]),
      [["aws-transcribe", "es-US", "El paciente niega dolor."]],
    );
    const paths = emu.streams.map((s) => s.headers[":path"]).sort();
    assert.deepEqual(paths, ["/medical-stream-transcription", "/stream-transcription"]);
    const standard = emu.streams.find((s) => s.headers[":path"] === "/stream-transcription");
    assert.equal(standard?.headers["x-amzn-transcribe-identify-language"], "true");
  });
});
