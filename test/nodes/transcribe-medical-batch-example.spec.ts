import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { TranscriptDocument } from "../../src/transcript/document";
import type { TranscriptResult } from "../../src/transcript/result";
import { AwsBatchTranscribeEmulator } from "../emulators/aws-batch/emulator";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  coreNode,
  delay,
  helper,
  runtimeLabel,
  type FlowNode,
} from "../support/node-red";

// The example flow as shipped, with its AWS config node and S3 endpoint pointed at local peers.
const core = coreNode;

const modules = [
  builtNode("aws-transcribe-config"),
  builtNode("transcribe-medical-batch"),
  core("common/20-inject.js"),
  core("common/25-catch.js"),
  core("common/90-comment.js"),
];

describe(`example flow transcribe-medical-batch.json (${runtimeLabel})`, function () {
  this.timeout(10000);
  let s3: LocalS3;
  let emu: AwsBatchTranscribeEmulator;
  beforeEach(async () => {
    s3 = await new LocalS3(["example-recordings-bucket", "example-transcripts-bucket"]).start();
    emu = await new AwsBatchTranscribeEmulator({
      s3Endpoint: s3.endpoint,
      s3Credentials: S3RVER_CREDENTIALS,
      credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
      queuedMs: 20,
      inProgressMs: 20,
      script: [
        { text: "Patient denies chest pain.", speaker: "spk_0" },
        { text: "Any allergies?", speaker: "spk_1" },
      ],
    }).start();
    const client = new S3Client({
      region: "us-east-1",
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: S3RVER_CREDENTIALS,
      requestChecksumCalculation: "WHEN_REQUIRED",
    });
    await client.send(
      new PutObjectCommand({
        Bucket: "example-recordings-bucket",
        Key: "synthetic/dictation-0001.wav",
        Body: Buffer.concat([Buffer.from("RIFF\0\0\0\0WAVEfmt "), Buffer.alloc(64)]),
      }),
    );
    client.destroy();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
    await s3.stop();
  });

  it("transcribes the injected S3 URI: finals per speaker turn on output 1, the document on output 2", async () => {
    const shipped = JSON.parse(
      readFileSync(join(__dirname, "../../examples/transcribe-medical-batch.json"), "utf8"),
    ) as FlowNode[];
    const aws = shipped.find((n) => n.type === "aws-transcribe-config");
    assert.equal(aws?.endpoint, "", "the example points at AWS itself");
    const flow: FlowNode[] = [
      { id: "tab", type: "tab" },
      ...shipped.map((n) => ({
        ...n,
        ...(n.type === "aws-transcribe-config" ? { endpoint: emu.endpoint } : { z: "tab" }),
        ...(n.type === "transcribe-medical-batch"
          ? { s3Endpoint: s3.endpoint, tuning: { pollInitialMs: 10, pollMaxMs: 20 } }
          : {}),
        ...(n.type === "debug" ? { type: "helper" } : {}),
      })),
    ];
    await helper.load(modules, flow, { [aws?.id ?? ""]: { ...S3RVER_CREDENTIALS } });
    const results = collect("tmb-debug-results");
    const documents = collect("tmb-debug-document");
    const errors = collect("tmb-debug-errors");
    helper.getNode("tmb-inject").receive({
      payload: "s3://example-recordings-bucket/synthetic/dictation-0001.wav",
    });
    const end = Date.now() + 5000;
    while (documents.length === 0 && Date.now() < end) await delay(20);
    assert.equal(errors.length, 0);
    assert.deepEqual(
      results.map((m) => (m.payload as TranscriptResult).text),
      ["Patient denies chest pain.", "Any allergies?"],
    );
    for (const m of results) assertTranscriptResult(m.payload);
    assert.equal((documents[0]?.payload as TranscriptDocument).segments.length, 2);
    const start = emu.calls.find((c) => c.target === "StartMedicalTranscriptionJob")?.body;
    assert.equal(start?.ContentIdentificationType, "PHI");
  });
});
