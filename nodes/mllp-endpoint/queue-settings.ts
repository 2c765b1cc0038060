import type { NodeAPI } from "node-red";
import { isAbsolute, join } from "node:path";

/**
 * Where the durable queues live: the configured directory (absolute), or `<userDir>/medstream-queue`.
 * Undefined when neither is known (a runtime without a user directory): the node refuses with a
 * message naming the setting.
 */
export function queueBaseDir(RED: NodeAPI, configured: unknown): string | undefined {
  const dir = typeof configured === "string" ? configured.trim() : "";
  if (dir) return isAbsolute(dir) ? dir : undefined;
  const userDir = (RED.settings as { userDir?: unknown }).userDir;
  return typeof userDir === "string" && userDir ? join(userDir, "medstream-queue") : undefined;
}

/**
 * The disk bound of one destination's journal: the queued bytes can take 2x on disk (JSON escaping
 * of CR, record headers), and ended records wait for compaction until they outweigh the live ones
 * (and 1 MiB): 3x the byte bound plus 4 MiB covers both.
 */
export function queueDiskBytes(maxBytes: number): number {
  return 3 * maxBytes + 4 * 1024 * 1024;
}
