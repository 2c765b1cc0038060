import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import type { Browser } from "playwright-core";
import { launchChromium, speakScript, startDemo, type DemoRun } from "../support/demo-run";
import { tempDir } from "../support/temp-dir";

const SCRIPT = [
  "Patient reports chest pain radiating to the left arm.",
  "Start metoprolol twenty five milligrams twice daily.",
  "Follow up in two weeks.",
];

/**
 * The live page of `npm start` highlights the medical entities of each final (the medical-entities
 * node against the Comprehend Medical emulator the demo starts), by category, and the text stays as it
 * was; nothing of the entities reaches the process's output (a log).
 */
describe("npm start: medical entities highlighted on the live page", function () {
  this.timeout(120000);
  const work = tempDir("nr-demo-entities-");
  let demo: DemoRun;
  let browser: Browser;

  before(async () => {
    demo = await startDemo(work);
    browser = await launchChromium(speakScript(work, SCRIPT).mic);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("marks the condition and the medication of the finals in their category's colour, with the code", async () => {
    const page = await browser.newPage();
    await page.goto(`${demo.url}/transcribe`);
    await page.waitForSelector("#record:not([disabled])");
    await page.click("#record");
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript .entity.MEDICATION").length > 0,
      undefined,
      { timeout: 30000 },
    );
    await page.click("#stop");
    const marked = await page.$$eval("#transcript .entity", (spans) =>
      spans.map((s) => [
        (s as HTMLElement).dataset.category,
        s.textContent,
        s.getAttribute("title"),
        getComputedStyle(s).backgroundColor,
      ]),
    );
    const byText = new Map(
      marked.map(([category, text, title, colour]) => [text, { category, title, colour }]),
    );
    assert.equal(byText.get("chest")?.category, "MEDICAL_CONDITION");
    assert.equal(byText.get("pain")?.category, "MEDICAL_CONDITION");
    assert.match(byText.get("chest")?.title ?? "", /ICD-10-CM R07\.9/);
    assert.equal(byText.get("metoprolol")?.category, "MEDICATION");
    assert.match(byText.get("metoprolol")?.title ?? "", /RxNorm 6918/);
    assert.notEqual(byText.get("chest")?.colour, byText.get("metoprolol")?.colour, "one colour per category");
    const finals = await page.$$eval("#transcript p.final", (ps) => ps.map((p) => p.textContent ?? ""));
    assert.ok(
      finals.some((t) => t.startsWith("Patient reports chest pain")),
      "the text reads as before, with the highlight",
    );
    assert.ok(!/metoprolol|chest pain/i.test(demo.output()), "no entity text in the output");
    await page.close();
  });
});
