import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  BadRequestException,
  ConflictException,
  InternalFailureException,
  LimitExceededException,
  GetMedicalScribeStreamCommand,
  ResourceNotFoundException,
  ServiceUnavailableException,
  StartMedicalScribeStreamCommand,
  type MedicalScribeConfigurationEvent,
  type MedicalScribeInputStream,
  type MedicalScribeStreamDetails,
  type MedicalScribeTranscriptSegment,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { emulatorClient } from "../../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../../emulators/aws/fixture";
import { LocalS3, S3RVER_CREDENTIALS } from "../../emulators/aws-batch/s3";
import {
  accessDeniedReason,
  AwsScribeEmulator,
  SCRIBE_MESSAGES,
  type ScribeEmulatorOptions,
  type ScribeFault,
} from "../../emulators/aws-scribe/emulator";
import { TEMPLATE_SECTIONS, type SummaryJson, type TranscriptJson } from "../../emulators/aws-scribe/note";

// The emulator is proven with the real SDK client: what passes here is what the scribe node will meet.
const fixture = scriptedFixture([
  { text: "What brings you in today?", channel: 0 },
  { text: "Chest pain for two days.", channel: 1 },
  { text: "Any shortness of breath?", channel: 0 },
  { text: "No, none.", channel: 1 },
]);
// The script's last word ends at about 6.2 s.
const SCRIPT_SEC = 6.6;

const RATE = 16000;
const ROLE = "arn:aws:iam::111122223333:role/HealthScribeOutput";
const BUCKET = "scribe-out";

function configuration(over: Partial<MedicalScribeConfigurationEvent> = {}): MedicalScribeConfigurationEvent {
  return {
    ResourceAccessRoleArn: ROLE,
    PostStreamAnalyticsSettings: {
      ClinicalNoteGenerationSettings: { OutputBucketName: BUCKET, NoteTemplate: "HISTORY_AND_PHYSICAL" },
    },
    ChannelDefinitions: [
      { ChannelId: 0, ParticipantRole: "CLINICIAN" },
      { ChannelId: 1, ParticipantRole: "PATIENT" },
    ],
    ...over,
  };
}

interface InputPlan {
  /** The configuration event to send first (null: none). */
  config?: MedicalScribeConfigurationEvent | null;
  /** Audio, as [from, to) seconds of the session, sent in 100 ms events at ten times real time. */
  from?: number;
  to?: number;
  channels?: 1 | 2;
  /** Send END_OF_SESSION after the audio. */
  end?: boolean;
  /** The audio carries the speech clock (for clock mode). */
  clock?: boolean;
  /** Events sent before anything else (to break the rules). */
  first?: MedicalScribeInputStream[];
  chunkBytes?: number;
  /** Events sent after END_OF_SESSION. */
  after?: MedicalScribeInputStream[];
}

async function* input(p: InputPlan): AsyncIterable<MedicalScribeInputStream> {
  for (const e of p.first ?? []) yield e;
  if (p.config !== null) yield { ConfigurationEvent: p.config ?? configuration() };
  const channels = p.channels ?? 2;
  for (let t = p.from ?? 0; t < (p.to ?? SCRIPT_SEC) - 1e-9; t += 0.1) {
    const chunk =
      p.chunkBytes !== undefined
        ? Buffer.alloc(p.chunkBytes, 1)
        : p.clock === true
          ? speechClockPcm(t, 0.1, RATE, channels)
          : Buffer.alloc(Math.round(0.1 * RATE) * 2 * channels, 1);
    yield { AudioEvent: { AudioChunk: chunk } };
    await delay(10);
  }
  if (p.end === true) yield { SessionControlEvent: { Type: "END_OF_SESSION" } };
  for (const e of p.after ?? []) yield e;
}

interface Outcome {
  segments: MedicalScribeTranscriptSegment[];
  events: number;
  error?: Error;
  sessionId?: string;
}

async function run(
  emu: AwsScribeEmulator,
  plan: InputPlan,
  sessionId?: string,
  headers: { rate?: number; encoding?: "pcm" | "flac" | "ogg-opus" } = {},
): Promise<Outcome> {
  const c = emulatorClient(emu);
  const out: Outcome = { segments: [], events: 0 };
  try {
    const res = await c.send(
      new StartMedicalScribeStreamCommand({
        LanguageCode: "en-US",
        MediaSampleRateHertz: headers.rate ?? RATE,
        MediaEncoding: headers.encoding ?? "pcm",
        SessionId: sessionId,
        InputStream: input(plan),
      }),
    );
    out.sessionId = res.SessionId;
    for await (const ev of res.ResultStream ?? []) {
      out.events++;
      const seg = ev.TranscriptEvent?.TranscriptSegment;
      if (seg) out.segments.push(seg);
    }
  } catch (err) {
    out.error = err as Error;
  } finally {
    c.destroy();
  }
  return out;
}

async function details(emu: AwsScribeEmulator, sessionId: string): Promise<MedicalScribeStreamDetails> {
  const c = emulatorClient(emu);
  try {
    const res = await c.send(new GetMedicalScribeStreamCommand({ SessionId: sessionId }));
    assert.ok(res.MedicalScribeStreamDetails);
    return res.MedicalScribeStreamDetails;
  } finally {
    c.destroy();
  }
}

async function getError(emu: AwsScribeEmulator, sessionId: string): Promise<Error | undefined> {
  try {
    await details(emu, sessionId);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** Polls GetMedicalScribeStream until the analytics leave IN_PROGRESS. */
async function analyticsDone(emu: AwsScribeEmulator, sessionId: string): Promise<MedicalScribeStreamDetails> {
  for (let i = 0; i < 200; i++) {
    const d = await details(emu, sessionId);
    const status = d.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult?.Status;
    if (status !== undefined && status !== "IN_PROGRESS") return d;
    await delay(20);
  }
  throw new Error("analytics never finished");
}

const finals = (o: Outcome): MedicalScribeTranscriptSegment[] =>
  o.segments.filter((s) => s.IsPartial === false);

describe("AWS HealthScribe streaming emulator, driven by the real SDK client", () => {
  let s3: LocalS3;
  let s3client: S3Client;
  let emu: AwsScribeEmulator;

  before(async () => {
    s3 = await new LocalS3([BUCKET]).start();
    s3client = new S3Client({
      region: "us-east-1",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
    });
  });
  after(async () => {
    s3client.destroy();
    await s3.stop();
  });

  async function startEmu(opts: Partial<ScribeEmulatorOptions> = {}): Promise<AwsScribeEmulator> {
    emu = await new AwsScribeEmulator({
      fixture,
      s3: { endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS },
      idleTimeoutMs: 2000,
      analyticsDelayMs: 50,
      ...opts,
    }).start();
    return emu;
  }
  afterEach(() => emu?.stop());

  async function readJson<T>(location: string | undefined): Promise<T> {
    const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(location ?? "");
    assert.ok(m, `an S3 URI: ${location}`);
    const got = await s3client.send(new GetObjectCommand({ Bucket: m[1], Key: m[2] }));
    return JSON.parse(await (got.Body?.transformToString() ?? Promise.resolve("null"))) as T;
  }

  it("streams per-channel segments, then END_OF_SESSION completes and writes the note and transcript to S3", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const o = await run(emu, { end: true }, sessionId);
    assert.equal(o.error, undefined, String(o.error));
    assert.equal(o.sessionId, sessionId);
    assert.deepEqual(
      finals(o).map((s) => [s.ChannelId, s.Content]),
      [
        ["CHANNEL_0", "What brings you in today?"],
        ["CHANNEL_1", "Chest pain for two days."],
        ["CHANNEL_0", "Any shortness of breath?"],
        ["CHANNEL_1", "No, none."],
      ],
    );
    // Partials grow word by word under the final's SegmentId; times are milliseconds of the session.
    const first = finals(o)[0];
    const partials = o.segments.filter((s) => s.IsPartial === true && s.SegmentId === first.SegmentId);
    assert.deepEqual(
      partials.map((s) => s.Content),
      ["What", "What brings", "What brings you", "What brings you in"],
    );
    assert.equal(first.BeginAudioTime, 200);
    assert.ok(
      (first.EndAudioTime ?? 0) > 1000 && (first.EndAudioTime ?? 0) < 2000,
      String(first.EndAudioTime),
    );
    assert.ok(first.Items?.every((i) => typeof i.Confidence === "number"));
    assert.ok(partials.every((p) => p.Items?.every((i) => i.Confidence === undefined)));

    // END_OF_SESSION: the stream is COMPLETED at once, the analytics run after.
    const right = await details(emu, sessionId);
    assert.equal(right.StreamStatus, "COMPLETED");
    assert.equal(right.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult?.Status, "IN_PROGRESS");
    assert.equal(right.MediaSampleRateHertz, RATE);
    assert.equal(right.ResourceAccessRoleArn, ROLE);
    assert.ok(right.StreamCreatedAt instanceof Date && right.StreamEndedAt instanceof Date);
    const done = await analyticsDone(emu, sessionId);
    const result = done.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(result?.Status, "COMPLETED");
    const prefix = `s3://${BUCKET}/healthscribe-streaming/${sessionId}/post-stream-analytics/clinical-notes`;
    assert.equal(result?.ClinicalNoteOutputLocation, `${prefix}/summary.json`);
    assert.equal(result?.TranscriptOutputLocation, `${prefix}/transcript.json`);

    const note = await readJson<SummaryJson>(result?.ClinicalNoteOutputLocation);
    const live = new Set(finals(o).map((s) => s.SegmentId));
    const sections = note.ClinicalDocumentation.Sections;
    assert.deepEqual(
      sections.map((s) => s.SectionName),
      TEMPLATE_SECTIONS.get("HISTORY_AND_PHYSICAL"),
    );
    const sentences = sections.flatMap((s) => s.Summary);
    assert.equal(sentences.length, 4);
    for (const s of sentences) {
      assert.ok(s.EvidenceLinks.length > 0);
      for (const e of s.EvidenceLinks) assert.ok(live.has(e.SegmentId), "evidence cites a segment sent live");
    }
    assert.equal(sentences.at(-1)?.EvidenceLinks.length, 2, "one sentence drawn from two utterances");

    const transcript = await readJson<TranscriptJson>(result?.TranscriptOutputLocation);
    assert.deepEqual(
      transcript.Conversation.TranscriptSegments.map((s) => [
        s.SegmentId,
        s.ParticipantDetails.ParticipantRole,
        s.Content,
      ]),
      finals(o).map((s, k) => [s.SegmentId, k % 2 === 0 ? "CLINICIAN" : "PATIENT", s.Content]),
    );
    assert.equal(transcript.Conversation.TranscriptSegments[0]?.BeginAudioTime, 0.2, "seconds in the file");
  });

  it("refuses a stream whose first event is not the configuration event", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const o = await run(emu, { config: null, to: 1 }, sessionId);
    assert.ok(o.error instanceof BadRequestException, String(o.error));
    assert.equal(o.error.message, SCRIBE_MESSAGES.configurationFirst);
    assert.ok(
      (await getError(emu, sessionId)) instanceof ResourceNotFoundException,
      "no session was created",
    );
  });

  it("refuses bad request headers as the service does (sample rate, encoding, session id)", async () => {
    await startEmu();
    const low = await run(emu, { to: 0.5 }, randomUUID(), { rate: 8000 });
    assert.ok(low.error instanceof BadRequestException, String(low.error));
    assert.match(low.error.message, /mediaSampleRateHertz.*greater than or equal to 16000/);
    const enc = await run(emu, { to: 0.5 }, randomUUID(), { encoding: "mp3" as "pcm" });
    assert.ok(enc.error instanceof BadRequestException);
    assert.match(enc.error.message, /mediaEncoding.*\[pcm, ogg-opus, flac\]/);
    const id = await run(emu, { to: 0.5 }, "not-a-uuid");
    assert.ok(id.error instanceof BadRequestException);
    assert.match(id.error.message, /sessionId/);
    assert.equal(emu.streams.length, 0, "refused before any stream");
    assert.deepEqual(
      emu.rejected.map((r) => r.status),
      [400, 400, 400],
    );
  });

  it("refuses an invalid configuration event, audio before it, and a second one mid-stream", async () => {
    await startEmu();
    const cases: Array<[Partial<MedicalScribeConfigurationEvent>, RegExp]> = [
      [{ ResourceAccessRoleArn: "arn:aws:s3:::not-a-role-at-all" }, /resourceAccessRoleArn/],
      [
        { PostStreamAnalyticsSettings: { ClinicalNoteGenerationSettings: { OutputBucketName: "s3://Bad" } } },
        /outputBucketName/,
      ],
      [
        {
          PostStreamAnalyticsSettings: {
            ClinicalNoteGenerationSettings: { OutputBucketName: BUCKET, NoteTemplate: "SOAP" as "DAP" },
          },
        },
        /noteTemplate.*HISTORY_AND_PHYSICAL/,
      ],
      [{ ChannelDefinitions: [{ ChannelId: 0, ParticipantRole: "CLINICIAN" }] }, /exactly two channels/],
      [
        {
          ChannelDefinitions: [
            { ChannelId: 0, ParticipantRole: "CLINICIAN" },
            { ChannelId: 1, ParticipantRole: "CLINICIAN" },
          ],
        },
        /one with PATIENT/,
      ],
      [{ EncryptionSettings: {} as { KmsKeyId: string } }, /kmsKeyId/],
    ];
    for (const [over, message] of cases) {
      const sessionId = randomUUID();
      const o = await run(emu, { config: configuration(over), to: 0.5 }, sessionId);
      assert.ok(o.error instanceof BadRequestException, `${JSON.stringify(over)}: ${String(o.error)}`);
      assert.match(o.error.message, message);
      assert.ok((await getError(emu, sessionId)) instanceof ResourceNotFoundException);
    }
    const audioFirst = await run(emu, {
      first: [{ AudioEvent: { AudioChunk: Buffer.alloc(3200, 1) } }],
      to: 0.5,
    });
    assert.ok(audioFirst.error instanceof BadRequestException);
    assert.equal(audioFirst.error.message, SCRIBE_MESSAGES.configurationFirst);
    const endFirst = await run(emu, {
      first: [{ SessionControlEvent: { Type: "END_OF_SESSION" } }],
      to: 0.5,
    });
    assert.equal(endFirst.error?.message, SCRIBE_MESSAGES.configurationFirst);
    const twice = await run(emu, {
      first: [{ ConfigurationEvent: configuration() }],
      config: configuration(),
      to: 0.5,
    });
    assert.ok(twice.error instanceof BadRequestException);
    assert.equal(twice.error.message, SCRIBE_MESSAGES.configurationAgain);
  });

  it("pauses when the input ends without END_OF_SESSION; the same session id resumes where it stopped", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const one = await run(emu, { to: 3.8 }, sessionId);
    assert.equal(one.error, undefined, String(one.error));
    assert.deepEqual(
      finals(one).map((s) => s.Content),
      ["What brings you in today?", "Chest pain for two days."],
    );
    assert.equal((await details(emu, sessionId)).StreamStatus, "PAUSED");
    assert.equal((await details(emu, sessionId)).PostStreamAnalyticsResult, undefined, "no analytics yet");
    const two = await run(emu, { from: 3.8, end: true }, sessionId);
    assert.equal(two.error, undefined, String(two.error));
    // The session's clock goes on: the resumed stream reports session times.
    assert.deepEqual(
      finals(two).map((s) => [s.Content, s.BeginAudioTime]),
      [
        ["Any shortness of breath?", 4000],
        ["No, none.", 5600],
      ],
    );
    const done = await analyticsDone(emu, sessionId);
    assert.equal(done.StreamStatus, "COMPLETED");
    const transcript = await readJson<TranscriptJson>(
      done.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult?.TranscriptOutputLocation,
    );
    assert.deepEqual(
      transcript.Conversation.TranscriptSegments.map((s) => s.SegmentId),
      [...finals(one), ...finals(two)].map((s) => s.SegmentId),
    );
  });

  it("a pause in the middle of an utterance makes what was heard of it final", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const one = await run(emu, { to: 3.0 }, sessionId);
    assert.deepEqual(
      finals(one).map((s) => s.Content),
      ["What brings you in today?", "Chest pain for"],
    );
    const two = await run(emu, { from: 3.0, end: true }, sessionId);
    // The rest of the cut utterance starts before the resumed audio: it is not recognised.
    assert.deepEqual(
      finals(two).map((s) => s.Content),
      ["Any shortness of breath?", "No, none."],
    );
  });

  it("refuses on resume what the service refuses: a changed configuration, none, other headers, an ended session", async () => {
    await startEmu({ resumeWindowMs: 60_000 });
    const sessionId = randomUUID();
    assert.equal((await run(emu, { to: 1 }, sessionId)).error, undefined);
    const changed = await run(
      emu,
      {
        config: configuration({
          PostStreamAnalyticsSettings: {
            ClinicalNoteGenerationSettings: { OutputBucketName: BUCKET, NoteTemplate: "DAP" },
          },
        }),
        to: 0.5,
      },
      sessionId,
    );
    assert.ok(changed.error instanceof BadRequestException);
    assert.equal(changed.error.message, SCRIBE_MESSAGES.resumeChanged);
    const none = await run(emu, { config: null, to: 0.5 }, sessionId);
    assert.equal(none.error?.message, SCRIBE_MESSAGES.configurationFirst);
    const rate = await run(emu, { to: 0.5 }, sessionId, { rate: 48000 });
    assert.ok(rate.error instanceof BadRequestException);
    assert.equal(rate.error.message, SCRIBE_MESSAGES.resumeHeaders);
    assert.equal((await details(emu, sessionId)).StreamStatus, "PAUSED", "the refusals left it paused");
    // The same configuration with its keys in another order is the same configuration.
    const c = configuration();
    const reordered = {
      ChannelDefinitions: c.ChannelDefinitions,
      PostStreamAnalyticsSettings: c.PostStreamAnalyticsSettings,
      ResourceAccessRoleArn: c.ResourceAccessRoleArn,
    };
    assert.equal((await run(emu, { config: reordered, to: 0.5, end: true }, sessionId)).error, undefined);
    const after = await run(emu, { to: 0.5 }, sessionId);
    assert.ok(after.error instanceof BadRequestException);
    assert.equal(after.error.message, SCRIBE_MESSAGES.ended);
  });

  it("refuses audio after END_OF_SESSION; the session is still COMPLETED", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const o = await run(
      emu,
      { to: 1, end: true, after: [{ AudioEvent: { AudioChunk: Buffer.alloc(3200, 1) } }] },
      sessionId,
    );
    assert.ok(o.error instanceof BadRequestException, String(o.error));
    assert.equal(o.error.message, SCRIBE_MESSAGES.afterEnd);
    assert.equal((await analyticsDone(emu, sessionId)).StreamStatus, "COMPLETED");
  });

  it("refuses a resume after the resume window", async () => {
    await startEmu({ resumeWindowMs: 50 });
    const sessionId = randomUUID();
    assert.equal((await run(emu, { to: 0.3 }, sessionId)).error, undefined);
    await delay(80);
    const late = await run(emu, { to: 0.3 }, sessionId);
    assert.equal(late.error?.message, SCRIBE_MESSAGES.expired);
  });

  it("GetMedicalScribeStream: unknown session → ResourceNotFoundException, malformed id → BadRequestException", async () => {
    await startEmu();
    const unknown = await getError(emu, randomUUID());
    assert.ok(unknown instanceof ResourceNotFoundException, String(unknown));
    assert.equal(unknown.message, SCRIBE_MESSAGES.notFound);
    const bad = await getError(emu, "x");
    assert.ok(bad instanceof BadRequestException, String(bad));
    // The SDK retries a throttled GET (3 attempts by default): one throttle is absorbed, three are not.
    emu.getFaults.push("LimitExceededException");
    assert.ok((await getError(emu, randomUUID())) instanceof ResourceNotFoundException);
    emu.getFaults.push("LimitExceededException", "LimitExceededException", "LimitExceededException");
    assert.ok((await getError(emu, randomUUID())) instanceof LimitExceededException);
    assert.equal(emu.gets, 7);
  });

  it("checks signatures on both operations", async () => {
    await startEmu();
    const wrong = { accessKeyId: "AKIDEMULATOR00000000", secretAccessKey: "not-the-secret" };
    const c = emulatorClient(emu, wrong);
    try {
      await assert.rejects(
        c.send(
          new StartMedicalScribeStreamCommand({
            LanguageCode: "en-US",
            MediaSampleRateHertz: RATE,
            MediaEncoding: "pcm",
            InputStream: input({ to: 0.3 }),
          }),
        ),
        (e: Error) => e.name === "InvalidSignatureException",
      );
      await assert.rejects(
        c.send(new GetMedicalScribeStreamCommand({ SessionId: randomUUID() })),
        (e: Error) => e.name === "InvalidSignatureException",
      );
    } finally {
      c.destroy();
    }
    const unknown = emulatorClient(emu, { accessKeyId: "AKIDUNKNOWN000000000", secretAccessKey: "x" });
    try {
      await assert.rejects(
        unknown.send(new GetMedicalScribeStreamCommand({ SessionId: randomUUID() })),
        (e: Error) => e.name === "UnrecognizedClientException",
      );
    } finally {
      unknown.destroy();
    }
  });

  it("enforces the chunk size, the idle time and the session's audio limit", async () => {
    await startEmu({ idleTimeoutMs: 200, maxAudioMs: 1000 });
    const big = await run(emu, { chunkBytes: RATE * 2 * 2 + 2, to: 0.2 });
    assert.ok(big.error instanceof BadRequestException);
    assert.equal(big.error.message, SCRIBE_MESSAGES.tooBig);

    const idleId = randomUUID();
    // A stream that is configured, then goes quiet:
    const quiet = emulatorClient(emu);
    let quietError: Error | undefined;
    try {
      const res = await quiet.send(
        new StartMedicalScribeStreamCommand({
          LanguageCode: "en-US",
          MediaSampleRateHertz: RATE,
          MediaEncoding: "pcm",
          SessionId: idleId,
          InputStream: (async function* () {
            yield { ConfigurationEvent: configuration() };
            await delay(600);
          })(),
        }),
      );
      for await (const _ of res.ResultStream ?? []) void _;
    } catch (e) {
      quietError = e as Error;
    } finally {
      quiet.destroy();
    }
    assert.ok(quietError instanceof BadRequestException, String(quietError));
    assert.equal(quietError.message, SCRIBE_MESSAGES.idle);
    assert.equal((await details(emu, idleId)).StreamStatus, "PAUSED");

    const longId = randomUUID();
    const long = await run(emu, { to: 2 }, longId);
    assert.ok(long.error instanceof LimitExceededException, String(long.error));
    assert.equal(long.error.message, SCRIBE_MESSAGES.maxAudio);
    // Documented: after a LimitExceededException the session is restarted with END_OF_SESSION for its analytics.
    assert.equal((await run(emu, { to: 0, end: true }, longId)).error, undefined);
    const done = await analyticsDone(emu, longId);
    assert.equal(done.PostStreamAnalyticsResult?.ClinicalNoteGenerationResult?.Status, "COMPLETED");
  });

  for (const kind of ["reset", "destroy", "goaway", "tcp-reset", "end"] as const) {
    it(`a connection ${kind} mid-stream leaves the session PAUSED and resumable`, async () => {
      await startEmu();
      const sessionId = randomUUID();
      emu.planFaults({ kind, afterAudioSec: 1 });
      const cut = await run(emu, { to: 3 }, sessionId);
      if (kind === "reset") assert.ok(cut.error, "reset: the client sees an error");
      assert.ok(cut.segments.every((s) => (s.EndAudioTime ?? 0) <= 1000));
      assert.equal((await details(emu, sessionId)).StreamStatus, "PAUSED");
      const resumed = await run(emu, { from: 1, end: true }, sessionId);
      assert.equal(resumed.error, undefined, String(resumed.error));
      assert.equal((await analyticsDone(emu, sessionId)).StreamStatus, "COMPLETED");
      // What was heard before the cut is in the session's transcript (finalised by the service).
      const heard = emu.sessions.get(sessionId)?.finals.map((f) => f.content);
      assert.equal(heard?.[0], "What brings");
    });
  }

  it("a connection cut at END_OF_SESSION leaves the session PAUSED: END_OF_SESSION must be sent again", async () => {
    await startEmu();
    const sessionId = randomUUID();
    emu.planFaults({ kind: "reset", atEndOfSession: true });
    const cut = await run(emu, { to: 1, end: true }, sessionId);
    assert.ok(cut.error);
    const d = await details(emu, sessionId);
    assert.equal(d.StreamStatus, "PAUSED");
    assert.equal(d.PostStreamAnalyticsResult, undefined);
    assert.equal((await run(emu, { to: 0, end: true }, sessionId)).error, undefined);
    assert.equal((await analyticsDone(emu, sessionId)).StreamStatus, "COMPLETED");
  });

  it("a stalled stream answers nothing more, not even END_OF_SESSION", async () => {
    await startEmu();
    const sessionId = randomUUID();
    emu.planFaults({ kind: "stall", afterAudioSec: 0.5 });
    const pending = run(emu, { to: 2, end: true }, sessionId);
    await delay(600);
    emu.faultOpenStreams({ kind: "destroy" });
    const o = await pending;
    assert.deepEqual(finals(o), []);
    assert.ok(o.segments.every((s) => (s.EndAudioTime ?? 0) <= 500));
    assert.equal(emu.sessions.get(sessionId)?.status, "PAUSED");
  });

  const exceptions: Array<[ScribeFault & { kind: "exception" }, new (...a: never[]) => Error]> = [
    [{ kind: "exception", type: "LimitExceededException", afterAudioSec: 0.5 }, LimitExceededException],
    [{ kind: "exception", type: "InternalFailureException", afterAudioSec: 0.5 }, InternalFailureException],
    [
      { kind: "exception", type: "ServiceUnavailableException", afterAudioSec: 0.5 },
      ServiceUnavailableException,
    ],
  ];
  for (const [fault, cls] of exceptions) {
    it(`a ${fault.type} event reaches the client as the SDK's class; the session stays resumable`, async () => {
      await startEmu();
      const sessionId = randomUUID();
      emu.planFaults(fault);
      const o = await run(emu, { to: 2 }, sessionId);
      assert.ok(o.error instanceof cls, String(o.error));
      assert.equal((await details(emu, sessionId)).StreamStatus, "PAUSED");
    });
  }

  it("an exception that fails the session: FAILED, and a resume is refused", async () => {
    await startEmu();
    const sessionId = randomUUID();
    emu.planFaults({
      kind: "exception",
      type: "InternalFailureException",
      afterAudioSec: 0.5,
      failSession: true,
    });
    assert.ok((await run(emu, { to: 2 }, sessionId)).error instanceof InternalFailureException);
    assert.equal((await details(emu, sessionId)).StreamStatus, "FAILED");
    assert.equal((await run(emu, { to: 0.3 }, sessionId)).error?.message, SCRIBE_MESSAGES.ended);
  });

  it("a second stream with the same session id ends the first with ConflictException", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const first = run(emu, { to: 3 }, sessionId);
    await delay(150);
    const second = await run(emu, { from: 0, to: 1, end: true }, sessionId);
    const o = await first;
    assert.ok(o.error instanceof ConflictException, String(o.error));
    assert.equal(o.error.message, SCRIBE_MESSAGES.conflict);
    assert.equal(second.error, undefined, String(second.error));
    assert.equal(emu.streams[0]?.closedBy, "conflict");
  });

  it("refuses a stream beyond the concurrent stream limit with HTTP 429 LimitExceededException", async () => {
    await startEmu({ maxConcurrentStreams: 1 });
    const first = run(emu, { to: 1 });
    await delay(100);
    const second = await run(emu, { to: 0.3 });
    assert.ok(second.error instanceof LimitExceededException, String(second.error));
    assert.equal(second.error.message, SCRIBE_MESSAGES.concurrency);
    assert.equal((await first).error, undefined);
    assert.deepEqual(
      emu.rejected.map((r) => r.status),
      [429],
    );
  });

  it("refuses a request with a bad signature or when throttled (planned request faults)", async () => {
    await startEmu();
    emu.planFaults({ kind: "reject-auth" });
    emu.planFaults({ kind: "throttle" });
    assert.equal((await run(emu, { to: 0.3 })).error?.name, "InvalidSignatureException");
    assert.ok((await run(emu, { to: 0.3 })).error instanceof LimitExceededException);
    assert.equal((await run(emu, { to: 0.3 })).error, undefined, "the next one is healthy");
  });

  it("analytics faults: FAILED with a reason, a role that cannot write, a missing bucket, slow analytics", async () => {
    await startEmu({ deniedRoles: ["arn:aws:iam::111122223333:role/ReadOnly"] });
    const failed = randomUUID();
    emu.planAnalytics({ kind: "fail", reason: "The audio could not be summarized." });
    await run(emu, { to: 1, end: true }, failed);
    let r = (await analyticsDone(emu, failed)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.Status, "FAILED");
    assert.equal(r?.FailureReason, "The audio could not be summarized.");
    assert.equal(r?.ClinicalNoteOutputLocation, undefined);

    const denied = randomUUID();
    emu.planAnalytics({ kind: "access-denied" });
    await run(emu, { to: 1, end: true }, denied);
    r = (await analyticsDone(emu, denied)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.FailureReason, accessDeniedReason(ROLE, BUCKET));

    const readOnly = randomUUID();
    const ro = configuration({ ResourceAccessRoleArn: "arn:aws:iam::111122223333:role/ReadOnly" });
    await run(emu, { config: ro, to: 1, end: true }, readOnly);
    r = (await analyticsDone(emu, readOnly)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.Status, "FAILED");

    const missing = randomUUID();
    const nb = configuration({
      PostStreamAnalyticsSettings: { ClinicalNoteGenerationSettings: { OutputBucketName: "no-such-bucket" } },
    });
    await run(emu, { config: nb, to: 1, end: true }, missing);
    r = (await analyticsDone(emu, missing)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.Status, "FAILED");
    assert.match(r?.FailureReason ?? "", /no-such-bucket/);
    assert.equal(emu.outputs.size, 0, "nothing was written");

    const slow = randomUUID();
    emu.planAnalytics({ kind: "slow", delayMs: 400 });
    await run(emu, { to: 1, end: true }, slow);
    await delay(250);
    r = (await details(emu, slow)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.Status, "IN_PROGRESS");
    r = (await analyticsDone(emu, slow)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    assert.equal(r?.Status, "COMPLETED");
  });

  it("the note's sections follow the template", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const girpp = configuration({
      PostStreamAnalyticsSettings: {
        ClinicalNoteGenerationSettings: { OutputBucketName: BUCKET, NoteTemplate: "GIRPP" },
      },
    });
    await run(emu, { config: girpp, end: true }, sessionId);
    const r = (await analyticsDone(emu, sessionId)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    const note = await readJson<SummaryJson>(r?.ClinicalNoteOutputLocation);
    assert.deepEqual(
      note.ClinicalDocumentation.Sections.map((s) => [s.SectionName, s.Summary.length]),
      [
        ["GOAL", 1],
        ["INTERVENTION", 1],
        ["RESPONSE", 1],
        ["PROGRESS", 1],
        ["PLAN", 0],
      ],
    );
    assert.equal(note.ClinicalDocumentation.SessionId, sessionId);
  });

  it("without channel definitions: mono audio, no ChannelId live, roles diarized in the transcript", async () => {
    await startEmu();
    const sessionId = randomUUID();
    const { ChannelDefinitions: _, ...mono } = configuration();
    const o = await run(emu, { config: mono, channels: 1, end: true }, sessionId);
    assert.equal(finals(o).length, 4);
    assert.ok(o.segments.every((s) => s.ChannelId === undefined));
    const r = (await analyticsDone(emu, sessionId)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    const transcript = await readJson<TranscriptJson>(r?.TranscriptOutputLocation);
    assert.deepEqual(
      transcript.Conversation.TranscriptSegments.map((s) => s.ParticipantDetails.ParticipantRole),
      ["CLINICIAN", "PATIENT", "CLINICIAN", "PATIENT"],
    );
  });

  it("clock mode: audio replayed after a resume is heard again (twice in the session's transcript)", async () => {
    await startEmu({ clock: "clock" });
    const sessionId = randomUUID();
    const one = await run(emu, { clock: true, to: 3.8 }, sessionId);
    assert.equal(finals(one).length, 2);
    const two = await run(emu, { clock: true, from: 2.0, end: true }, sessionId);
    assert.deepEqual(
      finals(two).map((s) => [s.Content, s.BeginAudioTime]),
      [
        ["Chest pain for two days.", 2100],
        ["Any shortness of breath?", 4000],
        ["No, none.", 5600],
      ],
    );
    assert.notEqual(finals(two)[0]?.SegmentId, finals(one)[1]?.SegmentId, "a new segment, a new id");
    const r = (await analyticsDone(emu, sessionId)).PostStreamAnalyticsResult?.ClinicalNoteGenerationResult;
    const transcript = await readJson<TranscriptJson>(r?.TranscriptOutputLocation);
    assert.equal(
      transcript.Conversation.TranscriptSegments.filter((s) => s.Content === "Chest pain for two days.")
        .length,
      2,
    );
  });
});
