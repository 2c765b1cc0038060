import type { AudioStream } from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import WebSocket from "ws";
import {
  awsClientSettings,
  createTranscribeClient,
  createWebSocketTransport,
  type AwsTransport,
} from "../../../../src/providers/aws/client";
import { classifyError } from "../../../../src/providers/aws/errors";
import { checkMedicalParams } from "../../../../src/providers/aws/params";
import { checkProxy, proxyFor } from "../../../../src/providers/aws/proxy";
import { medicalRequest, standardRequest } from "../../../../src/providers/aws/requests";
import { medicalService } from "../../../../src/providers/aws/service";
import {
  AwsStreamSession,
  type SessionEvent,
  type SessionTuning,
} from "../../../../src/providers/aws/session";
import { checkStandardParams } from "../../../../src/providers/aws/standard-params";
import type { StreamFate } from "../../../../src/providers/aws/stream-fate";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import {
  audioEventMessage,
  codec,
  handshakeError,
  openWebSocketStream,
  presignUrl,
  websocketBase,
  websocketQuery,
} from "../../../../src/providers/aws/websocket";
import {
  AwsTranscribeEmulator,
  EMULATOR_CREDENTIALS,
  STANDARD_WS_PATH,
  WS_PATH,
  type Fault,
} from "../../../emulators/aws/emulator";
import { scriptedFixture, voicedClockPcm } from "../../../emulators/aws/fixture";
import { connectProxy, type ConnectProxy } from "../../../support/connect-proxy";

// Amazon Transcribe streaming over WebSocket (issue #20): the presigned URL, the emulator's checks of
// it, the errors of the route mapped as on HTTP/2, the confirmed end, and the HTTP proxy for both
// transports.

const RATE = 16000;
const fixture = scriptedFixture([{ text: "Patient denies chest pain." }, { text: "No known allergies." }]);
const AUDIO_SEC = 4;

const params = (() => {
  const c = checkMedicalParams({
    specialty: "PRIMARYCARE",
    type: "DICTATION",
    sampleRate: RATE,
    mediaEncoding: "pcm",
  });
  assert.ok(c.ok);
  return c.value;
})();

const TUNING: Partial<SessionTuning> = {
  backoffBaseMs: 20,
  backoffMaxMs: 50,
  maxAttempts: 2,
  openTimeoutMs: 2000,
  endAnswerMs: 1000,
  replayBurstSeconds: 30,
};

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  finals: string[];
  events: SessionEvent[];
  errors: Array<Extract<SessionEvent, { event: "error" }>>;
}

function settingsFor(
  emu: AwsTranscribeEmulator,
  transport: AwsTransport,
  extra: { proxy?: string; env?: NodeJS.ProcessEnv; credentials?: typeof EMULATOR_CREDENTIALS } = {},
) {
  const creds = extra.credentials ?? EMULATOR_CREDENTIALS;
  const s = awsClientSettings({
    region: "us-east-1",
    endpoint: transport === "websocket" ? emu.wsEndpoint : emu.endpoint,
    accessKeyId: creds.accessKeyId,
    secretAccessKey: creds.secretAccessKey,
    connectTimeoutS: 2,
    transport,
    proxy: extra.proxy ?? "",
    env: extra.env ?? {},
  });
  assert.deepEqual(s.problems, []);
  return s;
}

async function run(
  emu: AwsTranscribeEmulator,
  transport: AwsTransport,
  extra: Parameters<typeof settingsFor>[2] = {},
): Promise<Outcome> {
  const settings = settingsFor(emu, transport, extra);
  const client = createTranscribeClient(settings);
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const s = new AwsStreamSession({
    sessionId: "ws",
    service: medicalService(client, params, createWebSocketTransport(client, settings)),
    scheduler: realScheduler,
    tuning: TUNING,
    secrets: [EMULATOR_CREDENTIALS.secretAccessKey],
    handlers: { result: (r) => results.push(r), event: (e) => events.push(e) },
  });
  for (let t = 0; t < AUDIO_SEC - 1e-9; t += 0.1) {
    s.push(voicedClockPcm(fixture, t, 0.1, RATE));
    await delay(5);
  }
  await s.end();
  client.destroy();
  return {
    finals: results.filter((r) => r.isFinal).map((r) => r.text),
    events,
    errors: events.filter((e): e is Extract<SessionEvent, { event: "error" }> => e.event === "error"),
  };
}

const NO_AUDIO: AsyncIterable<AudioStream> = (async function* () {})();

const EXPECTED = ["Patient denies chest pain.", "No known allergies."];

describe("AWS WebSocket transport: request parameters", () => {
  it("carries every parameter of both routes as its query parameter, named as the HTTP/2 header", () => {
    const medical = websocketQuery(
      medicalRequest(
        { ...params, showSpeakerLabel: true, contentIdentification: "PHI", vocabularyName: "cardio-v2" },
        NO_AUDIO,
        "b1c2d3e4-0000-4000-8000-000000000000",
      ),
    );
    assert.deepEqual(medical, {
      "language-code": "en-US",
      "sample-rate": "16000",
      "media-encoding": "pcm",
      specialty: "PRIMARYCARE",
      type: "DICTATION",
      "session-id": "b1c2d3e4-0000-4000-8000-000000000000",
      "show-speaker-label": "true",
      "content-identification-type": "PHI",
      "vocabulary-name": "cardio-v2",
    });
    const std = checkStandardParams({
      languageMode: "identify-multiple",
      languageOptions: "en-US,es-US",
      vocabularyNames: "a,b",
      vocabularyFilterNames: "f",
      vocabularyFilterMethod: "mask",
      stability: "high",
      pii: "identify",
      piiEntityTypes: "NAME,ADDRESS",
      sampleRate: 16000,
      mediaEncoding: "pcm",
    });
    assert.ok(std.ok, std.ok ? "" : std.error.message);
    const q = websocketQuery(standardRequest(std.value, NO_AUDIO, "b1c2d3e4-0000-4000-8000-000000000000"));
    for (const name of [
      "identify-multiple-languages",
      "language-options",
      "vocabulary-names",
      "vocabulary-filter-names",
      "vocabulary-filter-method",
      "enable-partial-results-stabilization",
      "partial-results-stability",
      "content-identification-type",
      "pii-entity-types",
    ]) {
      assert.ok(Object.hasOwn(q, name), `standard: ${name}`);
    }
    assert.equal(
      websocketQuery(medicalRequest({ ...params }, NO_AUDIO, "b1c2d3e4-0000-4000-8000-000000000000"))[
        "preferred-language"
      ],
      undefined,
    );
    assert.equal(websocketQuery({ PreferredLanguage: "en-US" })["preferred-language"], "en-US");
    assert.throws(() => websocketQuery({ SomethingNew: 1 }), /no WebSocket query parameter/);
  });

  it("blanks a presigned URL's query parameters in what a peer says (a service or proxy echoing the URL)", () => {
    const echoed =
      "bad request for /medical-stream-transcription-websocket?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDX%2F20260101%2Fus-east-1%2Ftranscribe%2Faws4_request&X-Amz-Security-Token=IQo%2Fab%2Bcd&X-Amz-Signature=0123abcd&sample-rate=16000";
    const e = handshakeError(400, undefined, JSON.stringify({ message: echoed }));
    assert.equal(e.name, "BadRequestException");
    assert.doesNotMatch(e.message, /AKIDX|IQo|0123abcd|20260101/);
    assert.match(e.message, /X-Amz-Signature=\[redacted\]/);
    assert.match(e.message, /sample-rate=16000/);
    assert.equal(handshakeError(503, undefined, "<html>").name, "ServiceUnavailableException");
    assert.equal(
      handshakeError(403, "InvalidSignatureException:http://internal.amazon.com/coral/x/", "{}").name,
      "InvalidSignatureException",
    );
  });

  it("uses port 8443 of the region's endpoint, and keeps the port of an endpoint that names one", () => {
    assert.equal(
      websocketBase("eu-west-1", null).href,
      "wss://transcribestreaming.eu-west-1.amazonaws.com:8443/",
    );
    assert.equal(
      websocketBase("us-east-1", "https://vpce-1.example.com").href,
      "wss://vpce-1.example.com:8443/",
    );
    assert.equal(websocketBase("us-east-1", "http://127.0.0.1:9000").href, "ws://127.0.0.1:9000/");
  });
});

describe("AWS WebSocket transport against the emulator", function () {
  this.timeout(20000);
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({ fixture, clock: "clock" }).start();
  });
  afterEach(() => emu.stop());

  const presigned = async (
    opts: { signingDate?: Date; expiresS?: number; secret?: string; path?: string } = {},
  ): Promise<string> =>
    presignUrl({
      base: websocketBase("us-east-1", emu.wsEndpoint),
      path: opts.path ?? WS_PATH,
      query: websocketQuery(medicalRequest(params, NO_AUDIO, "b1c2d3e4-0000-4000-8000-000000000000")),
      region: "us-east-1",
      credentials: () =>
        Promise.resolve({
          accessKeyId: EMULATOR_CREDENTIALS.accessKeyId,
          secretAccessKey: opts.secret ?? EMULATOR_CREDENTIALS.secretAccessKey,
        }),
      sha256: createTranscribeClient(settingsFor(emu, "websocket")).config.sha256,
      ...(opts.signingDate ? { signingDate: opts.signingDate } : {}),
      ...(opts.expiresS !== undefined ? { expiresS: opts.expiresS } : {}),
    });

  /** Opens a stream on `url` and returns the error it fails with (or null when it opened). */
  async function openError(url: string): Promise<Error | null> {
    const fate: StreamFate = { ended: false, aborted: false, rstCode: undefined };
    try {
      const events = await openWebSocketStream({
        url,
        audio: (async function* () {})(),
        signal: new AbortController().signal,
        connectTimeoutMs: 2000,
        scheduler: realScheduler,
        fate,
      });
      for await (const _ of events) void _;
      return null;
    } catch (err) {
      return err as Error;
    }
  }

  it("transcribes a session on each route: presigned URL (host only, 60 s), unsigned AudioEvents, empty end event", async () => {
    const o = await run(emu, "websocket");
    assert.deepEqual(o.finals, EXPECTED);
    assert.deepEqual(o.errors, []);
    const [r] = emu.streams;
    assert.equal(r?.transport, "websocket");
    assert.equal(r?.endFrameSeen, true);
    assert.equal(r?.closedBy, "end-frame");
    assert.equal(r?.headers[":path"], WS_PATH);
    assert.equal(r?.headers["x-amzn-transcribe-specialty"], "PRIMARYCARE");
    assert.equal(r?.unsignedFrames, r.audioEvents + 1, "every audio event, and the end event");
    const url = new URL(await presigned());
    assert.equal(url.port, String(emu.wsPort));
    assert.equal(url.searchParams.get("X-Amz-SignedHeaders"), "host");
    assert.equal(url.searchParams.get("X-Amz-Expires"), "60");
    assert.equal(await openError(await presigned({ path: STANDARD_WS_PATH })), null, "standard route too");
  });

  it("reassembles event-stream messages that arrive split over many WebSocket messages (here 7 bytes each)", async () => {
    await emu.stop();
    emu = await new AwsTranscribeEmulator({ fixture, clock: "clock", websocketPieceBytes: 7 }).start();
    const o = await run(emu, "websocket");
    assert.deepEqual(o.finals, EXPECTED);
    assert.deepEqual(o.errors, []);
  });

  it("refuses a tampered URL and an expired one as the service does (403), and the error never shows the URL", async () => {
    const good = await presigned();
    const tampered = good.replace("sample-rate=16000", "sample-rate=44100");
    assert.notEqual(tampered, good);
    const e1 = await openError(tampered);
    assert.equal(e1?.name, "InvalidSignatureException");
    const f1 = classifyError(e1);
    assert.equal(f1.kind, "fatal");
    const expired = await presigned({ signingDate: new Date(Date.now() - 120_000), expiresS: 60 });
    const e2 = await openError(expired);
    assert.equal(e2?.name, "InvalidSignatureException");
    assert.match(e2?.message ?? "", /^Signature expired: \d{8}T\d{6}Z is now earlier than/);
    assert.equal(classifyError(e2).kind, "fatal");
    const wrongKey = await presigned({ secret: "not-the-secret-key-000000000000000000000" });
    assert.equal((await openError(wrongKey))?.name, "InvalidSignatureException");
    assert.deepEqual(
      emu.rejected.map((r) => r.status),
      [403, 403, 403],
    );
    const signature = new URL(good).searchParams.get("X-Amz-Signature") ?? "";
    for (const e of [e1, e2]) {
      assert.ok(!String(e?.message).includes("X-Amz"), "no URL in the message");
      assert.ok(!String(e?.message).includes(signature.slice(0, 16)));
      assert.ok(!String(e?.stack).includes("X-Amz-Credential"), "no URL in the stack");
    }
    assert.equal(emu.streams.length, 0);
  });

  it("refuses a message whose checksum is wrong, and a text frame (as the service: an exception, then the end)", async () => {
    for (const [what, send] of [
      [
        "a corrupted CRC",
        (ws: WebSocket) => {
          const m = Buffer.from(audioEventMessage(new Uint8Array(3200)));
          m[m.length - 1] = (m[m.length - 1] ?? 0) ^ 0xff;
          ws.send(m);
        },
      ],
      ["a text frame", (ws: WebSocket) => ws.send("hello")],
    ] as const) {
      const ws = new WebSocket(await presigned());
      const got: Array<{ type?: string; message?: string }> = [];
      const closed = new Promise<number>((resolve) => ws.on("close", (code) => resolve(code)));
      ws.on("message", (d: Buffer) => {
        const m = codec.decode(d);
        const t = m.headers[":exception-type"];
        got.push({
          type: t?.type === "string" ? t.value : undefined,
          message: Buffer.from(m.body).toString(),
        });
      });
      await new Promise((resolve) => ws.on("open", resolve));
      send(ws);
      await closed;
      assert.equal(got[0]?.type, "BadRequestException", what);
    }
    assert.equal(emu.streams[0]?.badFrames, 1);
    assert.equal(emu.streams[1]?.exceptions[0]?.message, "Unexpected WebSocket frame received.");
  });

  it("tells a normal close after the end of the audio (confirmed) from a cut connection", async () => {
    const client = createTranscribeClient(settingsFor(emu, "websocket"));
    const transport = createWebSocketTransport(client, settingsFor(emu, "websocket"));
    assert.ok(transport);
    const fateOf = async (fault: Fault | null): Promise<StreamFate | undefined> => {
      if (fault) emu.planFaults(fault);
      const ac = new AbortController();
      const audio = (async function* () {
        for (let t = 0; t < 1; t += 0.1)
          yield await Promise.resolve({ AudioEvent: { AudioChunk: voicedClockPcm(fixture, t, 0.1, RATE) } });
      })();
      try {
        const events = await transport.open(
          "medical",
          medicalRequest(params, audio, "b1c2d3e4-0000-4000-8000-000000000001"),
          audio,
          ac.signal,
        );
        for await (const _ of events) void _;
      } catch {
        // The fate is what is looked at.
      }
      return transport.fateOf(ac.signal);
    };
    assert.deepEqual(await fateOf(null), { ended: true, aborted: false, rstCode: 0, transport: "websocket" });
    const cut = await fateOf({ kind: "destroy", atEndFrame: true });
    assert.equal(cut?.ended, false);
    assert.equal(cut?.aborted, true);
    const reset = await fateOf({ kind: "reset", atEndFrame: true });
    assert.deepEqual(reset, { ended: false, aborted: false, rstCode: 1011, transport: "websocket" });
    client.destroy();
  });

  for (const transport of ["http2", "websocket"] as const) {
    it(`maps the route's errors as on HTTP/2 (${transport}): 403 stops, 400 stops, 429 and exceptions retry`, async () => {
      emu.planFaults({ kind: "reject-auth" });
      const auth = await run(emu, transport);
      assert.equal(auth.errors[0]?.error.code, "InvalidSignatureException");
      assert.match(
        auth.errors[0]?.error.message ?? "",
        /^The request signature we calculated does not match/,
      );
      assert.equal(emu.streams.length, 0, "not retried");

      emu.planFaults({ kind: "throttle" });
      emu.planFaults({ kind: "exception", type: "ServiceUnavailableException", afterAudioSec: 0.5 });
      const retried = await run(emu, transport);
      assert.deepEqual(retried.finals, EXPECTED);
      const reconnects = retried.events.filter((e) => e.event === "reconnecting");
      assert.deepEqual(
        reconnects.map((e) => (e.event === "reconnecting" ? e.error.code : "")),
        ["LimitExceededException", "ServiceUnavailableException"],
      );

      emu.planFaults({
        kind: "exception",
        type: "BadRequestException",
        message: "Unknown problem.",
        afterAudioSec: 0.3,
      });
      const fatal = await run(emu, transport);
      assert.equal(fatal.errors[0]?.error.code, "BadRequestException");
      assert.equal(fatal.errors[0]?.error.serviceMessage, "Unknown problem.");
    });
  }
});

describe("AWS HTTP proxy (both transports)", function () {
  this.timeout(20000);
  let emu: AwsTranscribeEmulator;
  let proxy: ConnectProxy;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({ fixture, clock: "clock" }).start();
    proxy = await connectProxy();
  });
  afterEach(async () => {
    await proxy.stop();
    await emu.stop();
  });

  for (const transport of ["http2", "websocket"] as const) {
    it(`tunnels ${transport} streams through the proxy of the setting, and of HTTPS_PROXY`, async () => {
      const viaSetting = await run(emu, transport, { proxy: proxy.url });
      assert.deepEqual(viaSetting.finals, EXPECTED);
      assert.equal(proxy.tunnels, 1);
      const port = transport === "websocket" ? emu.wsPort : emu.port;
      assert.deepEqual(proxy.targets, [`127.0.0.1:${port}`]);
      const viaEnv = await run(emu, transport, {
        env: { HTTPS_PROXY: proxy.url.replace("http://", "http://u%40x:p%3Ass@") },
      });
      assert.deepEqual(viaEnv.finals, EXPECTED);
      assert.equal(proxy.tunnels, 2);
      assert.deepEqual(proxy.authorizations, [`Basic ${Buffer.from("u@x:p:ss").toString("base64")}`]);
      const bypass = await run(emu, transport, {
        env: { HTTPS_PROXY: proxy.url, NO_PROXY: "localhost,127.0.0.1" },
      });
      assert.deepEqual(bypass.finals, EXPECTED);
      assert.equal(proxy.tunnels, 2, "NO_PROXY: direct");
    });

    it(`stops with a clear error when the proxy refuses the tunnel (407) over ${transport}`, async () => {
      const refusing = await connectProxy(407);
      try {
        const o = await run(emu, transport, { proxy: refusing.url });
        assert.equal(o.errors.length, 1);
        assert.equal(o.errors[0]?.error.code, "ProxyAuthenticationRequired");
        assert.match(
          o.errors[0]?.error.message ?? "",
          /the proxy did not open a tunnel to the endpoint: HTTP 407/,
        );
        assert.equal(o.events.filter((e) => e.event === "reconnecting").length, 0, "not retried");
      } finally {
        await refusing.stop();
      }
    });
  }

  it("checks the proxy setting: http:// only, no password in the flow, NO_PROXY by host and domain", () => {
    assert.deepEqual(checkProxy("", {}).proxy, null);
    assert.equal(checkProxy("proxy.example.org:3128", {}).proxy?.port, 3128);
    assert.match(checkProxy("https://p:443", {}).problems.join(), /must be an http:\/\/ proxy/);
    const withPassword = checkProxy("http://user:secret@p:3128", {});
    assert.match(withPassword.problems.join(), /must not contain a user name or password/);
    assert.ok(!withPassword.problems.join().includes("secret"), "never echoes the value");
    assert.match(checkProxy(42, {}).problems.join(), /proxy must be text/);
    const p = checkProxy("", { HTTPS_PROXY: "http://p:3128", NO_PROXY: ".internal.example, 10.0.0.1" }).proxy;
    assert.equal(proxyFor(p, "transcribestreaming.us-east-1.amazonaws.com"), p);
    assert.equal(proxyFor(p, "vpce.internal.example"), null);
    assert.equal(proxyFor(p, "10.0.0.1"), null);
    assert.equal(proxyFor(checkProxy("", { HTTPS_PROXY: "http://p:1", NO_PROXY: "*" }).proxy, "x"), null);
    const s = awsClientSettings({ region: "us-east-1", transport: "carrier-pigeon", env: {} });
    assert.match(s.problems.join(), /transport must be one of http2, websocket/);
  });
});
