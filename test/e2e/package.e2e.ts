import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import WebSocket from "ws";
import { NodeRedProcess } from "../support/node-red-process";

const root = join(__dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  version: string;
  "node-red": { nodes: Record<string, string> };
};
const types = Object.keys(pkg["node-red"].nodes);

interface NodeSetInfo {
  module: string;
  types: string[];
  enabled: boolean;
  err?: string;
}
interface DebugEvent {
  topic: string;
  data: { name?: string; msg?: string; format?: string };
}

/** The package as a user gets it: `npm pack`, installed into a fresh user directory, real Node-RED 4. */
describe("the packed package in a real Node-RED 4", function () {
  this.timeout(120000);
  let work: string;
  let nr: NodeRedProcess;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), "nr-package-"));
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    // --ignore-scripts: the run's build made dist/ already; prepack would rebuild it in place while the
    // other lane's tests load it (a crash test once found audio-in without its defaults.js).
    const tarball = execFileSync(npm, ["pack", "--ignore-scripts", "--pack-destination", work, "--silent"], {
      cwd: root,
      encoding: "utf8",
    })
      .trim()
      .split("\n")
      .pop();
    const userDir = join(work, "user");
    execFileSync("mkdir", ["-p", userDir]);
    writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "node-red-user", private: true }));
    execFileSync(npm, ["install", join(work, tarball ?? ""), "--no-audit", "--no-fund", "--silent"], {
      cwd: userDir,
    });
    nr = await NodeRedProcess.start({
      userDir,
      nodeRedDir: dirname(require.resolve("node-red/package.json")),
    });
  });

  after(async () => {
    await nr?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("puts every node in the palette, loaded without error", async () => {
    const sets = (await nr.getJson<NodeSetInfo[]>("/nodes")).filter((s) => s.module === pkg.name);
    assert.deepEqual(sets.flatMap((s) => s.types).sort(), [...types].sort());
    for (const s of sets) {
      assert.equal(s.enabled, true);
      assert.equal(s.err, undefined, `${s.types.join()}: ${s.err}`);
    }
    assert.doesNotMatch(nr.output, /\[error\]|\[warn\].*(filter-final|confidence-gate)/);
  });

  it("serves each node's editor definition and help", async () => {
    const html = await nr.getText("/nodes");
    for (const type of types) {
      assert.match(html, new RegExp(`RED\\.nodes\\.registerType\\("${type}"`));
      assert.match(html, new RegExp(`data-template-name="${type}"`));
    }
  });

  it("serves each node's en-US catalog and help text", async () => {
    const html = await nr.getText("/nodes?lng=en-US");
    for (const type of types) {
      const catalog = await nr.getJson<Record<string, unknown>>(`/locales/${pkg.name}/${type}?lng=en-US`);
      assert.ok(catalog[type], `catalog for ${type}`);
      assert.match(html, new RegExp(`data-help-name="${type}"`));
    }
  });

  it("lists an example for every node under Import > Examples", async () => {
    const modules = await nr.getJson<string[]>("/library/examples/flows/");
    assert.ok(modules.includes(pkg.name));
    const listed = await nr.getJson<Array<{ fn: string }>>(`/library/examples/flows/${pkg.name}`);
    const flows = await Promise.all(
      listed.map((e) => nr.getJson<Array<{ type: string }>>(`/library/examples/flows/${pkg.name}/${e.fn}`)),
    );
    for (const type of types)
      assert.ok(
        flows.some((f) => f.some((n) => n.type === type)),
        `an example uses ${type}`,
      );
  });

  it("runs the examples when deployed: the debug sidebar shows the final and the review", async () => {
    const flows = await Promise.all(
      ["filter-final", "confidence-gate"].map((fn) =>
        nr.getJson<Array<Record<string, unknown>>>(`/library/examples/flows/${pkg.name}/${fn}`),
      ),
    );
    const tab = { id: "e2e-tab", type: "tab", label: "examples" };
    const deploy = await nr.post("/flows", [tab, ...flows.flat().map((n) => ({ ...n, z: tab.id }))], {
      "Node-RED-Deployment-Type": "full",
    });
    assert.ok(deploy.ok, `deploy: HTTP ${deploy.status}`);

    const debug: DebugEvent["data"][] = [];
    const comms = new WebSocket(`${nr.url.replace("http", "ws")}/comms`);
    comms.on("message", (data: Buffer) => {
      for (const event of JSON.parse(data.toString()) as DebugEvent[])
        if (event.topic === "debug") debug.push(event.data);
    });
    await new Promise<void>((resolve, reject) => comms.once("open", () => resolve()).once("error", reject));
    comms.send(JSON.stringify({ subscribe: "debug" }));
    await new Promise((r) => setTimeout(r, 200));

    for (const id of ["ff-inject", "cg-confident", "cg-weak"]) {
      const res = await nr.post(`/inject/${id}`, {});
      assert.ok(res.ok, `inject ${id}: HTTP ${res.status}`);
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !debug.some((d) => d.name === "finals"))
      await new Promise((r) => setTimeout(r, 100));
    comms.close();

    const byName = (name: string) => debug.filter((d) => d.name === name).map((d) => d.msg ?? "");
    assert.deepEqual(byName("finals"), ["Patient denies chest pain."]);
    assert.deepEqual(byName("pass"), ["No known drug allergies."]);
    assert.equal(byName("review").length, 1);
    assert.match(byName("review")[0] ?? "", /metoprolol/);
  });
});
