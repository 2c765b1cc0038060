import { strict as assert } from "node:assert";
import {
  checkApiKey,
  checkAudioMessage,
  checkControl,
  paramsFromFields,
  timingFromFields,
} from "../../../../src/providers/assemblyai/node-config";
import { MEDICAL_DEFAULTS } from "../../../../src/providers/assemblyai/params";

const expected = { sampleRate: 16000, encoding: "pcm_s16le" as const };

describe("assemblyai-medical configuration and input checks", () => {
  it("turns empty editor fields into the Medical Mode defaults", () => {
    const r = paramsFromFields({});
    assert.ok(r.ok);
    // U3 Pro models are asked for Silence acknowledgements: evidence of life in silence for the watchdog.
    assert.deepEqual(r.value, { ...MEDICAL_DEFAULTS, acknowledge_silence: true });
  });

  it("asks only U3 Pro models for Silence acknowledgements (what another model does with it is unknown)", () => {
    for (const [speechModel, asked] of [
      ["u3-rt-pro", true],
      ["universal-3-5-pro", true],
      ["universal-streaming-english", undefined],
      ["universal-streaming-multilingual", undefined],
    ] as const) {
      const r = paramsFromFields({ speechModel });
      assert.ok(r.ok);
      assert.equal(r.value.acknowledge_silence, asked, speechModel);
    }
  });

  it("reads the session settings with their defaults, in milliseconds", () => {
    const r = timingFromFields({});
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      idleMs: 30000,
      frameMs: 100,
      connectTimeoutMs: 10000,
      terminationTimeoutMs: 5000,
      maxRetries: 5,
      retryDelayMs: 250,
      maxPendingMs: 60000,
      stallTimeoutMs: 5000,
      probeTimeoutMs: 2000,
      replayRate: 2,
      maxSessions: 100,
    });
    const off = timingFromFields({ stallTimeout: "0", idleTimeout: 0, maxSessions: "7" });
    assert.ok(off.ok);
    assert.equal(off.value.stallTimeoutMs, 0);
    assert.equal(off.value.idleMs, 0);
    assert.equal(off.value.maxSessions, 7);
  });

  for (const [field, value, label] of [
    ["stallTimeout", "-1", "Stall timeout"],
    ["stallTimeout", "1e9", "Stall timeout"],
    ["probeTimeout", "NaN", "Probe wait"],
    ["replayRate", 0.5, "Replay speed"],
    ["maxSessions", "0", "Session limit"],
    ["maxSessions", 2.5, "Session limit"],
    ["maxRetries", "Infinity", "Reconnect attempts"],
    ["frameMs", 2000, "Frame length"],
    ["maxBuffer", "lots", "Audio buffer"],
  ] as const) {
    it(`refuses ${field} ${String(value)}, naming the setting and what is accepted, not the value`, () => {
      const r = timingFromFields({ [field]: value });
      assert.equal(r.ok, false);
      if (!r.ok) {
        assert.match(
          r.error.message,
          new RegExp(`^assemblyai-medical: setting "${label}" is invalid; accepted: `),
        );
        assert.ok(!r.error.message.includes(String(value)) || /^\d+$/.test(String(value)));
      }
    });
  }

  it("refuses a msg.audio.offsetMs that is not a time within the session, accepts one that is", () => {
    for (const offsetMs of [-1, 1e20, Number.NaN, "5", Number.POSITIVE_INFINITY]) {
      const r = checkAudioMessage({ topic: "s", payload: Buffer.alloc(320), audio: { offsetMs } }, expected);
      assert.equal(r.ok, false, String(offsetMs));
      if (!r.ok)
        assert.match(
          r.error.message,
          /^msg\.audio\.offsetMs must be a number of milliseconds from 0 to one year/,
        );
    }
    const r = checkAudioMessage(
      { topic: "s", payload: Buffer.alloc(320), audio: { offsetMs: 1500 } },
      expected,
    );
    assert.ok(r.ok);
    assert.equal(r.value.offsetMs, 1500);
  });

  it("reads the editor fields: domain off, keyterms, speakers only with labels on, inactivity, prompt", () => {
    const r = paramsFromFields({
      speechModel: "universal-3-5-pro",
      medicalDomain: false,
      sampleRate: "8000",
      encoding: "pcm_mulaw",
      keyterms: "Humalog, lispro",
      speakerLabels: false,
      maxSpeakers: "3",
      minTurnSilence: "400",
      maxTurnSilence: "",
      inactivityTimeout: "60",
      formatTurns: true,
      prompt: "  ",
    });
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      speech_model: "universal-3-5-pro",
      sample_rate: 8000,
      encoding: "pcm_mulaw",
      min_turn_silence: 400,
      max_turn_silence: 3600,
      keyterms_prompt: ["Humalog", "lispro"],
      inactivity_timeout: 60,
      format_turns: true,
      acknowledge_silence: true,
    });
  });

  it("names a field typed wrong in the editor", () => {
    const r = paramsFromFields({ minTurnSilence: "soon" });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.field, "min_turn_silence");
  });

  it("accepts a contract-1 chunk and the sox-style flat fields", () => {
    const pcm = Buffer.alloc(3200);
    const c1 = checkAudioMessage(
      {
        topic: "t",
        payload: pcm,
        audio: { sessionId: "s1", sampleRate: 16000, encoding: "pcm_s16le", channels: 1 },
      },
      expected,
    );
    assert.deepEqual(c1, {
      ok: true,
      value: { sessionId: "s1", offsetMs: undefined, audio: pcm, end: false },
    });
    const sox = checkAudioMessage(
      { topic: "s2", payload: pcm, rate: 16000, encoding: "signed-integer", channels: 1 },
      expected,
    );
    assert.deepEqual(sox, {
      ok: true,
      value: { sessionId: "s2", offsetMs: undefined, audio: pcm, end: false },
    });
  });

  it("accepts a bare end marker with no payload", () => {
    const r = checkAudioMessage({ topic: "s", audio: { sessionId: "s", end: true } }, expected);
    assert.deepEqual(r, {
      ok: true,
      value: { sessionId: "s", offsetMs: undefined, audio: undefined, end: true },
    });
  });

  it("refuses an odd number of bytes for 16-bit PCM, without echoing data", () => {
    const r = checkAudioMessage({ topic: "s", payload: Buffer.alloc(3) }, expected);
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /whole 16-bit samples/);
  });

  it("reads control messages and refuses fields that cannot change mid-stream", () => {
    assert.equal(checkControl(undefined, MEDICAL_DEFAULTS), undefined);
    assert.deepEqual(checkControl({ type: "ForceEndpoint" }, MEDICAL_DEFAULTS), {
      ok: true,
      value: { type: "ForceEndpoint" },
    });
    assert.deepEqual(
      checkControl({ type: "UpdateConfiguration", max_turn_silence: 2000 }, MEDICAL_DEFAULTS),
      {
        ok: true,
        value: { type: "UpdateConfiguration", fields: { max_turn_silence: 2000 } },
      },
    );
    const bad = checkControl({ type: "UpdateConfiguration", sample_rate: 8000 }, MEDICAL_DEFAULTS);
    assert.equal(bad?.ok, false);
    if (bad && !bad.ok)
      assert.match(bad.error.message, /msg\.control\.sample_rate cannot be updated mid-stream/);
    const tooMany = checkControl(
      { type: "UpdateConfiguration", keyterms_prompt: Array.from({ length: 101 }, (_, i) => `t${i}`) },
      MEDICAL_DEFAULTS,
    );
    assert.equal(tooMany?.ok, false);
  });

  for (const [name, value] of [
    ["one term as a string", "Lisinopril"],
    ["null", null],
    ["a list holding a number", ["Lisinopril", 5]],
    ["an object", { length: 3 }],
  ] as const) {
    it(`refuses keyterms_prompt given as ${name} with a clear error instead of throwing`, () => {
      const r = checkControl({ type: "UpdateConfiguration", keyterms_prompt: value }, MEDICAL_DEFAULTS);
      assert.equal(r?.ok, false);
      if (r && !r.ok) {
        assert.match(r.error.message, /msg\.control\.keyterms_prompt must be a list \(array\) of strings/);
        assert.ok(!r.error.message.includes("Lisinopril"), "the value is not echoed");
      }
    });
  }

  it("refuses a prompt or a turn silence of the wrong type", () => {
    for (const control of [
      { type: "UpdateConfiguration", prompt: null },
      { type: "UpdateConfiguration", prompt: 5 },
      { type: "UpdateConfiguration", min_turn_silence: "400" },
      { type: "UpdateConfiguration", max_turn_silence: null },
    ]) {
      const r = checkControl(control, MEDICAL_DEFAULTS);
      assert.equal(r?.ok, false, JSON.stringify(control));
    }
  });

  it("checks an API key: trims it, refuses characters an HTTP header cannot carry, never echoes it", () => {
    assert.deepEqual(checkApiKey("  abc123\n"), { ok: true, value: "abc123" });
    for (const key of ["abc\u200b123", "\u201cabc123\u201d", "abc 123", "abcé123"]) {
      const r = checkApiKey(key);
      assert.equal(r.ok, false, JSON.stringify(key));
      if (!r.ok) {
        assert.match(r.error.message, /API key holds a character that is not allowed/);
        assert.ok(!r.error.message.includes("abc"), "the key is not in the message");
      }
    }
    assert.equal(checkApiKey("   ").ok, false);
  });

  it("refuses an API key that is not text (a credentials file edited by hand) by its kind, without throwing", () => {
    for (const [key, kind] of [
      [4711, "number"],
      [{ secret: "abc123" }, "object"],
      [["abc123"], "a list"],
    ] as const) {
      const r = checkApiKey(key);
      assert.equal(r.ok, false, JSON.stringify(key));
      if (!r.ok) {
        assert.equal(r.error.message, `the AssemblyAI API key is ${kind}, not text; enter the key again`);
      }
    }
  });
});
