import type { ItemType, MedicalResult } from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { awsClientSettings, secretsOf } from "../../../../src/providers/aws/client";
import { backoffMs, classifyError, redact } from "../../../../src/providers/aws/errors";
import { checkAudioInput } from "../../../../src/providers/aws/input";
import { mapResult, mapTranscriptEvent, type MappingContext } from "../../../../src/providers/aws/mapping";
import { checkMedicalParams, type MedicalParams } from "../../../../src/providers/aws/params";
import { AudioLedger, StreamTimeline } from "../../../../src/providers/aws/timeline";
import { assertTranscriptResult } from "../../../support/contract";

const shift = (offset: number) => (t: number) => t + offset;

function finalResult(): MedicalResult {
  return {
    ResultId: "r-1",
    StartTime: 0.5,
    EndTime: 1.6,
    IsPartial: false,
    ChannelId: "ch_1",
    Alternatives: [
      {
        Transcript: "Hello John.",
        Items: [
          // The service sends this item type with diarization; the SDK's ItemType does not list it.
          { Type: "speaker-change" as unknown as ItemType, StartTime: 0.5, EndTime: 0.5 },
          {
            Type: "pronunciation",
            Content: "Hello",
            StartTime: 0.5,
            EndTime: 0.9,
            Confidence: 0.9,
            Speaker: "1",
          },
          {
            Type: "pronunciation",
            Content: "John",
            StartTime: 1.0,
            EndTime: 1.6,
            Confidence: 0.7,
            Speaker: "1",
          },
          { Type: "punctuation", Content: ".", StartTime: 1.6, EndTime: 1.6, Confidence: 0, Speaker: "1" },
        ],
        Entities: [{ Category: "PHI", Content: "John", StartTime: 1.0, EndTime: 1.6, Confidence: 0.95 }],
      },
    ],
  };
}

const MEDICAL: MappingContext = {
  provider: "aws-transcribe-medical",
  language: "en-US",
  entityCategory: "PHI",
};
const STANDARD: MappingContext = { provider: "aws-transcribe", language: "und", entityCategory: "PII" };

describe("AWS mapping to contract 2", () => {
  it("maps a final: words and punctuation, speaker-change skipped, mean confidence, PHI, channel, session times", () => {
    const r = mapResult(finalResult(), "s-1", shift(10), MEDICAL);
    assert.ok(r);
    assertTranscriptResult(r);
    assert.equal(r.provider, "aws-transcribe-medical");
    assert.equal(r.segmentId, "r-1");
    assert.equal(r.isFinal, true);
    assert.equal(r.language, "en-US");
    assert.deepEqual(
      r.words.map((w) => [w.text, w.kind, w.startTime]),
      [
        ["Hello", "word", 10.5],
        ["John", "word", 11],
        [".", "punctuation", 11.6],
      ],
    );
    assert.equal(r.confidence, 0.8, "mean of the words' confidences; punctuation does not count");
    assert.equal(r.speaker, "1");
    assert.equal(r.channel, "ch_1");
    assert.ok(r.words.every((w) => w.channel === "ch_1"));
    assert.deepEqual(r.entities, [
      { category: "PHI", text: "John", startTime: 11, endTime: 11.6, confidence: 0.95 },
    ]);
    assert.deepEqual([r.startTime, r.endTime], [10.5, 11.6]);
  });

  it("maps a partial with null confidences and no speaker", () => {
    const r = mapResult(
      {
        ResultId: "r-2",
        StartTime: 0.1,
        EndTime: 0.4,
        IsPartial: true,
        Alternatives: [
          {
            Transcript: "Pat",
            Items: [{ Type: "pronunciation", Content: "Pat", StartTime: 0.1, EndTime: 0.4 }],
          },
        ],
      },
      "s-1",
      shift(0.2),
      MEDICAL,
    );
    assert.ok(r);
    assertTranscriptResult(r);
    assert.equal(r.isFinal, false);
    assert.equal(r.confidence, null);
    assert.equal(r.words[0]?.confidence, null);
    assert.equal(r.speaker, undefined);
    assert.equal(r.entities, undefined);
    assert.equal(r.startTime, 0.3, "rounded to the millisecond, no float noise");
  });

  it("skips empty events and results without text", () => {
    assert.deepEqual(mapTranscriptEvent({ Transcript: { Results: [] } }, "s", shift(0), MEDICAL), []);
    assert.deepEqual(
      mapTranscriptEvent(
        { Transcript: { Results: [{ ResultId: "x", Alternatives: [{ Transcript: " " }] }] } },
        "s",
        shift(0),
        MEDICAL,
      ),
      [],
    );
    assert.equal(
      mapTranscriptEvent({ Transcript: { Results: [finalResult()] } }, "s", shift(0), MEDICAL).length,
      1,
    );
  });
});

describe("standard Amazon Transcribe mapping to contract 2", () => {
  it("marks stable words of a stabilised partial and takes the identified language", () => {
    const r = mapResult(
      {
        ResultId: "p-1",
        StartTime: 0.2,
        EndTime: 1.1,
        IsPartial: true,
        LanguageCode: "es-US",
        LanguageIdentification: [
          { LanguageCode: "es-US", Score: 0.93 },
          { LanguageCode: "en-US", Score: 0.07 },
        ],
        Alternatives: [
          {
            Transcript: "El paciente niega",
            Items: [
              { Type: "pronunciation", Content: "El", StartTime: 0.2, EndTime: 0.4, Stable: true },
              { Type: "pronunciation", Content: "paciente", StartTime: 0.4, EndTime: 0.8, Stable: true },
              { Type: "pronunciation", Content: "niega", StartTime: 0.8, EndTime: 1.1, Stable: false },
            ],
          },
        ],
      },
      "s-1",
      shift(0),
      STANDARD,
    );
    assert.ok(r);
    assertTranscriptResult(r);
    assert.equal(r.provider, "aws-transcribe");
    assert.equal(r.language, "es-US");
    assert.deepEqual(
      r.words.map((w) => [w.text, w.stable]),
      [
        ["El", true],
        ["paciente", true],
        ["niega", false],
      ],
    );
  });

  it("says und before the service identified a language, and leaves stable out without stabilisation", () => {
    const r = mapResult(
      {
        ResultId: "p-2",
        IsPartial: true,
        Alternatives: [{ Transcript: "Hola", Items: [{ Type: "pronunciation", Content: "Hola" }] }],
      },
      "s-1",
      shift(0),
      STANDARD,
    );
    assert.ok(r);
    assertTranscriptResult(r);
    assert.equal(r.language, "und");
    assert.equal("stable" in (r.words[0] ?? {}), false);
  });

  it("keeps the PII type of an entity, and flags words the vocabulary filter tagged", () => {
    const r = mapResult(
      {
        ResultId: "f-1",
        IsPartial: false,
        LanguageCode: "en-US",
        Alternatives: [
          {
            Transcript: "Call [PII] darn",
            Items: [
              { Type: "pronunciation", Content: "Call", StartTime: 0, EndTime: 0.3, Confidence: 0.9 },
              { Type: "pronunciation", Content: "[PII]", StartTime: 0.3, EndTime: 0.7, Confidence: 0.8 },
              {
                Type: "pronunciation",
                Content: "darn",
                StartTime: 0.7,
                EndTime: 0.9,
                Confidence: 0.7,
                VocabularyFilterMatch: true,
              },
            ],
            Entities: [
              {
                Category: "PII",
                Type: "NAME",
                Content: "[PII]",
                StartTime: 0.3,
                EndTime: 0.7,
                Confidence: 0.99,
              },
            ],
          },
        ],
      },
      "s-1",
      shift(0),
      STANDARD,
    );
    assert.ok(r);
    assertTranscriptResult(r);
    assert.deepEqual(r.entities, [
      { category: "PII", type: "NAME", text: "[PII]", startTime: 0.3, endTime: 0.7, confidence: 0.99 },
    ]);
    assert.deepEqual(
      r.words.map((w) => w.vocabularyFilterMatch === true),
      [false, false, true],
    );
  });
});

const base = { specialty: "PRIMARYCARE", type: "DICTATION", sampleRate: 16000, mediaEncoding: "pcm" };

describe("AWS request parameters", () => {
  it("accepts a valid configuration", () => {
    const c = checkMedicalParams({
      ...base,
      sampleRate: "48000",
      contentIdentification: "PHI",
      vocabularyName: "cardio-v1.2",
      showSpeakerLabel: true,
    });
    assert.ok(c.ok);
    assert.deepEqual(c.value, {
      specialty: "PRIMARYCARE",
      type: "DICTATION",
      sampleRate: 48000,
      mediaEncoding: "pcm",
      showSpeakerLabel: true,
      channelIdentification: false,
      channels: 1,
      contentIdentification: "PHI",
      vocabularyName: "cardio-v1.2",
    });
  });
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      "an unknown specialty",
      { specialty: "DERMATOLOGY" },
      /specialty must be one of PRIMARYCARE, CARDIOLOGY, NEUROLOGY, ONCOLOGY, RADIOLOGY, UROLOGY/,
    ],
    ["an unknown type", { type: "MEETING" }, /type must be one of CONVERSATION, DICTATION/],
    ["8 kHz", { sampleRate: 8000 }, /from 16000 to 48000/],
    ["96 kHz", { sampleRate: 96000 }, /from 16000 to 48000/],
    ["a fractional rate", { sampleRate: 16000.5 }, /whole number/],
    ["mu-law", { mediaEncoding: "g711-ulaw" }, /media encoding must be one of pcm, flac, ogg-opus/],
    [
      "speakers with channels",
      { showSpeakerLabel: true, channelIdentification: true },
      /cannot be used together/,
    ],
    [
      "channel identification on mono audio",
      { channelIdentification: true, channels: 1 },
      /exactly 2 channels/,
    ],
    ["stereo without channel identification", { channels: 2 }, /needs channel identification/],
    ["PII", { contentIdentification: "PII" }, /must be PHI or none/],
    ["a vocabulary name with spaces", { vocabularyName: "my vocab" }, /letters, digits/],
    ["a vocabulary name over 200 characters", { vocabularyName: "v".repeat(201) }, /1 to 200 characters/],
  ];
  for (const [what, o, message] of refused) {
    it(`refuses ${what}`, () => {
      const c = checkMedicalParams({ ...base, ...o });
      assert.equal(c.ok, false);
      if (!c.ok) assert.match(c.error.message, message);
    });
  }
  it("sets 2 channels with channel identification", () => {
    const c = checkMedicalParams({ ...base, channelIdentification: "true" });
    assert.ok(c.ok && c.value.channels === 2);
  });
});

describe("AWS error classification", () => {
  const err = (name: string, message: string, status?: number) =>
    Object.assign(new Error(message), { name, ...(status ? { $metadata: { httpStatusCode: status } } : {}) });
  const cases: Array<[string, Error, "fatal" | "retry"]> = [
    [
      "a bad request (configuration)",
      err("BadRequestException", "1 validation error detected", 400),
      "fatal",
    ],
    [
      "the idle timeout",
      err("BadRequestException", "Your request timed out because no new audio was received for 15 seconds."),
      "retry",
    ],
    [
      "a stream too big",
      err("BadRequestException", "Your stream is too big. Reduce the frame size and try your request again."),
      "retry",
    ],
    [
      "a bad signature",
      err("InvalidSignatureException", "The request signature we calculated does not match", 403),
      "fatal",
    ],
    [
      "an unknown key",
      err("UnrecognizedClientException", "The security token included in the request is invalid.", 403),
      "fatal",
    ],
    ["a missing region", new Error("Region is missing"), "fatal"],
    ["throttling", err("LimitExceededException", "limit", 429), "retry"],
    ["an internal failure", err("InternalFailureException", "x"), "retry"],
    ["unavailability", err("ServiceUnavailableException", "x", 503), "retry"],
    ["a conflict", err("ConflictException", "A new stream started with the same session ID."), "retry"],
    [
      "a network abort",
      new Error("HTTP/2 stream is abnormally aborted in mid-communication with result code 2."),
      "retry",
    ],
  ];
  for (const [what, e, kind] of cases) {
    it(`${kind === "fatal" ? "does not retry" : "retries"} ${what}`, () => {
      assert.equal(classifyError(e).kind, kind);
    });
  }
  it("takes a new session id after a conflict only", () => {
    assert.equal(classifyError(err("ConflictException", "x")).newSessionId, true);
    assert.equal(classifyError(err("InternalFailureException", "x")).newSessionId, false);
  });
  it("keeps an unknown service text out of the message, and scrubs credentials from the service message", () => {
    const f = classifyError(err("UnrecognizedClientException", "Credential AKIDSECRETLEAK is invalid"), [
      "AKIDSECRETLEAK",
    ]);
    assert.match(f.message, /see msg\.payload\.error\.serviceMessage/);
    assert.equal(f.serviceMessage, "Credential *** is invalid");
    const known = classifyError(
      err("BadRequestException", "Your stream is too big. Reduce the frame size and try your request again."),
    );
    assert.equal(known.message, "Your stream is too big. Reduce the frame size and try your request again.");
    assert.equal(redact("abc", ["ab"]), "abc", "too short to be a secret: left alone");
  });
  it("backs off exponentially within bounds", () => {
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((a) => backoffMs(a, 500, 5000)),
      [500, 1000, 2000, 4000, 5000, 5000],
    );
  });
});

describe("AWS timeline and replay ledger", () => {
  it("maps stream times to session times across replayed audio and inserted silence", () => {
    const t = new StreamTimeline();
    t.append(1, 5); // the stream starts with session audio from 5 s (a replay)
    t.append(1, 6);
    t.append(0.5, null); // keepalive silence
    t.append(1, 7);
    assert.equal(t.duration, 3.5);
    assert.equal(t.toSession(0), 5);
    assert.equal(t.toSession(1.5), 6.5);
    assert.equal(t.toSession(2.2), 7, "inside silence: where it was inserted");
    assert.equal(t.toSession(3), 7.5, "after silence: the session audio continues");
  });

  it("keeps what no final covers, from a frame boundary, and bounds what it keeps", () => {
    const l = new AudioLedger(100, 1000);
    for (let i = 0; i < 5; i++) l.add(Buffer.alloc(100));
    assert.equal(l.replayFrom, 0);
    l.coverUntil(2.5); // a final ended at 2.5 s: frames ending at or before it are covered
    assert.equal(l.replayFrom, 200, "the frame holding 2.5 s is replayed whole");
    assert.equal(l.frameAt(250)?.offset, 300);
    for (let i = 0; i < 20; i++) l.add(Buffer.alloc(100));
    assert.equal(l.retainedBytes, 1000);
    assert.equal(l.receivedBytes, 2500);
  });
});

describe("AWS input and client settings", () => {
  const params = ((): MedicalParams => {
    const c = checkMedicalParams(base);
    assert.ok(c.ok);
    return c.value;
  })();
  it("accepts contract-1 chunks and sox-style flat fields, keyed by session", () => {
    const ok = checkAudioInput(
      {
        topic: "t",
        payload: Buffer.alloc(3200),
        audio: { sessionId: "s", sampleRate: 16000, channels: 1, encoding: "pcm_s16le" },
      },
      params,
    );
    assert.ok(ok.ok && ok.sessionId === "s" && !ok.end);
    const sox = checkAudioInput(
      {
        topic: "t",
        payload: Buffer.alloc(320),
        rate: 16000,
        channels: 1,
        encoding: "signed-integer",
        bits: 16,
      },
      params,
    );
    assert.ok(sox.ok && sox.sessionId === "t");
    const end = checkAudioInput({ topic: "t", payload: null, audio: { sessionId: "s", end: true } }, params);
    assert.ok(end.ok && end.end && end.audio.length === 0);
  });
  it("refuses odd byte counts and wrong channel counts", () => {
    const odd = checkAudioInput({ topic: "t", payload: Buffer.alloc(3) }, params);
    assert.ok(!odd.ok && /not whole 16-bit samples/.test(odd.error.message));
    const stereo = checkAudioInput({ topic: "t", payload: Buffer.alloc(4), channels: 2 }, params);
    assert.ok(!stereo.ok && /turn on channel identification/.test(stereo.error.message));
  });
  it("checks the AWS settings and never lets the default chain be half-configured", () => {
    const s = awsClientSettings({
      region: "eu-west-1",
      endpoint: "",
      accessKeyId: "AKID",
      secretAccessKey: "",
    });
    assert.deepEqual(s.problems, [
      "give both the access key id and the secret access key, or neither (default credential chain)",
    ]);
    const chain = awsClientSettings({ region: "us-east-1" });
    assert.equal(chain.credentials, null);
    assert.deepEqual(chain.problems, []);
    assert.match(awsClientSettings({ region: "mars" }).problems[0] ?? "", /region must be/);
    assert.match(
      awsClientSettings({ region: "us-east-1", endpoint: "ftp://x" }).problems[0] ?? "",
      /endpoint must be/,
    );
    const full = awsClientSettings({
      region: "us-east-1",
      accessKeyId: "AKIDXX",
      secretAccessKey: "sekrit",
      sessionToken: "tok1",
    });
    assert.deepEqual(secretsOf(full), ["AKIDXX", "sekrit", "tok1"]);
  });
  it("refuses an endpoint with a user name or password in it, without echoing them", () => {
    for (const endpoint of [
      "https://user:pa55word@vpce.example.com",
      "http://user@127.0.0.1:8443/",
      "https://:pa55word@host",
    ]) {
      const problems = awsClientSettings({ region: "us-east-1", endpoint }).problems;
      assert.equal(problems.length, 1, endpoint);
      assert.match(problems[0] ?? "", /endpoint must not contain a user name or password/);
      assert.ok(!/pa55word|user@/.test(problems[0] ?? ""), "the user info is not echoed");
    }
    for (const endpoint of [
      "https://vpce-1.transcribestreaming.us-east-1.vpce.amazonaws.com",
      "http://127.0.0.1:9000/x@y",
    ]) {
      assert.deepEqual(awsClientSettings({ region: "us-east-1", endpoint }).problems, [], endpoint);
    }
  });
  it("takes the session time of a chunk from msg.audio.offsetMs", () => {
    const c = checkAudioInput(
      { topic: "t", payload: Buffer.alloc(3200), audio: { offsetMs: 61_500 } },
      params,
    );
    assert.ok(c.ok && c.offsetMs === 61_500);
    const none = checkAudioInput({ topic: "t", payload: Buffer.alloc(3200) }, params);
    assert.ok(none.ok && none.offsetMs === 0);
  });
});
