import { strict as assert } from "node:assert";
import net, { type AddressInfo } from "node:net";
import { callerOf, createComprehendClient } from "../../../../src/providers/comprehend/client";
import { classifyServiceError } from "../../../../src/providers/comprehend/errors";

// A Comprehend Medical endpoint that takes the connection and never answers: the node's request
// timeout (its "request timeout (seconds)" setting) must end the request, or the message waits for ever.

describe("Comprehend Medical client against a peer that never answers", function () {
  this.timeout(10000);
  let server: net.Server;
  const sockets: net.Socket[] = [];
  before(async () => {
    server = net.createServer((s) => {
      sockets.push(s);
      s.on("error", () => undefined);
      s.resume();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("ends the request at the request timeout with a TIMEOUT error (retryable), no text of the service", async () => {
    const client = createComprehendClient(
      {
        region: "us-east-1",
        endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
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
