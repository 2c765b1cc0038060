import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SUPPORTED_NODE_MAJORS, withoutSdkNodeWarning } from "../../../../src/providers/aws/node-support";

const root = join(__dirname, "../../../..");

/** Runs a script under this Node with the sources loaded through tsx; its standard error. */
function stderrOf(script: string, env: NodeJS.ProcessEnv = {}): string {
  const clean = { ...process.env, ...env };
  if (!("AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED" in env))
    delete clean.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
  const run = spawnSync(process.execPath, ["--require", "tsx/cjs", "-e", script], {
    cwd: root,
    env: clean,
    encoding: "utf8",
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stderr;
}

// Each client in a process of its own: the SDK warns once per process, so one client made without the
// guard would hide behind another made before it.
const MAKERS = {
  "Transcribe streaming": `require("./src/providers/aws/client.ts").createTranscribeClient(s).destroy();`,
  "Transcribe batch": `require("./src/providers/aws-batch/clients.ts").createBatchTranscribeClient(s).destroy();`,
  S3: `require("./src/providers/aws-batch/clients.ts").createBatchS3Client(s, null).destroy();`,
  "Comprehend Medical": `require("./src/providers/comprehend/client.ts").createComprehendClient(s, 1000).destroy();`,
};
const make = (line: string): string => `
  const s = { region: "us-east-1" };
  ${line}
  if (process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED !== undefined) throw new Error("switch left set");
`;

describe("Node.js versions: supported lines, and no AWS SDK warning on them", () => {
  it("package.json engines admits exactly the supported lines' range", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { engines: { node: string } };
    assert.equal(pkg.engines.node, ">=20.19.0");
    assert.deepEqual(SUPPORTED_NODE_MAJORS, [20, 22, 24]);
  });

  for (const [client, line] of Object.entries(MAKERS)) {
    it(`makes the ${client} client with no Node version warning on this Node (${process.version})`, () => {
      assert.doesNotMatch(stderrOf(make(line)), /NodeVersionSupportWarning|will require node/);
    });
  }

  it("the SDK itself does warn on Node 20 when its client is made directly (what the wrapper prevents)", function () {
    if (Number(process.versions.node.split(".")[0]) >= 22) this.skip();
    const stderr = stderrOf(`
      const { TranscribeStreamingClient } = require("@aws-sdk/client-transcribe-streaming");
      new TranscribeStreamingClient({ region: "us-east-1" }).destroy();
    `);
    assert.match(stderr, /NodeVersionSupportWarning: The AWS SDK for JavaScript \(v3\)/);
  });

  it("sets the SDK's switch only around the construction, only on a supported line below 22", () => {
    const key = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";
    const saved = process.env[key];
    delete process.env[key];
    try {
      assert.equal(
        withoutSdkNodeWarning(() => process.env[key], "20.19.0"),
        "true",
      );
      assert.equal(process.env[key], undefined, "restored");
      assert.equal(
        withoutSdkNodeWarning(() => process.env[key], "22.12.0"),
        undefined,
      );
      assert.equal(
        withoutSdkNodeWarning(() => process.env[key], "18.20.0"),
        undefined,
        "an unsupported version still gets the SDK's warning",
      );
      process.env[key] = "false";
      assert.equal(
        withoutSdkNodeWarning(() => process.env[key], "20.19.0"),
        "false",
        "the operator's own setting is kept",
      );
    } finally {
      if (saved === undefined) delete process.env[key];
      else process.env[key] = saved;
    }
  });
});
