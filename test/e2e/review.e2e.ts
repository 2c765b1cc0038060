import { strict as assert } from "node:assert";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { DocumentReference } from "@medplum/fhirtypes";
import type { Page } from "playwright-core";
import type { FhirPeer } from "../support/fhir-peers";
import type { MedplumPeer } from "../support/hl7-peers";
import type { NodeRedProcess } from "../support/node-red-process";
import { startReviewExample, toneBase64, until } from "../support/review-example";
import { tempDir } from "../support/temp-dir";

const root = join(__dirname, "../..");
// `npm run screenshots` points this at docs/images, so the pictures in docs/review.md stay current.
const artifacts = process.env.SCREENSHOTS_DIR ?? join(root, ".test-results");

/**
 * examples/review-queue.json in a real Node-RED 4 as a clinician meets it: the preliminary document
 * goes out (MDM^T02 over MLLP, a preliminary DocumentReference to FHIR), then in a real Chromium a
 * signer opens the worklist, clicks a word and hears it, fixes the misrecognised drug name and signs;
 * the MLLP and FHIR peers then receive the final document with the right status, signer and number.
 */
describe("review-queue: review and sign in a real browser", function () {
  this.timeout(120000);
  const work = tempDir("nr-review-");
  let nr: NodeRedProcess;
  let mllp: MedplumPeer;
  let fhir: FhirPeer;
  let page: Page;
  let reviewUrl: string;
  let stop: (() => Promise<void>) | undefined;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    ({ nr, mllp, fhir, page, reviewUrl, stop } = await startReviewExample(work));
  });

  after(async () => {
    await stop?.();
  });

  it("sends the preliminary, then after review and signature the final with the signer and the same document number", async () => {
    // Ten seconds of a tone: the visit's audio (the first word starts at 0 s).
    assert.equal((await nr.post("/e2e/audio", { pcm: toneBase64(10) })).status, 204);
    for (const id of ["rq-r1", "rq-r2", "rq-r3", "rq-flush"]) {
      assert.equal((await fetch(`${nr.url}/inject/${id}`, { method: "POST" })).status, 200, id);
      await new Promise((r) => setTimeout(r, 200));
    }
    await until(() => mllp.parsed.length === 1 && fhir.requests.length === 1);
    const t02 = mllp.parsed[0];
    assert.equal(t02.getSegment("MSH")?.getField(9)?.toString(), "MDM^T02^MDM_T02");
    assert.equal(t02.getSegment("TXA")?.getField(17)?.toString(), "DO");
    const number = t02.getSegment("TXA")?.getField(12)?.getComponent(1);
    const prelim = (fhir.requests[0].body as { entry: Array<{ resource: DocumentReference }> }).entry[0]
      .resource;
    assert.equal(prelim.docStatus, "preliminary");

    // Unauthenticated: refused.
    assert.equal((await fetch(`${reviewUrl}api/documents`)).status, 401);

    await page.goto(reviewUrl);
    await page.locator("#worklist li").first().click();
    await page.locator("#transcript .w").first().waitFor();
    const text = await page.locator("#draft").inputValue();

    // Click a word: the player seeks to it and plays.
    await page.locator("#transcript .w").nth(2).click();
    await page.waitForFunction(() => {
      const a = document.getElementById("player") as HTMLAudioElement;
      return !a.paused && a.currentTime > 0;
    });
    await page.screenshot({ path: join(artifacts, "review-page.png"), fullPage: true });

    // Fix the misrecognised drug name and sign.
    assert.match(text, /metropolol/, "the recogniser's version of the drug name");
    const fixed = text.replace("metropolol", "metoprolol");
    await page.locator("#draft").fill(fixed);
    await page.locator("#sign").click();
    await page.locator("#message.ok", { hasText: "Signed." }).waitFor();
    await page.locator("#doc-meta", { hasText: "signed by drsmith" }).waitFor();
    await page.screenshot({ path: join(artifacts, "review-signed.png"), fullPage: true });

    await until(() => mllp.parsed.length === 2 && fhir.requests.length === 2);
    const final = mllp.parsed[1];
    assert.equal(final.getSegment("MSH")?.getField(9)?.toString(), "MDM^T08^MDM_T02");
    assert.equal(final.getSegment("TXA")?.getField(12)?.getComponent(1), number);
    assert.equal(final.getSegment("TXA")?.getField(17)?.toString(), "AU");
    assert.equal(final.getSegment("TXA")?.getField(22)?.getComponent(1), "drsmith");
    assert.match(mllp.received[1], /metoprolol/);
    assert.doesNotMatch(mllp.received[1], /metropolol/);
    const entry = (
      fhir.requests[1].body as {
        entry: Array<{ resource: DocumentReference; request: { method: string; url: string } }>;
      }
    ).entry[0];
    assert.equal(entry.resource.docStatus, "final");
    assert.equal(entry.resource.authenticator?.display, "drsmith");
    assert.deepEqual(entry.resource.masterIdentifier, prelim.masterIdentifier);
    assert.equal(entry.request.method, "PUT");
  });
});
