import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { newRecord, type ReviewRecord } from "../../../src/review/record";
import { fileNameFor, ReviewStore } from "../../../src/review/store";
import { documentWithText } from "../../support/documents";
import { fileHandlePrototype, fsError, FsFaults, fsPromises } from "../../support/fs-faults";
import { tempDir } from "../../support/temp-dir";

const NOW = new Date("2026-01-15T15:00:00Z");
const DAY = 24 * 3600 * 1000;
const DOC_ID = "6a0d7a52-3c1e-4b8f-9e57-2f0c1d9b8e44";

const faults = new FsFaults();
afterEach(() => faults.restore());

async function storeWithOne(): Promise<{ store: ReviewStore; dir: string; file: string }> {
  const dir = join(tempDir("review-store-"), "documents");
  const store = new ReviewStore(dir);
  await store.load();
  await store.add(newRecord(documentWithText("Some text here.", DOC_ID), {}, "document", NOW, DAY));
  return { store, dir, file: join(dir, fileNameFor(DOC_ID)) };
}

const edit = (r: ReviewRecord): { record: ReviewRecord; result: undefined } => ({
  record: { ...r, version: r.version + 1, editedBy: "drjones" },
  result: undefined,
});

describe("review store: a write that fails", () => {
  const failures: Array<{ what: string; code: string; inject: (proto: FileHandle) => void }> = [
    {
      what: "ENOSPC while writing",
      code: "ENOSPC",
      inject: (proto) =>
        faults.replace(proto, "writeFile", () => () => Promise.reject(fsError("ENOSPC", "write"))),
    },
    {
      what: "EIO on fsync",
      code: "EIO",
      inject: (proto) => faults.replace(proto, "sync", () => () => Promise.reject(fsError("EIO", "fsync"))),
    },
    {
      what: "a rename that fails",
      code: "EXDEV",
      inject: () =>
        faults.replace(fsPromises, "rename", () => () => Promise.reject(fsError("EXDEV", "rename"))),
    },
  ];

  for (const { what, code, inject } of failures) {
    it(`keeps the document as it was after ${what}, names the error without a path and leaves no temp file`, async () => {
      const { store, dir, file } = await storeWithOne();
      const before = readFileSync(file, "utf8");
      inject(await fileHandlePrototype());
      for (let i = 0; i < 3; i++) {
        await assert.rejects(store.update(DOC_ID, edit), (err: Error & { code?: string }) => {
          assert.equal(err.name, "StoreWriteError");
          assert.equal(err.code, code);
          assert.ok(!err.message.includes("/"), `no path in "${err.message}"`);
          return true;
        });
      }
      faults.restore();
      assert.deepEqual(readdirSync(dir), [fileNameFor(DOC_ID)], "no temp file left, one per try");
      assert.equal(readFileSync(file, "utf8"), before, "the file as it was");
      assert.equal(store.get(DOC_ID)?.version, 1, "the list as the file says");
      // The store goes on: the same change now works, and a restart reads it.
      await store.update(DOC_ID, edit);
      const again = new ReviewStore(dir);
      await again.load();
      assert.equal(again.get(DOC_ID)?.editedBy, "drjones");
    });
  }

  it("keeps listing a document whose file could not be deleted, as a restart would find it", async () => {
    const { store, file } = await storeWithOne();
    faults.replace(fsPromises, "rm", () => () => Promise.reject(fsError("EACCES", "rm")));
    await assert.rejects(store.remove(DOC_ID), { name: "StoreWriteError", code: "EACCES" });
    faults.restore();
    assert.ok(store.get(DOC_ID), "still listed");
    assert.ok(readFileSync(file, "utf8").includes(DOC_ID));
  });
});
