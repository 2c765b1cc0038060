import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium, speakScript, startDemo, type DemoRun } from "../support/demo-run";
import { tempDir } from "../support/temp-dir";

const root = join(__dirname, "../..");
const artifacts = join(root, ".test-results");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  "node-red": { nodes: Record<string, string> };
};
const SCRIPT = [
  "Patient reports chest pain radiating to the left arm.",
  "Start metoprolol twenty five milligrams twice daily.",
  "Follow up in two weeks.",
];

/**
 * The README's run command as a new user meets it: `npm start` with no cloud credentials, the live
 * transcript page in a real Chromium whose fake microphone plays synthetic speech, and the editor.
 */
describe("npm start: the live transcription demo in a real browser", function () {
  this.timeout(120000);
  const work = tempDir("nr-demo-");
  let demo: DemoRun;
  let url: string;
  let recording: string;
  let browser: Browser;
  let page: Page;
  // Everything `npm start` printed so far.
  const output = (): string => demo.output();

  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    // The fake microphone: espeak-ng speaking the scripted dictation, as 48 kHz 16-bit PCM.
    const speech = speakScript(work, SCRIPT);
    recording = speech.recording;
    demo = await startDemo(work);
    url = demo.url;
    browser = await launchChromium(speech.mic);
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    await demo?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("prints the editor and page addresses, and says plainly that the transcripts are simulated", () => {
    assert.match(output(), new RegExp(`Node-RED editor:\\s+${url}/`));
    assert.match(output(), new RegExp(`Live transcript page:\\s+${url}/transcribe`));
    assert.match(output(), /the transcripts are SIMULATED by a local emulator/);
  });

  it("starts the flows once on the first start (no stop and restart), and names the page's real address", async () => {
    assert.equal(output().match(/\[info\] Started flows/g)?.length, 1, output());
    assert.doesNotMatch(output(), /Stopping flows|Stopped flows|safe mode/, output());
    const flows = (await (await fetch(`${url}/flows`)).json()) as Array<{
      id: string;
      type: string;
      info?: string;
      name?: string;
    }>;
    const tab = flows.find((n) => n.id === "demo-live-tab");
    assert.equal(tab?.info, `The live transcript page: ${url}/transcribe`);
    const comment = flows.find((n) => n.id === "demo-comment");
    assert.equal(comment?.name, `Live transcription page: ${url}/transcribe`);
    assert.doesNotMatch(JSON.stringify(flows), /127\.0\.0\.1:1880/);
  });

  it("transcribes the microphone live: partials as it is spoken, then finals, weak words marked, review listed", async () => {
    await page.goto(`${url}/transcribe`);
    await page.waitForSelector("#record:not([disabled])");
    assert.equal(await page.isVisible("#simulated"), true, "the page says the transcripts are simulated");
    assert.match((await page.textContent("#provider")) ?? "", /SIMULATED/);
    await page.click("#record");
    await page.waitForSelector("#transcript p.partial", { timeout: 10000 });
    const partial = (await page.textContent("#transcript p.partial")) ?? "";
    assert.ok(
      SCRIPT[0]?.toLowerCase().startsWith(partial.toLowerCase().replace(/[.]$/, "").slice(0, 5)),
      partial,
    );
    await page.waitForFunction(
      (n) => document.querySelectorAll("#transcript p.final").length >= n,
      SCRIPT.length,
      {
        timeout: 30000,
      },
    );
    await page.click("#stop");
    const finals = await page.$$eval("#transcript p.final", (ps) => ps.map((p) => p.textContent ?? ""));
    assert.deepEqual(finals.slice(0, 3), SCRIPT);
    assert.deepEqual(await page.$$eval("#transcript mark", (ms) => ms.map((m) => m.textContent)), [
      "metoprolol",
    ]);
    // The microphone session is one block, named, with its start time, and says when it is done.
    assert.equal(await page.locator("#transcript .session").count(), 1);
    assert.equal(await page.textContent("#transcript .session .source"), "Microphone");
    assert.match((await page.textContent("#transcript .session time")) ?? "", /^started \d/);
    await page.waitForSelector("#transcript .session .status.done", { timeout: 15000 });
    assert.match(
      (await page.textContent("#transcript .session .status")) ?? "",
      /^done: \d+\.\d s transcribed/,
    );
    const review = await page.textContent("#review");
    assert.match(
      review ?? "",
      /Start metoprolol twenty five milligrams twice daily\.\s*check: metoprolol \(41%\)/,
    );
    await page.screenshot({ path: join(artifacts, "demo-live.png") });
  });

  it("transcribes an uploaded recording the same way, with a progress bar, and says when it is done", async () => {
    await page.reload();
    await page.waitForSelector("#file:not([disabled])");
    const seconds = Number(execFileSync("soxi", ["-D", recording], { encoding: "utf8" }));
    await page.setInputFiles("#file", recording);
    const block = page.locator("#transcript .session").first();
    assert.equal(await block.locator(".source").textContent(), "File: speech22.wav");
    // While it is transcribed: a progress bar and "seconds done of total".
    await block.locator("progress:not([hidden])").waitFor({ timeout: 10000 });
    await page.waitForFunction(
      () =>
        /transcribing: [1-9]\d*\.\d s of \d+\.\d s/.test(
          document.querySelector(".session .status")?.textContent ?? "",
        ),
      undefined,
      { timeout: 10000 },
    );
    const status = (await block.locator(".status").textContent()) ?? "";
    assert.match(status, new RegExp(`of ${seconds.toFixed(1)} s$`), status);
    assert.equal(Number(await block.locator("progress").getAttribute("max")).toFixed(1), seconds.toFixed(1));
    await block.locator(".status.done").waitFor({ timeout: 30000 });
    assert.match(
      (await block.locator(".status").textContent()) ?? "",
      new RegExp(`^done: ${seconds.toFixed(1)} s transcribed$`),
    );
    assert.equal(await block.locator("progress").isHidden(), true, "the bar goes when it is done");
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript p.final").length >= 3,
      undefined,
      {
        timeout: 10000,
      },
    );
    const finals = await page.$$eval("#transcript p.final", (ps) => ps.map((p) => p.textContent ?? ""));
    assert.deepEqual(finals.slice(0, 3), SCRIPT);
    await page.screenshot({ path: join(artifacts, "demo-upload.png") });
  });

  it("shows a second recording as a block of its own, under the first", async () => {
    await page.setInputFiles("#file", recording);
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript .session .status.done").length === 2,
      undefined,
      {
        timeout: 40000,
      },
    );
    await page.waitForFunction(
      () => document.querySelectorAll("#transcript .session:nth-child(2) p.final").length >= 3,
      undefined,
      { timeout: 10000 },
    );
    const blocks = await page.$$eval("#transcript .session", (bs) =>
      bs.map((b) => ({
        source: b.querySelector(".source")?.textContent,
        finals: Array.from(b.querySelectorAll<HTMLElement>("p.final"), (p) => p.textContent),
      })),
    );
    assert.deepEqual(blocks, [
      { source: "File: speech22.wav", finals: SCRIPT },
      { source: "File: speech22.wav", finals: SCRIPT },
    ]);
    await page.screenshot({ path: join(artifacts, "demo-two-recordings.png") });
  });

  it("refuses a file that is not audio, saying so in words, whatever its name", async () => {
    await page.reload();
    await page.waitForSelector("#file:not([disabled])");
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        "notes.wav",
        Buffer.from("Discharge summary. Patient stable.\n".repeat(6000)),
        /^Not audio: the file is text/,
      ],
      ["short.wav", Buffer.from("hello\n"), /^Not audio: the file is text/],
      [
        "picture.wav",
        Buffer.concat([Buffer.from("89504e470d0a1a0a0000000d49484452", "hex"), Buffer.alloc(2000, 9)]),
        /^Not audio: the file is a PNG image/,
      ],
    ];
    for (const [i, [name, content, headline]] of cases.entries()) {
      await page.setInputFiles("#file", { name, mimeType: "audio/wav", buffer: content });
      const block = page.locator("#transcript .session").nth(i);
      await block.locator(".error").waitFor({ timeout: 10000 });
      assert.equal(await block.locator(".source").textContent(), `File: ${name}`);
      assert.match((await block.locator(".error b").textContent()) ?? "", headline);
      assert.match((await block.locator(".error").textContent()) ?? "", /accepted: a WAV file/);
      assert.equal(await block.locator(".status").textContent(), "error");
      assert.equal(await block.locator("progress").isHidden(), true);
    }
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await page.locator("#transcript p").count(), 0, "nothing was transcribed");
    await page.screenshot({ path: join(artifacts, "demo-refused.png") });
  });

  it("refuses a recording longer than the demo takes, saying so", async () => {
    await page.goto(`${url}/transcribe`);
    await page.waitForSelector("#file:not([disabled])");
    const big = Buffer.alloc(33 * 2 ** 20 + 1);
    big.write("RIFF", 0, "latin1");
    // Given by path: the browser reads the file itself (a 33 MiB buffer would cross the DevTools protocol as
    // base64, which took over 30 s on a loaded machine).
    const path = join(tempDir("nr-demo-long-"), "long.wav");
    writeFileSync(path, big);
    await page.setInputFiles("#file", path);
    const block = page.locator("#transcript .session").first();
    await block.locator(".error").waitFor({ timeout: 10000 });
    assert.equal(await block.locator(".error b").textContent(), "File too long");
    assert.match((await block.locator(".error").textContent()) ?? "", /up to 32\.0 MB/);
  });

  it("has every node type in the editor's palette and lists every example", async () => {
    const editor = await browser.newPage();
    await editor.goto(`${url}/`);
    await editor.waitForFunction(
      () => typeof (window as unknown as { RED?: { nodes?: unknown } }).RED?.nodes === "object",
      undefined,
      {
        timeout: 30000,
      },
    );
    await editor.waitForSelector(".red-ui-palette-node", { timeout: 30000 });
    // Nothing covers the canvas on the first visit: no welcome tour, no update-notification question.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await editor.locator(".red-ui-tourGuide-popover:visible").count(), 0, "no welcome tour");
    assert.equal(await editor.locator(".red-ui-popover:visible").count(), 0, "no dialog over the canvas");
    const types = Object.keys(pkg["node-red"].nodes);
    const missing = await editor.evaluate(
      (names) =>
        names.filter(
          (t) =>
            !(window as unknown as { RED: { nodes: { getType(t: string): unknown } } }).RED.nodes.getType(t),
        ),
      types,
    );
    assert.deepEqual(missing, []);
    const listed = (await (await fetch(`${url}/library/examples/flows/${pkg.name}`)).json()) as Array<{
      fn: string;
    }>;
    const shipped = execFileSync("ls", [join(root, "examples")], { encoding: "utf8" })
      .trim()
      .split("\n")
      .map((f) => f.replace(/\.json$/, ""));
    assert.deepEqual(listed.map((e) => e.fn).sort(), shipped.sort());
    await editor.screenshot({ path: join(artifacts, "editor.png") });
    await editor.close();
  });

  it("imports each example and deploys it without errors, transcribers pointed at the demo's services", async () => {
    // A user imports an example and points its config node at a service: here, the config nodes the
    // run command deployed for the local emulators.
    const deployed = (await (await fetch(`${url}/flows`)).json()) as Array<{ id: string; type: string }>;
    const serviceConfig = (type: string) =>
      deployed.find((n) => n.type === type && n.id.startsWith("demo-"))?.id;
    const listed = (await (await fetch(`${url}/library/examples/flows/${pkg.name}`)).json()) as Array<{
      fn: string;
    }>;
    for (const { fn } of listed) {
      const flow = (await (await fetch(`${url}/library/examples/flows/${pkg.name}/${fn}`)).json()) as Array<
        Record<string, unknown> & { id: string; type: string }
      >;
      const tab = `example-${fn}`;
      // As the editor does on import, every node gets a new id (the examples tab holds some already);
      // config nodes of a service the run command set up are replaced by that one.
      const ids = new Map<string, string>();
      for (const n of flow)
        ids.set(n.id, ("x" in n ? undefined : serviceConfig(n.type)) ?? `${n.id}-imported`);
      const rename = (v: unknown): unknown =>
        typeof v === "string" ? (ids.get(v) ?? v) : Array.isArray(v) ? v.map(rename) : v;
      const renamed = (n: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(n).map(([k, v]) => [k, rename(v)]));
      const nodes = flow.filter((n) => "x" in n).map((n) => ({ ...renamed(n), z: tab }));
      const configs = flow.filter((n) => !("x" in n) && !serviceConfig(n.type)).map(renamed);
      const before = output().length;
      const res = await fetch(`${url}/flow`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: tab, label: fn, nodes, configs }),
      });
      assert.equal(res.status, 200, `${fn}: HTTP ${res.status} ${await res.text()}`);
      await new Promise((r) => setTimeout(r, 500));
      assert.doesNotMatch(
        output().slice(before),
        /\[error\]/,
        `${fn} deployed with errors:\n${output().slice(before)}`,
      );
    }
  });
});
