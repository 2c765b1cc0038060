import type * as Fs from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import type * as FsPromises from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * File-system faults for a test: a short write, ENOSPC half-way, EIO on fsync, a rename that fails.
 * The modules under test import `node:fs` and `node:fs/promises` functions by name, which compile to a
 * property read on the module object at each call, so replacing the property here reaches them; a
 * FileHandle's methods are replaced on its prototype. `restore()` puts everything back (call it in
 * `afterEach`, so a failed assertion cannot leave a fault behind for the next test).
 */

// The module objects themselves (an `import * as` would be a copy whose properties cannot be set).
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const fsModule = require("node:fs") as typeof Fs;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const fsPromises = require("node:fs/promises") as typeof FsPromises;

/** An error as the file system gives it (with a path in its message, as Node's own errors have). */
export function fsError(
  code: string,
  syscall: string,
  path = "/secret/flow-supplied/dir",
): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected fault, ${syscall} '${path}'`);
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

let handlePrototype: FileHandle | undefined;

/** The prototype every FileHandle shares (found once, from a handle of a scratch file). */
export async function fileHandlePrototype(): Promise<FileHandle> {
  if (handlePrototype) return handlePrototype;
  const dir = mkdtempSync(join(tmpdir(), "fs-faults-"));
  try {
    const handle = await fsPromises.open(join(dir, "probe"), "w");
    handlePrototype = Object.getPrototypeOf(handle) as FileHandle;
    await handle.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return handlePrototype;
}

export class FsFaults {
  private readonly undo: Array<() => void> = [];

  /** Replaces `target[name]` by what `wrap` makes of the original (bound to its `this` by the caller). */
  replace<T extends object, K extends keyof T>(target: T, name: K, wrap: (original: T[K]) => T[K]): void {
    const original = target[name];
    const own = Object.prototype.hasOwnProperty.call(target, name);
    target[name] = wrap(original);
    this.undo.push(() => {
      if (own) target[name] = original;
      else delete target[name];
    });
  }

  restore(): void {
    for (const step of this.undo.splice(0).reverse()) step();
  }
}
