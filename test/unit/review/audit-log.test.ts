import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, type ReviewAuditEntry } from "../../../src/review/audit-log";
import { fsError, FsFaults, fsPromises } from "../../support/fs-faults";
import { tempDir } from "../../support/temp-dir";

const faults = new FsFaults();
afterEach(() => faults.restore());

const entry = (action: ReviewAuditEntry["action"], version: number): ReviewAuditEntry => ({
  time: "2026-01-15T15:00:00.000Z",
  user: "drsmith",
  action,
  documentId: "6a0d7a52-3c1e-4b8f-9e57-2f0c1d9b8e44",
  version,
});

describe("review audit log: an append the disk refuses half-way", () => {
  it("tells it by its action and code without a path, and the next line is whole on a line of its own", async () => {
    const dir = tempDir("review-audit-");
    const path = join(dir, "audit.jsonl");
    const errors: Error[] = [];
    const log = new AuditLog(path, (e) => errors.push(e));
    await log.append(entry("opened", 1));
    // ENOSPC after the first 20 bytes of the line reached the file.
    faults.replace(fsPromises, "appendFile", (original) => async (file, data, options) => {
      await original(file, String(data).slice(0, 20), options);
      throw fsError("ENOSPC", "write", dir);
    });
    await log.append(entry("signed", 2));
    faults.restore();
    await log.append(entry("withdrawn", 3));
    assert.deepEqual(
      errors.map((e) => [e.name, (e as Error & { code?: string }).code, e.message.includes(dir)]),
      [["AuditWriteError", "ENOSPC", false]],
    );
    assert.match(errors[0]?.message ?? "", /"signed"/);
    const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
    const whole = lines.flatMap((l) => {
      try {
        return [(JSON.parse(l) as ReviewAuditEntry).action];
      } catch {
        return [];
      }
    });
    assert.deepEqual(whole, ["opened", "withdrawn"], "the torn line alone is lost");
  });
});
