// Build: generated validator, TypeScript to CommonJS in dist/, then each node's editor files
// (<type>.html, locales/, icons/) beside its compiled .js, where Node-RED looks for them.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
rmSync(dist, { recursive: true, force: true });

execFileSync(process.execPath, [join(root, "scripts/generate-validator.mjs")], { stdio: "inherit" });
execFileSync(
  process.execPath,
  [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.json")],
  {
    stdio: "inherit",
  },
);

cpSync(join(root, "src/transcript/generated"), join(dist, "src/transcript/generated"), {
  recursive: true,
  filter: (src) => !src.endsWith(".d.ts"),
});
for (const schema of ["src/transcript/result.schema.json", "src/audio/chunk.schema.json"]) {
  cpSync(join(root, schema), join(dist, schema));
}

let nodes = 0;
for (const type of readdirSync(join(root, "nodes"))) {
  const from = join(root, "nodes", type);
  if (!statSync(from).isDirectory() || !existsSync(join(from, `${type}.html`))) continue;
  const to = join(dist, "nodes", type);
  cpSync(join(from, `${type}.html`), join(to, `${type}.html`));
  for (const dir of ["locales", "icons"]) {
    if (existsSync(join(from, dir))) cpSync(join(from, dir), join(to, dir), { recursive: true });
  }
  nodes++;
}
console.log(`built dist/ with ${nodes} nodes`);
