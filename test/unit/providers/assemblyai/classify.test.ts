import { strict as assert } from "node:assert";
import { classifyMessage, InputError } from "../../../../src/providers/assemblyai/node-config";
import { MEDICAL_DEFAULTS } from "../../../../src/providers/assemblyai/params";

const chunk = Buffer.alloc(320);

describe("assemblyai-medical classifies each message once, where it enters", () => {
  it("msg.control: a command for the session named by msg.topic", () => {
    assert.deepEqual(classifyMessage({ topic: "s", control: { type: "ForceEndpoint" } }, MEDICAL_DEFAULTS), {
      kind: "control",
      sessionId: "s",
      command: { type: "ForceEndpoint" },
    });
    const update = classifyMessage(
      { control: { type: "UpdateConfiguration", max_turn_silence: 2000 }, payload: chunk },
      MEDICAL_DEFAULTS,
    );
    // A control message is a command even when it carries audio; without msg.topic it names no session.
    assert.deepEqual(update, {
      kind: "control",
      sessionId: "",
      command: { type: "UpdateConfiguration", fields: { max_turn_silence: 2000 } },
    });
  });

  it("a contract-1 chunk: audio with its session, offset and end", () => {
    assert.deepEqual(
      classifyMessage(
        { topic: "t", payload: chunk, audio: { sessionId: "s", offsetMs: 100 } },
        MEDICAL_DEFAULTS,
      ),
      { kind: "audio", sessionId: "s", offsetMs: 100, audio: chunk, end: false },
    );
    assert.deepEqual(classifyMessage({ topic: "s", audio: { end: true } }, MEDICAL_DEFAULTS), {
      kind: "audio",
      sessionId: "s",
      offsetMs: undefined,
      audio: undefined,
      end: true,
    });
  });

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ["a control that is not an object", { topic: "s", control: "stop" }, /^msg\.control must be an object/],
    [
      "an unknown control type",
      { topic: "s", control: { type: "Terminate" } },
      /^msg\.control\.type must be/,
    ],
    ["audio without a session", { payload: chunk }, /^msg\.audio\.sessionId or msg\.topic must name/],
    [
      "a payload that is not a Buffer",
      { topic: "s", payload: "x" },
      /^msg\.payload must be a Buffer of pcm_s16le/,
    ],
    ["another rate", { topic: "s", payload: chunk, rate: 8000 }, /^msg\.audio\.sampleRate must be 16000 Hz/],
    [
      'a sox encoding "toString" (looked up in the accepted set only)',
      { topic: "s", payload: chunk, encoding: "toString" },
      /^msg\.audio\.encoding must be "pcm_s16le"/,
    ],
  ];
  for (const [label, msg, text] of refusals) {
    it(`refuses ${label}, saying what is accepted`, () => {
      const c = classifyMessage(msg, MEDICAL_DEFAULTS);
      assert.equal(c.kind, "invalid");
      assert.ok(c.error instanceof InputError);
      assert.match(c.error.message, text);
    });
  }

  it("takes the sox mu-law name as the configured mu-law encoding", () => {
    const mulaw = { ...MEDICAL_DEFAULTS, encoding: "pcm_mulaw" as const };
    assert.equal(classifyMessage({ topic: "s", payload: chunk, encoding: "mu-law" }, mulaw).kind, "audio");
  });
});
