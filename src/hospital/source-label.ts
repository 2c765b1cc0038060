/**
 * How an error names where a TypedInput value came from: "msg.patient" for a property, or
 * "the patient setting" for JSON, JSONata and other types, whose "value" is the configuration
 * itself and may hold patient data that must not reach an error message.
 */
export function sourceLabel(type: string, value: string, what: string): string {
  return type === "msg" || type === "flow" || type === "global" ? `${type}.${value}` : `the ${what} setting`;
}
