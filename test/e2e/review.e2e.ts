import { strict as assert } from "node:assert";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { DocumentReference } from "@medplum/fhirtypes";
import { chromium, type Browser, type Page } from "playwright-core";
import { stubFhirServer, type FhirPeer } from "../support/fhir-peers";
import { medplumPeer, type MedplumPeer } from "../support/hl7-peers";
import { NodeRedProcess } from "../support/node-red-process";

const root = join(__dirname, "../..");
// `npm run screenshots` points this at docs/images, so the pictures in docs/review.md stay current.
const artifacts = process.env.SCREENSHOTS_DIR ?? join(root, ".test-results");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string };

type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };

/**
 * examples/review-queue.json in a real Node-RED 4 as a clinician meets it: the preliminary document
 * goes out (MDM^T02 over MLLP, a preliminary DocumentReference to FHIR), then in a real Chromium a
 * signer opens the worklist, clicks a word and hears it, fixes the misrecognised drug name and signs;
 * the MLLP and FHIR peers then receive the final document with the right status, signer and number.
 */
describe("review-queue: review and sign in a real browser", function () {
  this.timeout(120000);
  const work = mkdtempSync(join(tmpdir(), "nr-review-"));
  let nr: NodeRedProcess;
  let mllp: MedplumPeer;
  let fhir: FhirPeer;
  let browser: Browser;
  let page: Page;

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    mllp = await medplumPeer("AA");
    fhir = await stubFhirServer();
    const userDir = join(work, "user");
    const link = join(userDir, "node_modules", ...pkg.name.split("/"));
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(root, link, "dir");
    const example = JSON.parse(readFileSync(join(root, "examples/review-queue.json"), "utf8")) as FlowNode[];
    const flow: FlowNode[] = [
      { id: "tab", type: "tab", label: "review" },
      ...example.map((n) => {
        const node: FlowNode =
          n.type === "mllp-endpoint" ? { ...n, port: String(mllp.port) } : { ...n, z: "tab" };
        if (n.type === "fhir-document") return { ...node, server: "e2e-fhir" };
        if (n.type === "review-queue") return { ...node, storeDir: join(work, "review") };
        return node;
      }),
      { id: "e2e-fhir", type: "fhir-server", name: "test FHIR", baseUrl: fhir.baseUrl, retries: "0" },
      // Test scaffolding: audio for the visit's session, as audio-in would send it (contract 1).
      {
        id: "e2e-audio-in",
        z: "tab",
        type: "http in",
        url: "/e2e/audio",
        method: "post",
        upload: false,
        wires: [["e2e-audio", "e2e-ok"]],
      },
      {
        id: "e2e-audio",
        z: "tab",
        type: "function",
        func:
          "const pcm = Buffer.from(msg.payload.pcm, 'base64');\n" +
          "return { topic: 'demo-visit', payload: pcm, audio: { sessionId: 'demo-visit', seq: 0, sampleRate: 16000, channels: 1, encoding: 'pcm_s16le', offsetMs: 0, durationMs: pcm.length / 32 } };",
        outputs: 1,
        wires: [["rq-review"]],
      },
      { id: "e2e-ok", z: "tab", type: "http response", statusCode: "204", wires: [] },
    ];
    writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow));
    nr = await NodeRedProcess.start({
      userDir,
      nodeRedDir: dirname(require.resolve("node-red/package.json")),
    });
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      headless: true,
      args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
    });
    // The single-sign-on proxy's header: the page is reached through it (Node-RED trusts 127.0.0.1).
    const context = await browser.newContext({ extraHTTPHeaders: { "x-forwarded-user": "drsmith" } });
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await nr?.stop();
    await mllp?.close();
    await fhir?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("sends the preliminary, then after review and signature the final with the signer and the same document number", async () => {
    // Ten seconds of a tone: the visit's audio (the first word starts at 0 s).
    const pcm = Buffer.alloc(16000 * 2 * 10);
    for (let i = 0; i < pcm.length / 2; i++)
      pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
    assert.equal((await nr.post("/e2e/audio", { pcm: pcm.toString("base64") })).status, 204);
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
    assert.equal((await fetch(`${nr.url}/review/api/documents`)).status, 401);

    await page.goto(`${nr.url}/review/`);
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

async function until(check: () => boolean, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
