/**
 * Node settings as a flow holds them, checked once at the edge against the JSON type of the editor's
 * default. The editor writes text for text fields and for number fields (a blank number field is ""),
 * numbers where a node's defaults say so, and booleans for checkboxes; a flow edited by hand, copied
 * from another system or written by an old version may hold anything. What can be read without loss is
 * read (a number where text is expected becomes its digits, "true"/"false" a checkbox); anything else is
 * refused by name, so that a node never calls a string method on an array in its constructor.
 */

export type SettingKind = "text" | "number" | "boolean";

/** What a value is, for an error message: its JSON kind, never its content (which may be long, or PHI). */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "number") return Number.isFinite(value) ? "a number" : `the number ${String(value)}`;
  if (typeof value === "string") return `a text of ${value.length} characters`;
  if (typeof value === "boolean") return `the value ${String(value)}`;
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

const ACCEPTED: Record<SettingKind, string> = {
  text: "text",
  number: "a number (or its digits as text)",
  boolean: "true or false",
};

export interface SettingTypeProblem {
  setting: string;
  message: string;
}

/**
 * The value of a setting read as the kind of its default, or a problem naming the setting. A value of
 * the default's kind is returned as it is (its range is the node's to check).
 */
export function readSettingKind(
  setting: string,
  value: unknown,
  kind: SettingKind,
): { ok: true; value: unknown } | { ok: false; problem: SettingTypeProblem } {
  switch (kind) {
    case "text":
      if (typeof value === "string") return { ok: true, value };
      if (typeof value === "number" && Number.isFinite(value)) return { ok: true, value: String(value) };
      break;
    case "number":
      if (typeof value === "number" || typeof value === "string") return { ok: true, value };
      break;
    case "boolean":
      if (typeof value === "boolean") return { ok: true, value };
      if (value === "true" || value === "false") return { ok: true, value: value === "true" };
      break;
  }
  return {
    ok: false,
    problem: {
      setting,
      message: `the setting "${setting}" holds ${kindOf(value)}; accepted: ${ACCEPTED[kind]}`,
    },
  };
}

/**
 * The settings of `config` that `defaults` names, read as the kinds of their defaults: the first
 * problem, or the config with the lossless conversions applied. Settings the defaults do not name (the
 * node's id, wires, config-node references the defaults leave out) pass as they are; `name` is only
 * shown by the editor and never refused. Missing and null settings are filled with their defaults
 * before this (`withDefaults`, nodes/shared/settings.ts).
 */
export function readSettings<C extends object>(
  config: C,
  defaults: object,
): { ok: true; config: C } | { ok: false; problem: SettingTypeProblem } {
  const out = { ...config } as Record<string, unknown>;
  for (const [setting, fallback] of Object.entries(defaults)) {
    const kind = kindOfDefault(fallback);
    if (!kind || !Object.hasOwn(out, setting)) continue;
    const read = readSettingKind(setting, out[setting], kind);
    if (read.ok) out[setting] = read.value;
    else if (setting === "name") out[setting] = "";
    else return read;
  }
  return { ok: true, config: out as C };
}

function kindOfDefault(value: unknown): SettingKind | undefined {
  if (typeof value === "string") return "text";
  if (typeof value === "number") return "number";
  if (typeof value === "boolean") return "boolean";
  return undefined;
}

/**
 * A setting's value for an error message: a number or a short word as it is ("16001", "bogus"), so
 * that the user sees what to correct; anything longer or with other characters by its kind only (a
 * setting may hold 100 KB, or a path naming a patient).
 */
export function shownValue(value: unknown): string {
  if (typeof value === "number") return String(value);
  if (typeof value === "string" && /^[\w.+-]{0,24}$/.test(value)) return `"${value}"`;
  return `(${kindOf(value)})`;
}
