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

// Loaded once, as the other node tests do: the built modules and their catalogs.
const modules = [
  builtNode("aws-transcribe-config"),
  builtNode("transcribe-medical"),
  builtNode("filter-final"),
  core("common/20-inject.js"),
  core("function/10-function.js"),
  core("common/90-comment.js"),
];

describe(`example flow transcribe-medical.json (${runtimeLabel})`, function () {
  this.timeout(10000);
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({
      fixture: scriptedFixture([{ text: "Patient denies chest pain." }]),
    }).start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  it("plays its synthetic tone through transcribe-medical: a session starts, ends after 3 s, finals pass", async () => {
    const shipped = JSON.parse(
      readFileSync(join(__dirname, "../../examples/transcribe-medical.json"), "utf8"),
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
    const finals = collect("tm-debug-finals");
    const events = collect("tm-debug-events");
    helper.getNode("tm-inject").receive({});
    await delay(3600);
    assert.deepEqual(
      events.map((m) => (m.payload as { event: string }).event),
      ["started", "ended"],
    );
    assert.deepEqual(
      finals.map((m) => (m.payload as TranscriptResult).text),
      ["Patient denies chest pain."],
    );
    for (const m of finals) assertTranscriptResult(m.payload);
    assert.equal(emu.streams[0]?.headers["x-amzn-transcribe-content-identification-type"], "PHI");
    assert.equal(Buffer.concat(emu.streams[0]?.audio ?? []).length, 3 * 16000 * 2);
  });
});
