import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tone, wavOf } from "./audio-fixtures";

/** Planted in every file name: it must appear in no error, log or status. */
export const PATH_MARKER = "ZZ-PATH-MARKER-7731";

export interface HostilePath {
  what: string;
  path: string;
  /** The error codes that are right for it (a PNG is refused by ffmpeg, or as not audio without it). */
  codes: readonly string[];
}

/**
 * Paths that name something that is not a readable recording, each with the marker in its name where
 * the file system allows one: a FIFO, devices, a directory, a socket, an empty file, a truncated WAV,
 * a text file named .wav, a PNG, a file over the size limit (sparse), a missing file, a path with a
 * NUL character and one that is too long.
 */
export async function hostilePaths(): Promise<{ paths: HostilePath[]; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "hostile-"));
  const at = (name: string): string => join(dir, `${PATH_MARKER}-${name}`);
  execFileSync("mkfifo", [at("fifo.wav")]);
  mkdirSync(at("directory.wav"));
  writeFileSync(at("empty.wav"), Buffer.alloc(0));
  const wav = wavOf(tone(440, 1, 16000), { rate: 16000, channels: 1, bits: 16 });
  writeFileSync(at("truncated.wav"), wav.subarray(0, wav.length - 7000));
  writeFileSync(at("text.wav"), "This is not audio. ".repeat(200));
  writeFileSync(at("image.png"), png());
  writeFileSync(at("huge.wav"), wav.subarray(0, 44));
  truncateSync(at("huge.wav"), 5 * 2 ** 30);
  const socket = at("socket.wav");
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  const paths: HostilePath[] = [
    { what: "a FIFO", path: at("fifo.wav"), codes: ["NOT_A_FILE"] },
    { what: "/dev/null", path: "/dev/null", codes: ["NOT_A_FILE"] },
    { what: "/dev/zero", path: "/dev/zero", codes: ["NOT_A_FILE"] },
    { what: "a directory", path: at("directory.wav"), codes: ["NOT_A_FILE"] },
    { what: "a socket file", path: socket, codes: ["NOT_A_FILE"] },
    { what: "an empty file", path: at("empty.wav"), codes: ["FILE_EMPTY"] },
    { what: "a truncated WAV", path: at("truncated.wav"), codes: ["TRUNCATED_WAV"] },
    { what: "a text file named .wav", path: at("text.wav"), codes: ["DECODE_FAILED", "NOT_AUDIO"] },
    { what: "a PNG", path: at("image.png"), codes: ["DECODE_FAILED", "NOT_AUDIO"] },
    { what: "a file over the size limit", path: at("huge.wav"), codes: ["FILE_TOO_LARGE"] },
    { what: "a path that does not exist", path: at("missing.wav"), codes: ["FILE_NOT_FOUND"] },
    { what: "a path with a NUL character", path: `${at("nul")}\0.wav`, codes: ["BAD_PATH"] },
    { what: "a very long path", path: `${dir}/${PATH_MARKER}${"x".repeat(5000)}.wav`, codes: ["BAD_PATH"] },
  ];
  return {
    paths,
    cleanup: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A 1×1 PNG. */
function png(): Buffer {
  return Buffer.from(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000" +
      "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082",
    "hex",
  );
}

/** What the process holds: open descriptors, and libuv's active handles and requests by kind. */
export interface Resources {
  fds: number;
  active: Record<string, number>;
}

export function resources(): Resources {
  const active: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) active[kind] = (active[kind] ?? 0) + 1;
  return { fds: readdirSync("/proc/self/fd").length, active };
}

/**
 * What the process holds once it is quiet: after the current turn (Mocha arms a test's timeout timer
 * only after the test function has returned), with no file system request in flight (an emulator in
 * the same process may still be writing), and the same twice in a row.
 */
export async function baselineResources(ms = 3000): Promise<Resources> {
  await new Promise((resolve) => setImmediate(resolve));
  const deadline = Date.now() + ms;
  let last = resources();
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 30));
    const now = resources();
    const busy = Object.keys(now.active).some((k) => k.startsWith("FSReq"));
    if (!busy && now.fds === last.fds && sameCounts(now.active, last.active)) return now;
    last = now;
  }
  return last;
}

/**
 * Waits (up to `ms`) until the process holds no more than it held at `baseline` (descriptors and each
 * kind of handle), and `idle()` holds; then asserts it, so a leak fails with what was left over. Fewer is
 * not a leak: a timer another test left at the baseline may have ended meanwhile.
 */
export async function backToBaseline(
  baseline: Resources,
  idle: () => boolean = () => true,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  let now = resources();
  while (Date.now() < deadline) {
    now = resources();
    if (idle() && excess(now, baseline).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
    now = resources();
  }
  assert.ok(idle(), "the sessions are back to none");
  assert.deepEqual(excess(now, baseline), [], "descriptors, handles and requests are back to their baseline");
}

/** What the process holds beyond `baseline`: "fds +2", "Timeout +1". */
function excess(now: Resources, baseline: Resources): string[] {
  const over = now.fds > baseline.fds ? [`fds +${now.fds - baseline.fds}`] : [];
  for (const [k, n] of Object.entries(now.active)) {
    const extra = n - (baseline.active[k] ?? 0);
    if (extra > 0) over.push(`${k} +${extra}`);
  }
  return over;
}

function sameCounts(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}
