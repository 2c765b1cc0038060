import { strict as assert } from "node:assert";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Composition, DocumentReference } from "@medplum/fhirtypes";
import type { Page } from "playwright-core";
import type { FhirPeer } from "../support/fhir-peers";
import type { MedplumPeer } from "../support/hl7-peers";
import type { NodeRedProcess } from "../support/node-red-process";
import { noteDocument } from "../support/notes";
import { startReviewExample, toneBase64, until, type FlowNode } from "../support/review-example";
import { tempDir } from "../support/temp-dir";

const root = join(__dirname, "../..");
const artifacts = process.env.SCREENSHOTS_DIR ?? join(root, ".test-results");

type Entry = { resource: DocumentReference | Composition; request: { method: string; url: string } };

/**
 * An ambient scribe's note through examples/review-queue.json in a real Node-RED 4 and a real
 * Chromium: the scribe's document (a synthetic note with evidence, as scribe-medical emits it) goes
 * through transcript-document to hl7-mdm (one OBX per section), fhir-document (a preliminary
 * Composition) and review-queue; the signer clicks a sentence, sees its evidence highlighted in the
 * transcript and hears it from the evidence's start, corrects the note and signs it; the final MDM
 * and Composition carry the corrected sections.
 */
describe("review-queue: a clinical note reviewed by its evidence in a real browser", function () {
  this.timeout(120000);
  const work = tempDir("nr-review-note-");
  const scribeDoc = noteDocument();
  let nr: NodeRedProcess;
  let mllp: MedplumPeer;
  let fhir: FhirPeer;
  let page: Page;
  let reviewUrl: string;
  let stop: (() => Promise<void>) | undefined;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    // The scribe's document, as scribe-medical sends it, into transcript-document (which passes it on).
    const note: FlowNode[] = [
      {
        id: "e2e-note-in",
        type: "http in",
        url: "/e2e/note",
        method: "post",
        upload: false,
        wires: [["e2e-note", "e2e-ok"]],
      },
      {
        id: "e2e-note",
        type: "function",
        func: "return { topic: msg.payload.document.sessionId, payload: msg.payload.document, patient: msg.payload.patient };",
        outputs: 1,
        wires: [["rq-doc"]],
      },
    ];
    ({ nr, mllp, fhir, page, reviewUrl, stop } = await startReviewExample(work, note));
  });

  after(async () => {
    await stop?.();
  });

  it("highlights a sentence's evidence, plays it from its start, and signs the corrected note section by section", async () => {
    // Twenty seconds of a tone: the encounter's audio.
    const audio = { pcm: toneBase64(20), sessionId: scribeDoc.sessionId };
    assert.equal((await nr.post("/e2e/audio", audio)).status, 204);
    const patient = { id: "TEST-0001", family: "Testpatient", given: "Sam" };
    assert.equal((await nr.post("/e2e/note", { document: scribeDoc, patient })).status, 204);

    await until(() => mllp.parsed.length === 1 && fhir.requests.length === 1);
    const t02 = mllp.parsed[0];
    assert.deepEqual(
      t02.getAllSegments("OBX").map((s) => [s.getField(3)?.getComponent(1), s.getField(11)?.toString()]),
      [
        ["10154-3", "P"],
        ["10164-2", "P"],
        ["18776-5", "P"],
        ["GOAL", "P"],
      ],
    );
    const prelim = (fhir.requests[0].body as { entry: Entry[] }).entry;
    assert.equal((prelim[2]?.resource as Composition).status, "preliminary");

    await page.goto(reviewUrl);
    await page.locator("#worklist li").first().click();
    await page.locator("#note .sentence").first().waitFor();
    assert.deepEqual(await page.locator("#note h4").allTextContents(), [
      "Chief complaint",
      "History of present illness",
      "Review of systems",
      "Plan",
      "Goal",
    ]);

    // "Start amoxicillin." was drawn from the clinician's last turn (seg-4, from 12 s).
    await page.locator("#note .sentence", { hasText: "Start amoxicillin." }).click();
    const highlighted = await page
      .locator("#transcript .w.evidence")
      .evaluateAll((spans) => spans.map((s) => (s as HTMLElement).dataset.segment));
    assert.equal(highlighted.length, 10, "the ten words and marks of seg-4");
    assert.ok(highlighted.every((id) => id === "seg-4"));
    await page.waitForFunction(() => {
      const a = document.getElementById("player") as HTMLAudioElement;
      return !a.paused && a.currentTime >= 11.8;
    });
    const position = await page.evaluate(
      () => (document.getElementById("player") as HTMLAudioElement).currentTime,
    );
    assert.ok(position >= 11.8 && position < 16.4, `plays from the evidence's start (at ${position} s)`);
    await page.screenshot({ path: join(artifacts, "review-note.png"), fullPage: true });

    // Another sentence moves the highlight.
    await page.locator("#note .sentence", { hasText: "No fever" }).click();
    const moved = await page
      .locator("#transcript .w.evidence")
      .evaluateAll((spans) => spans.map((s) => (s as HTMLElement).dataset.segment));
    assert.ok(moved.length > 0 && moved.every((id) => id === "seg-3"));

    // Correct the plan and sign.
    const text = await page.locator("#draft").inputValue();
    await page.locator("#draft").fill(text.replace("Start amoxicillin.", "Start amoxicillin 500 mg."));
    await page.locator("#sign").click();
    await page.locator("#message.ok", { hasText: "Signed." }).waitFor();

    await until(() => mllp.parsed.length === 2 && fhir.requests.length === 2);
    const t08 = mllp.parsed[1];
    assert.equal(t08.getSegment("MSH")?.getField(9)?.toString(), "MDM^T08^MDM_T02");
    const plan = t08.getAllSegments("OBX").find((s) => s.getField(3)?.getComponent(1) === "18776-5");
    assert.equal(plan?.getField(5)?.toString(), "Start amoxicillin 500 mg. Review in one week.");
    assert.equal(plan?.getField(11)?.toString(), "F");
    const final = (fhir.requests[1].body as { entry: Entry[] }).entry;
    const composition = final.find((e) => e.resource.resourceType === "Composition");
    assert.equal((composition?.resource as Composition).status, "final");
    assert.equal(composition?.request.method, "PUT");
  });
});
