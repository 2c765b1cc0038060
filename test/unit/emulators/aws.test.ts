import {
  BadRequestException,
  ConflictException,
  InternalFailureException,
  LimitExceededException,
  ServiceUnavailableException,
  StartMedicalStreamTranscriptionCommand,
  type MedicalResult,
  type StartMedicalStreamTranscriptionCommandInput,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import {
  AwsTranscribeEmulator,
  EMULATOR_CREDENTIALS,
  emulatorClient,
  MESSAGES,
  type Fault,
} from "../../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../../emulators/aws/fixture";

// The emulator is proven with the real SDK client: what passes here is what the node will meet.
const fixture = scriptedFixture([
  { text: "Patient denies chest pain.", speaker: "0", channel: 0 },
  { text: "Any allergies [PHI]Smith ?", speaker: "1", channel: 1 },
]);

const client = emulatorClient;

const RATE = 16000;

async function* audio(seconds: number, channels: 1 | 2 = 1, chunkSec = 0.1, clock = false) {
  for (let t = 0; t < seconds - 1e-9; t += chunkSec) {
    const chunk = clock
      ? speechClockPcm(t, chunkSec, RATE, channels)
      : Buffer.alloc(Math.round(chunkSec * RATE) * 2 * channels, 1);
    yield { AudioEvent: { AudioChunk: chunk } };
    // Ten times real time: fast tests, yet streams overlap as real ones do.
    await delay(chunkSec * 100);
  }
}

interface Outcome {
  results: MedicalResult[];
  error?: Error;
  sessionId?: string;
}

async function run(
  emu: AwsTranscribeEmulator,
  params: Partial<StartMedicalStreamTranscriptionCommandInput> = {},
  audioSeconds = 4,
  creds = EMULATOR_CREDENTIALS,
): Promise<Outcome> {
  const c = client(emu, creds);
  const out: Outcome = { results: [] };
  try {
    const res = await c.send(
      new StartMedicalStreamTranscriptionCommand({
        LanguageCode: "en-US",
        MediaSampleRateHertz: RATE,
        MediaEncoding: "pcm",
        Specialty: "PRIMARYCARE",
        Type: "CONVERSATION",
        AudioStream: audio(audioSeconds, params.EnableChannelIdentification ? 2 : 1),
        ...params,
      }),
    );
    out.sessionId = res.SessionId;
    for await (const ev of res.TranscriptResultStream ?? []) {
      out.results.push(...(ev.TranscriptEvent?.Transcript?.Results ?? []));
    }
  } catch (err) {
    out.error = err as Error;
  } finally {
    c.destroy();
  }
  return out;
}

const finals = (o: Outcome): MedicalResult[] => o.results.filter((r) => r.IsPartial === false);
const textOf = (r: MedicalResult): string => r.Alternatives?.[0]?.Transcript ?? "";

describe("AWS Transcribe Medical emulator, driven by the real SDK client", () => {
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({ fixture, idleTimeoutMs: 400, maxDurationMs: 60_000 }).start();
  });
  afterEach(() => emu.stop());

  it("transcribes: partials grow word by word under one ResultId, then a scored final", async () => {
    const sessionId = randomUUID();
    const o = await run(emu, {
      SessionId: sessionId,
      ShowSpeakerLabel: true,
      ContentIdentificationType: "PHI",
    });
    assert.equal(o.error, undefined, String(o.error));
    assert.equal(o.sessionId, sessionId);
    assert.deepEqual(finals(o).map(textOf), ["Patient denies chest pain.", "Any allergies Smith?"]);
    const first = finals(o)[0];
    const partials = o.results.filter((r) => r.IsPartial && r.ResultId === first.ResultId);
    assert.deepEqual(partials.map(textOf), ["Patient", "Patient denies", "Patient denies chest"]);
    for (const p of partials) {
      for (const item of p.Alternatives?.[0]?.Items ?? []) {
        assert.equal(item.Confidence, undefined, "partials carry no confidence");
        assert.equal(item.Speaker, undefined, "partials carry no speaker");
      }
      assert.equal(p.Alternatives?.[0]?.Entities, undefined);
    }
    const items = first.Alternatives?.[0]?.Items ?? [];
    assert.ok(items.every((i) => typeof i.Confidence === "number" && i.Speaker === "0"));
    const second = finals(o)[1];
    const secondItems = second.Alternatives?.[0]?.Items ?? [];
    assert.equal(secondItems[0]?.Type, "speaker-change", "a new speaker is announced");
    assert.deepEqual(
      second.Alternatives?.[0]?.Entities?.map((e) => [e.Category, e.Content]),
      [["PHI", "Smith"]],
    );
    const rec = emu.streams[0];
    assert.ok(rec);
    assert.equal(rec.requestSignatureOk && rec.chunkSignaturesOk, true);
    assert.equal(rec.endFrameSeen, true);
    assert.equal(Buffer.concat(rec.audio).length, 4 * RATE * 2);
    assert.equal(rec.headers["x-amzn-transcribe-specialty"], "PRIMARYCARE");
    assert.equal(rec.headers["content-type"], "application/vnd.amazon.eventstream");
    assert.equal(rec.closedBy, "end-frame");
  });

  it("reports ChannelId ch_0/ch_1 with channel identification and times from the start of the stream", async () => {
    const o = await run(emu, { EnableChannelIdentification: true, NumberOfChannels: 2 });
    assert.equal(o.error, undefined, String(o.error));
    assert.deepEqual(
      finals(o).map((r) => r.ChannelId),
      ["ch_0", "ch_1"],
    );
    assert.equal(finals(o)[0]?.StartTime, 0.2);
  });

  it("flushes the words heard so far as a final when the audio ends mid-segment", async () => {
    const o = await run(emu, {}, 0.9);
    assert.deepEqual(finals(o).map(textOf), ["Patient denies"]);
  });

  const invalid: Array<[string, Partial<StartMedicalStreamTranscriptionCommandInput>, RegExp]> = [
    [
      "a sample rate below 16 kHz",
      { MediaSampleRateHertz: 8000 },
      /doesn't support the specified sample rate/,
    ],
    ["a language other than en-US", { LanguageCode: "en-GB" }, /doesn't support the specified sample rate/],
    [
      "an unknown specialty",
      { Specialty: "DERMATOLOGY" as "UROLOGY" },
      /at 'specialty' failed to satisfy constraint/,
    ],
    ["an unknown type", { Type: "MEETING" as "DICTATION" }, /at 'type' failed/],
    ["an unsupported encoding", { MediaEncoding: "g711-ulaw" }, /at 'mediaEncoding' failed/],
    [
      "one channel with channel identification",
      { EnableChannelIdentification: true, NumberOfChannels: 1 },
      /Value '1' at 'numberOfChannels' failed to satisfy constraint: Member must have value greater than or equal to 2/,
    ],
    [
      "speaker labels with channel identification",
      { EnableChannelIdentification: true, NumberOfChannels: 2, ShowSpeakerLabel: true },
      /can't set both ShowSpeakerLabel and EnableChannelIdentification/,
    ],
    ["a malformed session id", { SessionId: "not-a-uuid" }, /at 'sessionId' failed/],
    ["a malformed vocabulary name", { VocabularyName: "bad name!" }, /at 'vocabularyName' failed/],
  ];
  for (const [what, params, message] of invalid) {
    it(`refuses ${what} with HTTP 400 BadRequestException`, async () => {
      const o = await run(emu, params, 0.3);
      assert.ok(o.error instanceof BadRequestException, String(o.error));
      assert.match(o.error.message, message);
      assert.equal(o.error.$metadata.httpStatusCode, 400);
      assert.equal(emu.streams.length, 0);
    });
  }

  it("rejects a wrong secret key as the service does: HTTP 403 InvalidSignatureException", async () => {
    const o = await run(emu, {}, 0.3, { ...EMULATOR_CREDENTIALS, secretAccessKey: "wrong-secret" });
    assert.equal(o.error?.name, "InvalidSignatureException");
    assert.equal((o.error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, 403);
    assert.match(o.error.message, /signature we calculated does not match/);
  });

  it("refuses streams over the concurrency limit with HTTP 429 LimitExceededException", async () => {
    await emu.stop();
    emu = await new AwsTranscribeEmulator({ fixture, maxConcurrentStreams: 1, idleTimeoutMs: 400 }).start();
    const [a, b] = await Promise.all([
      run(emu, {}, 1.5),
      (async () => {
        // Start the second stream only once the first holds the one slot (slow machines take a while).
        const deadline = Date.now() + 5000;
        while (emu.activeStreams < 1 && Date.now() < deadline) await delay(10);
        return run(emu, {}, 0.3);
      })(),
    ]);
    assert.equal(a.error, undefined);
    assert.ok(b.error instanceof LimitExceededException, String(b.error));
    assert.equal(b.error.$metadata.httpStatusCode, 429);
  });

  it("ends the older stream with ConflictException when a new one takes its session id", async () => {
    const sessionId = randomUUID();
    const older = run(emu, { SessionId: sessionId }, 5);
    await delay(200);
    const newer = await run(emu, { SessionId: sessionId }, 0.5);
    const o = await older;
    assert.ok(o.error instanceof ConflictException, String(o.error));
    assert.equal(o.error.message, MESSAGES.conflict);
    assert.equal(newer.error, undefined);
  });

  it("times out a stream that gets no audio with the real idle message", async () => {
    const c = client(emu);
    async function* slow() {
      yield { AudioEvent: { AudioChunk: Buffer.alloc(3200) } };
      await delay(900);
    }
    let error: unknown;
    try {
      const res = await c.send(
        new StartMedicalStreamTranscriptionCommand({
          LanguageCode: "en-US",
          MediaSampleRateHertz: RATE,
          MediaEncoding: "pcm",
          Specialty: "PRIMARYCARE",
          Type: "DICTATION",
          AudioStream: slow(),
        }),
      );
      for await (const _ of res.TranscriptResultStream ?? []) void _;
    } catch (err) {
      error = err;
    }
    c.destroy();
    assert.ok(error instanceof BadRequestException, String(error));
    assert.equal(error.message, MESSAGES.idle);
  });

  it("refuses a chunk holding more than 1 s of audio with the real message", async () => {
    const c = client(emu);
    async function* big() {
      yield { AudioEvent: { AudioChunk: Buffer.alloc(RATE * 2 + 2) } };
      await delay(200);
    }
    let error: unknown;
    try {
      const res = await c.send(
        new StartMedicalStreamTranscriptionCommand({
          LanguageCode: "en-US",
          MediaSampleRateHertz: RATE,
          MediaEncoding: "pcm",
          Specialty: "PRIMARYCARE",
          Type: "DICTATION",
          AudioStream: big(),
        }),
      );
      for await (const _ of res.TranscriptResultStream ?? []) void _;
    } catch (err) {
      error = err;
    }
    c.destroy();
    assert.ok(error instanceof BadRequestException, String(error));
    assert.equal(error.message, MESSAGES.tooBig);
  });

  it("ends a stream past the maximum duration with LimitExceededException", async () => {
    await emu.stop();
    emu = await new AwsTranscribeEmulator({ fixture, maxDurationMs: 1000 }).start();
    const o = await run(emu, {}, 2);
    assert.ok(o.error instanceof LimitExceededException, String(o.error));
    assert.equal(o.error.message, MESSAGES.maxDuration);
  });

  const exceptions: Array<[string, new (...a: never[]) => Error]> = [
    ["BadRequestException", BadRequestException],
    ["LimitExceededException", LimitExceededException],
    ["InternalFailureException", InternalFailureException],
    ["ConflictException", ConflictException],
    ["ServiceUnavailableException", ServiceUnavailableException],
  ];
  for (const [type, cls] of exceptions) {
    it(`injects a mid-stream ${type}, thrown from the result loop as that class`, async () => {
      emu.planFaults({ kind: "exception", type: type as "BadRequestException", afterAudioSec: 1 });
      const o = await run(emu, {}, 3);
      assert.ok(o.error instanceof cls, String(o.error));
      assert.ok(o.results.length > 0, "events came before the exception");
    });
  }

  // What each transport fault looks like to the SDK (3.1141, node-http-handler 4.14), as a real peer's
  // would: a reset or GOAWAY with an error code is thrown from the result loop; a clean early end, a
  // destroyed connection and a FIN end it as if the stream were complete (docs/reliability.md). On Node 24
  // a reset stream too just ends the loop: Node's http2 stream no longer fails its readable side on a
  // reset the client did not ask for. The session does not rely on either: it reads the stream's fate
  // (END_STREAM or RST_STREAM) from the stream itself (src/providers/aws/stream-fate.ts).
  const resetThrows = Number(process.versions.node.split(".")[0]) < 24;
  const transport: Array<[string, Fault, RegExp | undefined]> = [
    [
      "a reset stream (RST_STREAM INTERNAL_ERROR)",
      { kind: "reset", afterAudioSec: 1 },
      resetThrows ? /NGHTTP2_INTERNAL_ERROR/ : undefined,
    ],
    ["a GOAWAY with an error code", { kind: "goaway", afterAudioSec: 1 }, /Session closed with error code 2/],
    ["a TCP reset", { kind: "tcp-reset", afterAudioSec: 1 }, /Premature close/],
    ["a clean early end", { kind: "end", afterAudioSec: 1 }, undefined],
    ["a destroyed connection", { kind: "destroy", afterAudioSec: 1 }, undefined],
  ];
  for (const [what, fault, thrown] of transport) {
    it(`injects ${what}: ${thrown ? "thrown from the result loop" : "the result loop just ends, no error"}, no final`, async () => {
      emu.planFaults(fault);
      const o = await run(emu, {}, 3);
      if (thrown) assert.match(String(o.error), thrown);
      else assert.equal(o.error, undefined);
      assert.equal(finals(o).length, 0);
      assert.equal(emu.streams[0]?.closedBy, "fault");
    });
  }

  it("injects a fault at the end-of-audio frame instead of the flush of the last finals", async () => {
    emu.planFaults({ kind: "end", atEndFrame: true });
    // The second sentence has begun at 2.2 s: its partial was sent, its final would come with the flush.
    const o = await run(emu, {}, 2.2);
    assert.equal(o.error, undefined);
    assert.equal(emu.streams[0]?.endFrameSeen, true);
    assert.equal(emu.streams[0]?.closedBy, "fault");
    const cut = o.results.filter((r) => r.IsPartial === true).at(-1)?.ResultId;
    assert.ok(cut !== undefined, "a segment was open at the end");
    assert.ok(!finals(o).some((r) => r.ResultId === cut), "the segment cut by the end was never finalised");
  });

  it("injects a :message-type error, thrown with its code and message", async () => {
    emu.planFaults({ kind: "error", code: "InternalError", message: "boom", afterAudioSec: 0.5 });
    const o = await run(emu, {}, 2);
    assert.equal(o.error?.name, "InternalError");
    assert.equal(o.error?.message, "boom");
  });

  it("injects a stall: events stop but the stream stays open", async () => {
    emu.planFaults({ kind: "stall", afterAudioSec: 0.5 });
    const c = client(emu);
    const ac = new AbortController();
    const seen: MedicalResult[] = [];
    const res = await c.send(
      new StartMedicalStreamTranscriptionCommand({
        LanguageCode: "en-US",
        MediaSampleRateHertz: RATE,
        MediaEncoding: "pcm",
        Specialty: "PRIMARYCARE",
        Type: "DICTATION",
        AudioStream: audio(3),
      }),
      { abortSignal: ac.signal },
    );
    const loop = (async () => {
      for await (const ev of res.TranscriptResultStream ?? [])
        seen.push(...(ev.TranscriptEvent?.Transcript?.Results ?? []));
    })();
    await delay(700);
    assert.equal(emu.activeStreams, 1, "still open");
    assert.equal(seen.filter((r) => !r.IsPartial).length, 0);
    ac.abort();
    await loop.catch(() => undefined);
    c.destroy();
  });

  it("injects a delay before the first event (send() waits for it) and a throttled request", async () => {
    await emu.stop();
    emu = await new AwsTranscribeEmulator({ fixture, firstEventDelayMs: 300 }).start();
    const started = Date.now();
    const o = await run(emu, {}, 1);
    assert.equal(o.error, undefined);
    assert.ok(Date.now() - started >= 300);
    emu.planFaults({ kind: "throttle" });
    const t = await run(emu, {}, 0.3);
    assert.ok(t.error instanceof LimitExceededException);
  });

  it("with the embedded speech clock, recognises replayed audio as the same words at stream times", async () => {
    await emu.stop();
    emu = await new AwsTranscribeEmulator({ fixture, clock: "clock" }).start();
    const c = client(emu);
    async function* replay() {
      // Audio from session second 1.8 on: the second segment, heard from its start.
      for (let t = 1.8; t < 4; t += 0.1) {
        yield { AudioEvent: { AudioChunk: speechClockPcm(t, 0.1, RATE) } };
        await new Promise((r) => setImmediate(r));
      }
    }
    const res = await c.send(
      new StartMedicalStreamTranscriptionCommand({
        LanguageCode: "en-US",
        MediaSampleRateHertz: RATE,
        MediaEncoding: "pcm",
        Specialty: "PRIMARYCARE",
        Type: "DICTATION",
        AudioStream: replay(),
      }),
    );
    const got: MedicalResult[] = [];
    for await (const ev of res.TranscriptResultStream ?? [])
      got.push(...(ev.TranscriptEvent?.Transcript?.Results ?? []));
    c.destroy();
    const f = got.filter((r) => !r.IsPartial);
    assert.deepEqual(f.map(textOf), ["Any allergies Smith?"]);
    const start = fixture[1]?.words[0]?.start ?? 0;
    assert.equal(f[0]?.StartTime, Math.round((start - 1.8) * 1000) / 1000);
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
