import { strict as assert } from "node:assert";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { launchChromium, speakScript, startDemo, type DemoRun } from "../support/demo-run";
import { tempDir } from "../support/temp-dir";

const pkg = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")) as {
  "node-red": { nodes: Record<string, string> };
};

/**
 * A node a flow file gives only id, type, z and wires runs with its defaults (test/nodes/defaults.spec.ts);
 * the editor must not mark it invalid either, with a red triangle over every setting it was not given (the
 * demo's own transcriber once showed one). Each setting's editor validator is asked about the value a
 * minimal node has for it (none); only a setting the node cannot do without (`required`) may refuse.
 */
describe("the editor: a node with only id, type, z and wires is valid", function () {
  this.timeout(120000);
  const work = tempDir("nr-editor-defaults-");
  let demo: DemoRun;
  let browser: Browser;

  before(async () => {
    demo = await startDemo(work);
    browser = await launchChromium(speakScript(work, ["Hello."]).mic);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("for every node type of the package, config nodes included", async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.url}/`);
    await page.waitForSelector(".red-ui-palette-node", { timeout: 30000 });
    const report = await page.evaluate((types) => {
      interface Prop {
        type?: string;
        required?: boolean;
        validate?: (this: object, v: unknown, opt: object) => unknown;
      }
      const RED = (
        window as unknown as { RED: { nodes: { getType(t: string): { defaults?: Record<string, Prop> } } } }
      ).RED;
      const invalid: string[] = [];
      let checked = 0;
      for (const type of types) {
        const def = RED.nodes.getType(type);
        if (!def) {
          invalid.push(`${type}: not registered`);
          continue;
        }
        const node: Record<string, unknown> = { id: `minimal-${type}`, type, z: "tab", wires: [] };
        for (const [key, prop] of Object.entries(def.defaults ?? {})) {
          // A config-node reference is the one setting a flow gives; the config node is checked as its own type.
          if (prop.type !== undefined || prop.required === true || prop.validate === undefined) continue;
          checked += 1;
          let verdict: unknown;
          try {
            verdict = prop.validate.call(node, node[key], {});
          } catch (err) {
            verdict = `threw ${String(err)}`;
          }
          if (verdict !== true) invalid.push(`${type}.${key}: ${String(verdict)}`);
        }
      }
      return { invalid, checked };
    }, Object.keys(pkg["node-red"].nodes));
    assert.ok(report.checked > 40, `only ${report.checked} validators checked`);
    assert.deepEqual(report.invalid, []);
  });
});
