/**
 * The hidden `tuning` property of an AWS streaming node (not in the editor: timings for tests and
 * unusual deployments). A flow's JSON may hold anything there, so only finite numbers pass, and those
 * that size a buffer or pace a timer are held to a range: a huge queue would let a session hold
 * unbounded audio, a keep-alive of 0 or NaN would fire without pause, a keep-alive over 15 s would let
 * the service end quiet streams.
 */
const RANGES = new Map<string, readonly [number, number]>([
  ["maxQueueSeconds", [0, 120]],
  ["maxReplaySeconds", [0, 600]],
  ["keepaliveMs", [100, 14_000]],
  ["keepaliveFrameMs", [10, 1000]],
  ["watchdogMs", [100, 600_000]],
  ["speechStallMs", [0, 600_000]],
  ["openTimeoutMs", [100, 600_000]],
  ["endAnswerMs", [100, 600_000]],
  ["replaySpeed", [1, 10]],
  ["replayBurstSeconds", [0, 30]],
  ["maxStreamMs", [1000, (4 * 60 - 5) * 60_000]],
  ["maxAttempts", [1, 100]],
  ["backoffBaseMs", [1, 60_000]],
  ["backoffMaxMs", [1, 600_000]],
  ["healthyMs", [0, 3_600_000]],
  ["closeTimeoutMs", [0, 10_000]],
  ["refuseReportMs", [100, 3_600_000]],
]);

/** The finite numbers of `raw`, each known one within its range; anything else is left out (defaults apply). */
export function boundedTuning(raw: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return out;
  for (const [key, value] of Object.entries(raw)) {
    // Only name-shaped keys ("__proto__" is not one) with finite numbers.
    if (!/^[a-zA-Z][a-zA-Z0-9]*$/.test(key) || typeof value !== "number" || !Number.isFinite(value)) continue;
    const range = RANGES.get(key);
    out[key] = range ? Math.min(Math.max(value, range[0]), range[1]) : value;
  }
  return out;
}
