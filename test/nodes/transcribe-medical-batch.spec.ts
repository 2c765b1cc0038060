import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Node, NodeMessage } from "node-red";
import { checkTranscriptDocument, type TranscriptDocument } from "../../src/transcript/document";
import type { TranscriptResult } from "../../src/transcript/result";
import { AwsBatchTranscribeEmulator } from "../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nodeRedVersion,
  runtimeLabel,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";

const PHI_MARKER = "Zzphimarker";
const FILE_MARKER = "Zzpatientfile";
const ECHO_MARKER = "zzechomarker";
const SCRIPT = [
  { text: "Patient denies chest pain.", speaker: "spk_0", channel: "ch_0" },
  { text: `Mister [PHI]${PHI_MARKER} has no allergies.`, speaker: "spk_1", channel: "ch_1" },
  { text: "Blood pressure is normal.", speaker: "spk_0", channel: "ch_0" },
];
const TEXTS = [
  "Patient denies chest pain.",
  `Mister ${PHI_MARKER} has no allergies.`,
  "Blood pressure is normal.",
];
const WAV = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEfmt "), Buffer.alloc(2048)]);
const DENIED = { accessKeyId: "AKIDBATCHDENIED00000", secretAccessKey: "ZZ-SECRET-MARKER-4711-denied" };
const modules = [builtNode("aws-transcribe-config"), builtNode("transcribe-medical-batch")];

let s3: LocalS3;
let emu: AwsBatchTranscribeEmulator;
let s3client: S3Client;
let tmp: string;

function load(
  config: Record<string, unknown> = {},
  credentials: Record<string, string> = S3RVER_CREDENTIALS,
): Promise<void> {
  const nodes: FlowNode[] = [
    { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
    {
      id: "tmb",
      type: "transcribe-medical-batch",
      aws: "awscfg",
      s3Endpoint: s3.endpoint,
      uploadBucket: "uploads",
      uploadPrefix: "incoming",
      jobName: "",
      languageCode: "en-US",
      specialty: "PRIMARYCARE",
      medicalType: "CONVERSATION",
      mediaFormat: "auto",
      sampleRate: "",
      showSpeakerLabels: true,
      maxSpeakerLabels: 2,
      channelIdentification: false,
      contentIdentification: "PHI",
      outputBucket: "transcripts",
      outputKey: "",
      kmsKeyId: "",
      vocabularyName: "",
      tuning: { pollInitialMs: 10, pollMaxMs: 40, statusIntervalMs: 1 },
      wires: [["out"], ["doc"]],
      ...config,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["out", "doc"]), { awscfg: { ...credentials } });
}

const tmb = (): Node => helper.getNode("tmb");
const payloads = <T>(msgs: NodeMessage[]): T[] => msgs.map((m) => m.payload as T);

// Node-RED 4 and later copy the error's code into the catch message; Node-RED 3 gives only its text.
const catchSeesCodes = Number(nodeRedVersion.split(".")[0]) >= 4;

/** The error's code as a Catch node sees it (checked where Node-RED passes codes on). */
function assertCode(err: { code?: string }, code: string): void {
  if (catchSeesCodes) assert.equal(err.code, code);
  else assert.equal(err.code, undefined);
}

function caughtError(msgs: NodeMessage[]): { message: string; code?: string } {
  const m = msgs[0] as NodeMessage & { error?: { message: string; code?: string } };
  assert.ok(m?.error, "an error reached the catch node");
  return m.error;
}

/** Nothing the node logged or showed carries PHI, file names or credentials. */
function assertClean(): void {
  const texts = [...statusTexts(tmb()), ...loggedTexts(tmb())].join("\n");
  for (const marker of [PHI_MARKER, FILE_MARKER, "ZZ-SECRET-MARKER", "S3RVER"]) {
    assert.ok(!texts.includes(marker), `${marker} leaked into status or log`);
  }
}

describe(`transcribe-medical-batch node (${runtimeLabel})`, function () {
  this.timeout(15000);
  beforeEach(async () => {
    s3 = await new LocalS3(["media", "uploads", "transcripts"]).start();
    emu = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: {
        [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey,
        [DENIED.accessKeyId]: DENIED.secretAccessKey,
      },
      denied: [DENIED.accessKeyId],
      queuedMs: 40,
      inProgressMs: 120,
      script: SCRIPT,
      // A service that echoes what it was given in its FailureReason, in several forms.
      failJob: (r) => {
        const uri = typeof r.Media?.MediaFileUri === "string" ? r.Media.MediaFileUri : "";
        if (!uri.includes(ECHO_MARKER)) return null;
        const key = decodeURIComponent(uri.replace(/^s3:\/\/[^/]+\//, ""));
        return `cannot read ${key} (prefix ${key.split("/")[0] ?? ""}, file '${key.split("/").at(-1) ?? ""}') for job ${String(r.MedicalTranscriptionJobName)}`;
      },
    }).start();
    s3client = new S3Client({
      region: "us-east-1",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    await s3client.send(new PutObjectCommand({ Bucket: "media", Key: `${FILE_MARKER}.wav`, Body: WAV }));
    tmp = mkdtempSync(join(tmpdir(), "tmb-"));
  });
  afterEach(async () => {
    await helper.unload();
    s3client.destroy();
    await emu.stop();
    await s3.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("transcribes an S3 URI: polls to COMPLETED, sends one final per speaker turn and the document", async () => {
    await load();
    const out = collect("out");
    const doc = collect("doc");
    const caught = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => doc.length === 1);
    assert.equal(caught.length, 0);
    const results = payloads<TranscriptResult>(out);
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => r.text),
      TEXTS,
    );
    assert.ok(results.every((r) => r.isFinal && r.provider === "aws-transcribe-medical"));
    assert.deepEqual(
      results.map((r) => r.speaker),
      ["spk_0", "spk_1", "spk_0"],
    );
    const phi = results[1]?.entities ?? [];
    assert.equal(phi[0]?.category, "PHI");
    assert.equal(phi[0]?.text, PHI_MARKER);
    assert.ok(results[0].words.every((w) => typeof w.startTime === "number" && w.speaker === "spk_0"));
    assert.ok(results[0].confidence! > 0.9);
    const jobName = results[0].sessionId;
    assert.match(jobName, /^medstream-\d+-[0-9a-f]{8}$/);
    assert.ok(out.every((m) => m.topic === jobName));
    const document = doc[0].payload as TranscriptDocument;
    assert.ok(checkTranscriptDocument(document).ok);
    assert.equal(document.sessionId, jobName);
    assert.equal(document.segments.length, 3);
    assert.equal(document.endReason, "ended");
    assert.match(document.text, /^spk_0: Patient denies chest pain\.\nspk_1: Mister/);
    // The request carried the configured parameters.
    const start = emu.calls.find((c) => c.target === "StartMedicalTranscriptionJob")!.body;
    assert.deepEqual(start.Settings, { ShowSpeakerLabels: true, MaxSpeakerLabels: 2 });
    assert.equal(start.ContentIdentificationType, "PHI");
    assert.equal(start.MediaFormat, "wav");
    const texts = statusTexts(tmb());
    assert.ok(texts.includes("queued"), texts.join(" | "));
    assert.ok(
      texts.some((s) => /^in progress \(\d+ s\)/.test(s)),
      texts.join(" | "),
    );
    await until(() => statusTexts(tmb()).includes("completed (3 segments)"));
    assertClean();
  });

  it("uploads a file path (streamed, keyed by job name, not file name) and transcribes it by sentence", async () => {
    await load({ showSpeakerLabels: false, contentIdentification: "", jobName: "fixed-job-1" });
    const path = join(tmp, `${FILE_MARKER}.wav`);
    writeFileSync(path, WAV);
    const out = collect("out");
    const doc = collect("doc");
    tmb().receive({ payload: path });
    await until(() => doc.length === 1);
    const results = payloads<TranscriptResult>(out);
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => r.text),
      TEXTS,
    );
    assert.ok(results.every((r) => r.speaker === undefined && r.entities === undefined));
    const start = emu.calls.find((c) => c.target === "StartMedicalTranscriptionJob")!.body;
    assert.deepEqual(start.Media, { MediaFileUri: "s3://uploads/incoming/fixed-job-1.wav" });
    const got = await s3client.send(
      new GetObjectCommand({ Bucket: "uploads", Key: "incoming/fixed-job-1.wav" }),
    );
    assert.equal((await got.Body!.transformToByteArray()).length, WAV.length);
    assert.ok(statusTexts(tmb()).includes("uploading"));
    assertClean();
  });

  it("uploads an audio Buffer (format sniffed) with channel identification", async () => {
    await load({ showSpeakerLabels: false, channelIdentification: true, outputKey: "notes/" });
    const out = collect("out");
    const doc = collect("doc");
    tmb().receive({ payload: WAV, jobName: "buffer-job" });
    await until(() => doc.length === 1);
    const results = payloads<TranscriptResult>(out);
    results.forEach(assertTranscriptResult);
    assert.deepEqual(
      results.map((r) => r.channel),
      ["ch_0", "ch_1", "ch_0"],
    );
    assert.ok(results.every((r) => r.sessionId === "buffer-job"));
    const start = emu.calls.find((c) => c.target === "StartMedicalTranscriptionJob")!.body;
    assert.deepEqual(start.Settings, { ChannelIdentification: true });
    assert.equal(start.OutputKey, "notes/");
  });

  it("reports a FAILED job with its FailureReason to the Catch node", async () => {
    await load();
    const caught = collect("caught");
    const out = collect("out");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}-missing.wav` });
    await until(() => caught.length === 1);
    const err = caughtError(caught);
    assertCode(err, "FAILED");
    assert.match(err.message, /doesn't point to an S3 object/);
    assert.ok(!err.message.includes(FILE_MARKER));
    assert.equal(out.length, 0);
    await until(() => statusTexts(tmb()).includes("failed"));
    assertClean();
  });

  it("refuses a duplicate job name with ConflictException", async () => {
    await load({ jobName: "same-name" });
    const caught = collect("caught");
    const doc = collect("doc");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => doc.length === 1);
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => caught.length === 1);
    const err = caughtError(caught);
    assertCode(err, "ConflictException");
    assert.match(err.message, /already exists/);
    assert.ok(!err.message.includes("same-name"));
  });

  it("runs at most its bound of jobs at once: one more is refused with TOO_MANY_JOBS, and accepted again once one ends", async () => {
    await load({ tuning: { maxRunningJobs: 2 } });
    const caught = collect("caught");
    const doc = collect("doc");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "bound-1" });
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "bound-2" });
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "bound-3" });
    await until(() => caught.length === 1);
    const err = caughtError(caught);
    assertCode(err, "TOO_MANY_JOBS");
    assert.match(err.message, /already runs 2 jobs/);
    assert.ok(!err.message.includes("bound-3"));
    await until(() => doc.length === 2);
    assert.equal(emu.jobs.has("bound-3"), false);
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "bound-4" });
    await until(() => doc.length === 3);
    assert.equal(caught.length, 1);
  });

  it("refuses bad URIs, unsupported formats and unusable payloads clearly", async () => {
    await load({ uploadBucket: "" });
    const caught = collect("caught");
    const cases: Array<[unknown, string, RegExp]> = [
      [`s3://Bad_Bucket/${FILE_MARKER}.wav`, "BAD_S3_URI", /S3 URI/],
      [`s3:/media/${FILE_MARKER}.wav`, "BAD_S3_URI", /s3:\/\/bucket\/key/],
      [`https://example.org/${FILE_MARKER}.wav`, "BAD_S3_URI", /not an S3 URI/],
      [`s3://media/${FILE_MARKER}.txt`, "UNSUPPORTED_FORMAT", /mp3, mp4, wav/],
      [42, "BAD_INPUT", /S3 URI/],
      [WAV, "NO_UPLOAD_BUCKET", /upload bucket/],
    ];
    for (const [payload, code, pattern] of cases) {
      tmb().receive({ payload });
      await until(() => caught.length === 1);
      const err = caughtError(caught);
      assertCode(err, code);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes(FILE_MARKER));
      caught.length = 0;
    }
    assert.equal(emu.calls.length, 0);
  });

  it("refuses a missing output bucket: in the config, and one that does not exist", async () => {
    await load({ outputBucket: "" });
    assert.ok(statusTexts(tmb()).includes("misconfigured"));
    const caught = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => caught.length === 1);
    assert.match(caughtError(caught).message, /OutputBucketName is required/);
    await helper.unload();
    await load({ outputBucket: "no-such-bucket" });
    const caught2 = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => caught2.length === 1);
    const err = caughtError(caught2);
    assertCode(err, "BadRequestException");
    assert.match(err.message, /bucket/);
  });

  it("reports access denied without echoing credentials", async () => {
    await load({}, DENIED);
    const caught = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => caught.length === 1);
    const err = caughtError(caught);
    assertCode(err, "AccessDeniedException");
    assert.match(err.message, /not authorized/);
    assert.ok(!err.message.includes(DENIED.secretAccessKey));
    assert.ok(!err.message.includes(DENIED.accessKeyId));
    assertClean();
  });

  it("cancels a running job on msg.control = cancel (deletes it, sends nothing)", async () => {
    await load();
    const out = collect("out");
    const doc = collect("doc");
    const caught = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "to-cancel" });
    await until(() => emu.jobs.has("to-cancel"));
    tmb().receive({ control: "cancel" });
    await until(() => emu.calls.some((c) => c.target === "DeleteMedicalTranscriptionJob"));
    await until(() => statusTexts(tmb()).includes("cancelled"));
    await delay(250);
    assert.equal(emu.jobs.has("to-cancel"), false);
    assert.equal(out.length + doc.length + caught.length, 0);
  });

  it("stops polling on close and leaves no timer behind", async () => {
    await load({ tuning: { pollInitialMs: 20, pollMaxMs: 20, statusIntervalMs: 1 } });
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav`, jobName: "closing" });
    await until(() => emu.jobs.has("closing"));
    await helper.unload();
    const polls = emu.calls.length;
    await delay(150);
    assert.equal(emu.calls.length, polls);
  });

  it("starts with only id, type, z, wires and its AWS configuration, and refuses each message naming the missing output bucket", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
          { id: "tmb", type: "transcribe-medical-batch", aws: "awscfg", wires: [["out"], ["doc"]] },
        ],
        ["out", "doc"],
      ),
      { awscfg: { ...S3RVER_CREDENTIALS } },
    );
    assert.ok(statusTexts(tmb()).includes("misconfigured"));
    const caught = collect("caught");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => caught.length === 1);
    await delay(100);
    assert.equal(caught.length, 1, "answered once");
    assert.match(
      caughtError(caught).message,
      /OutputBucketName is required: the S3 bucket for the transcript/,
    );
    assert.equal(emu.calls.length, 0);
  });

  it("with only its output bucket set (and the test's S3), takes the editor's defaults and transcribes", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
          {
            id: "tmb",
            type: "transcribe-medical-batch",
            aws: "awscfg",
            outputBucket: "transcripts",
            s3Endpoint: s3.endpoint,
            wires: [["out"], ["doc"]],
          },
        ],
        ["out", "doc"],
      ),
      { awscfg: { ...S3RVER_CREDENTIALS } },
    );
    const doc = collect("doc");
    const out = collect("out");
    tmb().receive({ payload: `s3://media/${FILE_MARKER}.wav` });
    await until(() => doc.length === 1, 10000);
    assert.deepEqual(
      payloads<TranscriptResult>(out).map((r) => r.text),
      TEXTS,
    );
    const start = emu.calls.find((c) => c.target === "StartMedicalTranscriptionJob")!.body;
    assert.equal(start.Type, "CONVERSATION", "the editor's default type");
    assert.equal(start.Specialty, "PRIMARYCARE");
    assert.equal(start.Settings, undefined, "no speaker labels or channels by default");
  });

  it("keeps a flow's paths, prefixes, keys and job names out of errors, logs and status when a peer echoes them", async () => {
    await load({ uploadPrefix: `${ECHO_MARKER}-ward` });
    const caught = collect("caught");
    const path = join(tmp, `${ECHO_MARKER}-${FILE_MARKER}.wav`);
    writeFileSync(path, WAV);
    await s3client.send(
      new PutObjectCommand({ Bucket: "media", Key: `${ECHO_MARKER}-bed/${FILE_MARKER} a.wav`, Body: WAV }),
    );
    tmb().receive({ payload: path, jobName: `job-${ECHO_MARKER}-1` });
    tmb().receive({
      payload: `s3://media/${ECHO_MARKER}-bed/${FILE_MARKER} a.wav`,
      jobName: `job-${ECHO_MARKER}-2`,
    });
    tmb().receive({ payload: `/recordings/${ECHO_MARKER}\0.wav` });
    tmb().receive({ payload: `${tmp}/${ECHO_MARKER}-missing.wav` });
    await until(() => caught.length === 4, 10000);
    const texts = [
      ...caught.map((m) => JSON.stringify((m as NodeMessage & { error: unknown }).error)),
      ...statusTexts(tmb()),
      ...loggedTexts(tmb()),
    ];
    assert.ok(
      texts.some((t) => /the job failed: cannot read/.test(t)),
      texts.join("\n"),
    );
    for (const t of texts) {
      assert.ok(!t.toLowerCase().includes(ECHO_MARKER), t);
      assert.ok(!t.includes(FILE_MARKER), t);
    }
  });
});
