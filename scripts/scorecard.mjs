// The Node-RED flow library's scorecard (`node-red-dev validate`, the tool the library itself runs),
// on the built package. Fails if any check fails: node-red-dev itself exits 0 on warnings.
// The library's catalogue is unreachable here; scripts/scorecard-offline.cjs answers that one fetch.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(mkdtempSync(join(tmpdir(), "scorecard-")), "scorecard.json");
const run = spawnSync(
  process.execPath,
  [
    "--require",
    join(root, "scripts/scorecard-offline.cjs"),
    join(root, "node_modules/node-red-dev/bin/run"),
    "validate",
    "-p",
    root,
    "-o",
    out,
  ],
  { cwd: root, stdio: ["ignore", "inherit", "inherit"] },
);
let failed;
try {
  const card = JSON.parse(readFileSync(out, "utf8"));
  failed = Object.entries(card)
    .filter(([id, check]) => id !== "package" && check.test !== true)
    .map(([id]) => id);
} catch (err) {
  failed = [`no scorecard written (${err.message})`];
}
rmSync(dirname(out), { recursive: true, force: true });
if (run.status !== 0 || failed.length) {
  console.error(`scorecard: failed ${failed.join(", ") || `exit ${run.status}`}`);
  process.exit(1);
}
console.log("scorecard: every check passed");
