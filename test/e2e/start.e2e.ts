import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../support/node-red-process";

const root = join(__dirname, "../..");

/** The README's run command: `npm start` brings up Node-RED with the nodes and the demo flow. */
describe("npm start (the run command)", function () {
  this.timeout(60000);
  let child: ChildProcess;
  let output = "";
  let url: string;
  const userDir = mkdtempSync(join(tmpdir(), "nr-start-"));

  before(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn("npm", ["start", "--silent"], {
      cwd: root,
      env: { ...process.env, PORT: String(port), NODE_RED_USER_DIR: userDir },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 45000;
    while (!output.includes("Node-RED editor:")) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`npm start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (child.pid && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(-child.pid, "SIGINT");
      await exited;
    }
    rmSync(userDir, { recursive: true, force: true });
  });

  it("prints the editor address", () => {
    assert.match(output, new RegExp(`Node-RED editor:\\s+${url}/`));
  });

  it("deploys the demo flow with every node of the package", async () => {
    const flows = (await (await fetch(`${url}/flows`)).json()) as Array<{ type: string; label?: string }>;
    assert.ok(flows.some((n) => n.type === "tab" && n.label === "medical transcription demo"));
    for (const type of ["audio-in", "filter-final", "confidence-gate"])
      assert.ok(
        flows.some((n) => n.type === type),
        type,
      );
    assert.doesNotMatch(output, /\[error\]/);
  });
});
