import { strict as assert } from "node:assert";
import { readdirSync, readFileSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import {
  decodeJournal,
  JOURNAL_FILE,
  openJournal,
  type Journal,
} from "../../../../src/hospital/queue/journal";
import { fileHandlePrototype, fsError, FsFaults, fsModule } from "../../../support/fs-faults";
import { tempDir } from "../../../support/temp-dir";

type Write = FileHandle["write"];

const faults = new FsFaults();
afterEach(() => faults.restore());

/** A journal holding three records, open. */
async function journalOf3(dir: string): Promise<Journal> {
  const { journal } = await openJournal(dir);
  await journal.append([
    { t: "a", n: 1 },
    { t: "b", n: 2 },
  ]);
  await journal.append([{ t: "c", n: 3, text: "é".repeat(100) }]);
  return journal;
}

function recordsOnDisk(dir: string): unknown[] {
  return decodeJournal(readFileSync(join(dir, JOURNAL_FILE))).records;
}

type RawWrite = (
  this: FileHandle,
  buffer: Buffer,
  offset: number,
  length: number,
  position: number,
) => ReturnType<Write>;

/** A write that takes at most `limit` bytes per call, as a file system filling up may. */
function shortWrites(limit: number): (original: Write) => Write {
  return (original) => {
    const write = original as unknown as RawWrite;
    return function (this: FileHandle, buffer: Buffer, offset: number, length: number, position: number) {
      return write.call(this, buffer, offset, Math.min(length, limit), position);
    } as Write;
  };
}

describe("queue journal: compaction (rewrite) under file-system faults", () => {
  it("writes every byte when the file system takes fewer than asked per write (a short write)", async () => {
    const dir = tempDir("journal-");
    const journal = await journalOf3(dir);
    faults.replace(await fileHandlePrototype(), "write", shortWrites(7));
    const sizes = await journal.rewrite([
      { t: "b", n: 2 },
      { t: "c", n: 3, text: "é".repeat(100) },
    ]);
    faults.restore();
    assert.deepEqual(recordsOnDisk(dir), [
      { t: "b", n: 2 },
      { t: "c", n: 3, text: "é".repeat(100) },
    ]);
    assert.equal(
      sizes.reduce((a, b) => a + b, 0),
      readFileSync(join(dir, JOURNAL_FILE)).length,
    );
    await journal.close();
  });

  const failures: Array<{ what: string; code: string; inject: (proto: FileHandle) => void }> = [
    {
      what: "ENOSPC half-way through the write",
      code: "ENOSPC",
      inject: (proto) => {
        let calls = 0;
        faults.replace(proto, "write", (original) => {
          const short = shortWrites(40)(original);
          return function (this: FileHandle, ...args: Parameters<Write>) {
            if (calls++ === 0) return (short as (...a: unknown[]) => ReturnType<Write>).apply(this, args);
            return Promise.reject(fsError("ENOSPC", "write"));
          } as Write;
        });
      },
    },
    {
      what: "EIO on fsync",
      code: "EIO",
      inject: (proto) => faults.replace(proto, "sync", () => () => Promise.reject(fsError("EIO", "fsync"))),
    },
    {
      what: "a rename that fails",
      code: "EACCES",
      inject: () =>
        faults.replace(fsModule, "renameSync", () => () => {
          throw fsError("EACCES", "rename");
        }),
    },
    {
      what: "a temp file that cannot be created",
      code: "EMFILE",
      inject: () =>
        faults.replace(fsModule.promises, "open", () => () => Promise.reject(fsError("EMFILE", "open"))),
    },
  ];

  for (const { what, code, inject } of failures) {
    it(`keeps the old journal whole and in use after ${what}, names the error without a path and leaves no temp file`, async () => {
      const dir = tempDir("journal-");
      const journal = await journalOf3(dir);
      const before = readFileSync(join(dir, JOURNAL_FILE));
      inject(await fileHandlePrototype());
      await assert.rejects(
        journal.rewrite([{ t: "c", n: 3, text: "x".repeat(200) }]),
        (err: Error & { code?: string }) => {
          assert.equal(err.name, "JournalError");
          assert.equal(err.code, code);
          assert.ok(!err.message.includes("/"), `no path in "${err.message}"`);
          return true;
        },
      );
      faults.restore();
      assert.deepEqual(readFileSync(join(dir, JOURNAL_FILE)), before, "the old journal, byte for byte");
      assert.deepEqual(readdirSync(dir), [JOURNAL_FILE], "no temp file left");
      assert.equal(journal.size, before.length);
      // Still the journal in use: an append lands in it, and a restart reads all four records.
      await journal.append([{ t: "d", n: 4 }]);
      await journal.close();
      const again = await openJournal(dir);
      assert.deepEqual(again.records, [
        { t: "a", n: 1 },
        { t: "b", n: 2 },
        { t: "c", n: 3, text: "é".repeat(100) },
        { t: "d", n: 4 },
      ]);
      await again.journal.close();
    });
  }

  it("does not leak a file descriptor per failed compaction", async () => {
    const dir = tempDir("journal-");
    const journal = await journalOf3(dir);
    faults.replace(fsModule, "renameSync", () => () => {
      throw fsError("EXDEV", "rename");
    });
    const open = (): number => readdirSync("/proc/self/fd").length;
    const before = open();
    for (let i = 0; i < 20; i++) await journal.rewrite([{ t: "c", n: 3 }]).catch(() => undefined);
    faults.restore();
    assert.ok(open() < before + 5, `open descriptors ${before} -> ${open()}`);
    await journal.close();
  });

  it("names a failed append by its code, without a path, and cuts the file back", async () => {
    const dir = tempDir("journal-");
    const journal = await journalOf3(dir);
    const before = readFileSync(join(dir, JOURNAL_FILE));
    faults.replace(
      await fileHandlePrototype(),
      "datasync",
      () => () => Promise.reject(fsError("EIO", "fdatasync")),
    );
    await assert.rejects(journal.append([{ t: "x" }]), { name: "JournalError", code: "EIO" });
    faults.restore();
    assert.deepEqual(readFileSync(join(dir, JOURNAL_FILE)), before);
    await journal.close();
  });
});
