/**
 * Reading the patient and encounter fields a flow supplies (msg.patient, msg.encounter, or a
 * setting): text or a finite number, of bounded length. Errors name the property and what is
 * accepted, never the value (it is PHI).
 */

/** Longest patient or encounter field accepted, in characters. */
export const MAX_FIELD_CHARS = 1024;

export class FieldValueError extends Error {
  override readonly name = "FieldValueError";
  readonly code = "FIELD_VALUE_INVALID";
  constructor(
    readonly property: string,
    problem: string,
  ) {
    super(`${property} ${problem}`);
  }
}

/**
 * `o[key]` as trimmed text: undefined when absent, null or blank. A number becomes its decimal text;
 * NaN, Infinity, objects and booleans are refused, as is text longer than MAX_FIELD_CHARS.
 */
export function fieldText(o: Record<string, unknown>, key: string, property: string): string | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new FieldValueError(
        `${property}.${key}`,
        "must be text or a finite number (not NaN or Infinity)",
      );
    }
    return String(value);
  }
  if (typeof value !== "string") throw new FieldValueError(`${property}.${key}`, "must be text or a number");
  if (value.length > MAX_FIELD_CHARS) {
    throw new FieldValueError(`${property}.${key}`, `must be at most ${MAX_FIELD_CHARS} characters`);
  }
  const text = value.trim();
  return text === "" ? undefined : text;
}

/** `o[key]` when it is an object (not an array), else undefined. */
export function objectField(o: Record<string, unknown>, key: string): Record<string, unknown> | undefined {
  const value = o[key];
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
