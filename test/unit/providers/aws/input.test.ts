import { strict as assert } from "node:assert";
import { checkAudioInput, MAX_OFFSET_MS, type CheckedInput } from "../../../../src/providers/aws/input";
import { checkMedicalParams, type MedicalParams } from "../../../../src/providers/aws/params";
import { MAX_SESSION_ID_LENGTH } from "../../../../src/util/session-id";

/**
 * What a flow sends to an Amazon Transcribe streaming node, checked once at the edge: session ids of
 * any length or content, numbers of any kind (NaN, Infinity, huge, negative, strings, symbols, objects
 * that throw on conversion). Every refusal names the field and what is accepted, and never echoes a
 * value that could identify someone.
 */

const params = ((): MedicalParams => {
  const c = checkMedicalParams({
    specialty: "PRIMARYCARE",
    type: "CONVERSATION",
    sampleRate: 16000,
    mediaEncoding: "pcm",
  });
  assert.ok(c.ok);
  return c.value;
})();

const chunk = (audio: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  topic: "enc-1",
  payload: Buffer.alloc(3200),
  audio: {
    sessionId: "enc-1",
    seq: 0,
    sampleRate: 16000,
    channels: 1,
    encoding: "pcm_s16le",
    offsetMs: 0,
    durationMs: 100,
    ...audio,
  },
  ...extra,
});

function refused(c: CheckedInput): string {
  assert.ok(!c.ok, "refused");
  return c.error.message;
}

describe("AWS streaming input: what a flow sends", () => {
  it("accepts session ids up to 256 characters, of any script, and refuses longer ones without echoing them", () => {
    const longest = "Ä".repeat(MAX_SESSION_ID_LENGTH);
    const ok = checkAudioInput(chunk({ sessionId: longest }), params);
    assert.ok(ok.ok && ok.sessionId === longest);
    const emoji = checkAudioInput(chunk({ sessionId: "call-☎-🏥-42" }), params);
    assert.ok(emoji.ok, "a well-formed surrogate pair is a character like any other");
    for (const [where, msg] of [
      ["msg.audio.sessionId", chunk({ sessionId: "M".repeat(MAX_SESSION_ID_LENGTH + 1) })],
      ["msg.audio.sessionId", chunk({ sessionId: "M".repeat(1 << 20) })],
      ["msg.topic", chunk({ sessionId: undefined }, { topic: "M".repeat(1 << 20) })],
    ] as const) {
      const message = refused(checkAudioInput(msg, params));
      assert.match(
        message,
        new RegExp(
          `^transcribe-medical: ${where.replace(".", "\\.")} is \\d+ characters long, over the limit`,
        ),
      );
      assert.match(message, /Accepted: a string of 1 to 256 characters without control characters/);
      assert.ok(!message.includes("MMMM"), "the id is not echoed");
    }
  });

  it("does not fall back to msg.topic when msg.audio.sessionId is too long", () => {
    const c = checkAudioInput(chunk({ sessionId: "x".repeat(300) }, { topic: "fine" }), params);
    assert.match(refused(c), /msg\.audio\.sessionId is 300 characters long/);
  });

  for (const [what, id] of [
    ["a NUL", "enc\u00001"],
    ["a line break", "enc\n1"],
    ["an escape", "enc\u001b[31m"],
    ["a C1 control", "enc\u00851"],
    ["a lone surrogate", "enc\ud800x"],
  ] as const) {
    it(`refuses a session id with ${what}, naming the field, not the id`, () => {
      const message = refused(checkAudioInput(chunk({ sessionId: id }), params));
      assert.match(message, /msg\.audio\.sessionId holds a control character/);
      assert.ok(!message.includes("enc"), message);
    });
  }

  it("takes msg.topic when msg.audio.sessionId is absent, null or blank; refuses a session id that is not a string", () => {
    for (const sessionId of [undefined, null, "", "   "]) {
      const c = checkAudioInput(chunk({ sessionId }, { topic: "from-topic" }), params);
      assert.ok(c.ok && c.sessionId === "from-topic", String(sessionId));
    }
    for (const sessionId of [42, { id: "x" }, ["a"], true]) {
      assert.match(
        refused(checkAudioInput(chunk({ sessionId }), params)),
        /msg\.audio\.sessionId must be a string, not (number|object|array|boolean)/,
      );
    }
    assert.match(
      refused(checkAudioInput(chunk({ sessionId: undefined }, { topic: "  " }), params)),
      /must name the audio session/,
    );
  });

  const label = (v: unknown): string =>
    typeof v === "symbol" || (typeof v === "object" && v !== null) ? typeof v : String(v);
  const hostile = {
    valueOf() {
      throw new Error("boom");
    },
    toString() {
      throw new Error("boom");
    },
  };
  const numbers: Array<[string, unknown[], RegExp]> = [
    [
      "offsetMs",
      [
        -1,
        Number.NaN,
        Infinity,
        -Infinity,
        MAX_OFFSET_MS + 1,
        1e300,
        "soon",
        "",
        {},
        [],
        true,
        Symbol("x"),
        10n,
        hostile,
      ],
      /msg\.audio\.offsetMs must be a number of milliseconds from 0 to 25920000000 \(300 days\)/,
    ],
    [
      "durationMs",
      [-1, 1000.5, 60_000, Number.NaN, Infinity, "long", Symbol("x"), hostile],
      /msg\.audio\.durationMs must be a number of milliseconds from 0 to 1000/,
    ],
    [
      "seq",
      [-1, 0.5, Number.NaN, Infinity, 2 ** 53, "first", Symbol("x"), hostile],
      /msg\.audio\.seq must be a whole number from 0/,
    ],
    [
      "sampleRate",
      [0, -16000, 16000.5, Number.NaN, Infinity, 1e12, "fast", Symbol("x"), hostile],
      /the audio's sample rate \(msg\.audio\.sampleRate or msg\.rate\) must be a whole number of Hz/,
    ],
    [
      "channels",
      [0, -1, 1.5, Number.NaN, 1e9, "stereo", Symbol("x"), hostile],
      /the audio's channel count \(msg\.audio\.channels or msg\.channels\) must be a whole number/,
    ],
  ];
  for (const [field, values, message] of numbers) {
    it(`refuses msg.audio.${field} that is not a number in range, without throwing or echoing it`, () => {
      for (const value of values) {
        const c = checkAudioInput(chunk({ [field]: value }), params);
        const text = refused(c);
        assert.match(text, message, label(value));
        if (typeof value === "number" && Number.isFinite(value) && Math.abs(value) >= 100) {
          assert.ok(!text.includes(String(value)), text);
        }
      }
    });
  }

  it("accepts the contract's numbers, and decimal strings as some audio nodes send them", () => {
    const c = checkAudioInput(
      chunk({ offsetMs: "61500", durationMs: "100", seq: "7", sampleRate: "16000", channels: "1" }),
      params,
    );
    assert.ok(c.ok && c.offsetMs === 61_500);
    const last = checkAudioInput(chunk({ offsetMs: MAX_OFFSET_MS }), params);
    assert.ok(last.ok && last.offsetMs === MAX_OFFSET_MS);
    const bare = checkAudioInput({ topic: "t", payload: Buffer.alloc(320) }, params);
    assert.ok(bare.ok && bare.offsetMs === 0, "absent fields are not required");
  });

  it("names a common sample rate, channel count or encoding back, and describes any other value", () => {
    assert.match(
      refused(checkAudioInput(chunk({ sampleRate: 8000 }), params)),
      /the audio's sample rate 8000 Hz differs from the node's 16000 Hz/,
    );
    const odd = refused(checkAudioInput(chunk({ sampleRate: 123457 }), params));
    assert.match(odd, /the audio's sample rate another rate differs from the node's 16000 Hz/);
    assert.ok(!odd.includes("123457"));
    assert.match(refused(checkAudioInput(chunk({ channels: 2 }), params)), /the audio has 2 channels/);
    assert.match(refused(checkAudioInput(chunk({ channels: 40 }), params)), /the audio has more channels/);
    assert.match(
      refused(checkAudioInput(chunk({ encoding: "mulaw" }), params)),
      /audio encoding "mulaw" is not accepted/,
    );
    const name = refused(checkAudioInput(chunk({ encoding: "Smith, John 1957-03-02" }), params));
    assert.match(name, /audio encoding of an unknown kind \(string\) is not accepted/);
    assert.ok(!name.includes("Smith"));
    const sox = refused(
      checkAudioInput(
        { topic: "t", payload: Buffer.alloc(320), rate: 16000, encoding: "signed-integer", bits: 24 },
        params,
      ),
    );
    assert.match(sox, /audio encoding "signed-integer" with 24-bit samples is not accepted/);
  });

  it("refuses a hostile msg.audio of another shape without throwing", () => {
    for (const audio of [[1, 2, 3], "audio", 5, Symbol("a")]) {
      const c = checkAudioInput({ topic: "t", payload: Buffer.alloc(320), audio }, params);
      assert.ok(c.ok, "a msg.audio that is not an object is ignored, as before");
    }
  });
});
