// The run command (`npm start`): builds the package if needed, links it into a Node-RED user
// directory inside the project (.node-red-user/, never ~/.node-red), puts the demo flow there on
// first run, and starts Node-RED 4 on 127.0.0.1.
//   PORT=1880 (default)   HOST=127.0.0.1 (default)   npm start -- --reset-demo  rewrites the demo flow
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const userDir = process.env.NODE_RED_USER_DIR ?? join(root, ".node-red-user");
const port = process.env.PORT ?? "1880";
const host = process.env.HOST ?? "127.0.0.1";

if (!existsSync(join(root, "dist/nodes")) || process.argv.includes("--build")) {
  execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });
}

// Node-RED loads the nodes from <userDir>/node_modules, as it would after `npm install`.
const link = join(userDir, "node_modules", ...pkg.name.split("/"));
mkdirSync(dirname(link), { recursive: true });
if (existsSync(link) || isDanglingLink(link)) rmSync(link, { recursive: true, force: true });
symlinkSync(root, link, "dir");
if (!existsSync(join(userDir, "package.json"))) {
  writeFileSync(
    join(userDir, "package.json"),
    JSON.stringify(
      { name: "node-red-project", private: true, dependencies: { [pkg.name]: `file:${root}` } },
      null,
      2,
    ),
  );
}

const flowFile = join(userDir, "flows.json");
if (!existsSync(flowFile) || process.argv.includes("--reset-demo")) {
  writeFileSync(flowFile, JSON.stringify(demoFlow(), null, 2));
  console.log(`demo flow written to ${flowFile}`);
}

const redJs = join(dirname(require.resolve("node-red/package.json")), "red.js");
const child = spawn(
  process.execPath,
  [redJs, "--userDir", userDir, "--port", port, "-D", `uiHost=${host}`, "flows.json"],
  { stdio: ["inherit", "pipe", "inherit"] },
);
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  if (/Started flows/.test(chunk.toString())) {
    console.log(`\n  Node-RED editor:  http://${host}:${port}/`);
    console.log("  Demo flow:        the 'medical transcription demo' tab (click the inject nodes)\n");
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

function isDanglingLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** The demo: every example flow of the package on one tab. */
function demoFlow() {
  const tab = { id: "demo-tab", type: "tab", label: "medical transcription demo", info: pkg.description };
  const examples = ["audio-in", "filter-final", "confidence-gate"].map((name, i) =>
    JSON.parse(readFileSync(join(root, "examples", `${name}.json`), "utf8")).map((n) => ({
      ...n,
      z: tab.id,
      y: typeof n.y === "number" ? n.y + i * 300 : n.y,
    })),
  );
  return [tab, ...examples.flat()];
}
