import { readdirSync, readlinkSync } from "node:fs";

/**
 * What the process holds open: file descriptors (from /proc/self/fd, with what each points at) and
 * libuv resources by kind (`process.getActiveResourcesInfo()`: timers, sockets, servers, fs requests).
 * Taken before a flow starts and after it stopped, the two must match: anything more is a leak.
 */
export interface ResourceSnapshot {
  descriptors: number;
  /** What each descriptor points at ("socket:[123]", "/tmp/x", "pipe:[4]"), sorted. */
  targets: string[];
  /** libuv resources by kind, e.g. { Timeout: 3, TCPSocketWrap: 2 }. */
  resources: Record<string, number>;
}

export function snapshotResources(): ResourceSnapshot {
  const targets: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync("/proc/self/fd");
  } catch {
    // Not Linux: descriptors are not counted.
  }
  for (const fd of names) {
    try {
      targets.push(readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // The descriptor that listed the directory is gone already.
    }
  }
  const resources: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
  return { descriptors: targets.length, targets: targets.sort(), resources };
}

/**
 * What `now` holds beyond `baseline`: one line per kind of resource that grew, and the descriptors
 * that are new by what they point at (sockets and pipes by kind, files by path). Empty: nothing leaked.
 */
export function resourceGrowth(baseline: ResourceSnapshot, now: ResourceSnapshot): string[] {
  const out: string[] = [];
  for (const [kind, n] of Object.entries(now.resources)) {
    const before = baseline.resources[kind] ?? 0;
    if (n > before) out.push(`${kind}: ${before} before, ${n} after`);
  }
  if (now.descriptors > baseline.descriptors) {
    const kinds = (list: string[]): Map<string, number> => {
      const m = new Map<string, number>();
      for (const t of list) {
        const k = t.replace(/:\[\d+\]$/, "");
        m.set(k, (m.get(k) ?? 0) + 1);
      }
      return m;
    };
    const before = kinds(baseline.targets);
    const grown = [...kinds(now.targets)]
      .filter(([k, n]) => n > (before.get(k) ?? 0))
      .map(([k, n]) => `${k} ×${n - (before.get(k) ?? 0)}`);
    out.push(
      `file descriptors: ${baseline.descriptors} before, ${now.descriptors} after (${grown.join(", ")})`,
    );
  }
  return out;
}

/** Waits until nothing beyond `baseline` is held, or `ms` passed; returns what is still held. */
export async function untilResourcesBack(baseline: ResourceSnapshot, ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const growth = resourceGrowth(baseline, snapshotResources());
    if (growth.length === 0 || Date.now() > deadline) return growth;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
