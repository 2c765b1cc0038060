import { strict as assert } from "node:assert";
import { rmSync } from "node:fs";
import type { Browser } from "playwright-core";
import type { ClinicalNote } from "../../src/transcript/clinical-note";
import { launchChromium, speakScript, startDemo, type DemoRun } from "../support/demo-run";
import { tempDir } from "../support/temp-dir";

const SCRIPT = ["What brings you in today?", "I have had chest pain for two days."];

/**
 * `npm start` with the scribe switch (MEDSTREAM_DEMO_SCRIBE=1, as `npm start -- --scribe`) and no AWS
 * credentials: the scribe-medical node against the local HealthScribe emulator. A recording from the
 * live page shows live results, and its clinical note (sections with evidence) reaches the review page.
 */
describe("npm start --scribe: the ambient scribe demo", function () {
  this.timeout(120000);
  const work = tempDir("nr-demo-scribe-");
  let demo: DemoRun;
  let browser: Browser;
  let auth: string;

  before(async () => {
    demo = await startDemo(work, 60_000, { MEDSTREAM_DEMO_SCRIBE: "1" });
    const printed = /Review and sign-off:\s+\S+\/review\s+\(user (\S+), password (\S+)\)/.exec(demo.output());
    assert.ok(printed, demo.output());
    auth = `Basic ${Buffer.from(`${printed[1]}:${printed[2]}`).toString("base64")}`;
    browser = await launchChromium(speakScript(work, SCRIPT).mic);
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("says the scribe is simulated, and a recording's clinical note reaches the review page", async () => {
    assert.match(demo.output(), /Transcriber:\s+SIMULATED notes \(local HealthScribe emulator\)/);
    const page = await browser.newPage();
    await page.goto(`${demo.url}/transcribe`);
    await page.waitForSelector("#record:not([disabled])");
    await page.click("#record");
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript p.final").length >= 2,
      undefined,
      {
        timeout: 40000,
      },
    );
    await page.click("#stop");
    const deadline = Date.now() + 40000;
    let note: ClinicalNote | undefined;
    while (Date.now() < deadline && !note) {
      const list = (await (
        await fetch(`${demo.url}/review/api/documents`, { headers: { authorization: auth } })
      ).json()) as { documents: Array<{ id: string }> };
      const first = list.documents[0];
      if (first) {
        const doc = (await (
          await fetch(`${demo.url}/review/api/documents/${encodeURIComponent(first.id)}`, {
            headers: { authorization: auth },
          })
        ).json()) as { note?: ClinicalNote };
        note = doc.note;
      }
      if (!note) await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(note, `the note's document is on the worklist:\n${demo.output()}`);
    assert.equal(note.template, "HISTORY_AND_PHYSICAL");
    const sentences = note.sections.flatMap((s) => s.sentences);
    assert.ok(sentences.length > 0, "the note has sentences");
    assert.ok(
      sentences.some((s) => s.evidence.length > 0),
      "and its sentences point at what was said",
    );

    // The review page plays the encounter: audio-in's audio reached review-queue, the player has it.
    const [user, password] = Buffer.from(auth.slice("Basic ".length), "base64").toString().split(":");
    const context = await browser.newContext({
      httpCredentials: { username: user ?? "", password: password ?? "" },
    });
    const review = await context.newPage();
    await review.goto(`${demo.url}/review/`);
    await review.locator("#worklist li").first().click();
    await review.locator("#note .sentence").first().waitFor();
    await review.waitForFunction(
      () => {
        const a = document.getElementById("player") as HTMLAudioElement;
        return a.getAttribute("src") !== null && a.readyState >= 1 && a.duration > 0;
      },
      undefined,
      { timeout: 10000 },
    );
    const duration = await review.evaluate(
      () => (document.getElementById("player") as HTMLAudioElement).duration,
    );
    assert.ok(duration >= 1, `the player holds the recording (${duration} s)`);
    await context.close();
  });
});
