import { mkdirSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const root = join(__dirname, "../..");

/**
 * A Node-RED user directory for a crash test's child process: the built package linked in, and a
 * settings.js that loads only the node files named in `keep` (start-up time is most of a crash
 * cycle), logs at info ("Started flows" tells when the flows run) and reads flows.json, which the
 * caller writes.
 */
export function crashUserDirectory(prefix: string, keep: readonly string[]): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(join(dir, "node_modules", "@medstream"), { recursive: true });
  symlinkSync(root, join(dir, "node_modules", "@medstream", "node-red-medical-transcription"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "crash-user", private: true }));
  const kept = new Set(keep);
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d, { withFileTypes: true })) {
      if (f.isDirectory()) walk(join(d, f.name));
      else if (f.name.endsWith(".js")) files.push(f.name);
    }
  };
  walk(join(dirname(require.resolve("@node-red/nodes/package.json")), "core"));
  files.push(...readdirSync(join(root, "dist/nodes")).map((t) => `${t}.js`));
  writeFileSync(
    join(dir, "settings.js"),
    `module.exports = ${JSON.stringify({
      uiHost: "127.0.0.1",
      flowFile: "flows.json",
      credentialSecret: "crash-test",
      disableEditor: true,
      nodesExcludes: files.filter((f) => !kept.has(f)),
      logging: { console: { level: "info" } },
    })};\n`,
  );
  return dir;
}
