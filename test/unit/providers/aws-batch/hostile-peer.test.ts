import { GetObjectCommand } from "@aws-sdk/client-s3";
import { GetMedicalTranscriptionJobCommand } from "@aws-sdk/client-transcribe";
import { strict as assert } from "node:assert";
import { silentListener, type HostilePeer } from "../../../support/hostile-peers";
import {
  BATCH_REQUEST_TIMEOUT_MS,
  createBatchS3Client,
  createBatchTranscribeClient,
} from "../../../../src/providers/aws-batch/clients";

// A batch or S3 endpoint that takes the connection and then never answers (a stalled emulator, a
// half-open connection): every request must end within its bound, or a job would wait for ever (the
// runner's overall timeout is only checked between polls).

const settings = (endpoint: string) => ({
  region: "us-east-1",
  endpoint,
  credentials: { accessKeyId: "AKIDBATCHPEER0001", secretAccessKey: "batch/peer/secret/000000000000000000" },
  connectTimeoutMs: 1000,
  problems: [],
});

describe("Batch clients against a peer that never answers", function () {
  this.timeout(10000);
  let peer: HostilePeer;
  let endpoint = "";
  before(async () => {
    peer = await silentListener();
    endpoint = `http://127.0.0.1:${peer.port}`;
  });
  after(() => peer.close());

  it("has a request bound of a minute by default", () => {
    assert.equal(BATCH_REQUEST_TIMEOUT_MS, 60_000);
  });

  it("gives up a Transcribe request within its bound, as a TimeoutError", async () => {
    const client = createBatchTranscribeClient(settings(endpoint), 300);
    const started = Date.now();
    const err = (await client
      .send(new GetMedicalTranscriptionJobCommand({ MedicalTranscriptionJobName: "job" }))
      .then(
        () => assert.fail("answered"),
        (e: unknown) => e,
      )) as Error;
    const elapsed = Date.now() - started;
    client.destroy();
    assert.equal(err.name, "TimeoutError");
    // maxAttempts 2: the SDK tries twice, each bounded.
    assert.ok(elapsed >= 250 && elapsed < 3000, `${elapsed} ms`);
  });

  it("gives up an S3 request within its bound, as a TimeoutError", async () => {
    const client = createBatchS3Client(settings(endpoint), endpoint, 300);
    const started = Date.now();
    const err = (await client.send(new GetObjectCommand({ Bucket: "b", Key: "k" })).then(
      () => assert.fail("answered"),
      (e: unknown) => e,
    )) as Error;
    const elapsed = Date.now() - started;
    client.destroy();
    assert.equal(err.name, "TimeoutError");
    assert.ok(elapsed < 5000, `${elapsed} ms`);
  });
});
