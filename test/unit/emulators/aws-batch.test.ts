import type { S3Client } from "@aws-sdk/client-s3";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import {
  DeleteMedicalTranscriptionJobCommand,
  GetMedicalTranscriptionJobCommand,
  StartMedicalTranscriptionJobCommand,
  TranscribeClient,
  type StartMedicalTranscriptionJobRequest,
} from "@aws-sdk/client-transcribe";
import { strict as assert } from "node:assert";
import { awsClientSettings } from "../../../src/providers/aws/client";
import { createBatchS3Client, createBatchTranscribeClient } from "../../../src/providers/aws-batch/clients";
import { parseBatchOutput, mapBatchOutput } from "../../../src/providers/aws-batch/transcript";
import { MedicalBatchJob, type JobProgress } from "../../../src/providers/aws-batch/runner";
import { AwsBatchTranscribeEmulator } from "../../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../../emulators/aws-batch/s3";
import { assertTranscriptResult } from "../../support/contract";

const WAV = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEfmt "), Buffer.alloc(64)]);
const SCRIPT = [
  { text: "Patient reports a dry cough.", speaker: "spk_0", channel: "ch_0" },
  { text: "Since when, [PHI]Zzmarker?", speaker: "spk_1", channel: "ch_1" },
];

describe("aws-batch emulator with the real SDK (s3rver for media and output)", function () {
  this.timeout(10000);
  let s3: LocalS3;
  let emu: AwsBatchTranscribeEmulator;
  let transcribe: TranscribeClient;
  let s3client: S3Client;

  const request = (
    over: Partial<StartMedicalTranscriptionJobRequest> = {},
  ): StartMedicalTranscriptionJobRequest => ({
    MedicalTranscriptionJobName: `job-${Math.random().toString(36).slice(2)}`,
    LanguageCode: "en-US",
    Specialty: "PRIMARYCARE",
    Type: "CONVERSATION",
    Media: { MediaFileUri: "s3://media/rec.wav" },
    MediaFormat: "wav",
    OutputBucketName: "out",
    ...over,
  });

  async function rejection(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
    try {
      await p;
    } catch (err) {
      const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
      return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
    }
    throw new Error("expected a rejection");
  }

  beforeEach(async () => {
    s3 = await new LocalS3(["media", "out"]).start();
    emu = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: {
        [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey,
        AKIDDENIED00000000: "secret-denied",
      },
      denied: ["AKIDDENIED00000000"],
      queuedMs: 30,
      inProgressMs: 30,
      script: SCRIPT,
    }).start();
    const settings = awsClientSettings({
      region: "us-east-1",
      endpoint: emu.endpoint,
      ...S3RVER_CREDENTIALS,
    });
    transcribe = createBatchTranscribeClient(settings);
    s3client = createBatchS3Client(settings, s3.endpoint);
    await s3client.send(new PutObjectCommand({ Bucket: "media", Key: "rec.wav", Body: WAV }));
  });
  afterEach(async () => {
    transcribe.destroy();
    s3client.destroy();
    await emu.stop();
    await s3.stop();
  });

  it("runs a job QUEUED → IN_PROGRESS → COMPLETED and writes the documented result JSON", async () => {
    const progress: JobProgress[] = [];
    const job = new MedicalBatchJob({
      client: transcribe,
      request: request({
        Settings: { ShowSpeakerLabels: true, MaxSpeakerLabels: 2 },
        ContentIdentificationType: "PHI",
      }),
      tuning: { pollInitialMs: 10, pollMaxMs: 20 },
      onProgress: (p) => progress.push(p),
    });
    const done = await job.run();
    const states = [...new Set(progress.map((p) => p.state))];
    assert.deepEqual(states, ["QUEUED", "IN_PROGRESS", "COMPLETED"]);
    assert.ok(progress.at(-1)!.elapsedMs > 0);
    const uri = done.Transcript?.TranscriptFileUri ?? "";
    assert.match(uri, /^https:\/\/s3\.us-east-1\.amazonaws\.com\/out\/medical\/job-.+\.json$/);
    const got = await s3client.send(
      new GetObjectCommand({ Bucket: "out", Key: `medical/${job.jobName}.json` }),
    );
    const json = JSON.parse(await got.Body!.transformToString()) as Record<string, unknown>;
    assert.equal(json.jobName, job.jobName);
    assert.equal(json.status, "COMPLETED");
    const results = json.results as Record<string, unknown>;
    assert.ok(Array.isArray(results.items) && Array.isArray(results.entities));
    assert.ok(results.speaker_labels);
    const mapped = await mapBatchOutput(await parseBatchOutput(JSON.stringify(json)), job.jobName);
    assert.equal(mapped.length, 2);
    mapped.forEach(assertTranscriptResult);
    assert.deepEqual(
      mapped.map((r) => r.speaker),
      ["spk_0", "spk_1"],
    );
    assert.equal(mapped[1]?.entities?.[0]?.text, "Zzmarker");
  });

  it("fails a job whose media object is missing, with the service's FailureReason", async () => {
    const job = new MedicalBatchJob({
      client: transcribe,
      request: request({ Media: { MediaFileUri: "s3://media/absent.wav" } }),
      tuning: { pollInitialMs: 10, pollMaxMs: 20 },
    });
    const err = await rejection(job.run());
    assert.equal(err.name, "BatchJobError");
    assert.match(err.message, /doesn't point to an S3 object/);
    assert.equal(job.state, "FAILED");
  });

  it("fails a job whose media does not match MediaFormat", async () => {
    const job = new MedicalBatchJob({
      client: transcribe,
      request: request({ MediaFormat: "flac" }),
      tuning: { pollInitialMs: 10 },
    });
    const err = await rejection(job.run());
    assert.match(err.message, /media format that you specified doesn't match/);
  });

  it("answers a duplicate job name with ConflictException (HTTP 400, __type)", async () => {
    const r = request();
    await transcribe.send(new StartMedicalTranscriptionJobCommand(r));
    const err = await rejection(transcribe.send(new StartMedicalTranscriptionJobCommand(r)));
    assert.equal(err.name, "ConflictException");
    assert.equal(err.status, 400);
    assert.match(err.message, /job name already exists/);
  });

  it("validates requests with BadRequestException", async () => {
    for (const bad of [
      request({ MedicalTranscriptionJobName: "bad name!" }),
      request({ LanguageCode: "de-DE" as "en-US" }),
      request({ MediaSampleRateHertz: 8000 }),
      request({ Settings: { ShowSpeakerLabels: true, MaxSpeakerLabels: 2, ChannelIdentification: true } }),
      request({ Settings: { ShowSpeakerLabels: true } }),
      request({ Settings: { ShowSpeakerLabels: true, MaxSpeakerLabels: 11 } }),
      request({ OutputBucketName: "Bad_Bucket" }),
      request({ OutputBucketName: "no-such-bucket" }),
      request({ Media: { MediaFileUri: "ftp://x/y" } }),
    ]) {
      const err = await rejection(transcribe.send(new StartMedicalTranscriptionJobCommand(bad)));
      assert.equal(err.name, "BadRequestException", JSON.stringify(bad));
      assert.equal(err.status, 400);
    }
  });

  it("answers unknown jobs with NotFoundException, and deletes jobs", async () => {
    const err = await rejection(
      transcribe.send(new GetMedicalTranscriptionJobCommand({ MedicalTranscriptionJobName: "nope" })),
    );
    assert.equal(err.name, "NotFoundException");
    const r = request();
    await transcribe.send(new StartMedicalTranscriptionJobCommand(r));
    await transcribe.send(
      new DeleteMedicalTranscriptionJobCommand({
        MedicalTranscriptionJobName: r.MedicalTranscriptionJobName,
      }),
    );
    const gone = await rejection(
      transcribe.send(
        new GetMedicalTranscriptionJobCommand({ MedicalTranscriptionJobName: r.MedicalTranscriptionJobName }),
      ),
    );
    assert.equal(gone.name, "NotFoundException");
  });

  it("throttles with LimitExceededException", async () => {
    emu.throttleNext = 5;
    const err = await rejection(transcribe.send(new StartMedicalTranscriptionJobCommand(request())));
    assert.equal(err.name, "LimitExceededException");
  });

  it("rejects unknown keys, bad signatures and denied identities", async () => {
    const client = (accessKeyId: string, secretAccessKey: string): TranscribeClient =>
      new TranscribeClient({
        region: "us-east-1",
        endpoint: emu.endpoint,
        credentials: { accessKeyId, secretAccessKey },
        maxAttempts: 1,
      });
    const cases: Array<[TranscribeClient, string]> = [
      [client("AKIDUNKNOWN0000000", "x"), "UnrecognizedClientException"],
      [client(S3RVER_CREDENTIALS.accessKeyId, "wrong-secret"), "InvalidSignatureException"],
      [client("AKIDDENIED00000000", "secret-denied"), "AccessDeniedException"],
    ];
    for (const [c, name] of cases) {
      const err = await rejection(c.send(new StartMedicalTranscriptionJobCommand(request())));
      assert.equal(err.name, name);
      c.destroy();
    }
  });

  it("cancels a running job by deleting it, and stops polling", async () => {
    const job = new MedicalBatchJob({
      client: transcribe,
      request: request(),
      tuning: { pollInitialMs: 10, pollMaxMs: 10 },
    });
    const running = rejection(job.run());
    await new Promise((r) => setTimeout(r, 15));
    await job.cancel();
    const err = await running;
    assert.equal(err.name, "BatchJobError");
    assert.ok(emu.calls.some((c) => c.target === "DeleteMedicalTranscriptionJob"));
    assert.equal(emu.jobs.size, 0);
  });

  it("maps service errors without echoing the job name or the media URI", async () => {
    const r = request({ MedicalTranscriptionJobName: "Zzpatient-name" });
    await transcribe.send(new StartMedicalTranscriptionJobCommand(r));
    const job = new MedicalBatchJob({ client: transcribe, request: r });
    const err = await rejection(job.run());
    assert.equal(err.name, "BatchJobError");
    assert.ok(!err.message.includes("Zzpatient"));
  });
});
