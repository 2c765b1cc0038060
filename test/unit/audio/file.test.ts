import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPath, closeQuietly, openRegularFile, readPieces } from "../../../src/audio/file";
import { AudioInputError } from "../../../src/audio/format";
import { AudioSessions, type AudioInOptions, type OutgoingChunk } from "../../../src/audio/sessions";
import { tone, wavOf } from "../../support/audio-fixtures";
import {
  backToBaseline,
  baselineResources,
  hostilePaths,
  PATH_MARKER,
  type HostilePath,
} from "../../support/hostile-files";

const options: AudioInOptions = {
  sampleRate: 16000,
  channels: "mono",
  frameMs: 100,
  realTime: false,
  maxAheadMs: 60000,
  idleTimeoutMs: 0,
  maxSessions: 10,
  endAfterRecording: true,
  rawDefault: undefined,
  compressedStream: false,
};

describe("audio-in file paths: only what can be read is opened", function () {
  let paths: HostilePath[] = [];
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let dir: string;
  before(async () => {
    ({ paths, cleanup } = await hostilePaths());
    dir = mkdtempSync(join(tmpdir(), "audio-file-"));
    // The resampler's WebAssembly and ffmpeg's first start are process-wide: loaded before any baseline.
    const warm = new AudioSessions(options, () => undefined);
    await warm.handle({
      topic: "warm",
      payload: wavOf(tone(440, 0.2, 44100), { rate: 44100, channels: 1, bits: 16 }),
    });
  });
  after(async () => {
    await cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const endAfterRecording of [true, false]) {
    describe(`with "a whole recording ends its session" ${endAfterRecording ? "on" : "off"}`, () => {
      it("refuses every path that is not a readable recording with a clear code, and leaves nothing behind", async () => {
        for (const hostile of paths) {
          const baseline = await baselineResources();
          const chunks: OutgoingChunk[] = [];
          const sessions = new AudioSessions({ ...options, endAfterRecording }, (c) => chunks.push(c));
          const started = Date.now();
          let timer: NodeJS.Timeout | undefined;
          const outcome = await Promise.race([
            Promise.resolve(sessions.handle({ topic: `${PATH_MARKER}-session`, payload: hostile.path })).then(
              () => "resolved",
              (err: unknown) => err,
            ),
            new Promise((resolve) => (timer = setTimeout(() => resolve("never settled"), 3000))),
          ]);
          clearTimeout(timer);
          assert.ok(outcome instanceof AudioInputError, `${hostile.what}: ${String(outcome)}`);
          assert.ok(hostile.codes.includes(outcome.code), `${hostile.what}: ${outcome.code}`);
          assert.match(outcome.message, /accepted: /, hostile.what);
          assert.ok(!outcome.message.includes(PATH_MARKER), `${hostile.what}: ${outcome.message}`);
          assert.ok(!outcome.message.includes(dir), hostile.what);
          assert.ok(Date.now() - started < 2000, `${hostile.what} answered at once`);
          // The session the path opened (if it got that far) has ended, with the audio read so far.
          const last = chunks.at(-1);
          if (last) assert.equal(last.audio.end, true, hostile.what);
          await backToBaseline(baseline, () => sessions.size === 0 && sessions.active === 0);
        }
      });
    });
  }

  it("says what the path names, and what is accepted", async () => {
    const sessions = new AudioSessions(options, () => undefined);
    const text = async (path: string): Promise<string> =>
      sessions.handle({ payload: path })!.then(
        () => "",
        (e: Error) => e.message,
      );
    assert.match(
      await text("/dev/null"),
      /msg\.payload names a character device, not a regular file; accepted: the path of a regular file/,
    );
    const fifo = paths.find((p) => p.what === "a FIFO")!.path;
    assert.match(await text(fifo), /names a FIFO \(named pipe\), not a regular file/);
    assert.match(await text(paths.find((p) => p.what === "a socket file")!.path), /names a socket/);
    assert.match(await text(paths.find((p) => p.what === "a directory")!.path), /names a directory/);
    assert.match(await text(paths.find((p) => p.what === "an empty file")!.path), /is empty \(0 bytes\)/);
    assert.match(
      await text(paths.find((p) => p.what === "a file over the size limit")!.path),
      /larger than 4 GiB/,
    );
    assert.match(await text("/tmp/x\0y.wav"), /not a usable file path: it contains a NUL character/);
  });

  it("still reads a recording through a symbolic link, and a WAV whose audio follows a large chunk", async () => {
    const wav = wavOf(tone(440, 1, 16000), { rate: 16000, channels: 1, bits: 16 });
    // A 1 MiB JUNK chunk before fmt: skipped as it passes, never held.
    const junk = Buffer.alloc(8 + 2 ** 20);
    junk.write("JUNK", 0, "latin1");
    junk.writeUInt32LE(2 ** 20, 4);
    const padded = Buffer.concat([wav.subarray(0, 12), junk, wav.subarray(12)]);
    padded.writeUInt32LE(padded.length - 8, 4);
    writeFileSync(join(dir, "padded.wav"), padded);
    symlinkSync(join(dir, "padded.wav"), join(dir, "link.wav"));
    const chunks: OutgoingChunk[] = [];
    const sessions = new AudioSessions(options, (c) => chunks.push(c));
    await sessions.handle({ topic: "link", payload: join(dir, "link.wav") });
    assert.deepEqual(Buffer.concat(chunks.map((c) => c.payload)).subarray(0, 32000), wav.subarray(44));
    assert.equal(chunks.at(-1)?.audio.end, true);
  });

  it("checks a path before asking the file system", () => {
    assert.equal(checkPath("/a/b.wav"), undefined);
    assert.deepEqual(checkPath(""), { code: "BAD_PATH", why: "it is empty" });
    assert.equal(checkPath("a\0b")?.code, "BAD_PATH");
    assert.equal(checkPath(`/${"é".repeat(2048)}`)?.code, "BAD_PATH", "4096 bytes, though 2049 characters");
  });

  it("opens a regular file and reads it in pieces up to the size it had when opened", async () => {
    const path = join(dir, "pieces.bin");
    writeFileSync(path, Buffer.alloc(100_000, 7));
    const opened = await openRegularFile(path, 1e9);
    assert.ok(opened.ok);
    try {
      const pieces: number[] = [];
      for await (const p of readPieces(opened.file, 40_000)) pieces.push(p.length);
      assert.deepEqual(pieces, [40_000, 40_000, 20_000]);
    } finally {
      await closeQuietly(opened.file.handle);
    }
    const small = await openRegularFile(path, 99_999);
    assert.deepEqual(small, { ok: false, problem: { code: "FILE_TOO_LARGE", maxBytes: 99_999 } });
  });
});
