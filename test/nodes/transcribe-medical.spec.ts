import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import type { Node, NodeMessage } from "node-red";
import type { TranscriptResult } from "../../src/transcript/result";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS, type Fault } from "../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  redeploy,
  runtimeLabel,
  runtimeWarnings,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";

const RATE = 16000;
const PHI_MARKER = "Zzphimarker";
const SECRET_MARKER = "ZZ-SECRET-MARKER-4711-abcdefghijklmnop";
const fixture = scriptedFixture([
  { text: "Patient denies chest pain." },
  { text: `Mister [PHI]${PHI_MARKER} has no allergies.` },
  { text: "Blood pressure is normal." },
]);
const TEXTS = [
  "Patient denies chest pain.",
  `Mister ${PHI_MARKER} has no allergies.`,
  "Blood pressure is normal.",
];
const TIMES = fixture.map((s) => [s.words[0]?.start, s.words.at(-1)?.end]);
const modules = [builtNode("aws-transcribe-config"), builtNode("transcribe-medical")];
const audioIn = builtNode("audio-in");
const filterFinal = builtNode("filter-final");

let emu: AwsTranscribeEmulator;
/** The transport of the AWS configuration the flows use (the fault tests run on both). */
let transport: "http2" | "websocket" = "http2";

function load(config: Record<string, unknown> = {}, credentials = EMULATOR_CREDENTIALS): Promise<void> {
  return helper.load(modules, flowOf(config), { awscfg: { ...credentials } });
}

function flowOf(config: Record<string, unknown> = {}): FlowNode[] {
  const nodes: FlowNode[] = [
    {
      id: "awscfg",
      type: "aws-transcribe-config",
      region: "us-east-1",
      endpoint: transport === "websocket" ? emu.wsEndpoint : emu.endpoint,
      transport,
    },
    {
      id: "tm",
      type: "transcribe-medical",
      aws: "awscfg",
      specialty: "PRIMARYCARE",
      medicalType: "CONVERSATION",
      sampleRate: RATE,
      mediaEncoding: "pcm",
      showSpeakerLabel: false,
      channelIdentification: false,
      contentIdentification: "",
      vocabularyName: "",
      keepRaw: false,
      idleTimeoutS: 30,
      tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000, closeTimeoutMs: 2000 },
      wires: [["out"], ["events"]],
      ...config,
    },
  ];
  return flowWithCatch(nodes, ["out", "events"]);
}

const tm = (): Node => helper.getNode("tm");

function chunk(
  sessionId: string,
  seq: number,
  fromSec: number,
  end = false,
  channels: 1 | 2 = 1,
): NodeMessage {
  return {
    topic: sessionId,
    payload: speechClockPcm(fromSec, 0.1, RATE, channels),
    audio: {
      sessionId,
      seq,
      sampleRate: RATE,
      channels,
      encoding: "pcm_s16le",
      offsetMs: Math.round(fromSec * 1000),
      durationMs: 100,
      ...(end ? { end: true } : {}),
    },
  };
}

/** Plays a session's audio as audio-in sends it (100 ms chunks), ten times faster than real time. */
async function play(
  sessionId: string,
  seconds: number,
  opts: { end?: boolean; channels?: 1 | 2 } = {},
): Promise<void> {
  const n = Math.round(seconds * 10);
  for (let i = 0; i < n; i++) {
    tm().receive(chunk(sessionId, i, i / 10, opts.end !== false && i === n - 1, opts.channels));
    await delay(10);
  }
}

const results = (msgs: NodeMessage[]): TranscriptResult[] => msgs.map((m) => m.payload as TranscriptResult);
const finals = (msgs: NodeMessage[], session?: string): TranscriptResult[] =>
  results(msgs).filter((r) => r.isFinal && (session === undefined || r.sessionId === session));
const eventsOf = (msgs: NodeMessage[], session?: string): string[] =>
  msgs
    .map((m) => m.payload as { event: string; sessionId: string })
    .filter((e) => session === undefined || e.sessionId === session)
    .map((e) => e.event);

describe(`transcribe-medical node (${runtimeLabel})`, function () {
  this.timeout(15000);
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({
      fixture,
      clock: "clock",
      idleTimeoutMs: 1500,
      credentials: {
        [EMULATOR_CREDENTIALS.accessKeyId]: EMULATOR_CREDENTIALS.secretAccessKey,
        AKIDMARKERTEST000000: SECRET_MARKER,
      },
    }).start();
  });
  afterEach(async () => {
    transport = "http2";
    await helper.unload();
    await emu.stop();
  });

  it("starts with only id, type, z, wires and its AWS configuration, and streams with the editor's defaults", async () => {
    const flow = flowWithCatch(
      [
        { id: "awscfg", type: "aws-transcribe-config", endpoint: emu.endpoint },
        { id: "tm", type: "transcribe-medical", aws: "awscfg", wires: [["out"], ["events"]] },
      ],
      ["out", "events"],
    );
    await helper.load(modules, flow, { awscfg: { ...EMULATOR_CREDENTIALS } });
    assert.deepEqual(statusTexts(tm()), ["idle"]);
    const out = collect("out");
    const events = collect("events");
    await play("minimal", 6);
    await until(() => eventsOf(events).includes("ended"));
    assert.deepEqual(
      finals(out).map((r) => r.text),
      TEXTS,
    );
    const headers = emu.streams[0]?.headers ?? {};
    assert.equal(headers["x-amzn-transcribe-specialty"], "PRIMARYCARE");
    assert.equal(headers["x-amzn-transcribe-type"], "CONVERSATION");
    assert.equal(headers["x-amzn-transcribe-sample-rate"], "16000");
    assert.equal(headers["x-amzn-transcribe-media-encoding"], "pcm");
  });

  it("starts with an AWS configuration of only id and type: us-east-1, the default credential chain", async () => {
    const flow = flowWithCatch(
      [
        { id: "awsmin", type: "aws-transcribe-config" },
        { id: "tm", type: "transcribe-medical", aws: "awsmin", wires: [["out"], ["events"]] },
      ],
      ["out", "events"],
    );
    await helper.load(modules, flow, {});
    const cfg = helper.getNode("awsmin") as Node & { settings?: Record<string, unknown> };
    const { proxy, ...rest } = cfg.settings ?? {};
    assert.deepEqual(rest, {
      region: "us-east-1",
      endpoint: null,
      credentials: null,
      connectTimeoutMs: 10_000,
      transport: "http2",
      problems: [],
    });
    // No proxy unless Node-RED's environment names one (HTTPS_PROXY).
    if ((process.env.HTTPS_PROXY ?? process.env.https_proxy ?? "") === "") assert.equal(proxy, null);
    assert.deepEqual(statusTexts(tm()), ["idle"], "not misconfigured");
  });

  it("loads with its AWS configuration, and keeps credentials out of the flow", async () => {
    await load({ name: "dictation" });
    assert.equal(tm().name, "dictation");
    const cfg = helper.getNode("awscfg") as Node & { credentials: Record<string, string> };
    assert.equal(cfg.credentials.secretAccessKey, EMULATOR_CREDENTIALS.secretAccessKey);
    assert.deepEqual(statusTexts(tm()), ["idle"]);
  });

  it("sends valid results on output 1 and session events on output 2", async () => {
    await load({ showSpeakerLabel: true, contentIdentification: "PHI" });
    const out = collect("out");
    const events = collect("events");
    await play("enc-1", 6);
    await until(() => eventsOf(events).includes("ended"));
    for (const m of out) {
      assertTranscriptResult(m.payload);
      assert.equal(m.topic, "enc-1");
      assert.equal((m as NodeMessage & { raw?: unknown }).raw, undefined, "raw only when asked");
    }
    assert.deepEqual(
      finals(out).map((r) => r.text),
      TEXTS,
    );
    assert.deepEqual(
      finals(out).map((r) => [r.startTime, r.endTime]),
      TIMES,
    );
    assert.ok(
      results(out).some((r) => !r.isFinal),
      "partials too",
    );
    const second = finals(out)[1];
    assert.deepEqual(
      second.entities?.map((e) => [e.category, e.text]),
      [["PHI", PHI_MARKER]],
    );
    assert.equal(second.speaker, "0");
    assert.ok(second.words.every((w) => typeof w.confidence === "number"));
    assert.deepEqual(eventsOf(events), ["started", "ended"]);
    const ended = events.at(-1)?.payload as { audioSeconds: number };
    assert.equal(Math.round(ended.audioSeconds * 10) / 10, 6);
    assert.equal(events[0]?.topic, "enc-1");
    const rec = emu.streams[0];
    assert.equal(rec?.headers["x-amzn-transcribe-show-speaker-label"], "true");
    assert.equal(rec?.headers["x-amzn-transcribe-content-identification-type"], "PHI");
    assert.equal(rec?.endFrameSeen, true);
    assert.equal(rec?.chunkSignaturesOk, true);
  });

  it("keeps the raw event in msg.raw when told to", async () => {
    await load({ keepRaw: true });
    const out = collect("out");
    await play("enc-raw", 1.5);
    await until(() => finals(out).length === 1);
    const raw = (out.at(-1) as NodeMessage & { raw?: { Transcript?: unknown } }).raw;
    assert.ok(raw?.Transcript, "the TranscriptEvent travels along");
  });

  it("streams two sessions at once with no cross-talk", async () => {
    await load();
    const out = collect("out");
    const events = collect("events");
    await Promise.all([
      play("A", 6),
      (async () => {
        await delay(35);
        await play("B", 6);
      })(),
    ]);
    await until(() => eventsOf(events).filter((e) => e === "ended").length === 2);
    assert.deepEqual(
      finals(out, "A").map((r) => r.text),
      TEXTS,
    );
    assert.deepEqual(
      finals(out, "B").map((r) => r.text),
      TEXTS,
    );
    for (const m of out) assert.equal(m.topic, (m.payload as TranscriptResult).sessionId);
    assert.equal(emu.streams.length, 2);
    assert.notEqual(emu.streams[0]?.sessionId, emu.streams[1]?.sessionId);
    assert.ok(
      statusTexts(tm()).some((t) => t === "streaming (2 sessions)"),
      statusTexts(tm()).join(" | "),
    );
  });

  const bad: Array<[string, (m: NodeMessage & { audio: Record<string, unknown> }) => void, RegExp]> = [
    [
      "a payload that is not a Buffer",
      (m) => (m.payload = "hello"),
      /msg\.payload must be a Buffer of audio, not string/,
    ],
    [
      "another sample rate",
      (m) => (m.audio.sampleRate = 8000),
      /sample rate 8000 Hz differs from the node's 16000 Hz/,
    ],
    [
      "another encoding",
      (m) => (m.audio.encoding = "mulaw"),
      /encoding "mulaw" is not accepted.*Accepted: pcm_s16le/,
    ],
    [
      "a chunk over 1 s",
      (m) => (m.payload = Buffer.alloc(RATE * 2 * 2)),
      /2000 ms of audio; Amazon Transcribe accepts at most 1000 ms per chunk/,
    ],
    [
      "no session id",
      (m) => {
        m.topic = "";
        m.audio.sessionId = undefined;
      },
      /must name the audio session/,
    ],
  ];
  for (const [what, spoil, message] of bad) {
    it(`refuses ${what} with an error a catch node receives`, async () => {
      await load();
      const caught = nextMessage("caught");
      const m = chunk("bad", 0, 0) as NodeMessage & { audio: Record<string, unknown> };
      spoil(m);
      tm().receive(m);
      const err = (await caught).error as { message: string; source: { id: string } };
      assert.match(err.message, message);
      assert.equal(err.source.id, "tm");
      assert.equal(emu.streams.length, 0, "nothing was streamed");
    });
  }

  it("refuses an invalid combination at deploy with a red status and the reason", async () => {
    await load({ showSpeakerLabel: true, channelIdentification: true });
    assert.ok(statusTexts(tm()).includes("misconfigured"));
    const caught = nextMessage("caught");
    tm().receive(chunk("x", 0, 0));
    assert.match(
      ((await caught).error as { message: string }).message,
      /speaker labels and channel identification cannot be used together/,
    );
    await helper.unload();
    await load({ aws: "" });
    assert.ok(loggedTexts(tm()).some((t) => /choose an AWS configuration/.test(t)));
    await helper.unload();
    await load({ sampleRate: 8000 });
    assert.ok(
      loggedTexts(tm()).some((t) => /sample rate must be a whole number of Hz from 16000 to 48000/.test(t)),
    );
  });

  it("transcribes two channels with channel identification", async () => {
    await load({ channelIdentification: true });
    const out = collect("out");
    const events = collect("events");
    await play("stereo", 6, { channels: 2 });
    await until(() => eventsOf(events).includes("ended"));
    assert.deepEqual(
      finals(out).map((r) => r.channel),
      ["ch_0", "ch_0", "ch_0"],
    );
    assert.equal(emu.streams[0]?.headers["x-amzn-transcribe-number-of-channels"], "2");
  });

  const faults: Array<[string, Fault]> = [
    ["a dropped connection (reset)", { kind: "reset", afterAudioSec: 2.5 }],
    ["a silently closed stream", { kind: "end", afterAudioSec: 2.5 }],
    [
      "a mid-stream InternalFailureException",
      { kind: "exception", type: "InternalFailureException", afterAudioSec: 2.5 },
    ],
    [
      "throttling (LimitExceededException)",
      { kind: "exception", type: "LimitExceededException", afterAudioSec: 2.5 },
    ],
    ["a stalled stream", { kind: "stall", afterAudioSec: 2.5 }],
  ];
  for (const over of ["http2", "websocket"] as const)
    for (const [what, fault] of faults) {
      it(`recovers from ${what} over ${over}: reconnects, no final lost or duplicated, times continuous`, async () => {
        transport = over;
        emu.planFaults(fault);
        // A longer first backoff for the reset case, so the throttled status can show it.
        const slow = fault.kind === "reset";
        await load(slow ? { tuning: { backoffBaseMs: 700, backoffMaxMs: 700, watchdogMs: 1000 } } : {});
        const out = collect("out");
        const events = collect("events");
        await play("enc-r", 6);
        await until(() => eventsOf(events).includes("ended"));
        assert.deepEqual(
          finals(out).map((r) => r.text),
          TEXTS,
        );
        assert.deepEqual(
          finals(out).map((r) => [r.startTime, r.endTime]),
          TIMES,
        );
        for (const m of out) assertTranscriptResult(m.payload);
        assert.deepEqual(eventsOf(events), ["started", "reconnecting", "ended"]);
        assert.equal(emu.streams.length, 2);
        assert.ok(emu.streams.every((r) => r.transport === over));
        if (slow) assert.ok(statusTexts(tm()).includes("reconnecting"), statusTexts(tm()).join(" | "));
      });
    }

  it("survives an outage longer than the retry budget: transcription resumes, no final lost or duplicated, no chunk dropped", async () => {
    // Retry budget: 3 attempts of 50, 100, 200 ms; the outage lasts 2 s while the source keeps sending.
    await load({ tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000, maxAttempts: 3 } });
    const out = collect("out");
    const events = collect("events");
    const caught = collect("caught");
    for (let i = 0; i < 60; i++) {
      if (i === 20) emu.startOutage();
      if (i === 40) emu.endOutage();
      tm().receive(chunk("enc-out", i, i / 10, i === 59));
      await delay(i >= 20 && i < 40 ? 100 : 10);
    }
    await until(() => eventsOf(events).includes("ended"), 5000);
    assert.ok(emu.outageRequests > 3, `requests during the outage: ${emu.outageRequests}`);
    assert.deepEqual(caught, [], "nothing refused, nothing failed");
    assert.ok(!eventsOf(events).includes("error"));
    assert.deepEqual(
      finals(out).map((r) => r.text),
      TEXTS,
    );
    assert.deepEqual(
      finals(out).map((r) => [r.startTime, r.endTime]),
      TIMES,
    );
    const ended = events.at(-1)?.payload as { audioSeconds: number };
    assert.equal(Math.round(ended.audioSeconds * 10) / 10, 6, "every chunk was taken");
  });

  it("refuses audio it cannot queue during an outage with a few clear errors (no session id in them), then resumes", async () => {
    await load({
      tuning: {
        backoffBaseMs: 50,
        backoffMaxMs: 200,
        watchdogMs: 1000,
        maxQueueSeconds: 0.5,
        refuseReportMs: 400,
      },
    });
    const out = collect("out");
    const events = collect("events");
    const caught = collect("caught");
    const session = "ENC-20240611-4711";
    for (let i = 0; i < 10; i++) {
      tm().receive(chunk(session, i, i / 10));
      await delay(10);
    }
    await until(() => finals(out).length === 0 && emu.streams.length === 1);
    emu.startOutage();
    for (let i = 10; i < 30; i++) {
      tm().receive(chunk(session, i, i / 10));
      await delay(50);
    }
    emu.endOutage();
    await delay(500);
    for (let i = 30; i < 60; i++) {
      tm().receive(chunk(session, i, i / 10, i === 59));
      await delay(10);
    }
    await until(() => eventsOf(events).includes("ended"), 5000);
    const errors = caught.map((m) => m.error as { message: string });
    assert.ok(errors.length >= 2 && errors.length <= 5, `${errors.length} errors`);
    let refused = 0;
    for (const [k, e] of errors.entries()) {
      assert.match(e.message, /audio refused: the session has more audio waiting than it can hold/);
      assert.ok(!e.message.includes(session) && !e.message.includes("4711"), e.message);
      assert.equal(caught[k]?.topic, session, "the session is in msg.topic");
      refused += Number(/(\d+) chunk\(s\)/.exec(e.message)?.[1]);
    }
    for (const t of loggedTexts(tm())) assert.ok(!t.includes("4711"), t);
    const ended = events.at(-1)?.payload as { audioSeconds: number };
    assert.equal(refused, 60 - Math.round(ended.audioSeconds * 10), "every refused chunk is counted");
    assert.ok(!eventsOf(events).includes("error"));
    assert.deepEqual(finals(out).at(-1)?.text, TEXTS[2], "transcription resumed");
  });

  it("closes within its bound even when the SDK ignores the abort (stalled stream)", async () => {
    const original = Object.getOwnPropertyDescriptor(TranscribeStreamingClient.prototype, "send");
    // A stream that never answers and never honours its abort signal.
    Object.defineProperty(TranscribeStreamingClient.prototype, "send", {
      configurable: true,
      writable: true,
      value: () => new Promise(() => undefined),
    });
    try {
      await load({ tuning: { closeTimeoutMs: 300 } });
      await play("stuck", 0.5, { end: false });
      const started = Date.now();
      await helper.unload();
      const took = Date.now() - started;
      assert.ok(took < 300 + 1500, `close took ${took} ms`);
    } finally {
      // send() is inherited from the SDK's base client: remove the stub, or put back an own one.
      if (original) Object.defineProperty(TranscribeStreamingClient.prototype, "send", original);
      else Reflect.deleteProperty(TranscribeStreamingClient.prototype, "send");
    }
  });

  it("refuses an endpoint with a user name or password at deploy, without showing them", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          {
            id: "awscfg",
            type: "aws-transcribe-config",
            region: "us-east-1",
            endpoint: "https://svc-user:Pa55w0rdX@vpce.example.com",
          },
          {
            id: "tm",
            type: "transcribe-medical",
            aws: "awscfg",
            specialty: "PRIMARYCARE",
            medicalType: "CONVERSATION",
            sampleRate: RATE,
            mediaEncoding: "pcm",
            wires: [["out"], ["events"]],
          },
        ],
        ["out", "events"],
      ),
      { awscfg: { ...EMULATOR_CREDENTIALS } },
    );
    assert.ok(statusTexts(tm()).includes("misconfigured"));
    const logged = loggedTexts(tm());
    assert.ok(
      logged.some((t) => /endpoint must not contain a user name or password/.test(t)),
      logged.join(" | "),
    );
    for (const t of [...logged, ...statusTexts(tm())]) assert.ok(!/Pa55w0rdX|svc-user/.test(t), t);
  });

  it("refuses an unknown transport and a proxy with a password in the flow at deploy, without showing it", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          {
            id: "awscfg",
            type: "aws-transcribe-config",
            region: "us-east-1",
            transport: "carrier-pigeon",
            proxy: "http://proxyuser:Pr0xyPa55@proxy.example.org:3128",
          },
          {
            id: "tm",
            type: "transcribe-medical",
            aws: "awscfg",
            specialty: "PRIMARYCARE",
            medicalType: "CONVERSATION",
            sampleRate: RATE,
            mediaEncoding: "pcm",
            wires: [["out"], ["events"]],
          },
        ],
        ["out", "events"],
      ),
      { awscfg: { ...EMULATOR_CREDENTIALS } },
    );
    assert.ok(statusTexts(tm()).includes("misconfigured"));
    const logged = loggedTexts(tm()).join(" | ");
    assert.match(logged, /transport must be one of http2, websocket/);
    assert.match(logged, /proxy must not contain a user name or password/);
    assert.ok(!/Pr0xyPa55|proxyuser|carrier-pigeon/.test(logged), logged);
  });

  it("surfaces a credentials rejection once, clearly, without retrying", async () => {
    emu.planFaults({ kind: "reject-auth" });
    await load();
    const events = collect("events");
    const all = collect("caught");
    const caught = nextMessage("caught", 4000);
    await play("enc-auth", 1);
    const err = (await caught).error as { message: string };
    assert.match(
      err.message,
      /the session failed: InvalidSignatureException: The request signature we calculated does not match/,
    );
    await until(() => eventsOf(events).includes("ended"));
    assert.deepEqual(eventsOf(events), ["error", "ended"]);
    assert.equal(emu.rejected.length, 1, "no retry loop");
    // Its later audio is refused, not silently dropped: counted in a few errors, not one per chunk.
    const refusals = all.slice(1).map((m) => (m.error as { message: string }).message);
    assert.ok(refusals.length >= 1 && refusals.length <= 2, refusals.join(" | "));
    let refused = 0;
    for (const m of refusals) {
      assert.match(m, /audio refused: the session stopped on an error \(see the earlier error\)/);
      refused += Number(/(\d+) chunk\(s\)/.exec(m)?.[1]);
    }
    const taken = Math.round((events.at(-1)?.payload as { audioSeconds: number }).audioSeconds * 10);
    assert.equal(refused, 10 - taken, "every chunk after the failure is accounted for");
    await delay(600);
    assert.ok(statusTexts(tm()).includes("error: InvalidSignatureException"), statusTexts(tm()).join(" | "));
  });

  it("closes every open session cleanly on redeploy and leaves nothing running", async () => {
    await load();
    const out = collect("out");
    await play("open-1", 1.5, { end: false });
    await play("open-2", 0.5, { end: false });
    await until(() => emu.activeStreams === 2);
    const started = Date.now();
    await helper.unload();
    assert.ok(Date.now() - started < 3000, "well within Node-RED's close limit");
    await delay(100);
    assert.equal(emu.activeStreams, 0);
    assert.ok(
      emu.streams.every((s) => s.endFrameSeen),
      "ended by the audio's end frame, not cut",
    );
    assert.deepEqual(
      finals(out, "open-1").map((r) => r.text),
      [TEXTS[0]],
    );
  });

  it("hands the finals its streams flush during a full deploy to its next instance, exactly once", async () => {
    await load();
    const before = collect("out");
    await play("cut", 2.5, { end: false });
    await until(() => finals(before, "cut").length === 1);
    // "Mister ... has" heard of the second sentence: its final comes only when the stream ends.
    await play("cut-2", 0.8, { end: false });
    await until(() => emu.activeStreams === 2);
    const { out: after = [], events } = await redeploy(flowOf(), { awscfg: { ...EMULATOR_CREDENTIALS } }, [
      "out",
      "events",
    ]);
    await until(() => finals(after, "cut-2").length === 1);
    assert.equal(emu.activeStreams, 0);
    assert.ok(
      emu.streams.every((s) => s.endFrameSeen),
      "ended cleanly",
    );
    const flushed = finals(after, "cut-2")[0];
    assert.ok(flushed && flushed.words.length > 0, "the words heard before the deploy");
    assert.ok(TEXTS[0]?.startsWith(flushed?.text.replace(/[.,]$/, "") ?? "-"), "from the session's start");
    // "cut" had its first sentence delivered before the deploy; what its stream flushed is what came after.
    await until(() => finals(after, "cut").length === 1);
    await delay(200);
    const cut = [...finals(before, "cut"), ...finals(after, "cut")];
    assert.deepEqual(
      cut.map((r) => r.text),
      [TEXTS[0], `Mister ${PHI_MARKER}`],
    );
    assert.ok((cut[1]?.startTime ?? 0) >= (cut[0]?.endTime ?? Infinity), "nothing delivered twice");
    assert.equal(finals(after, "cut-2").length, 1);
    assert.deepEqual(eventsOf(events ?? [], "cut-2").slice(-1), ["ended"], "and the session's end");
  });

  it("says how many messages it could not deliver when deleted while its streams flushed, without their text", async () => {
    await load();
    await play("gone", 0.8, { end: false });
    await until(() => emu.activeStreams === 1);
    await redeploy(
      flowWithCatch(
        [{ id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint }],
        [],
      ),
      { awscfg: { ...EMULATOR_CREDENTIALS } },
      [],
    );
    await until(() => runtimeWarnings().some((w) => /not delivered/.test(w)));
    const warning = runtimeWarnings().find((w) => /not delivered/.test(w)) ?? "";
    assert.match(
      warning,
      /^transcribe-medical tm: [1-9]\d* messages \(results, session events\) that arrived while the node was stopping were not delivered/,
    );
    assert.doesNotMatch(warning, /Patient|denies|gone/);
  });

  it("closes a session its source forgot after the idle time", async () => {
    await load({ idleTimeoutS: 0.3 });
    const events = collect("events");
    await play("forgot", 1, { end: false });
    await until(() => eventsOf(events).includes("ended"), 2000);
    assert.equal(emu.streams[0]?.endFrameSeen, true);
  });

  it("never puts transcript text or credentials in status texts, logs or errors", async () => {
    emu.planFaults({
      kind: "exception",
      type: "BadRequestException",
      message: "Invalid vocabulary.",
      afterAudioSec: 3.5,
    });
    await load(
      { showSpeakerLabel: true, contentIdentification: "PHI" },
      { accessKeyId: "AKIDMARKERTEST000000", secretAccessKey: SECRET_MARKER },
    );
    const out = collect("out");
    const caught = collect("caught");
    await play("enc-phi", 6);
    await delay(500);
    assert.ok(
      finals(out).some((r) => r.text.includes(PHI_MARKER)),
      "the marker was transcribed",
    );
    const seen = [...statusTexts(tm()), ...loggedTexts(tm()), ...caught.map((m) => JSON.stringify(m.error))];
    for (const t of seen) {
      assert.ok(!t.includes(PHI_MARKER), t);
      assert.ok(!t.includes(SECRET_MARKER), t);
    }
  });

  it("never shows default-chain credentials that the service echoes in an error", async () => {
    // Credentials of the default chain (here: the environment) are not known to the node as secrets.
    const key = "ASIAQWERTYUIOPASDF12";
    const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
    const token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6EXAMPLETOKEN";
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: key,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_SESSION_TOKEN: token,
    });
    delete process.env.AWS_PROFILE;
    try {
      await emu.stop();
      emu = await new AwsTranscribeEmulator({
        fixture,
        clock: "clock",
        idleTimeoutMs: 1500,
        credentials: { [key]: secret },
      }).start();
      emu.planFaults({
        kind: "exception",
        type: "BadRequestException",
        message: `Invalid request.\nauthorization: AWS4-HMAC-SHA256 Credential=${key}/20261205/us-east-1/transcribe/aws4_request, SignedHeaders=host, Signature=${"ab12".repeat(16)}\nx-amz-security-token: ${token} key ${key} secret ${secret}`,
        afterAudioSec: 0.5,
      });
      const flow = flowWithCatch(
        [
          { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
          { id: "tm", type: "transcribe-medical", aws: "awscfg", wires: [["out"], ["events"]] },
        ],
        ["out", "events"],
      );
      await helper.load(modules, flow, {});
      const caught = collect("caught");
      await play("echo", 2);
      await until(() => caught.length > 0);
      await delay(600);
      const errors = caught.map((m) => (m.error as { message: string }).message);
      // An unknown service text may repeat what it was sent: the log and Catch text point to the payload,
      // which carries it scrubbed of credentials.
      assert.ok(
        errors.some((e) =>
          /the session failed: BadRequestException: .*msg\.payload\.error\.serviceMessage/.test(e),
        ),
        errors.join(" | "),
      );
      const served = caught
        .map((m) => (m.payload as { error?: { serviceMessage?: string } } | undefined)?.error?.serviceMessage)
        .find((x) => x !== undefined);
      assert.match(served ?? "", /Invalid request\. authorization/);
      for (const s of [key, secret, token, "ab12ab12"]) assert.ok(!(served ?? "").includes(s), served);
      for (const t of [...errors, ...statusTexts(tm()), ...loggedTexts(tm())]) {
        for (const s of [key, secret, token, "ab12ab12"]) assert.ok(!t.includes(s), t);
        assert.ok(!t.includes("\n"), "no line break from the peer");
      }
    } finally {
      for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  it("runs in a flow audio-in → transcribe-medical → filter-final, through a dropped connection", async () => {
    emu.planFaults({ kind: "reset", afterAudioSec: 2.5 });
    const flow: FlowNode[] = [
      { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
      {
        id: "ain",
        type: "audio-in",
        sampleRate: "16000",
        channels: "mono",
        frameMs: 100,
        pace: "fast",
        endAfterRecording: true,
        compressed: "files",
        idleTimeout: 30,
        maxSessions: 10,
        rawRate: "",
        rawEncoding: "s16le",
        rawChannels: "1",
        wires: [["tm"]],
      },
      {
        id: "tm",
        type: "transcribe-medical",
        aws: "awscfg",
        specialty: "PRIMARYCARE",
        medicalType: "DICTATION",
        sampleRate: RATE,
        mediaEncoding: "pcm",
        idleTimeoutS: 30,
        tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000 },
        wires: [["ff"], ["events"]],
      },
      {
        id: "ff",
        type: "filter-final",
        partials: "drop",
        partialIntervalMs: 1000,
        dropEmpty: true,
        wires: [["out"]],
      },
    ];
    await helper.load([...modules, audioIn, filterFinal], flowWithCatch(flow, ["out", "events"]), {
      awscfg: { ...EMULATOR_CREDENTIALS },
    });
    const out = collect("out");
    const events = collect("events");
    const caught = collect("caught");
    helper.getNode("ain").receive({ topic: "dictation-7", payload: wav(speechClockPcm(0, 6, RATE), RATE) });
    await until(() => eventsOf(events).includes("ended"), 8000);
    assert.deepEqual(caught, []);
    assert.deepEqual(
      results(out).map((r) => [r.text, r.startTime, r.endTime]),
      TEXTS.map((text, i) => [text, ...(TIMES[i] as number[])]),
    );
    assert.deepEqual(eventsOf(events), ["started", "reconnecting", "ended"]);
  });
});

/** A 16-bit mono PCM WAV file around the samples, as a recorder would write it. */
function wav(pcm: Buffer, rate: number): Buffer {
  const h = Buffer.alloc(44);
  h.write("RIFF", 0, "ascii");
  h.writeUInt32LE(36 + pcm.length, 4);
  h.write("WAVEfmt ", 8, "ascii");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "ascii");
  h.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([h, pcm]);
}
