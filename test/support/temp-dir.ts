import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made = new Set<string>();

/**
 * A new directory under the system's temporary directory, removed when the test process exits: after a
 * passing or failing run, a run filtered with --grep (whose `after` hooks of skipped suites never run), or
 * one stopped with Ctrl-C (mocha exits). Only a SIGKILL leaves it behind. Suites made at load time (a
 * describe body, a module) use this; an `after` hook may still remove it sooner.
 */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (made.size === 0) process.once("exit", removeAll);
  made.add(dir);
  return dir;
}

function removeAll(): void {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
}
