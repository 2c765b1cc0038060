/** A property path as the editor writes it: names, dots and [index], at most 100 characters. */
const PLAIN_PATH = /^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*|\[\d+\])*$/;
const MAX_SHOWN_PATH = 100;

/**
 * How an error names where a TypedInput value came from: "msg.patient" for a property, or
 * "the patient setting" for JSON, JSONata and other types, whose "value" is the configuration
 * itself and may hold patient data that must not reach an error message.
 */
export function sourceLabel(type: string, value: string, what: string): string {
  if (type !== "msg" && type !== "flow" && type !== "global") return `the ${what} setting`;
  // A property path is configuration, shown so the engineer finds it; one that is not a plain short path
  // (a flow edited by hand may hold 100 KB, or a patient's name, there) is named by the setting instead.
  return value.length <= MAX_SHOWN_PATH && PLAIN_PATH.test(value)
    ? `${type}.${value}`
    : `the ${type} property of the ${what} setting`;
}
