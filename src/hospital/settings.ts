/**
 * A number setting of a node's configuration: the editor keeps them as text. Empty text is the
 * given default (a flow written by hand may leave it so); anything that is not a finite number in
 * [min, max] (a whole number where `integer`) is undefined, for the node to refuse with a message
 * naming the setting.
 */
export function numberSetting(
  value: unknown,
  fallback: number,
  range: { min: number; max: number; integer?: boolean },
): number | undefined {
  const n =
    value === undefined || value === null || value === ""
      ? fallback
      : typeof value === "number" || typeof value === "string"
        ? Number(value)
        : NaN;
  if (!Number.isFinite(n) || n < range.min || n > range.max) return undefined;
  if (range.integer && !Number.isInteger(n)) return undefined;
  return n;
}

/** Default queue bounds per destination, as the editor shows them: messages, and MiB. */
export const QUEUE_DEFAULTS = { depth: 1000, megabytes: 64 } as const;
/** Largest queue bounds a setting may give. */
export const QUEUE_LIMITS = { depth: 100_000, megabytes: 1024 } as const;
