import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort } from "../support/node-red-process";
import { tempDir } from "../support/temp-dir";

const root = join(__dirname, "../..");

/** Every process below `pid` (Linux /proc), found by walking parent links. */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // Gone meanwhile.
    }
  }
  const found: number[] = [];
  const walk = (p: number): void => {
    for (const [child, parent] of parents)
      if (parent === p) {
        found.push(child);
        walk(child);
      }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie is gone for every purpose here: it holds no port and runs nothing.
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * What a service manager does: `npm start` (or `node scripts/start.mjs`) is the service's main
 * process, and the stop signal goes to that process only, not to its process group.
 */
describe("npm start stops cleanly on SIGINT or SIGTERM to its own process", function () {
  this.timeout(120000);
  const work = tempDir("nr-signals-");
  let child: ChildProcess | undefined;

  afterEach(() => {
    // Whatever a failed case left behind: its whole group (the test started it detached).
    if (child?.pid) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    child = undefined;
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const cases: Array<[string, string, string[], NodeJS.Signals]> = [
    ["node scripts/start.mjs", process.execPath, [join(root, "scripts/start.mjs")], "SIGTERM"],
    ["node scripts/start.mjs", process.execPath, [join(root, "scripts/start.mjs")], "SIGINT"],
    ["npm start", "npm", ["start", "--silent"], "SIGTERM"],
    ["npm start", "npm", ["start", "--silent"], "SIGINT"],
  ];
  for (const [what, command, args, signal] of cases) {
    it(`${what}: ${signal} to its pid alone stops Node-RED, frees the port and leaves no process`, async () => {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        PORT: String(port),
        NODE_RED_USER_DIR: join(work, "user"),
      };
      for (const key of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "ASSEMBLYAI_API_KEY"])
        delete env[key];
      const started = spawn(command, args, {
        cwd: root,
        env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
      });
      child = started;
      let output = "";
      started.stdout?.on("data", (d: Buffer) => (output += d.toString()));
      started.stderr?.on("data", (d: Buffer) => (output += d.toString()));
      const exited = new Promise<void>((resolve) => started.once("exit", () => resolve()));
      const deadline = Date.now() + 60000;
      while (!output.includes("Live transcript page:")) {
        if (Date.now() > deadline || started.exitCode !== null)
          throw new Error(`${what} did not come up:\n${output}`);
        await sleep(100);
      }
      assert.equal(await listening(port), true);
      const pid = started.pid ?? 0;
      const below = descendants(pid);
      assert.ok(below.length >= 1, "Node-RED runs below it");

      const signalledAt = Date.now();
      process.kill(pid, signal);
      await Promise.race([exited, sleep(10000)]);
      assert.notEqual(
        started.exitCode ?? started.signalCode,
        null,
        `${what} still runs 10 s after ${signal}`,
      );
      // Its processes (the script under npm, Node-RED, the emulators' helpers) end with it.
      while (below.some(alive) && Date.now() - signalledAt < 10000) await sleep(100);
      const left = below.filter(alive);
      assert.deepEqual(
        left,
        [],
        `left running: ${left.map((p) => readFileSync(`/proc/${p}/cmdline`, "utf8")).join("; ")}`,
      );
      assert.equal(await listening(port), false, "the port is free");
      const took = Date.now() - signalledAt;
      assert.ok(took < 10000, `stopped in ${took} ms`);
    });
  }
});
