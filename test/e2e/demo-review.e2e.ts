import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import type { Browser } from "playwright-core";
import { launchChromium, speakScript, startDemo, type DemoRun } from "../support/demo-run";
import { tempDir } from "../support/temp-dir";

const SCRIPT = ["Patient reports chest pain radiating to the left arm.", "Follow up in two weeks."];

/**
 * The demo's review page: the clinician `npm start` names (with a password drawn at each start) finds
 * each finished recording as a document to review and sign; nobody else gets in.
 */
describe("npm start: the review page of the demo", function () {
  this.timeout(120000);
  const work = tempDir("nr-demo-review-");
  let demo: DemoRun;
  let browser: Browser;
  let auth: string;

  before(async () => {
    demo = await startDemo(work);
    const printed = /Review and sign-off:\s+(\S+)\/review\s+\(user (\S+), password (\S+)\)/.exec(
      demo.output(),
    );
    assert.ok(printed, `npm start prints the review page and its sign-in:\n${demo.output()}`);
    assert.equal(printed[1], demo.url);
    auth = `Basic ${Buffer.from(`${printed[2]}:${printed[3]}`).toString("base64")}`;
    browser = await launchChromium(speakScript(work, SCRIPT).mic);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("refuses a request without the printed sign-in, or with a wrong password", async () => {
    assert.equal((await fetch(`${demo.url}/review`)).status, 401);
    const wrong = `Basic ${Buffer.from("demo-clinician:guess").toString("base64")}`;
    assert.equal((await fetch(`${demo.url}/review`, { headers: { authorization: wrong } })).status, 401);
    assert.equal((await fetch(`${demo.url}/transcribe`)).status, 200, "the live page stays open");
  });

  it("lists a finished recording as a document for the demo clinician", async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.url}/transcribe`);
    await page.waitForSelector("#record:not([disabled])");
    assert.equal(await page.getAttribute("#review-link", "href"), "review");
    await page.click("#record");
    await page.waitForFunction(
      (n) => document.querySelectorAll("#transcript p.final").length >= n,
      SCRIPT.length,
      {
        timeout: 30000,
      },
    );
    await page.click("#stop");
    const deadline = Date.now() + 20000;
    let listed: unknown[] = [];
    while (Date.now() < deadline) {
      const res = await fetch(`${demo.url}/review/api/documents`, { headers: { authorization: auth } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { documents?: unknown[] } | unknown[];
      listed = Array.isArray(body) ? body : (body.documents ?? []);
      if (listed.length > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(listed.length, 1, "the recording's document is on the worklist");
    const html = await fetch(`${demo.url}/review`, { headers: { authorization: auth } });
    assert.equal(html.status, 200);
  });
});
