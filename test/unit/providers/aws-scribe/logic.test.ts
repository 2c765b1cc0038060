import type { MedicalScribeStreamDetails } from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import {
  buildNote,
  parseAggregatedTranscript,
  parseSummary,
  MalformedOutputError,
} from "../../../../src/providers/aws-scribe/note";
import { checkScribeParams, type ScribeParamsInput } from "../../../../src/providers/aws-scribe/params";
import type { ScribeNoteError } from "../../../../src/providers/aws-scribe/post-stream";
import { pollNoteLocations, postStreamTuning } from "../../../../src/providers/aws-scribe/post-stream";
import { configurationEvent, segmentAsResult } from "../../../../src/providers/aws-scribe/service";
import { realScheduler } from "../../../../src/util/scheduler";

const ROLE = "arn:aws:iam::111122223333:role/HealthScribeOutput";
const base: ScribeParamsInput = {
  template: "GIRPP",
  channelLayout: "patient-clinician",
  outputBucket: "notes-bucket",
  roleArn: ROLE,
  sampleRate: "16000",
  mediaEncoding: "pcm",
};

describe("scribe-medical settings", () => {
  it("accepts a full configuration and builds the configuration event from it", () => {
    const c = checkScribeParams({
      ...base,
      kmsKeyId: "alias/notes",
      kmsContext: '{"department":"cardiology"}',
      pronouns: "THEY_THEM",
      vocabularyFilterName: "words",
      vocabularyFilterMethod: "tag",
    });
    assert.ok(c.ok);
    assert.equal(c.value.channels, 2);
    assert.deepEqual(configurationEvent(c.value), {
      ResourceAccessRoleArn: ROLE,
      PostStreamAnalyticsSettings: {
        ClinicalNoteGenerationSettings: { OutputBucketName: "notes-bucket", NoteTemplate: "GIRPP" },
      },
      ChannelDefinitions: [
        { ChannelId: 0, ParticipantRole: "PATIENT" },
        { ChannelId: 1, ParticipantRole: "CLINICIAN" },
      ],
      EncryptionSettings: { KmsKeyId: "alias/notes", KmsEncryptionContext: { department: "cardiology" } },
      MedicalScribeContext: { PatientContext: { Pronouns: "THEY_THEM" } },
      VocabularyFilterName: "words",
      VocabularyFilterMethod: "tag",
    });
  });

  const refused: Array<[string, Partial<ScribeParamsInput>, string]> = [
    ["a template", { template: "toString" }, "note template must be one of"],
    ["a channel layout", { channelLayout: "__proto__" }, "channels must be one of"],
    ["a bucket URI", { outputBucket: "s3://bucket/key" }, "output bucket must be an S3 bucket name"],
    ["a user ARN", { roleArn: "arn:aws:iam::111122223333:user/me" }, "role ARN must be an IAM role ARN"],
    ["a KMS key", { kmsKeyId: "not a key" }, "KMS key must be empty"],
    [
      "a KMS context that is not JSON",
      { kmsKeyId: "alias/k", kmsContext: "{" },
      "KMS encryption context must be",
    ],
    ["a KMS context without key", { kmsContext: '{"a":"b"}' }, "needs a KMS key"],
    ["pronouns", { pronouns: "IT" }, "patient pronouns must be empty or one of"],
    ["a sample rate", { sampleRate: 8000 }, "16 kHz to 48 kHz"],
    ["an encoding", { mediaEncoding: "mp3" }, "media encoding must be one of"],
  ];
  for (const [what, over, text] of refused) {
    it(`refuses ${what}, naming what is accepted and not the value`, () => {
      const c = checkScribeParams({ ...base, ...over });
      assert.ok(!c.ok);
      assert.ok(c.error.message.includes(text), c.error.message);
      for (const v of Object.values(over)) {
        if (typeof v === "string" && v.length > 4) assert.ok(!c.error.message.includes(v));
      }
    });
  }
});

describe("scribe-medical mapping and note", () => {
  it("maps a segment: milliseconds to seconds, the channel to ch_<n>, the channel's role to each word", () => {
    const r = segmentAsResult(
      {
        SegmentId: "s1",
        BeginAudioTime: 1500,
        EndAudioTime: 2500,
        Content: "Hello.",
        IsPartial: false,
        ChannelId: "CHANNEL_1",
        Items: [
          {
            Type: "pronunciation",
            Content: "Hello",
            BeginAudioTime: 1500,
            EndAudioTime: 2400,
            Confidence: 0.9,
          },
        ],
      },
      ["CLINICIAN", "PATIENT"],
    );
    assert.equal(r.StartTime, 1.5);
    assert.equal(r.ChannelId, "ch_1");
    assert.equal(r.Alternatives?.[0]?.Items?.[0]?.Speaker, "PATIENT");
  });

  const summary = {
    ClinicalDocumentation: {
      Sections: [
        {
          SectionName: "CHIEF_COMPLAINT",
          Summary: [
            {
              SummarizedSegment: "Chest pain.",
              EvidenceLinks: [{ SegmentId: "a" }, { SegmentId: "b" }, { SegmentId: "zz" }],
            },
          ],
        },
        { SectionName: "PLAN", Summary: [] },
      ],
    },
  };
  const transcript = {
    Conversation: {
      TranscriptSegments: [
        {
          SegmentId: "b",
          BeginAudioTime: 2,
          EndAudioTime: 3,
          Content: "It hurts.",
          ParticipantDetails: { ParticipantRole: "PATIENT_0" },
        },
      ],
    },
  };

  it("resolves evidence to the live final, else the aggregated transcript moved to session time; counts the rest", async () => {
    const live = [
      {
        segmentId: "a",
        speaker: "CLINICIAN",
        startTime: 10,
        endTime: 11,
        text: "Why?",
        confidence: 0.9,
        review: false,
      },
    ];
    const built = buildNote(
      "HISTORY_AND_PHYSICAL",
      parseSummary(summary),
      live,
      await parseAggregatedTranscript(transcript),
      10,
    );
    assert.equal(built.unresolvedEvidence, 1);
    assert.deepEqual(built.note.sections[0]?.sentences[0]?.evidence, [
      { segmentId: "a", startTime: 10, endTime: 11, speaker: "CLINICIAN", text: "Why?" },
      { segmentId: "b", startTime: 12, endTime: 13, speaker: "PATIENT_0", text: "It hurts." },
    ]);
    assert.equal(built.note.sections[0]?.title, "Chief complaint");
    assert.equal(built.note.sections[1]?.sentences.length, 0);
  });

  it("refuses output not in the documented shape, naming the field and never the text", async () => {
    assert.throws(() => parseSummary({ ClinicalDocumentation: { Sections: {} } }), MalformedOutputError);
    assert.throws(
      () =>
        parseSummary({
          ClinicalDocumentation: { Sections: [{ SectionName: "X", Summary: [{ SummarizedSegment: 7 }] }] },
        }),
      /SummarizedSegment/,
    );
    const tooMany = {
      ClinicalDocumentation: {
        Sections: [
          { SectionName: "X", Summary: Array.from({ length: 5001 }, () => ({ SummarizedSegment: "s" })) },
        ],
      },
    };
    assert.throws(() => parseSummary(tooMany), /more than 5000/);
    await assert.rejects(
      parseAggregatedTranscript({
        Conversation: { TranscriptSegments: [{ SegmentId: "x", Content: "secret words" }] },
      }),
      (e: Error) => e instanceof MalformedOutputError && !e.message.includes("secret words"),
    );
  });
});

describe("scribe-medical polling", () => {
  const tuning = postStreamTuning({ pollBaseMs: 10, pollMaxMs: 20, noteTimeoutMs: 300 });
  const poll = (answers: Array<MedicalScribeStreamDetails | Error>): Promise<unknown> => {
    let i = 0;
    return pollNoteLocations({
      getDetails: () => {
        const a = answers[Math.min(i++, answers.length - 1)];
        return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
      },
      scheduler: realScheduler,
      tuning,
      signal: new AbortController().signal,
      phi: ["1f0e5a6c-0000-4000-8000-000000000001", "notes-bucket"],
    });
  };
  const inProgress: MedicalScribeStreamDetails = {
    StreamStatus: "COMPLETED",
    PostStreamAnalyticsResult: { ClinicalNoteGenerationResult: { Status: "IN_PROGRESS" } },
  };

  it("polls through IN_PROGRESS and a throttled request to the locations", async () => {
    const at = await poll([
      inProgress,
      Object.assign(new Error("slow down"), { name: "ThrottlingException" }),
      {
        PostStreamAnalyticsResult: {
          ClinicalNoteGenerationResult: {
            Status: "COMPLETED",
            ClinicalNoteOutputLocation: "s3://b/s.json",
            TranscriptOutputLocation: "s3://b/t.json",
          },
        },
      },
    ]);
    assert.deepEqual(at, { summaryUri: "s3://b/s.json", transcriptUri: "s3://b/t.json" });
  });

  it("reports a failure with the service's reason, the session id and bucket removed", async () => {
    await assert.rejects(
      poll([
        {
          PostStreamAnalyticsResult: {
            ClinicalNoteGenerationResult: {
              Status: "FAILED",
              FailureReason: "Session 1f0e5a6c-0000-4000-8000-000000000001 cannot write to notes-bucket",
            },
          },
        },
      ]),
      (e: ScribeNoteError) =>
        e.code === "ANALYTICS_FAILED" &&
        e.message.includes("cannot write") &&
        !e.message.includes("notes-bucket") &&
        !e.message.includes("1f0e5a6c"),
    );
  });

  it("gives up after the overall timeout", async () => {
    await assert.rejects(poll([inProgress]), (e: ScribeNoteError) => e.code === "TIMEOUT");
  });

  it("stops at access denied without polling on", async () => {
    await assert.rejects(
      poll([Object.assign(new Error("no"), { name: "AccessDeniedException" })]),
      (e: ScribeNoteError) => e.code === "ACCESS_DENIED",
    );
  });
});
