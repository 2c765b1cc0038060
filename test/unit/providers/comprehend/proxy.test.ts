import { strict as assert } from "node:assert";
import { awsClientSettings } from "../../../../src/providers/aws/client";
import { analyze } from "../../../../src/providers/comprehend/analyze";
import {
  callerOf,
  comprehendHost,
  createComprehendClient,
} from "../../../../src/providers/comprehend/client";
import type { EntitiesError } from "../../../../src/providers/comprehend/errors";
import { realScheduler } from "../../../../src/util/scheduler";
import {
  COMPREHEND_EMULATOR_CREDENTIALS,
  ComprehendMedicalEmulator,
} from "../../../emulators/comprehend/emulator";
import { connectProxy, type ConnectProxy } from "../../../support/connect-proxy";

const TEXT = "Continue metformin 500 mg twice daily.";

/** One analysis through the real SDK client with the AWS config node's proxy setting and environment. */
async function run(endpoint: string, proxy: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  const client = createComprehendClient(
    awsClientSettings({ region: "us-east-1", endpoint, proxy, env, ...COMPREHEND_EMULATOR_CREDENTIALS }),
    5000,
  );
  try {
    const { entities } = await analyze(callerOf(client), TEXT, null, {
      operations: ["entities"],
      deidentify: false,
      retry: { maxAttempts: 1, baseMs: 1, capMs: 1 },
      scheduler: realScheduler,
      signal: new AbortController().signal,
    });
    return entities.map((e) => e.text);
  } finally {
    client.destroy();
  }
}

describe("Comprehend Medical client: HTTP proxy", function () {
  this.timeout(20000);
  let emu: ComprehendMedicalEmulator;
  let proxy: ConnectProxy;
  beforeEach(async () => {
    emu = await new ComprehendMedicalEmulator().start();
    proxy = await connectProxy();
  });
  afterEach(async () => {
    await proxy.stop();
    await emu.stop();
  });

  it("tunnels requests through the proxy of the setting, and of HTTPS_PROXY; NO_PROXY goes direct", async () => {
    const port = new URL(emu.endpoint).port;
    assert.deepEqual(await run(emu.endpoint, proxy.url, {}), ["metformin"]);
    assert.ok(proxy.tunnels >= 1, "through the proxy");
    assert.deepEqual([...new Set(proxy.targets)], [`127.0.0.1:${port}`]);
    const viaSetting = proxy.tunnels;
    const withUser = proxy.url.replace("http://", "http://u%40x:p%3Ass@");
    assert.deepEqual(await run(emu.endpoint, "", { HTTPS_PROXY: withUser }), ["metformin"]);
    assert.ok(proxy.tunnels > viaSetting, "through HTTPS_PROXY");
    assert.equal(proxy.authorizations[0], `Basic ${Buffer.from("u@x:p:ss").toString("base64")}`);
    const before = proxy.tunnels;
    assert.deepEqual(
      await run(emu.endpoint, "", { HTTPS_PROXY: proxy.url, NO_PROXY: "localhost,127.0.0.1" }),
      ["metformin"],
    );
    assert.equal(proxy.tunnels, before, "NO_PROXY: direct");
  });

  it("fails with a clear error, no retry storm, when the proxy refuses the tunnel (407)", async () => {
    const refusing = await connectProxy(407);
    try {
      await assert.rejects(run(emu.endpoint, refusing.url, {}), (err: EntitiesError) => {
        assert.match(err.message, /proxy/i);
        assert.doesNotMatch(err.message, /metformin/);
        return true;
      });
      assert.equal(refusing.tunnels, 0);
    } finally {
      await refusing.stop();
    }
  });

  it("decides on the service's own host when no endpoint is set", () => {
    assert.equal(
      comprehendHost(awsClientSettings({ region: "eu-west-2" })),
      "comprehendmedical.eu-west-2.amazonaws.com",
    );
  });
});
