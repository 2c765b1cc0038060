import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "./node-red-process";

const ROOT = join(__dirname, "../..");

/** A running `npm start`, as a new user starts it: no cloud credentials, so against the emulators. */
export interface DemoRun {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far. */
  output(): string;
  /** SIGINT to its process group, then waits for it to exit. */
  stop(): Promise<void>;
}

/** Starts `npm start` in `work` (its own Node-RED user directory) and waits for the page's address. */
export async function startDemo(
  work: string,
  timeoutMs = 60_000,
  extraEnv: NodeJS.ProcessEnv = {},
): Promise<DemoRun> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...extraEnv,
    PORT: String(port),
    NODE_RED_USER_DIR: join(work, "user"),
  };
  for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "ASSEMBLYAI_API_KEY"])
    delete env[key];
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const stop = async (): Promise<void> => {
    if (child.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGINT");
    await exited;
  };
  const deadline = Date.now() + timeoutMs;
  while (!output.includes("Live transcript page:")) {
    if (Date.now() > deadline || child.exitCode !== null) {
      // No caller holds the process yet: it is stopped here, not left running after the tests.
      await stop();
      throw new Error(`npm start did not come up:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}`, child, output: () => output, stop };
}

/** The scripted dictation the fake microphone speaks (espeak-ng), as 48 kHz and 22 kHz WAV files. */
export function speakScript(work: string, sentences: readonly string[]): { mic: string; recording: string } {
  const recording = join(work, "speech22.wav");
  const mic = join(work, "speech.wav");
  execFileSync("espeak-ng", ["-w", recording, sentences.join(" ")]);
  execFileSync("sox", [recording, "-r", "48000", "-b", "16", mic]);
  return { mic, recording };
}

/** Debian's headless Chromium with a fake microphone playing `micWav`. */
export function launchChromium(micWav: string): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-audio-capture=${micWav}`,
    ],
  });
}
