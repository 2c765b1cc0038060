import { strict as assert } from "node:assert";
import {
  formatFromName,
  parseS3Uri,
  sniffFormat,
  transcriptLocation,
} from "../../../../src/providers/aws-batch/media";
import { checkBatchParams, checkJobName, generateJobName } from "../../../../src/providers/aws-batch/params";
import { checkUploadTarget, classifyPayload } from "../../../../src/providers/aws-batch/pipeline";
import type { StartMedicalTranscriptionJobRequest, TranscribeClient } from "@aws-sdk/client-transcribe";
import {
  MedicalBatchJob,
  redact,
  startRequest,
  type JobProgress,
} from "../../../../src/providers/aws-batch/runner";
import {
  batchDocument,
  mapBatchOutput,
  parseBatchOutput,
  type BatchOutput,
} from "../../../../src/providers/aws-batch/transcript";
import { checkTranscriptDocument } from "../../../../src/transcript/document";
import { buildOutput } from "../../../emulators/aws-batch/fixture";
import { assertTranscriptResult } from "../../../support/contract";
import { ManualScheduler } from "../../../support/manual-scheduler";

const base = { outputBucketName: "out-bucket" };

describe("aws-batch parameters", () => {
  it("accepts the defaults and fills them in", () => {
    const c = checkBatchParams(base);
    assert.ok(c.ok);
    assert.deepEqual(c.value, {
      jobName: null,
      languageCode: "en-US",
      specialty: "PRIMARYCARE",
      type: "CONVERSATION",
      mediaFormat: null,
      sampleRate: null,
      showSpeakerLabels: false,
      maxSpeakerLabels: null,
      channelIdentification: false,
      contentIdentification: null,
      outputBucketName: "out-bucket",
      outputKey: null,
      outputEncryptionKMSKeyId: null,
      vocabularyName: null,
    });
  });

  it("refuses each bad parameter with a message naming it", () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ outputBucketName: "" }, /OutputBucketName is required/],
      [{ outputBucketName: "Bad_Bucket" }, /OutputBucketName must be an S3 bucket name/],
      [{ languageCode: "en-GB" }, /LanguageCode must be en-US/],
      [{ specialty: "CARDIOLOGY" }, /Specialty must be PRIMARYCARE/],
      [{ type: "MEETING" }, /Type must be CONVERSATION or DICTATION/],
      [
        { mediaFormat: "aac" },
        /MediaFormat is not supported; accepted: mp3, mp4, wav, flac, ogg, amr, webm, m4a/,
      ],
      [{ sampleRate: 8000 }, /MediaSampleRateHertz must be .*16000 to 48000/],
      [{ sampleRate: "16000.5" }, /MediaSampleRateHertz/],
      [{ showSpeakerLabels: true, maxSpeakerLabels: 1 }, /MaxSpeakerLabels must be .*2 to 10/],
      [{ showSpeakerLabels: true, maxSpeakerLabels: 11 }, /MaxSpeakerLabels/],
      [
        { showSpeakerLabels: true, channelIdentification: true },
        /cannot be combined with ChannelIdentification/,
      ],
      [{ contentIdentification: "PII" }, /ContentIdentificationType must be PHI/],
      [{ outputKey: "a key with spaces" }, /OutputKey may hold only/],
      [{ outputEncryptionKMSKeyId: "bad key!" }, /OutputEncryptionKMSKeyId/],
      [{ vocabularyName: "bad vocab" }, /VocabularyName/],
      [{ jobName: "Zzpatient name" }, /job name must be 1 to 200/],
      [{ jobName: "x".repeat(201) }, /job name/],
    ];
    for (const [input, pattern] of cases) {
      const c = checkBatchParams({ ...base, ...input });
      assert.ok(!c.ok, JSON.stringify(input));
      assert.match(c.error.message, pattern);
      assert.ok(!c.error.message.includes("Zzpatient"));
    }
  });

  it("accepts every documented value", () => {
    const c = checkBatchParams({
      ...base,
      jobName: "visit_2024.01-a",
      type: "DICTATION",
      mediaFormat: "M4A",
      sampleRate: "48000",
      showSpeakerLabels: true,
      maxSpeakerLabels: "10",
      contentIdentification: "PHI",
      outputKey: "notes/today/",
      outputEncryptionKMSKeyId: "arn:aws:kms:us-east-1:111122223333:key/abc-123",
      vocabularyName: "cardio.v1",
    });
    assert.ok(c.ok);
    assert.equal(c.value.mediaFormat, "m4a");
    assert.equal(c.value.maxSpeakerLabels, 10);
    const r = startRequest(c.value, "job-1", "s3://b/k.m4a", "m4a");
    assert.deepEqual(r, {
      MedicalTranscriptionJobName: "job-1",
      LanguageCode: "en-US",
      Specialty: "PRIMARYCARE",
      Type: "DICTATION",
      Media: { MediaFileUri: "s3://b/k.m4a" },
      OutputBucketName: "out-bucket",
      MediaFormat: "m4a",
      MediaSampleRateHertz: 48000,
      OutputKey: "notes/today/",
      OutputEncryptionKMSKeyId: "arn:aws:kms:us-east-1:111122223333:key/abc-123",
      ContentIdentificationType: "PHI",
      Settings: { ShowSpeakerLabels: true, MaxSpeakerLabels: 10, VocabularyName: "cardio.v1" },
    });
  });

  it("generates unique, valid job names", () => {
    const a = generateJobName();
    const b = generateJobName();
    assert.notEqual(a, b);
    assert.ok(checkJobName(a).ok);
  });
});

describe("aws-batch S3 URIs and media", () => {
  it("parses s3://bucket/key and refuses bad URIs without echoing them", () => {
    assert.deepEqual(parseS3Uri("s3://my.bucket-1/a/b c.wav"), {
      ok: true,
      value: { bucket: "my.bucket-1", key: "a/b c.wav" },
    });
    for (const bad of [
      "s3://Zzpatient/x.wav",
      "s3://bucket",
      "s3://bucket/",
      "s3:/bucket/Zzpatient.wav",
      "s3://ab/x",
      "s3://a..b/x",
    ]) {
      const p = parseS3Uri(bad);
      assert.ok(!p.ok, bad);
      assert.equal(p.error.code, "BAD_S3_URI");
      assert.ok(!p.error.message.includes("Zzpatient"));
    }
  });

  it("classifies payloads: S3 URI, other URI, file path, Buffer, nonsense", () => {
    const kinds = ["s3://b-1/k.wav", "/data/rec.wav", Buffer.from("x")].map((p) => {
      const c = classifyPayload(p);
      return c.ok ? c.value.kind : c.error.code;
    });
    assert.deepEqual(kinds, ["s3", "file", "buffer"]);
    const codes = ["https://x/y.wav", "S3://Bad", 12, "", Buffer.alloc(0), null].map((p) => {
      const c = classifyPayload(p);
      return c.ok ? c.value.kind : c.error.code;
    });
    assert.deepEqual(codes, [
      "BAD_S3_URI",
      "BAD_S3_URI",
      "BAD_INPUT",
      "BAD_INPUT",
      "EMPTY_AUDIO",
      "BAD_INPUT",
    ]);
  });

  it("checks the upload target", () => {
    assert.deepEqual(checkUploadTarget("", "x"), { ok: true, value: null });
    assert.deepEqual(checkUploadTarget("up-1", "/in"), {
      ok: true,
      value: { bucket: "up-1", prefix: "in/" },
    });
    assert.ok(!checkUploadTarget("Up", "").ok);
    assert.ok(!checkUploadTarget("up-1", "a b").ok);
  });

  it("tells media formats from names and first bytes", () => {
    assert.equal(formatFromName("a/b.WAV"), "wav");
    assert.equal(formatFromName("x.opus"), "ogg");
    assert.equal(formatFromName("x.txt"), null);
    assert.equal(formatFromName("noext"), null);
    const b = (s: string): Buffer => Buffer.from(s, "latin1");
    assert.equal(sniffFormat(b("RIFF\0\0\0\0WAVE")), "wav");
    assert.equal(sniffFormat(b("fLaC\0")), "flac");
    assert.equal(sniffFormat(b("OggS\0")), "ogg");
    assert.equal(sniffFormat(b("ID3\x04")), "mp3");
    assert.equal(sniffFormat(Buffer.from([0xff, 0xfb, 0x90])), "mp3");
    assert.equal(sniffFormat(b("#!AMR\n")), "amr");
    assert.equal(sniffFormat(Buffer.from([0x1a, 0x45, 0xdf, 0xa3])), "webm");
    assert.equal(sniffFormat(b("\0\0\0\x20ftypM4A ")), "m4a");
    assert.equal(sniffFormat(b("\0\0\0\x20ftypisom")), "mp4");
    assert.equal(sniffFormat(b("hello")), null);
  });

  it("finds the transcript in path-style, virtual-hosted and s3:// URIs", () => {
    assert.deepEqual(transcriptLocation("https://s3.us-east-1.amazonaws.com/out/medical/j%201.json"), {
      bucket: "out",
      key: "medical/j 1.json",
    });
    assert.deepEqual(transcriptLocation("https://out.s3.eu-west-1.amazonaws.com/medical/j.json"), {
      bucket: "out",
      key: "medical/j.json",
    });
    assert.deepEqual(transcriptLocation("s3://out/k.json"), { bucket: "out", key: "k.json" });
    assert.equal(transcriptLocation("not a uri"), null);
    assert.equal(transcriptLocation("https://s3.amazonaws.com/onlybucket"), null);
  });

  it("redacts secrets, URIs and echoed values from service messages", () => {
    const m = redact("Value 'Zzname' at 'x' failed; s3://b/Zzfile.wav; https://h/Zzfile; key AKIDSECRET", [
      "AKIDSECRET",
    ]);
    assert.ok(!/Zz|AKIDSECRET/.test(m), m);
  });
});

describe("aws-batch transcript mapping", () => {
  const script = [
    { text: "Patient denies chest pain.", speaker: "spk_0", channel: "ch_0" },
    { text: "Mister [PHI]Zzname, any allergies?", speaker: "spk_1", channel: "ch_1" },
    { text: "None. Thank you.", speaker: "spk_1", channel: "ch_1" },
  ];
  const settings = {
    jobName: "j",
    accountId: "1",
    showSpeakerLabels: false,
    channelIdentification: false,
    phi: false,
  };

  it("maps one result per sentence without speaker labels", async () => {
    const results = await mapBatchOutput(buildOutput(script, settings), "j");
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => r.text),
      ["Patient denies chest pain.", "Mister Zzname, any allergies?", "None.", "Thank you."],
    );
    assert.deepEqual(
      results.map((r) => r.segmentId),
      ["j-0001", "j-0002", "j-0003", "j-0004"],
    );
    const first = results[0];
    assert.equal(first.startTime, 0);
    assert.equal(first.endTime, 1.55);
    assert.equal(first.words.at(-1)?.kind, "punctuation");
    assert.equal(first.words.at(-1)?.startTime, 1.55);
    assert.equal(first.words.at(-1)?.confidence, null);
    assert.equal(first.confidence, 0.97);
  });

  it("maps one result per speaker turn, with PHI entities on the turn that holds them", async () => {
    const out = buildOutput(script, { ...settings, showSpeakerLabels: true, phi: true }) as BatchOutput;
    const results = await mapBatchOutput(out, "j");
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => [r.speaker, r.text]),
      [
        ["spk_0", "Patient denies chest pain."],
        ["spk_1", "Mister Zzname, any allergies? None. Thank you."],
      ],
    );
    assert.deepEqual(results[1]?.entities, [
      { category: "PHI", type: "NAME", text: "Zzname", startTime: 2.3, endTime: 2.65, confidence: 0.95 },
    ]);
    assert.equal(results[0]?.entities, undefined);
  });

  it("reads speakers from speaker_labels segments when items lack speaker_label", async () => {
    const out = buildOutput(script, { ...settings, showSpeakerLabels: true }) as BatchOutput;
    for (const item of out.results?.items ?? []) delete item.speaker_label;
    const results = await mapBatchOutput(out, "j");
    assert.deepEqual(
      results.map((r) => r.speaker),
      ["spk_0", "spk_1"],
    );
  });

  it("maps channels per sentence, in spoken order", async () => {
    const results = await mapBatchOutput(
      buildOutput(script, { ...settings, channelIdentification: true }),
      "j",
    );
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => r.channel),
      ["ch_0", "ch_1", "ch_1", "ch_1"],
    );
    assert.ok(results.every((r) => r.words.every((w) => w.channel === r.channel)));
  });

  it("reads camelCase numeric entities too, and tolerates empty transcripts", async () => {
    const out: BatchOutput = {
      results: {
        items: [
          {
            start_time: "0.5",
            end_time: "0.9",
            alternatives: [{ confidence: "0.8", content: "Zz" }],
            type: "pronunciation",
          },
        ],
        entities: [{ startTime: 0.5, endTime: 0.9, category: "PHI", content: "Zz", confidence: 0.7 }],
      },
    };
    const [r] = await mapBatchOutput(out, "j");
    assert.deepEqual(r?.entities, [
      { category: "PHI", text: "Zz", startTime: 0.5, endTime: 0.9, confidence: 0.7 },
    ]);
    assert.deepEqual(
      await mapBatchOutput({ results: { transcripts: [{ transcript: "" }], items: [] } }, "j"),
      [],
    );
  });

  it("refuses transcript files that are not JSON objects with results, without echoing them", async () => {
    for (const bad of ["Zz not json", "[]", "{}"]) {
      await assert.rejects(
        parseBatchOutput(bad),
        (e: Error) => /transcript file/.test(e.message) && !e.message.includes("Zz"),
      );
    }
  });

  it("builds the document transcript-document would build", async () => {
    const results = await mapBatchOutput(buildOutput(script, { ...settings, showSpeakerLabels: true }), "j");
    const doc = await batchDocument("j", results, Date.parse("2026-01-01T00:00:00Z"));
    assert.ok(checkTranscriptDocument(doc).ok);
    assert.equal(doc.sessionId, "j");
    assert.equal(doc.provider, "aws-transcribe-medical");
    assert.equal(doc.turns.length, 2);
    assert.equal(
      doc.text,
      "spk_0: Patient denies chest pain.\nspk_1: Mister Zzname, any allergies? None. Thank you.",
    );
    assert.equal(doc.quality.segmentCount, 2);
  });
});

describe("aws-batch job runner (scripted client, manual clock)", () => {
  type Sent = { name: string; input: Record<string, unknown> };
  function fakeClient(
    statuses: string[],
    failureReason?: string,
  ): { client: TranscribeClient; sent: Sent[] } {
    const sent: Sent[] = [];
    let i = 0;
    const client = {
      send: (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: cmd.constructor.name, input: cmd.input });
        if (cmd.constructor.name === "DeleteMedicalTranscriptionJobCommand") return Promise.resolve({});
        const status = statuses[Math.min(i++, statuses.length - 1)];
        return Promise.resolve({
          MedicalTranscriptionJob: {
            TranscriptionJobStatus: status,
            ...(status === "FAILED" ? { FailureReason: failureReason } : {}),
            Transcript: { TranscriptFileUri: "https://s3.us-east-1.amazonaws.com/b/k.json" },
          },
        });
      },
    } as unknown as TranscribeClient;
    return { client, sent };
  }
  const request: StartMedicalTranscriptionJobRequest = {
    MedicalTranscriptionJobName: "Zzjob",
    LanguageCode: "en-US",
    Specialty: "PRIMARYCARE",
    Type: "CONVERSATION",
    OutputBucketName: "out",
    Media: { MediaFileUri: "s3://b/Zzfile.wav" },
  };
  const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

  it("polls with growing waits up to the maximum, reporting elapsed time", async () => {
    const clock = new ManualScheduler();
    const { client, sent } = fakeClient([
      "QUEUED",
      "QUEUED",
      "IN_PROGRESS",
      "IN_PROGRESS",
      "IN_PROGRESS",
      "COMPLETED",
    ]);
    const progress: JobProgress[] = [];
    const job = new MedicalBatchJob({
      client,
      request,
      scheduler: clock,
      tuning: { pollInitialMs: 1000, pollFactor: 2, pollMaxMs: 3000 },
      onProgress: (p) => progress.push(p),
    });
    const done = job.run();
    const polledAt: number[] = [];
    for (let t = 0; t < 40 && sent.length < 6; t++) {
      await flush();
      const before = sent.length;
      clock.advance(500);
      await flush();
      if (sent.length > before) polledAt.push(clock.now());
    }
    await done;
    const waits = polledAt.map((t, k) => t - (k === 0 ? 0 : (polledAt[k - 1] ?? 0)));
    assert.deepEqual(waits, [1000, 2000, 3000, 3000, 3000]);
    assert.deepEqual(
      progress.map((p) => p.state),
      ["QUEUED", "QUEUED", "IN_PROGRESS", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"],
    );
    assert.equal(progress.at(-1)?.elapsedMs, 12000);
    assert.equal(clock.pendingTimers, 0);
  });

  it("rejects a FAILED job with its redacted FailureReason", async () => {
    const { client } = fakeClient(["FAILED"], "The URI s3://b/Zzfile.wav of Zzjob can't be read.");
    const job = new MedicalBatchJob({ client, request, scheduler: new ManualScheduler() });
    await assert.rejects(job.run(), (e: Error & { code?: string }) => {
      assert.equal(e.code, "FAILED");
      assert.match(e.message, /the job failed: The URI .* can't be read\./);
      assert.ok(!e.message.includes("Zz"), e.message);
      return true;
    });
  });

  it("times out, and stops without a timer left", async () => {
    const clock = new ManualScheduler();
    const { client } = fakeClient(["IN_PROGRESS"]);
    const job = new MedicalBatchJob({
      client,
      request,
      scheduler: clock,
      tuning: { pollInitialMs: 100, pollMaxMs: 100, timeoutMs: 250 },
    });
    const done = assert.rejects(job.run(), (e: Error & { code?: string }) => e.code === "TIMEOUT");
    for (let k = 0; k < 5; k++) {
      await flush();
      clock.advance(100);
    }
    await done;
    const stopped = new MedicalBatchJob({
      client,
      request,
      scheduler: clock,
      tuning: { pollInitialMs: 100 },
    });
    const running = assert.rejects(stopped.run(), (e: Error & { code?: string }) => e.code === "STOPPED");
    await flush();
    stopped.stop();
    await running;
    assert.equal(clock.pendingTimers, 0);
  });

  it("cancels: deletes the job once its start has answered", async () => {
    const { client, sent } = fakeClient(["QUEUED"]);
    const job = new MedicalBatchJob({ client, request, scheduler: new ManualScheduler() });
    const running = assert.rejects(job.run(), (e: Error & { code?: string }) => e.code === "CANCELLED");
    await job.cancel();
    await running;
    assert.deepEqual(
      sent.map((s) => s.name),
      ["StartMedicalTranscriptionJobCommand", "DeleteMedicalTranscriptionJobCommand"],
    );
  });
});
