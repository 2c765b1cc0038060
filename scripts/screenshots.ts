// `npm run screenshots`: the README's pictures, taken from the running demo so they stay current.
// Starts `npm start` (emulators, no credentials) in a temporary user directory, speaks a scripted
// dictation into headless Chromium's fake microphone, and writes docs/images/live-page.png (the live
// page after three finals) and docs/images/editor-flow.png (the demo flow in the editor); then runs the
// review page's browser test, which writes docs/images/review-page.png, review-signed.png and review-note.png.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, speakScript, startDemo } from "../test/support/demo-run";

const SCRIPT = [
  "Patient reports chest pain radiating to the left arm.",
  "Start metoprolol twenty five milligrams twice daily.",
  "Follow up in two weeks.",
];
const images = join(__dirname, "../docs/images");

async function main(): Promise<void> {
  mkdirSync(images, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "nr-screenshots-"));
  const demo = await startDemo(work);
  const browser = await launchChromium(speakScript(work, SCRIPT).mic);
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 420 } });
    await page.goto(`${demo.url}/transcribe`);
    await page.waitForSelector("#record:not([disabled])");
    await page.click("#record");
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript p.final").length >= 3,
      undefined,
      {
        timeout: 60_000,
      },
    );
    await page.click("#stop");
    await page.screenshot({ path: join(images, "live-page.png") });

    const editor = await browser.newPage({ viewport: { width: 1500, height: 360 } });
    await editor.goto(`${demo.url}/`);
    await editor.waitForSelector(".red-ui-palette-node", { timeout: 30_000 });
    // The demo's settings turn off Node-RED's welcome tour and update notice; should one still show
    // (an older demo user directory), it is closed rather than photographed.
    await editor.waitForTimeout(2000);
    for (const close of [
      "button:has-text('No, do not enable notifications')",
      ".red-ui-tourGuide-popover button.red-ui-tourGuide-close, .red-ui-tourGuide-popover .fa-times",
    ]) {
      const button = editor.locator(close);
      if ((await button.count()) > 0) await button.first().click();
      await editor.waitForTimeout(500);
    }
    await editor.evaluate(() => {
      const red = (
        window as unknown as {
          RED: { workspaces: { show(id: string): void }; actions: { invoke(name: string): void } };
        }
      ).RED;
      red.workspaces.show("demo-live-tab");
      red.actions.invoke("core:toggle-sidebar");
      red.actions.invoke("core:toggle-palette");
      for (let i = 0; i < 3; i++) red.actions.invoke("core:zoom-out");
    });
    await editor.waitForTimeout(1000);
    await editor.screenshot({ path: join(images, "editor-flow.png") });
    console.log(`written: ${join(images, "live-page.png")}, ${join(images, "editor-flow.png")}`);
  } finally {
    await browser.close();
    await demo.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

function reviewPictures(): void {
  const root = join(__dirname, "..");
  execFileSync(
    process.execPath,
    [
      join(root, "node_modules/mocha/bin/mocha.js"),
      "--timeout",
      "120000",
      "test/e2e/review.e2e.ts",
      "test/e2e/review-note.e2e.ts",
    ],
    { cwd: root, stdio: "inherit", env: { ...process.env, SCREENSHOTS_DIR: images } },
  );
}

main()
  .then(reviewPictures)
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
