// Build: generated validator, TypeScript to CommonJS in dist/, then each node's editor files beside its
// compiled .js, where Node-RED looks for them: <type>.html, assembled from nodes/<type>/<type>.html and
// the blocks in nodes/shared/editor/ (scripts/editor-html.cjs), then locales/ and icons/ as they are.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assembleEditorFiles, EditorHtmlError } from "./editor-html.cjs";

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

// Each node's editor files: <type>.html assembled (an EditorHtmlError names the file and line, and stops
// the build without a stack), locales/ and icons/ copied.
let editorFiles;
try {
  editorFiles = assembleEditorFiles(root);
} catch (error) {
  if (!(error instanceof EditorHtmlError)) throw error;
  console.error(`build: editor HTML: ${error.message}`);
  process.exit(1);
}
for (const [type, html] of editorFiles) {
  const from = join(root, "nodes", type);
  const to = join(dist, "nodes", type);
  mkdirSync(to, { recursive: true });
  writeFileSync(join(to, `${type}.html`), html);
  for (const dir of ["locales", "icons"]) {
    if (existsSync(join(from, dir))) cpSync(join(from, dir), join(to, dir), { recursive: true });
  }
}
console.log(`built dist/ with ${editorFiles.size} nodes`);
