import type { Node, NodeAPI } from "node-red";
import { isAbsolute, join } from "node:path";
import { Destination, type DestinationOptions } from "../../src/hospital/queue/destination";
import { JournalError } from "../../src/hospital/queue/journal";
import { nodeScheduler } from "../shared/node-red";
import { registerQueueAdmin } from "./queue-admin";

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

/** What a config node's settings say of its queue: the store, its directory and its bounds. */
export interface QueueConfig {
  queueStore?: unknown;
  queueDir?: unknown;
}
export interface QueueLimits {
  maxQueue?: number;
  maxQueueBytes?: number;
  backoffMs: number;
  backoffMaxMs: number;
}

/**
 * The durable queue of a delivery config node (mllp-endpoint, fhir-server), or undefined for the
 * in-memory store. Throws, with the node's own catalog text, on an unknown store or a directory that
 * cannot be used; a journal that cannot be opened is reported on the node. The journal, not the
 * transport, holds the queue: the transport sees one message at a time.
 */
export function durableDestination<R, E>(
  RED: NodeAPI,
  node: Node & { name?: string },
  type: "mllp-endpoint" | "fhir-server",
  config: QueueConfig,
  limits: QueueLimits,
  transport: Pick<DestinationOptions<R, E>, "kind" | "send" | "abort" | "onError">,
): Destination<R, E> | undefined {
  if (config.queueStore === "memory") return undefined;
  if (config.queueStore !== "disk")
    throw new Error(RED._(`${type}.errors.badStore`, { stores: "disk, memory" }));
  const baseDir = queueBaseDir(RED, config.queueDir);
  if (!baseDir) throw new Error(RED._(`${type}.errors.noQueueDir`));
  const maxBytes = limits.maxQueueBytes ?? 0;
  const destination = new Destination<R, E>({
    ...transport,
    // A journal that cannot be written or compacted is a disk to see to, not an internal error: told
    // as such (its text is fixed words and the system's code, never the directory).
    onError: (err) => {
      if (err instanceof JournalError) node.error(RED._(`${type}.errors.journal`, { error: err.message }));
      else transport.onError(err);
    },
    id: node.id,
    name: node.name || type,
    baseDir,
    maxMessages: limits.maxQueue ?? 0,
    maxBytes,
    maxDiskBytes: queueDiskBytes(maxBytes),
    backoffMs: limits.backoffMs,
    backoffMaxMs: limits.backoffMaxMs,
    onOrphan: (_item, outcome) => {
      node.warn(RED._(`${type}.errors.orphan`, { outcome: outcome.kind }));
    },
    scheduler: nodeScheduler(node, type),
  });
  destination.ready.then(
    () => {
      // In the log even when no sender node uses the destination (the senders tell their Catch nodes).
      const damage = destination.recovered?.damage;
      if (!damage) return;
      node.error(
        RED._(`${type}.errors.journalDamaged`, {
          bytes: damage.bytes,
          spans: damage.spans,
          records: damage.records,
          kept: damage.keptIn ? ` (the damaged bytes are in ${damage.keptIn})` : "",
        }),
      );
    },
    (err: unknown) => {
      node.error(
        RED._(`${type}.errors.queueOpen`, { error: err instanceof Error ? err.message : String(err) }),
      );
    },
  );
  registerQueueAdmin(RED);
  return destination;
}
