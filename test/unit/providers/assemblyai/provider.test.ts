import { strict as assert } from "node:assert";
import { mapTurn, segmentId } from "../../../../src/providers/assemblyai/mapping";
import { parseServerMessage, type TurnMessage } from "../../../../src/providers/assemblyai/messages";
import {
  baseUrl,
  connectionUrl,
  MEDICAL_DEFAULTS,
  parseKeyterms,
  validateParams,
  type StreamingParams,
} from "../../../../src/providers/assemblyai/params";
import { ReplayBuffer } from "../../../../src/providers/assemblyai/replay";
import { classifyClose, DEFAULT_RETRY, retryDelay } from "../../../../src/providers/assemblyai/retry";
import { assertTranscriptResult } from "../../../support/contract";

const params = (o: Partial<StreamingParams> = {}): StreamingParams => ({ ...MEDICAL_DEFAULTS, ...o });

describe("AssemblyAI connection parameters", () => {
  it("has the Medical Mode defaults", () => {
    assert.deepEqual(MEDICAL_DEFAULTS, {
      speech_model: "u3-rt-pro",
      domain: "medical-v1",
      sample_rate: 16000,
      encoding: "pcm_s16le",
      min_turn_silence: 800,
      max_turn_silence: 3600,
    });
  });

  it("encodes the query as the SDKs do: booleans as true/false, lists as one JSON array", () => {
    const url = new URL(
      connectionUrl(
        "wss://streaming.assemblyai.com/v3/ws",
        params({ keyterms_prompt: ["Lisinopril", "Metformin"], speaker_labels: true, format_turns: false }),
      ),
    );
    assert.equal(url.origin + url.pathname, "wss://streaming.assemblyai.com/v3/ws");
    assert.equal(url.searchParams.get("keyterms_prompt"), '["Lisinopril","Metformin"]');
    assert.match(url.search, /keyterms_prompt=%5B%22Lisinopril%22%2C%22Metformin%22%5D/);
    assert.equal(url.searchParams.get("speaker_labels"), "true");
    assert.equal(url.searchParams.get("format_turns"), "false");
    assert.equal(url.searchParams.get("domain"), "medical-v1");
    assert.equal(url.searchParams.get("speech_model"), "u3-rt-pro");
    assert.equal(url.searchParams.get("min_turn_silence"), "800");
    assert.equal(url.searchParams.has("prompt"), false, "unset parameters are left out");
  });

  it("leaves the domain out when Medical Mode is off", () => {
    const url = new URL(connectionUrl("wss://x/v3/ws", params({ domain: undefined })));
    assert.equal(url.searchParams.has("domain"), false);
  });

  it("picks the US or EU host, or an override that may be ws:// for a local emulator", () => {
    assert.deepEqual(baseUrl("us"), { ok: true, value: "wss://streaming.assemblyai.com/v3/ws" });
    assert.deepEqual(baseUrl("eu"), { ok: true, value: "wss://streaming.eu.assemblyai.com/v3/ws" });
    assert.deepEqual(baseUrl("us", " ws://127.0.0.1:9/v3/ws "), {
      ok: true,
      value: "ws://127.0.0.1:9/v3/ws",
    });
    for (const bad of ["http://x/v3/ws", "not a url", "wss://user:secret@x/v3/ws"]) {
      const r = baseUrl("us", bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.doesNotMatch(r.error.message, /secret/);
    }
  });

  it("accepts the defaults and the documented limits", () => {
    assert.equal(validateParams(params()).ok, true);
    const full = params({
      keyterms_prompt: Array.from({ length: 100 }, (_, i) => `term-${i}`.padEnd(50, "x")),
      prompt: "p".repeat(1750),
      max_speakers: 10,
      speaker_labels: true,
      inactivity_timeout: 3600,
      sample_rate: 8000,
      encoding: "pcm_mulaw",
    });
    assert.equal(validateParams(full).ok, true);
  });

  for (const [name, bad, field] of [
    ["101 keyterms", { keyterms_prompt: Array.from({ length: 101 }, (_, i) => `t${i}`) }, "keyterms_prompt"],
    ["a keyterm of 51 chars", { keyterms_prompt: ["ok", "x".repeat(51)] }, "keyterms_prompt[1]"],
    ["an empty keyterm", { keyterms_prompt: [" "] }, "keyterms_prompt[0]"],
    ["a 1751-char prompt", { prompt: "x".repeat(1751) }, "prompt"],
    ["max_speakers 0", { max_speakers: 0 }, "max_speakers"],
    ["max_speakers 11", { max_speakers: 11 }, "max_speakers"],
    ["inactivity_timeout 4", { inactivity_timeout: 4 }, "inactivity_timeout"],
    ["inactivity_timeout 3601", { inactivity_timeout: 3601 }, "inactivity_timeout"],
    ["sample_rate 7000", { sample_rate: 7000 }, "sample_rate"],
    ["sample_rate 16000.5", { sample_rate: 16000.5 }, "sample_rate"],
    ["encoding flac", { encoding: "flac" }, "encoding"],
    ["speech_model u3-pro", { speech_model: "u3-pro" }, "speech_model"],
    ["min above max silence", { min_turn_silence: 2000, max_turn_silence: 1000 }, "min_turn_silence"],
  ] as const) {
    it(`refuses ${name}, naming the field and what is accepted, without echoing the value`, () => {
      const r = validateParams(params(bad as Partial<StreamingParams>));
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.error.field, field);
      assert.match(
        r.error.message,
        new RegExp(`parameter ${field.replace(/[[\]]/g, "\\$&")} is invalid: accepted `),
      );
      assert.doesNotMatch(r.error.message, /xxxx|flac|u3-pro\b|16000\.5/);
    });
  }

  it("parses a keyterm list typed one per line or comma-separated", () => {
    assert.deepEqual(parseKeyterms("Lisinopril\nMetformin, Humalog\n\n ,"), [
      "Lisinopril",
      "Metformin",
      "Humalog",
    ]);
  });
});

const turnMsg = (o: Partial<TurnMessage> = {}): TurnMessage => ({
  type: "Turn",
  turn_order: 2,
  turn_is_formatted: true,
  end_of_turn: true,
  transcript: "Denies chest pain.",
  words: [
    { text: "Denies", start: 1000, end: 1300, confidence: 0.9, word_is_final: true, speaker: "A" },
    { text: "chest", start: 1350, end: 1600, confidence: 0.8, word_is_final: true, speaker: "A" },
    { text: "pain.", start: 1650, end: 1900, confidence: 0.7, word_is_final: true, speaker: "A" },
  ],
  ...o,
});

const ctx = {
  sessionId: "enc-1",
  instance: "a1b2",
  connection: 0,
  offsetMs: 0,
  language: "en",
};

describe("AssemblyAI Turn → transcript result", () => {
  it("maps a final with words, confidences, speakers and session times in seconds", () => {
    const r = mapTurn(turnMsg({ speaker_label: "A" }), ctx);
    assert.ok(r);
    assertTranscriptResult(r);
    assert.equal(r.provider, "assemblyai");
    assert.equal(r.segmentId, segmentId("enc-1", "a1b2", 0, 2));
    assert.equal(r.isFinal, true);
    assert.equal(r.text, "Denies chest pain.");
    assert.equal(r.speaker, "A");
    assert.equal(r.startTime, 1);
    assert.equal(r.endTime, 1.9);
    assert.ok(Math.abs((r.confidence ?? 0) - 0.8) < 1e-9);
    assert.deepEqual(r.words[2], {
      text: "pain.",
      startTime: 1.65,
      endTime: 1.9,
      confidence: 0.7,
      kind: "word",
      speaker: "A",
      stable: true,
    });
    assert.equal(r.language, "en");
  });

  it("marks the words of a partial that can still change (word_is_final false) as not stable", () => {
    const words = turnMsg().words.map((w, i) => ({ ...w, word_is_final: i < 2 }));
    const r = mapTurn(turnMsg({ end_of_turn: false, turn_is_formatted: false, words }), ctx);
    assert.ok(r);
    assertTranscriptResult(r);
    assert.deepEqual(
      r.words.map((w) => w.stable),
      [true, true, false],
    );
  });

  it("keeps one segment id for the partials and the final of a turn; final only on end_of_turn", () => {
    const partial = mapTurn(turnMsg({ end_of_turn: false, turn_is_formatted: false }), ctx);
    const formattedPartial = mapTurn(turnMsg({ end_of_turn: false, turn_is_formatted: true }), ctx);
    const final = mapTurn(turnMsg(), ctx);
    assert.equal(partial?.isFinal, false);
    assert.equal(formattedPartial?.isFinal, false, "turn_is_formatted alone is not a final");
    assert.equal(partial?.segmentId, final?.segmentId);
    assert.notEqual(mapTurn(turnMsg({ turn_order: 3 }), ctx)?.segmentId, final?.segmentId);
    assert.notEqual(mapTurn(turnMsg(), { ...ctx, connection: 1 })?.segmentId, final?.segmentId);
    assert.notEqual(
      mapTurn(turnMsg(), { ...ctx, instance: "c3d4" })?.segmentId,
      final?.segmentId,
      "a reopened session with the same id gets new segment ids",
    );
  });

  it("drops empty turns", () => {
    assert.equal(mapTurn(turnMsg({ transcript: "", words: [] }), ctx), null);
    assert.equal(mapTurn(turnMsg({ transcript: "  ", words: [] }), ctx), null);
  });

  it("shifts times by the connection offset after a reconnect (words delivered before are left out by the session)", () => {
    const r = mapTurn(turnMsg(), { ...ctx, connection: 1, offsetMs: 4000 });
    assert.ok(r);
    assertTranscriptResult(r);
    assert.deepEqual(
      r.words.map((w) => [w.text, w.startTime]),
      [
        ["Denies", 5],
        ["chest", 5.35],
        ["pain.", 5.65],
      ],
    );
    assert.equal(r.startTime, 5);
  });

  it("takes the language from language_code when the service sends one", () => {
    assert.equal(mapTurn(turnMsg({ language_code: "es" }), ctx)?.language, "es");
  });

  it("parses server frames tolerantly and never throws", () => {
    assert.equal(parseServerMessage("{nope"), undefined);
    assert.equal(parseServerMessage("[]"), undefined);
    assert.deepEqual(parseServerMessage('{"type":"Error","error_code":3005,"error":"x"}'), {
      type: "Error",
      error_code: 3005,
      error: "x",
    });
    assert.deepEqual(
      parseServerMessage('{"type":"Termination","audio_duration_seconds":3.5,"session_duration_seconds":4}'),
      {
        type: "Termination",
        audio_duration_seconds: 3.5,
        session_duration_seconds: 4,
      },
    );
    const t = parseServerMessage(
      '{"type":"Turn","turn_order":1,"end_of_turn":true,"transcript":"a","words":[{"text":"a","start":5,"end":9,"confidence":2}]}',
    );
    assert.equal(t?.type, "Turn");
    if (t?.type === "Turn") assert.equal(t.words[0]?.confidence, 1);
  });

  it("maps a word without a confidence to null, not 0 (contract 2)", () => {
    const t = parseServerMessage(
      '{"type":"Turn","turn_order":0,"end_of_turn":true,"transcript":"a b","words":[{"text":"a","start":5,"end":9},{"text":"b","start":10,"end":20,"confidence":0.5}]}',
    );
    assert.ok(t?.type === "Turn");
    const r = mapTurn(t, ctx);
    assert.ok(r);
    assertTranscriptResult(r);
    assert.deepEqual(
      r.words.map((w) => w.confidence),
      [null, 0.5],
    );
    assert.equal(r.confidence, 0.5, "the mean leaves the unscored word out");
  });
});

describe("AssemblyAI close classification and retry delays", () => {
  for (const [code, text, expected] of [
    [1006, "", { action: "retry", backoff: false }],
    [1011, "", { action: "retry", backoff: false }],
    [3005, "Session Cancelled: An error occurred", { action: "retry", backoff: false }],
    [1013, "", { action: "retry", backoff: true }],
    [3009, "Too many concurrent sessions", { action: "retry", backoff: true }],
    [1008, "Unauthorized connection: Too many concurrent sessions", { action: "retry", backoff: true }],
    [1008, "Unauthorized Connection: Invalid API key", { action: "fail", kind: "auth" }],
    [1008, "", { action: "fail", kind: "auth" }],
    [3006, "User Input Validation Error: Invalid 'prompt'", { action: "fail", kind: "validation" }],
    [3007, "Input Duration Error", { action: "fail", kind: "framing" }],
    [
      3006,
      "Session terminated due to inactivity: No messages received for 5 seconds",
      { action: "fail", kind: "inactivity" },
    ],
    [3008, "Session Expired", { action: "new-session" }],
    // v2-era codes a proxy or an older endpoint may still send.
    [4001, "", { action: "fail", kind: "auth" }],
    [4000, "", { action: "fail", kind: "validation" }],
    [4029, "", { action: "fail", kind: "framing" }],
    [4031, "", { action: "fail", kind: "inactivity" }],
    [4008, "", { action: "new-session" }],
    [4500, "", { action: "retry", backoff: true }],
  ] as const) {
    it(`${code} ${text || "(no Error frame)"} → ${expected.action}`, () => {
      assert.deepEqual(classifyClose(code, text), expected);
    });
  }

  it("a normal close ends the session only after we sent Terminate", () => {
    assert.deepEqual(classifyClose(1000, "", true), { action: "done" });
    assert.equal(classifyClose(1000, "", false).action, "retry");
  });

  it("doubles the delay per attempt, backs off longer when asked, and opens a new session at once after 3008", () => {
    const policy = { ...DEFAULT_RETRY, retryDelayMs: 100, backoffDelayMs: 1000, maxDelayMs: 3000 };
    assert.deepEqual(
      [1, 2, 3].map((a) => retryDelay({ action: "retry", backoff: false }, a, policy)),
      [100, 200, 400],
    );
    assert.deepEqual(
      [1, 2, 3].map((a) => retryDelay({ action: "retry", backoff: true }, a, policy)),
      [1000, 2000, 3000],
    );
    assert.equal(retryDelay({ action: "new-session" }, 3, policy), 0);
  });
});

describe("AssemblyAI replay buffer", () => {
  const frame = (startMs: number) => ({ bytes: Buffer.alloc(3200), startMs, durationMs: 100 });

  it("keeps the frames no final covers yet, oldest first, and hands them out once", () => {
    const b = new ReplayBuffer(60000);
    for (let t = 0; t < 1000; t += 100) b.add(frame(t));
    b.confirm(450);
    assert.deepEqual(
      b.takeAll().map((f) => f.startMs),
      [400, 500, 600, 700, 800, 900],
      "the frame holding the end of the final stays: its tail is not covered",
    );
    assert.equal(b.size, 0);
  });

  it("is bounded: beyond maxMs the oldest audio goes", () => {
    const b = new ReplayBuffer(300);
    for (let t = 0; t < 1000; t += 100) b.add(frame(t));
    assert.equal(b.heldMs, 300);
    assert.deepEqual(
      b.takeAll().map((f) => f.startMs),
      [700, 800, 900],
    );
  });
});
