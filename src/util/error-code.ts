/**
 * The system's code of a file-system error (ENOSPC, EIO, EACCES, ...), or "error" when it has none:
 * what an error about a file may say. The system's message names the file, and a flow may have chosen
 * its folder, so that text is never passed on.
 */
export function fileErrorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code) ? code : "error";
}
