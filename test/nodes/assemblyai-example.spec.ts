import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import type { SessionEvent } from "../../src/providers/assemblyai/session";
import { AssemblyAiEmulator } from "../emulators/assemblyai/server";
import { builtNode, collect, delay, helper, runtimeLabel, type FlowNode } from "../support/node-red";

// examples/assemblyai-medical.json as shipped, pointed at the local emulator instead of AssemblyAI.
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
const core = (file: string): NodeInitializer =>
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED's own core node, by path
  require(join(nodesDir, file)) as NodeInitializer;

describe(`example flow assemblyai-medical.json (${runtimeLabel})`, function () {
  this.timeout(15000);
  let emu: AssemblyAiEmulator;
  afterEach(async () => {
    await helper.unload();
    await emu.close();
  });

  it("streams its 3 s of synthetic audio as valid frames and ends the session with Terminate", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    const flow = JSON.parse(
      readFileSync(join(__dirname, "../../examples/assemblyai-medical.json"), "utf8"),
    ) as FlowNode[];
    const nodes = [
      { id: "tab", type: "tab" },
      ...flow.map((n) => ({
        ...n,
        z: "tab",
        ...(n.type === "debug" ? { type: "helper" } : {}),
        ...(n.type === "assemblyai-config" ? { endpoint: emu.url } : {}),
      })),
    ];
    await helper.load(
      [
        builtNode("assemblyai-config"),
        builtNode("assemblyai-medical"),
        core("common/20-inject.js"),
        core("function/10-function.js"),
        core("common/90-comment.js"),
      ],
      nodes,
      { "aai-config": { apiKey: "test-api-key" } },
    );
    const events = collect("aai-debug-events");
    helper.getNode("aai-inject").receive({});
    const deadline = Date.now() + 10000;
    while (!events.some((m: NodeMessage) => (m.payload as SessionEvent).event === "termination")) {
      if (Date.now() > deadline) throw new Error("no termination event");
      await delay(50);
    }
    assert.deepEqual(
      events.map((m) => (m.payload as SessionEvent).event),
      ["begin", "termination"],
    );
    const conn = await emu.connection(0);
    assert.equal(conn.params.domain, "medical-v1");
    assert.equal(conn.params.keyterms_prompt, '["lisinopril","metformin","Humalog"]');
    assert.equal(conn.receivedMs, 3000);
    assert.ok(conn.frames.every((f) => f.ms === 100));
    assert.deepEqual(conn.messages, [{ type: "Terminate" }]);
  });
});
