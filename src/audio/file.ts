import { constants, type Stats } from "node:fs";
import { open, stat, type FileHandle } from "node:fs/promises";

/**
 * Opening a file that a flow names by its path. Only a regular file is opened: a FIFO would block
 * a thread of libuv's pool until a writer comes (forever, and a close does not release it), a device
 * such as /dev/zero never ends and /dev/null never starts, a directory or socket cannot be read.
 * The path is checked with stat before anything is opened, the open cannot block (O_NONBLOCK) or
 * take a terminal (O_NOCTTY), and the descriptor is checked again with fstat, so a file swapped
 * for a FIFO between the two checks is refused too. Error texts never hold the path: the name of a
 * recording often names the patient.
 */

/** The longest path accepted, in bytes (Linux's PATH_MAX, less its terminating NUL). */
export const MAX_PATH_BYTES = 4095;

export type FileProblem =
  | { code: "BAD_PATH"; why: string }
  | { code: "FILE_NOT_FOUND" }
  | { code: "FILE_NOT_READABLE"; reason: string }
  | { code: "NOT_A_FILE"; kind: string }
  | { code: "FILE_EMPTY" }
  | { code: "FILE_TOO_LARGE"; maxBytes: number };

export type FileProblemCode = FileProblem["code"];

/** An open regular file: its descriptor and its size when it was opened. */
export interface OpenFile {
  handle: FileHandle;
  size: number;
}

export type Opened = { ok: true; file: OpenFile } | { ok: false; problem: FileProblem };

const ACCEPTED = "accepted: the path of a regular file that the Node-RED process can read";

// O_NONBLOCK and O_NOCTTY are POSIX; Windows has neither FIFOs nor terminals to guard against.
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0);

/** Checks a path and opens it when it names a regular, non-empty file of at most `maxBytes`. */
export async function openRegularFile(path: string, maxBytes: number): Promise<Opened> {
  const bad = checkPath(path);
  if (bad) return { ok: false, problem: bad };
  let before: Stats;
  try {
    before = await stat(path);
  } catch (err) {
    return { ok: false, problem: problemOf(err) };
  }
  const early = checkStats(before, maxBytes);
  if (early) return { ok: false, problem: early };
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    return { ok: false, problem: problemOf(err) };
  }
  try {
    const now = await handle.stat();
    const late = checkStats(now, maxBytes);
    if (late) {
      await closeQuietly(handle);
      return { ok: false, problem: late };
    }
    return { ok: true, file: { handle, size: now.size } };
  } catch (err) {
    await closeQuietly(handle);
    return { ok: false, problem: problemOf(err) };
  }
}

/** Why a path cannot be used, before asking the file system; undefined when it can. */
export function checkPath(path: string): FileProblem | undefined {
  if (path === "") return { code: "BAD_PATH", why: "it is empty" };
  if (path.includes("\0")) return { code: "BAD_PATH", why: "it contains a NUL character" };
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) {
    return { code: "BAD_PATH", why: `it is longer than ${MAX_PATH_BYTES} bytes` };
  }
  return undefined;
}

function checkStats(st: Stats, maxBytes: number): FileProblem | undefined {
  if (!st.isFile()) return { code: "NOT_A_FILE", kind: kindOf(st) };
  if (st.size === 0) return { code: "FILE_EMPTY" };
  if (st.size > maxBytes) return { code: "FILE_TOO_LARGE", maxBytes };
  return undefined;
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO (named pipe)";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "something other than a regular file";
}

function problemOf(err: unknown): FileProblem {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return { code: "FILE_NOT_FOUND" };
    case "ENAMETOOLONG":
      return { code: "BAD_PATH", why: "it, or a name in it, is too long for the file system" };
    case "ENXIO":
      // What opening a socket (or a FIFO with no reader, for writing) gives.
      return { code: "NOT_A_FILE", kind: "a socket or device" };
    case "EISDIR":
      return { code: "NOT_A_FILE", kind: "a directory" };
    default:
      // Only the error's code, never its message: Node's messages quote the path.
      return { code: "FILE_NOT_READABLE", reason: typeof code === "string" ? code : "read error" };
  }
}

/**
 * The text of a problem, for an error message (without the node's name): what was wrong and what is
 * accepted. `what` names where the path came from.
 */
export function fileProblemText(problem: FileProblem, what = "msg.payload"): string {
  switch (problem.code) {
    case "BAD_PATH":
      return `${what} is not a usable file path: ${problem.why}; ${ACCEPTED}`;
    case "FILE_NOT_FOUND":
      return `the file named in ${what} does not exist; ${ACCEPTED}`;
    case "FILE_NOT_READABLE":
      return `the file named in ${what} cannot be read (${problem.reason}); ${ACCEPTED}`;
    case "NOT_A_FILE":
      return `${what} names ${problem.kind}, not a regular file; ${ACCEPTED}`;
    case "FILE_EMPTY":
      return `the file named in ${what} is empty (0 bytes); ${ACCEPTED}, holding a recording`;
    case "FILE_TOO_LARGE":
      return `the file named in ${what} is larger than ${sizeText(problem.maxBytes)}, the limit; ${ACCEPTED}, of at most that size`;
  }
}

/** A size in binary units, for messages. */
export function sizeText(bytes: number): string {
  if (bytes >= 2 ** 30 && bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30} GiB`;
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 2 ** 10 && bytes % 2 ** 10 === 0) return `${bytes / 2 ** 10} KiB`;
  return `${bytes} bytes`;
}

/**
 * Reads an open file from `from` up to the size it had when opened, in pieces of at most
 * `chunkBytes`; stops early if the file shrinks. Each piece is a new Buffer the caller may keep.
 */
export async function* readPieces(file: OpenFile, chunkBytes: number, from = 0): AsyncGenerator<Buffer> {
  for (let position = from; position < file.size;) {
    const buffer = Buffer.allocUnsafe(Math.min(chunkBytes, file.size - position));
    const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    // Only the bytes read leave: allocUnsafe's other bytes are never seen.
    yield buffer.subarray(0, bytesRead);
  }
}

/** The first bytes of an open file (fewer when it is shorter). */
export async function readHead(file: OpenFile, bytes: number): Promise<Buffer> {
  const buffer = Buffer.alloc(Math.min(bytes, file.size));
  const { bytesRead } = await file.handle.read(buffer, 0, buffer.length, 0);
  return buffer.subarray(0, bytesRead);
}

/** Closes a descriptor; a failure to close (already closed) is not an error of the caller's. */
export async function closeQuietly(handle: FileHandle): Promise<void> {
  try {
    await handle.close();
  } catch {
    // Nothing more can be done with it, and it is not the caller's input that failed.
  }
}
