import { strict as assert } from "node:assert";
import { mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import type { TranscribeClient } from "@aws-sdk/client-transcribe";
import { awsClientSettings } from "../../../../src/providers/aws/client";
import {
  createBatchS3Client,
  createBatchTranscribeClient,
} from "../../../../src/providers/aws-batch/clients";
import { BatchInputError, identifierForms } from "../../../../src/providers/aws-batch/media";
import { checkBatchParams, type BatchParams } from "../../../../src/providers/aws-batch/params";
import {
  BatchRun,
  classifyPayload,
  MAX_MEDIA_BYTES,
  MAX_TRANSCRIPT_BYTES,
} from "../../../../src/providers/aws-batch/pipeline";
import {
  batchDocument,
  mapBatchOutput,
  parseBatchOutput,
} from "../../../../src/providers/aws-batch/transcript";
import { withTicks } from "../../../support/loop-ticks";
import { batchJson } from "../../../../bench/batch-transcript";
import {
  BatchJobError,
  readLimited,
  redact,
  safeErrorName,
} from "../../../../src/providers/aws-batch/runner";
import { AwsBatchTranscribeEmulator } from "../../../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../../../emulators/aws-batch/s3";
import { backToBaseline, baselineResources, hostilePaths, PATH_MARKER } from "../../../support/hostile-files";

const MARKER = "zzphimarker";
// 2,000 segments of 100 words: about 200,000 words, a transcript file well over the bound (30 to 50 MiB in
// the emulator's format), where 4 hours of speech, the service's longest job, is under 50,000 words.
const OVERSIZE_SCRIPT = Array.from({ length: 2000 }, (_, i) => ({
  text: `${"patient denies chest pain and shortness of breath today ".repeat(12)}word${i} done.`,
  speaker: `spk_${i % 2}`,
}));
/** About 40,000 words: a transcript that takes many slices to parse and map. */
const LARGE_SCRIPT = OVERSIZE_SCRIPT.slice(0, 400);
const WAV = Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEfmt "), Buffer.alloc(2048)]);

/** Descriptors this process holds open on files under `dir`. */
function openUnder(dir: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)) n++;
    } catch {
      // Closed while listed.
    }
  }
  return n;
}

function params(): BatchParams {
  const p = checkBatchParams({ outputBucketName: "transcripts" });
  assert.ok(p.ok);
  return p.value;
}

describe("aws-batch media: file paths, uploads and what peers echo", function () {
  this.timeout(20000);
  let s3: LocalS3;
  let emu: AwsBatchTranscribeEmulator;
  let transcribe: TranscribeClient;
  let s3client: S3Client;
  let dir: string;
  let reasons: string[] = [];

  before(async () => {
    s3 = await new LocalS3(["media", "uploads", "transcripts"]).start();
    emu = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
      queuedMs: 10,
      inProgressMs: 10,
      script: (media) =>
        media.includes("OVERSIZE")
          ? OVERSIZE_SCRIPT
          : media.includes("LARGE")
            ? LARGE_SCRIPT
            : [{ text: "Patient denies chest pain.", speaker: "spk_0", channel: "ch_0" }],
      // A service that echoes what it was given, in every form: the job name, the URI decoded and
      // encoded, the key's prefix alone, the bucket, quoted and not.
      failJob: (r) => {
        const uri = typeof r.Media?.MediaFileUri === "string" ? r.Media.MediaFileUri : "";
        if (!uri.includes(MARKER) && !String(r.MedicalTranscriptionJobName).includes(MARKER)) return null;
        const key = uri.replace(/^s3:\/\/[^/]+\//, "");
        const reasons_ = [
          `job ${String(r.MedicalTranscriptionJobName)} failed`,
          `media ${decodeURIComponent(uri)} unreadable`,
          `key '${encodeURIComponent(key)}' and prefix ${key.split("/")[0] ?? ""}/ and file ${key.split("/").at(-1) ?? ""}`,
          `bucket "${uri.split("/")[2] ?? ""}" holds ${decodeURIComponent(key)}`,
        ];
        return reasons_.join("; ");
      },
    }).start();
    const settings = awsClientSettings({
      region: "us-east-1",
      endpoint: emu.endpoint,
      ...S3RVER_CREDENTIALS,
    });
    transcribe = createBatchTranscribeClient(settings);
    s3client = createBatchS3Client(settings, s3.endpoint);
    dir = mkdtempSync(join(tmpdir(), "batch-media-"));
  });
  after(async () => {
    transcribe.destroy();
    s3client.destroy();
    await emu.stop();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => (reasons = []));

  const run = (payload: unknown, jobName: string, prefix = "incoming/"): BatchRun => {
    const input = classifyPayload(payload);
    assert.ok(input.ok, !input.ok ? input.error.message : "");
    return new BatchRun({
      transcribe,
      s3: s3client,
      params: params(),
      input: input.value,
      jobName,
      upload: { bucket: "uploads", prefix },
      tuning: { pollInitialMs: 10, pollMaxMs: 20 },
    });
  };
  it("opens only regular files, refusing the others with a clear code before any request, and leaves nothing behind", async () => {
    const { paths, cleanup } = await hostilePaths();
    try {
      for (const [i, hostile] of paths.entries()) {
        const input = classifyPayload(hostile.path);
        if (!input.ok) {
          // A path that is no path at all (a NUL in it) may be refused as the payload already.
          assert.ok(!input.error.message.includes(PATH_MARKER));
          continue;
        }
        const baseline = await baselineResources();
        const calls = emu.calls.length;
        const batch = new BatchRun({
          transcribe,
          s3: s3client,
          params: params(),
          input: input.value,
          jobName: `hostile-${i}`,
          upload: { bucket: "uploads", prefix: "incoming/" },
          tuning: { pollInitialMs: 10, pollMaxMs: 20 },
        });
        const outcome = await batch.run().then(
          () => "completed",
          (e: unknown) => e,
        );
        if (outcome === "completed") {
          // A regular, non-empty file is uploaded as it is (a truncated WAV, a text file named .wav):
          // the service judges its content. Its descriptor is closed all the same.
          assert.ok(["a truncated WAV", "a text file named .wav"].includes(hostile.what), hostile.what);
          assert.equal(openUnder(hostile.path), 0, `${hostile.what}: no descriptor left on the file`);
          continue;
        }
        assert.ok(
          outcome instanceof BatchInputError || outcome instanceof BatchJobError,
          `${hostile.what}: ${String(outcome)}`,
        );
        const expected = hostile.what === "a PNG" ? ["UNSUPPORTED_FORMAT"] : hostile.codes;
        assert.ok(expected.includes(outcome.code), `${hostile.what}: ${outcome.code} ${outcome.message}`);
        assert.ok(!outcome.message.includes(PATH_MARKER), outcome.message);
        assert.equal(emu.calls.length, calls, `${hostile.what}: no request went out`);
        await backToBaseline(baseline);
      }
    } finally {
      await cleanup();
    }
  });

  it("refuses a Buffer over the service's 2 GB file limit without reading it", () => {
    // Zero-filled, never touched: only its length is read.
    const c = classifyPayload(Buffer.alloc(MAX_MEDIA_BYTES + 1));
    assert.ok(!c.ok);
    assert.equal(c.error.code, "MEDIA_TOO_LARGE");
    assert.match(c.error.message, /larger than 2 GiB/);
  });

  it("stops an upload under way when the node closes, and closes the file", async () => {
    const path = join(dir, "long.wav");
    writeFileSync(path, WAV);
    truncateSync(path, 300 * 2 ** 20);
    const batch = run(path, "stopped-upload");
    const outcome = batch.run().then(
      () => "completed",
      (e: unknown) => (e instanceof BatchJobError ? e.code : String(e)),
    );
    await new Promise((resolve) => setTimeout(resolve, 150));
    batch.stop();
    assert.equal(await outcome, "STOPPED");
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(openUnder(dir), 0, "the file's descriptor is closed");
  });

  it("keeps what a flow named out of errors, whatever form a peer echoes it in", async () => {
    // A file path, an S3 URI and a job name, each carrying the marker.
    const path = join(dir, `${MARKER}-dictation.wav`);
    writeFileSync(path, WAV);
    await s3client.send(
      new PutObjectCommand({ Bucket: "media", Key: `${MARKER}-ward/${MARKER} note.wav`, Body: WAV }),
    );
    const cases: Array<[unknown, string, string]> = [
      [path, `job-${MARKER}-1`, `${MARKER}-prefix/`],
      [`s3://media/${MARKER}-ward/${MARKER} note.wav`, "job-plain-2", "incoming/"],
      [
        `s3://media/${MARKER}-ward/${encodeURIComponent(`${MARKER} note.wav`)}`,
        `job-${MARKER}-3`,
        "incoming/",
      ],
    ];
    for (const [payload, jobName, prefix] of cases) {
      const outcome = await run(payload, jobName, prefix)
        .run()
        .then(
          () => undefined,
          (e: unknown) => e as Error,
        );
      assert.ok(outcome instanceof BatchJobError, String(outcome));
      reasons.push(outcome.message);
    }
    assert.equal(reasons.length, 3);
    for (const r of reasons) {
      assert.match(r, /the job failed: /);
      assert.ok(!r.toLowerCase().includes(MARKER), r);
    }
  });

  it("scrubs every form of a location: URI, bucket, key, its parts, encoded", () => {
    const forms = identifierForms({ bucket: "media", key: `${MARKER}-ward/${MARKER} note.wav` });
    const text = redact(
      `s3 said: ${MARKER}-ward; ${encodeURIComponent(`${MARKER} note.wav`)}; ${MARKER} note; bucket media.`,
      forms,
    );
    assert.ok(!text.includes(MARKER), text);
    assert.equal(redact("x".repeat(10_000), []).length, 501, "a peer's text is cut to 500 characters");
  });

  it("passes on a service's error name only when it is one", () => {
    assert.equal(safeErrorName("BadRequestException", []), "BadRequestException");
    assert.equal(safeErrorName(`Bad ${MARKER}`, []), "RequestError");
    assert.equal(safeErrorName("x".repeat(100), []), "RequestError");
    assert.equal(safeErrorName(`${MARKER}Job`, [MARKER]), "RequestError");
    assert.equal(safeErrorName(undefined, []), "RequestError");
  });

  it("reads a transcript body up to its limit, refusing a larger one by its length and as it arrives", async () => {
    assert.equal(await readLimited(Readable.from([Buffer.from("{}")]), 10), "{}");
    await assert.rejects(readLimited(Readable.from([Buffer.from("{}")]), 10, 11), /larger than 10 bytes/);
    const endless = new Readable({
      read() {
        this.push(Buffer.alloc(1024));
      },
    });
    await assert.rejects(readLimited(endless, 64 * 1024), (e: unknown) => {
      return e instanceof BatchJobError && e.code === "TRANSCRIPT_TOO_LARGE";
    });
    assert.ok(endless.destroyed, "the body is dropped");
  });

  it("is 24 MiB: a transcript over it is refused with TRANSCRIPT_TOO_LARGE before it is parsed", async () => {
    assert.equal(MAX_TRANSCRIPT_BYTES, 24 * 2 ** 20);
    await assert.rejects(run(Buffer.concat([WAV, Buffer.from("OVERSIZE")]), "job-oversize").run(), (e) => {
      assert.ok(e instanceof BatchJobError && e.code === "TRANSCRIPT_TOO_LARGE", String(e));
      assert.match(e.message, /larger than 25165824 bytes, the limit/);
      return true;
    });
    const fine = await run(WAV, "job-small").run();
    assert.equal(fine.results.length, 1);
  });

  it("ends with STOPPED, not with the transcript, when the node closes while the transcript is being parsed", async () => {
    const started: { run?: BatchRun } = {};
    // The S3 client of the run, stopping the run as soon as the transcript's body has been read: the
    // stop lands while the transcript is parsed and mapped in slices.
    const spy = {
      send: async (command: unknown, options?: unknown): Promise<unknown> => {
        const got = (await (s3client.send as (c: unknown, o?: unknown) => Promise<unknown>)(
          command,
          options,
        )) as {
          Body?: Readable;
        };
        if (command instanceof GetObjectCommand && command.input.Bucket === "transcripts") {
          got.Body?.once("end", () => setImmediate(() => started.run?.stop()));
        }
        return got;
      },
    } as unknown as S3Client;
    const input = classifyPayload(Buffer.concat([WAV, Buffer.from("LARGE")]));
    assert.ok(input.ok);
    const batch = new BatchRun({
      transcribe,
      s3: spy,
      params: params(),
      input: input.value,
      jobName: "job-stopped-while-parsing",
      upload: { bucket: "uploads", prefix: "incoming/" },
      tuning: { pollInitialMs: 10, pollMaxMs: 20 },
    });
    started.run = batch;
    await assert.rejects(batch.run(), (e) => {
      assert.ok(e instanceof BatchJobError && e.code === "STOPPED", String(e));
      return true;
    });
  });

  it("holds the largest real result: 4 hours at 200 words a minute, with speaker labels and PHI entities", async () => {
    const json = batchJson(4 * 60 * 200);
    assert.ok(json.length < MAX_TRANSCRIPT_BYTES / 2, `${json.length} bytes`);
    const results = await mapBatchOutput(await parseBatchOutput(json), "job-4h");
    assert.equal(
      results.reduce((n, r) => n + r.words.filter((w) => w.kind === "word").length, 0),
      48_000,
    );
    assert.ok(results.some((r) => (r.entities?.length ?? 0) > 0));
  });

  it("keeps a 10 ms timer firing while it reads a transcript of the largest size accepted", async function () {
    this.timeout(300_000);
    const perWord = batchJson(10_000).length / 10_000;
    const json = batchJson(Math.floor((MAX_TRANSCRIPT_BYTES * 0.95) / perWord));
    assert.ok(json.length <= MAX_TRANSCRIPT_BYTES && json.length > MAX_TRANSCRIPT_BYTES * 0.9);
    const { value: words, ticks } = await withTicks(async () => {
      const results = await mapBatchOutput(await parseBatchOutput(json), "job-max");
      // Past the document limit (50,000 words) the document is refused; the mapping is what is timed.
      await batchDocument("job-max", results.slice(0, 1000));
      return results.reduce((n, r) => n + r.words.filter((w) => w.kind === "word").length, 0);
    });
    assert.ok(words > 50_000, `${words} words`);
    // In one block (JSON.parse, as before) the timer could not run at all until the end.
    assert.ok(ticks >= 10, `the timer ran ${ticks} times`);
  });
});
