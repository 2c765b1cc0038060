import {
  StartMedicalStreamTranscriptionCommand,
  type AudioStream,
  type StartMedicalStreamTranscriptionCommandOutput,
  type TranscribeStreamingClient,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { readdirSync } from "node:fs";
import {
  awsClientSettings,
  createTranscribeClient,
  DEFAULT_CONNECT_TIMEOUT_S,
} from "../../../../src/providers/aws/client";
import { MAX_PEER_TEXT, peerCode, scrubPeerText } from "../../../../src/providers/aws/peer-text";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../../../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../../../emulators/aws/fixture";
import { deadEndpoint, type DeadEndpoint, type DeadKind } from "../../../support/dead-endpoints";

/**
 * The Transcribe streaming client of the nodes against endpoints that never answer, each a local peer
 * in a process of its own (test/support/dead-endpoints.ts): a stream request fails within the connect
 * timeout with an error naming how far it got, and the process's descriptors and sockets are back to
 * where they were at once, also when the request is aborted before that.
 */

const RATE = 16000;
const TIMEOUT_S = 1;

function fds(): number {
  return readdirSync("/proc/self/fd").length;
}

/** Sockets and pending connects of this process (process.getActiveResourcesInfo()). */
function sockets(): number {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r === "TCPSocketWrap" || r === "TLSWrap" || r === "ConnectWrap").length;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Audio that is always ready: the request body never waits on a timer of the test. */
async function* audio(seconds: number): AsyncGenerator<AudioStream> {
  for (let t = 0; t < seconds - 1e-9; t += 0.1) {
    yield await Promise.resolve({ AudioEvent: { AudioChunk: speechClockPcm(t, 0.1, RATE) } });
  }
}

function start(
  client: TranscribeStreamingClient,
  stream: AsyncIterable<AudioStream>,
  abortSignal?: AbortSignal,
): Promise<StartMedicalStreamTranscriptionCommandOutput> {
  return client.send(
    new StartMedicalStreamTranscriptionCommand({
      LanguageCode: "en-US",
      MediaEncoding: "pcm",
      MediaSampleRateHertz: RATE,
      Specialty: "PRIMARYCARE",
      Type: "CONVERSATION",
      AudioStream: stream,
    }),
    abortSignal ? { abortSignal } : {},
  );
}

function clientFor(endpoint: string, connectTimeoutS: number = TIMEOUT_S): TranscribeStreamingClient {
  const settings = awsClientSettings({
    region: "us-east-1",
    endpoint,
    ...EMULATOR_CREDENTIALS,
    connectTimeoutS,
  });
  assert.deepEqual(settings.problems, []);
  return createTranscribeClient(settings);
}

/** Waits up to `ms` for the descriptors and sockets to come back to the baseline. */
async function backToBaseline(base: { fds: number; sockets: number }, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (fds() !== base.fds || sockets() !== base.sockets) {
    if (Date.now() > deadline) {
      assert.fail(
        `still open after ${ms} ms: ${fds() - base.fds} descriptor(s), ${sockets() - base.sockets} socket(s) above the baseline`,
      );
    }
    await delay(10);
  }
}

describe("AWS streaming client: connect timeout and freed connections", function () {
  this.timeout(15000);
  let peer: DeadEndpoint | undefined;
  afterEach(async () => {
    await peer?.stop();
    peer = undefined;
  });

  const cases: Array<[string, DeadKind, "http" | "https", RegExp]> = [
    [
      "a TCP listener that accepts and never answers (no HTTP/2 SETTINGS)",
      "silent",
      "http",
      /did not answer within 1 s: the connection was made but no HTTP\/2 answer came/,
    ],
    [
      "a TLS listener that never completes the handshake",
      "silent",
      "https",
      /did not answer within 1 s: the TLS handshake did not complete/,
    ],
    [
      "a blackholed address (the connect never completes)",
      "blackhole",
      "http",
      /did not answer within 1 s: no TCP connection/,
    ],
  ];
  for (const [what, kind, scheme, message] of cases) {
    it(`gives up on ${what} within the connect timeout, and frees the connection`, async () => {
      peer = await deadEndpoint(kind);
      const client = clientFor(peer.url(scheme));
      const base = { fds: fds(), sockets: sockets() };
      const started = Date.now();
      const err = (await start(client, audio(5)).then(
        () => assert.fail("the request was answered"),
        (e: unknown) => e,
      )) as Error & { code?: string };
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 900 && elapsed < 2500, `failed after ${elapsed} ms`);
      assert.equal(err.name, "TimeoutError", "retried by the session as a timeout");
      assert.match(err.message, message);
      assert.ok(!err.message.includes(String(peer.port)), "no address in the message");
      await backToBaseline(base, 200);
      client.destroy();
    });
  }

  it("reports a refused connection at once, by its cause", async () => {
    peer = await deadEndpoint("refused");
    const client = clientFor(peer.url());
    const base = { fds: fds(), sockets: sockets() };
    const started = Date.now();
    const err = (await start(client, audio(5)).catch((e: unknown) => e)) as Error & { code?: string };
    assert.ok(Date.now() - started < 900, "not held until the timeout");
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(
      err.message,
      "could not connect to the endpoint: connection refused (nothing listens at that address and port)",
    );
    await backToBaseline(base, 200);
    client.destroy();
  });

  for (const [what, kind, scheme] of [
    ["a connect that never completes", "blackhole", "http"],
    ["a TLS handshake that never completes", "silent", "https"],
    ["a connection that never answers", "silent", "http"],
  ] as const) {
    it(`frees the socket of ${what} at once when the request is aborted`, async () => {
      peer = await deadEndpoint(kind);
      const client = clientFor(peer.url(scheme), 30);
      const base = { fds: fds(), sockets: sockets() };
      const ac = new AbortController();
      const failed = start(client, audio(5), ac.signal).catch((e: unknown) => e);
      await delay(300);
      assert.ok(sockets() > base.sockets, "a connection was being made");
      ac.abort();
      await failed;
      await backToBaseline(base, 200);
      client.destroy();
    });
  }

  it("cuts the streams still open when the client is destroyed", async () => {
    peer = await deadEndpoint("blackhole");
    const client = clientFor(peer.url(), 30);
    const base = { fds: fds(), sockets: sockets() };
    const pending = [start(client, audio(5)), start(client, audio(5))].map((p) => p.catch((e: unknown) => e));
    await delay(300);
    assert.equal(sockets() - base.sockets >= 2, true, "two connections were being made");
    client.destroy();
    await Promise.all(pending);
    await backToBaseline(base, 200);
  });

  describe("against the emulator", () => {
    let emu: AwsTranscribeEmulator;
    beforeEach(async () => {
      emu = await new AwsTranscribeEmulator({
        fixture: scriptedFixture([{ text: "Patient denies chest pain." }]),
        idleTimeoutMs: 10_000,
      }).start();
    });
    afterEach(async () => {
      await emu.stop();
    });

    it("lets an answered stream stay silent for longer than the connect timeout", async () => {
      const client = clientFor(emu.endpoint);
      let resume: () => void = () => undefined;
      const paused = new Promise<void>((r) => (resume = r));
      async function* withPause(): AsyncGenerator<AudioStream> {
        yield* audio(0.5);
        await paused;
        yield* audio(2);
      }
      const res = await start(client, withPause());
      const texts: string[] = [];
      const reading = (async () => {
        for await (const ev of res.TranscriptResultStream ?? []) {
          for (const r of ev.TranscriptEvent?.Transcript?.Results ?? []) {
            if (r.IsPartial === false) texts.push(r.Alternatives?.[0]?.Transcript ?? "");
          }
        }
      })();
      await delay(2500);
      assert.equal(emu.activeStreams, 1, "the stream is still open after 2.5 s without audio");
      resume();
      await reading;
      assert.deepEqual(texts, ["Patient denies chest pain."]);
      assert.equal(emu.streams[0]?.endFrameSeen, true);
      client.destroy();
    });

    it("ends an answered stream when the client is destroyed", async () => {
      const client = clientFor(emu.endpoint);
      const never = new Promise<void>(() => undefined);
      async function* endless(): AsyncGenerator<AudioStream> {
        yield* audio(0.3);
        await never;
      }
      const res = await start(client, endless());
      const reading = (async () => {
        for await (const ev of res.TranscriptResultStream ?? []) void ev;
      })().catch(() => undefined);
      await delay(200);
      assert.equal(emu.activeStreams, 1);
      client.destroy();
      const ended = await Promise.race([reading.then(() => true), delay(1000).then(() => false)]);
      assert.ok(ended, "the result stream ended within 1 s of destroy()");
      await delay(100);
      assert.equal(emu.activeStreams, 0, "the stream was cut");
    });
  });

  it("takes the connect timeout from the settings, with a default and a checked range", () => {
    const plain = awsClientSettings({ region: "us-east-1" });
    assert.equal(plain.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_S * 1000);
    assert.equal(awsClientSettings({ region: "us-east-1", connectTimeoutS: "2.5" }).connectTimeoutMs, 2500);
    assert.equal(awsClientSettings({ region: "us-east-1", connectTimeoutS: "" }).connectTimeoutMs, 10_000);
    for (const bad of [0, 0.5, 121, "soon", Number.NaN, Infinity, {}, [5]]) {
      const s = awsClientSettings({ region: "us-east-1", connectTimeoutS: bad });
      assert.deepEqual(
        s.problems,
        ["connect timeout must be a number of seconds from 1 to 120 (default 10)"],
        JSON.stringify(bad) ?? "NaN",
      );
    }
  });

  it("scrubs what a peer echoes: credentials, Authorization parts, tokens, line breaks; cut to a bound", () => {
    const key = "ASIAQWERTYUIOPASDF12";
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    const echoed = [
      "Bad request.",
      `Authorization: AWS4-HMAC-SHA256 Credential=${key}/20261205/us-east-1/transcribe/aws4_request, SignedHeaders=host;x-amz-date, Signature=${"0f".repeat(32)}`,
      `x-amz-security-token: IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6`,
      `"x-api-key":"k-123" our-own-id AKIDEMULATOR0000 and ${secret}`,
    ].join("\r\n");
    const out = scrubPeerText(echoed, ["AKIDEMULATOR0000"]);
    for (const s of [key, secret, "0f0f0f", "IQoJb3", "k-123", "AKIDEMULATOR0000", "\n", "\r"]) {
      assert.ok(!out.includes(s), `${s} in ${out}`);
    }
    assert.match(out, /^Bad request\. Authorization: \[redacted\]/);
    assert.match(
      scrubPeerText("Your stream is too big. Reduce the frame size and try your request again."),
      /^Your stream is too big\. Reduce the frame size and try your request again\.$/,
    );
    const huge = scrubPeerText("x ".repeat(1 << 20));
    assert.equal(huge.length, MAX_PEER_TEXT + 1);
    assert.equal(peerCode("BadRequestException"), "BadRequestException");
    for (const code of [key, "a b", "x".repeat(100), "", "Error\nforged"])
      assert.equal(peerCode(code), "Error");
  });

  it("refuses settings that are not text, without echoing them", () => {
    const s = awsClientSettings({
      region: 42,
      endpoint: { url: "http://x" },
      accessKeyId: ["AKIDSECRETLOOKING"],
      secretAccessKey: "s3cr3t-value",
    });
    assert.deepEqual(s.problems, [
      "region must be text",
      "region must be an AWS region such as us-east-1",
      "endpoint must be text",
      "the access key id must be text",
      "give both the access key id and the secret access key, or neither (default credential chain)",
    ]);
    assert.ok(!s.problems.join(" ").includes("AKIDSECRETLOOKING"));
    assert.ok(!s.problems.join(" ").includes("s3cr3t"));
  });
});
