import Ajv from "ajv";
import { strict as assert } from "node:assert";
import schema from "../../src/transcript/result.schema.json";

// Compiled here with ajv itself, independently of the generated validator the nodes use.
const ajv = new Ajv({ allErrors: true, strict: true });
const validate = ajv.compile(schema);

/** Fails the test unless the value is a valid transcript result (contract 2). */
export function assertTranscriptResult(value: unknown): void {
  assert.ok(validate(value), `not a valid transcript result: ${ajv.errorsText(validate.errors)}`);
}

export function schemaAccepts(value: unknown): boolean {
  return validate(value);
}
