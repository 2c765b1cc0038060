import { strict as assert } from "node:assert";
import { silentListener, type HostilePeer } from "../../../support/hostile-peers";
import { callerOf, createComprehendClient } from "../../../../src/providers/comprehend/client";
import { classifyServiceError } from "../../../../src/providers/comprehend/errors";

// A Comprehend Medical endpoint that takes the connection and never answers: the node's request
// timeout (its "request timeout (seconds)" setting) must end the request, or the message waits for ever.

describe("Comprehend Medical client against a peer that never answers", function () {
  this.timeout(10000);
  let peer: HostilePeer;
  before(async () => {
    peer = await silentListener();
  });
  after(() => peer.close());

  it("ends the request at the request timeout with a TIMEOUT error (retryable), no text of the service", async () => {
    const client = createComprehendClient(
      {
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${peer.port}`,
        credentials: {
          accessKeyId: "AKIDCMPEER000001",
          secretAccessKey: "comprehend/peer/secret/0000000000000",
        },
        connectTimeoutMs: 1000,
        problems: [],
      },
      500,
    );
    const started = Date.now();
    const err = await callerOf(client)(
      "entities",
      "Patient denies chest pain.",
      new AbortController().signal,
    ).then(
      () => assert.fail("answered"),
      (e: unknown) => classifyServiceError(e),
    );
    const elapsed = Date.now() - started;
    client.destroy();
    assert.equal(err.code, "TIMEOUT");
    assert.equal(err.retryable, true);
    assert.ok(elapsed >= 450 && elapsed < 3000, `${elapsed} ms`);
  });
});
