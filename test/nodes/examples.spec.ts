import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import type { GateDecision } from "../../src/routing/confidence-gate";
import type { TranscriptResult } from "../../src/transcript/result";
import { assertAudioChunk, assertTranscriptResult } from "../support/contract";
import { builtNode, collect, delay, helper, runtimeLabel, type FlowNode } from "../support/node-red";

// The example flows run as shipped, with the core nodes they use; debug nodes become test sinks.
const nodesDir = join(
  dirname(require.resolve("@node-red/nodes/package.json", { paths: [nodeRedDirOrRoot()] })),
  "core",
);
const core = (file: string): NodeInitializer =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED's own core node, by path
  require(join(nodesDir, file)) as NodeInitializer;

function nodeRedDirOrRoot(): string {
  return dirname(
    require.resolve("node-red/package.json", { paths: [process.env.NODE_RED_DIR ?? process.cwd()] }),
  );
}

function example(name: string): FlowNode[] {
  const flow = JSON.parse(
    readFileSync(join(__dirname, "../../examples", `${name}.json`), "utf8"),
  ) as FlowNode[];
  return [
    { id: "tab", type: "tab" },
    ...flow.map((n) => ({ ...n, z: "tab", ...(n.type === "debug" ? { type: "helper" } : {}) })),
  ];
}

const modules = [
  builtNode("audio-in"),
  builtNode("filter-final"),
  builtNode("confidence-gate"),
  core("common/20-inject.js"),
  core("function/10-function.js"),
  core("common/90-comment.js"),
];

const texts = (msgs: NodeMessage[]): string[] => msgs.map((m) => (m.payload as TranscriptResult).text);

describe(`example flows (${runtimeLabel})`, () => {
  afterEach(() => helper.unload());

  it("filter-final.json: one segment gives one final, and throttled captions ending in the final", async () => {
    await helper.load(modules, example("filter-final"));
    const finals = collect("ff-debug-final");
    const captions = collect("ff-debug-captions");
    helper.getNode("ff-inject").receive({});
    await delay(1200);
    assert.deepEqual(texts(finals), ["Patient denies chest pain."]);
    assert.ok(
      captions.length >= 2 && captions.length < 5,
      `throttled captions: ${texts(captions).join(" | ")}`,
    );
    assert.equal(texts(captions).at(-1), "Patient denies chest pain.");
    for (const m of [...finals, ...captions]) assertTranscriptResult(m.payload);
  });

  it("audio-in.json: the simulated recorder gives 3 s of 16 kHz mono frames, the last marked end", async () => {
    await helper.load(modules, example("audio-in"));
    const frames = collect("ai-debug");
    helper.getNode("ai-inject").receive({});
    const deadline = Date.now() + 6000;
    while (!frames.some((m) => (m.audio as { end?: boolean }).end) && Date.now() < deadline) await delay(50);
    assert.equal(frames.length, 31, "30 frames of 100 ms and the end marker");
    for (const m of frames) assertAudioChunk(m);
    assert.equal((frames.at(-1)?.audio as { end?: boolean }).end, true);
  });

  it("confidence-gate.json: the confident segment passes, the weak and the unscored go to review", async () => {
    await helper.load(modules, example("confidence-gate"));
    const pass = collect("cg-debug-pass");
    const review = collect("cg-debug-review");
    for (const id of ["cg-confident", "cg-weak", "cg-none"]) helper.getNode(id).receive({});
    await delay(200);
    assert.deepEqual(texts(pass), ["No known drug allergies."]);
    assert.deepEqual(
      review.map((m) => (m.confidenceGate as Omit<GateDecision, "route">).reason),
      ["below-threshold", "no-confidence"],
    );
    const weak = review[0]?.confidenceGate as Omit<GateDecision, "route">;
    assert.deepEqual(
      weak.lowConfidenceWords.map((w) => w.text),
      ["metoprolol"],
    );
    for (const m of [...pass, ...review]) assertTranscriptResult(m.payload);
  });
});
