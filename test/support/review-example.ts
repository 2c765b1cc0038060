import { strict as assert } from "node:assert";
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { stubFhirServer, type FhirPeer } from "./fhir-peers";
import { medplumPeer, type MedplumPeer } from "./hl7-peers";
import { NodeRedProcess } from "./node-red-process";

const root = join(__dirname, "../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string };

export type FlowNode = Record<string, unknown> & { id: string; type: string; wires?: string[][] };

/** examples/review-queue.json running in a real Node-RED 4, its receivers, and a signed-in Chromium page. */
export interface ReviewExample {
  nr: NodeRedProcess;
  /** The MLLP receiver (answers AA). */
  mllp: MedplumPeer;
  fhir: FhirPeer;
  browser: Browser;
  /** A page whose requests carry the sign-on proxy's header for the signer drsmith. */
  page: Page;
  /** The review page's address: the example's page path under Node-RED's URL, ending in "/". */
  reviewUrl: string;
  stop: () => Promise<void>;
}

/**
 * Starts examples/review-queue.json in a real Node-RED (the package linked into its user directory, the
 * MLLP and FHIR receivers local), with test scaffolding: `POST /e2e/audio {pcm, sessionId?}` sends audio
 * to review-queue as audio-in would (contract 1; the session "demo-visit" by default). `extra` nodes join
 * the tab (z is set).
 */
export async function startReviewExample(work: string, extra: FlowNode[] = []): Promise<ReviewExample> {
  const mllp = await medplumPeer("AA");
  const fhir = await stubFhirServer();
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
        "const sessionId = msg.payload.sessionId || 'demo-visit';\n" +
        "return { topic: sessionId, payload: pcm, audio: { sessionId, seq: 0, sampleRate: 16000, channels: 1, encoding: 'pcm_s16le', offsetMs: 0, durationMs: pcm.length / 32 } };",
      outputs: 1,
      wires: [["rq-review"]],
    },
    { id: "e2e-ok", z: "tab", type: "http response", statusCode: "204", wires: [] },
    ...extra.map((n) => ({ ...n, z: "tab" })),
  ];
  writeFileSync(join(userDir, "flows.json"), JSON.stringify(flow));
  const nr = await NodeRedProcess.start({
    userDir,
    nodeRedDir: dirname(require.resolve("node-red/package.json")),
  });
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required"],
  });
  // The single-sign-on proxy's header: the page is reached through it (Node-RED trusts 127.0.0.1).
  const context = await browser.newContext({ extraHTTPHeaders: { "x-forwarded-user": "drsmith" } });
  const page = await context.newPage();
  const review = example.find((n) => n.type === "review-queue") as { path?: unknown } | undefined;
  assert.ok(review && typeof review.path === "string", "the example has a review-queue with a page path");
  return {
    nr,
    mllp,
    fhir,
    browser,
    page,
    reviewUrl: `${nr.url}${review.path}/`,
    stop: async () => {
      await browser.close();
      await nr.stop();
      await mllp.close();
      await fhir.close();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

/** `seconds` of a 440 Hz tone as 16 kHz mono PCM, base64: a session's audio for the player. */
export function toneBase64(seconds: number): string {
  const pcm = Buffer.alloc(16000 * 2 * seconds);
  for (let i = 0; i < pcm.length / 2; i++)
    pcm.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)), i * 2);
  return pcm.toString("base64");
}

export async function until(check: () => boolean, ms = 15000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}
