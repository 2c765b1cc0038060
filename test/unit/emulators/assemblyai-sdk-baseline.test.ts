import { strict as assert } from "node:assert";
import { fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { StreamingTranscriber, type TurnEvent } from "assemblyai";
import { DICTATION, taggedPcm } from "../../emulators/assemblyai/fixture";
import { AssemblyAiEmulator } from "../../emulators/assemblyai/server";

// The official SDK's StreamingTranscriber against the emulator over TLS: the baseline of
// bench/assemblyai-medical.ts. The SDK only accepts wss:// and passes no TLS options to ws, so the
// test certificate is trusted with NODE_EXTRA_CA_CERTS, which Node reads only at start-up: the SDK
// runs in a child process (this same file, started with SDK_BASELINE_URL set).

const CERT = join(__dirname, "../../fixtures/tls/receiver-cert.pem");
const KEY = join(__dirname, "../../fixtures/tls/receiver-key.pem");
const AUDIO_MS = 5000;

interface ChildReport {
  turns?: TurnEvent[];
  error?: { message: string; code?: number };
}

/** The child's side: connect, send the fixture's audio in 100 ms chunks, close, report the turns. */
async function sdkChild(url: string, retries: number): Promise<void> {
  const turns: TurnEvent[] = [];
  const transcriber = new StreamingTranscriber({
    websocketBaseUrl: url,
    apiKey: "test-api-key",
    sampleRate: 16000,
    encoding: "pcm_s16le",
    speechModel: "u3-rt-pro",
    domain: "medical-v1",
    minTurnSilence: 300,
    connectTimeout: 5000,
    maxConnectionRetries: retries,
  });
  transcriber.on("turn", (t) => turns.push(t));
  try {
    await transcriber.connect();
    for (let t = 0; t < AUDIO_MS; t += 100) {
      const chunk = taggedPcm(t, 100);
      transcriber.sendAudio(chunk.buffer.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength));
    }
    await transcriber.close();
    process.send?.({ turns } satisfies ChildReport);
  } catch (err) {
    const e = err as Error & { code?: number };
    process.send?.({ error: { message: e.message, code: e.code } } satisfies ChildReport);
  }
  process.disconnect?.();
}

/** Runs the SDK in a child process, trusting the test certificate or not. */
function runSdk(url: string, trust: boolean, retries = 2): Promise<ChildReport> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SDK_BASELINE_URL: url,
    SDK_BASELINE_RETRIES: String(retries),
  };
  if (trust) env.NODE_EXTRA_CA_CERTS = CERT;
  else delete env.NODE_EXTRA_CA_CERTS;
  const child = fork(__filename, [], { execArgv: ["--require", "tsx/cjs"], env, stdio: "pipe" });
  return new Promise((resolve, reject) => {
    let report: ChildReport | undefined;
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    child.on("message", (m: unknown) => (report = m as ChildReport));
    child.on("error", reject);
    child.on("exit", (code) =>
      report ? resolve(report) : reject(new Error(`SDK child exited ${code} with no report: ${stderr}`)),
    );
  });
}

const childUrl = process.env.SDK_BASELINE_URL;
if (childUrl) {
  void sdkChild(childUrl, Number(process.env.SDK_BASELINE_RETRIES ?? "2"));
} else {
  describe("AssemblyAI SDK baseline (StreamingTranscriber against the TLS emulator)", function () {
    this.timeout(20000);
    let emu: AssemblyAiEmulator;
    beforeEach(async () => {
      emu = await AssemblyAiEmulator.start({
        fixture: DICTATION,
        // The child sends all its audio at once; pacing is not what this test is about.
        rateToleranceMs: 60000,
        tls: { key: readFileSync(KEY), cert: readFileSync(CERT) },
      });
    });
    afterEach(() => emu.close());

    it("serves wss:// with the TLS option", () => {
      assert.match(emu.url, /^wss:\/\/127\.0\.0\.1:\d+\/v3\/ws$/);
    });

    it("connects, streams, and gets the scripted partial and final turns, then Terminate ends the session", async () => {
      const report = await runSdk(emu.url, true);
      assert.equal(report.error, undefined, report.error?.message);
      const turns = report.turns ?? [];
      const finals = turns.filter((t) => t.end_of_turn);
      assert.deepEqual(
        finals.map((t) => t.transcript),
        ["Patient denies chest pain.", "Start lisinopril ten milligrams daily.", "Follow up in two weeks."],
      );
      assert.deepEqual(
        finals.map((t) => t.turn_order),
        [0, 1, 2],
      );
      for (const f of finals) {
        const partials = turns.filter((t) => t.turn_order === f.turn_order && !t.end_of_turn);
        assert.ok(partials.length > 0, `partials before final ${f.turn_order}`);
        assert.ok(turns.indexOf(partials[0]) < turns.indexOf(f));
      }
      assert.equal(emu.connections.length, 1, "one connection, no retries");
      const conn = emu.connections[0];
      assert.ok(conn);
      assert.equal(conn.headers.authorization, "test-api-key");
      assert.equal(conn.params.speech_model, "u3-rt-pro");
      assert.equal(conn.params.domain, "medical-v1");
      assert.equal(conn.params.sample_rate, "16000");
      assert.equal(conn.params.encoding, "pcm_s16le");
      assert.equal(conn.frames.length, AUDIO_MS / 100);
      assert.ok(conn.frames.every((f) => f.ms === 100));
      assert.deepEqual(conn.messages.at(-1), { type: "Terminate" });
      assert.equal(await conn.closed, 1000);
      assert.equal(conn.sentOf("Termination").length, 1);
    });

    it("refuses the emulator's certificate unless it is trusted (so the bench really runs over TLS)", async () => {
      const report = await runSdk(emu.url, false, 0);
      assert.equal(report.turns, undefined);
      assert.match(report.error?.message ?? "", /certificate/i);
    });
  });
}
