import { strict as assert } from "node:assert";
import type { Node, NodeMessage } from "node-red";
import type { TranscriptResult } from "../../src/transcript/result";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";
import { audioChunks, play as playChunks } from "../support/audio-messages";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";

const PII_MARKER = "Zzpiimarker";
const SECRET_MARKER = "ZZ-SECRET-MARKER-4711-abcdefghijklmnop";
const fixture = scriptedFixture([
  { text: "El paciente niega dolor torácico." },
  { text: `Se llama [PHI]${PII_MARKER} y no tiene alergias.` },
  { text: "La presión arterial es normal." },
]);
const TEXTS = [
  "El paciente niega dolor torácico.",
  `Se llama ${PII_MARKER} y no tiene alergias.`,
  "La presión arterial es normal.",
];
const modules = [builtNode("aws-transcribe-config"), builtNode("transcribe-standard")];
const audioIn = builtNode("audio-in");

let emu: AwsTranscribeEmulator;

function load(config: Record<string, unknown> = {}, credentials = EMULATOR_CREDENTIALS): Promise<void> {
  const nodes: FlowNode[] = [
    { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: emu.endpoint },
    {
      id: "ts",
      type: "transcribe-standard",
      aws: "awscfg",
      languageMode: "fixed",
      languageCode: "es-US",
      languageOptions: "",
      preferredLanguage: "",
      sampleRate: 16000,
      mediaEncoding: "pcm",
      stability: "",
      showSpeakerLabel: false,
      channelIdentification: false,
      vocabularyNames: "",
      vocabularyFilterNames: "",
      vocabularyFilterMethod: "mask",
      pii: "",
      piiEntityTypes: "",
      languageModelName: "",
      keepRaw: false,
      idleTimeoutS: 30,
      tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000, closeTimeoutMs: 2000 },
      wires: [["out"], ["events"]],
      ...config,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["out", "events"]), { awscfg: { ...credentials } });
}

const ts = (): Node => helper.getNode("ts");

/** Plays a session as audio-in sends it (100 ms chunks), ten times faster than real time. */
async function play(sessionId: string, seconds: number, rate = 16000): Promise<void> {
  await playChunks(
    (m) => ts().receive(m),
    audioChunks(sessionId, Math.round(seconds * 10), { rate, end: true }),
    10,
  );
}

const results = (msgs: NodeMessage[]): TranscriptResult[] => msgs.map((m) => m.payload as TranscriptResult);
const finals = (msgs: NodeMessage[]): TranscriptResult[] => results(msgs).filter((r) => r.isFinal);
const eventsOf = (msgs: NodeMessage[]): string[] => msgs.map((m) => (m.payload as { event: string }).event);

describe(`transcribe-standard node (${runtimeLabel})`, function () {
  this.timeout(15000);
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({
      fixture,
      spokenLanguage: "es-US",
      clock: "clock",
      idleTimeoutMs: 1500,
      credentials: {
        [EMULATOR_CREDENTIALS.accessKeyId]: EMULATOR_CREDENTIALS.secretAccessKey,
        AKIDMARKERTEST000000: SECRET_MARKER,
      },
    }).start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  it("starts with only id, type, z, wires and its AWS configuration, and streams with the editor's defaults", async () => {
    const flow = flowWithCatch(
      [
        { id: "awscfg", type: "aws-transcribe-config", endpoint: emu.endpoint },
        { id: "ts", type: "transcribe-standard", aws: "awscfg", wires: [["out"], ["events"]] },
      ],
      ["out", "events"],
    );
    await helper.load(modules, flow, { awscfg: { ...EMULATOR_CREDENTIALS } });
    assert.deepEqual(statusTexts(ts()), ["idle"]);
    const out = collect("out");
    const events = collect("events");
    await play("minimal", 7);
    await until(() => eventsOf(events).includes("ended"));
    assert.deepEqual(
      finals(out).map((r) => [r.text, r.language]),
      TEXTS.map((t) => [t, "es-US"]),
    );
    const headers = emu.streams[0]?.headers ?? {};
    assert.equal(headers["x-amzn-transcribe-language-code"], "es-US");
    assert.equal(headers["x-amzn-transcribe-sample-rate"], "16000");
  });

  it("transcribes a Spanish session on the standard endpoint: valid results in es-US, events on output 2", async () => {
    await load({ stability: "high" });
    const out = collect("out");
    const events = collect("events");
    await play("enc-es", 7);
    await until(() => eventsOf(events).includes("ended"));
    for (const m of out) {
      assertTranscriptResult(m.payload);
      assert.equal(m.topic, "enc-es");
    }
    assert.deepEqual(
      finals(out).map((r) => [r.text, r.language, r.provider]),
      TEXTS.map((t) => [t, "es-US", "aws-transcribe"]),
    );
    assert.ok(
      results(out).some((r) => !r.isFinal && r.words.some((w) => w.stable === true)),
      "stable words of partials come early",
    );
    assert.deepEqual(eventsOf(events), ["started", "ended"]);
    const rec = emu.streams[0];
    assert.equal(rec?.headers[":path"], "/stream-transcription");
    assert.equal(rec?.headers["x-amzn-transcribe-language-code"], "es-US");
    assert.equal(rec?.headers["x-amzn-transcribe-partial-results-stability"], "high");
    assert.equal(rec?.chunkSignaturesOk, true);
    assert.deepEqual(statusTexts(ts()).slice(0, 1), ["idle"]);
  });

  it("identifies the language: und before identification, es-US after; options and preference on the wire", async () => {
    await load({
      languageMode: "identify",
      languageOptions: "en-US, es-US, fr-FR",
      preferredLanguage: "es-US",
      keepRaw: true,
    });
    const out = collect("out");
    const events = collect("events");
    await play("enc-id", 7);
    await until(() => eventsOf(events).includes("ended"));
    assert.equal(results(out)[0]?.language, "und");
    assert.deepEqual(
      finals(out).map((r) => r.language),
      ["es-US", "es-US", "es-US"],
    );
    const raw = (out.at(-1) as NodeMessage & { raw?: { Transcript?: { Results?: unknown[] } } }).raw;
    assert.ok(JSON.stringify(raw).includes("LanguageIdentification"), "scores travel in msg.raw");
    const h = emu.streams[0]?.headers ?? {};
    assert.equal(h["x-amzn-transcribe-identify-language"], "true");
    assert.equal(h["x-amzn-transcribe-language-options"], "en-US,es-US,fr-FR");
    assert.equal(h["x-amzn-transcribe-preferred-language"], "es-US");
    assert.equal(h["x-amzn-transcribe-language-code"], undefined);
  });

  it("refuses a combination the service rejects at deploy, with a red status and the setting named", async () => {
    await load({ languageMode: "identify", languageOptions: "en-US, es-US", pii: "redact" });
    assert.ok(statusTexts(ts()).includes("misconfigured"));
    const caught = nextMessage("caught");
    ts().receive({ topic: "x", payload: Buffer.alloc(3200) });
    assert.match(
      ((await caught).error as { message: string }).message,
      /transcribe-standard: PII redaction cannot be combined with language identification/,
    );
    await helper.unload();
    await load({ languageCode: "xx-XX" });
    assert.ok(loggedTexts(ts()).some((t) => /language "xx-XX" is not a streaming language/.test(t)));
    assert.equal(emu.streams.length, 0);
  });

  for (const transport of ["http2", "websocket"] as const)
    it(`runs 8 kHz telephony from audio-in through a dropped connection over ${transport}: each final once, in order`, async () => {
      emu.planFaults({ kind: "reset", afterAudioSec: 2.5 });
      const flow: FlowNode[] = [
        {
          id: "awscfg",
          type: "aws-transcribe-config",
          region: "us-east-1",
          endpoint: transport === "websocket" ? emu.wsEndpoint : emu.endpoint,
          transport,
        },
        {
          id: "ain",
          type: "audio-in",
          sampleRate: "8000",
          channels: "mono",
          frameMs: 100,
          pace: "fast",
          endAfterRecording: true,
          compressed: "files",
          idleTimeout: 30,
          maxSessions: 10,
          rawRate: "8000",
          rawEncoding: "s16le",
          rawChannels: "1",
          wires: [["ts"]],
        },
        {
          id: "ts",
          type: "transcribe-standard",
          aws: "awscfg",
          languageMode: "fixed",
          languageCode: "es-US",
          sampleRate: 8000,
          mediaEncoding: "pcm",
          pii: "redact",
          idleTimeoutS: 30,
          tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000 },
          wires: [["out"], ["events"]],
        },
      ];
      await helper.load([...modules, audioIn], flowWithCatch(flow, ["out", "events"]), {
        awscfg: { ...EMULATOR_CREDENTIALS },
      });
      const out = collect("out");
      const events = collect("events");
      const caught = collect("caught");
      helper.getNode("ain").receive({
        topic: "call-7",
        payload: speechClockPcm(0, 7, 8000),
        rate: 8000,
        bits: 16,
        channels: 1,
        encoding: "signed-integer",
        audio: { end: true },
      });
      await until(() => eventsOf(events).includes("ended"), 8000);
      assert.deepEqual(caught, []);
      assert.deepEqual(
        finals(out).map((r) => r.text),
        [TEXTS[0], "Se llama [PII] y no tiene alergias.", TEXTS[2]],
      );
      assert.deepEqual(eventsOf(events), ["started", "reconnecting", "ended"]);
      assert.equal(emu.streams[1]?.headers["x-amzn-transcribe-sample-rate"], "8000");
      assert.equal(emu.streams[1]?.headers["x-amzn-transcribe-content-redaction-type"], "PII");
      assert.deepEqual(
        emu.streams.map((r) => [r.transport, r.headers[":path"]]),
        [0, 1].map(() => [
          transport,
          transport === "websocket" ? "/stream-transcription-websocket" : "/stream-transcription",
        ]),
      );
    });

  it("never puts transcript text or credentials in status texts, logs or errors", async () => {
    emu.planFaults({
      kind: "exception",
      type: "BadRequestException",
      message: "Invalid vocabulary.",
      afterAudioSec: 5,
    });
    await load({ pii: "identify" }, { accessKeyId: "AKIDMARKERTEST000000", secretAccessKey: SECRET_MARKER });
    const out = collect("out");
    const caught = collect("caught");
    await play("enc-pii", 7);
    await delay(500);
    const marked = finals(out).find((r) => r.text.includes(PII_MARKER));
    assert.ok(marked, "the marker was transcribed");
    assert.deepEqual(
      marked.entities?.map((e) => [e.category, e.type, e.text]),
      [["PII", "NAME", PII_MARKER]],
    );
    assert.ok(caught.length > 0, "the failure reached the catch node");
    const seen = [...statusTexts(ts()), ...loggedTexts(ts()), ...caught.map((m) => JSON.stringify(m.error))];
    for (const t of seen) {
      assert.ok(!t.includes(PII_MARKER), t);
      assert.ok(!t.includes(SECRET_MARKER), t);
    }
  });

  it("ends every open session cleanly on redeploy and leaves no stream open", async () => {
    await load();
    const out = collect("out");
    for (let i = 0; i < 20; i++) {
      ts().receive({
        topic: "open",
        payload: speechClockPcm(i / 10, 0.1, 16000),
        audio: { sessionId: "open", seq: i, sampleRate: 16000, channels: 1, encoding: "pcm_s16le" },
      });
      await delay(10);
    }
    await until(() => emu.activeStreams === 1);
    await helper.unload();
    assert.equal(emu.activeStreams, 0);
    assert.equal(emu.streams[0]?.endFrameSeen, true, "the audio was ended, not cut");
    assert.deepEqual(
      finals(out).map((r) => r.text),
      [TEXTS[0]],
    );
  });
});
