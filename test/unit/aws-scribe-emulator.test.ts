import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  BadRequestException,
  GetMedicalScribeStreamCommand,
  ResourceNotFoundException,
  StartMedicalScribeStreamCommand,
  type MedicalScribeConfigurationEvent,
  type MedicalScribeInputStream,
  type MedicalScribeStreamDetails,
  type MedicalScribeTranscriptSegment,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { emulatorClient } from "../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import {
  AwsScribeEmulator,
  SCRIBE_MESSAGES,
  type ScribeEmulatorOptions,
} from "../emulators/aws-scribe/emulator";
import { TEMPLATE_SECTIONS, type SummaryJson, type TranscriptJson } from "../emulators/aws-scribe/note";

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
});
