import Ajv from "ajv";
import { strict as assert } from "node:assert";
import chunkSchema from "../../src/audio/chunk.schema.json";
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

const validateChunk = ajv.compile(chunkSchema);

/** Fails the test unless the message is a valid audio chunk (contract 1): schema, topic and payload size. */
export function assertAudioChunk(msg: { topic?: unknown; payload?: unknown; audio?: unknown }): void {
  assert.ok(validateChunk(msg.audio), `not a valid audio chunk: ${ajv.errorsText(validateChunk.errors)}`);
  const audio = msg.audio as { sessionId: string; sampleRate: number; channels: number; durationMs: number };
  assert.equal(msg.topic, audio.sessionId, "msg.topic is the session id");
  assert.ok(Buffer.isBuffer(msg.payload), "msg.payload is a Buffer");
  const expected = (audio.durationMs * audio.sampleRate * audio.channels * 2) / 1000;
  assert.ok(Math.abs(msg.payload.length - expected) < 2, "payload length matches durationMs");
}
