import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import {
  MedicalStreamSession,
  sdkSender,
  type SessionEvent,
  type SessionTuning,
} from "../../src/providers/aws/session";
import { checkMedicalParams, type MedicalParams } from "../../src/providers/aws/params";
import type { TranscriptResult } from "../../src/transcript/result";
import { realScheduler } from "../../src/util/scheduler";
import { assertTranscriptResult } from "../support/contract";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS, type Fault } from "../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";

const RATE = 16000;
const fixture = scriptedFixture([
  { text: "Patient denies chest pain." },
  { text: "No known drug allergies." },
  { text: "Blood pressure is normal." },
]);
const silentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function params(o: Record<string, unknown> = {}): MedicalParams {
  const c = checkMedicalParams({
    specialty: "PRIMARYCARE",
    type: "CONVERSATION",
    sampleRate: RATE,
    mediaEncoding: "pcm",
    ...o,
  });
  assert.ok(c.ok);
  return c.value;
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Run {
  results: TranscriptResult[];
  events: SessionEvent[];
  session: MedicalStreamSession;
  client: TranscribeStreamingClient;
}

function open(emu: AwsTranscribeEmulator, tuning: Partial<SessionTuning> = {}, p = params()): Run {
  const client = new TranscribeStreamingClient({
    region: "us-east-1",
    endpoint: emu.endpoint,
    credentials: EMULATOR_CREDENTIALS,
    logger: silentLogger,
  });
  const run: Partial<Run> = { results: [], events: [], client };
  run.session = new MedicalStreamSession({
    sessionId: "s1",
    params: p,
    send: sdkSender(client),
    scheduler: realScheduler,
    tuning: { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000, ...tuning },
    secrets: [EMULATOR_CREDENTIALS.secretAccessKey],
    handlers: {
      result: (r) => run.results?.push(r),
      event: (e) => run.events?.push(e),
    },
  });
  return run as Run;
}

/** Plays session audio carrying the speech clock, 100 ms chunks at ten times real time. */
async function play(s: MedicalStreamSession, fromSec: number, toSec: number, gapMs = 10): Promise<void> {
  for (let t = fromSec; t < toSec - 1e-9; t += 0.1) {
    const r = s.push(speechClockPcm(t, 0.1, RATE));
    assert.ok(r.ok, `push refused: ${JSON.stringify(r)}`);
    await delay(gapMs);
  }
}

const finals = (r: Run): TranscriptResult[] => r.results.filter((x) => x.isFinal);
const fixtureTimes = fixture.map((seg) => [seg.words[0]?.start, seg.words.at(-1)?.end]);

describe("MedicalStreamSession against the emulator (real SDK)", () => {
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({ fixture, clock: "clock", idleTimeoutMs: 1500 }).start();
  });
  afterEach(() => emu.stop());

  it("streams a session: finals in order, session times, started and ended events", async () => {
    const r = open(emu);
    await play(r.session, 0, 6);
    await r.session.end();
    r.client.destroy();
    assert.deepEqual(
      finals(r).map((x) => x.text),
      ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
    );
    assert.deepEqual(
      finals(r).map((x) => [x.startTime, x.endTime]),
      fixtureTimes,
    );
    for (const x of r.results) assertTranscriptResult(x);
    assert.deepEqual(
      r.events.map((e) => e.event),
      ["started", "ended"],
    );
    const ended = r.events.at(-1);
    assert.ok(ended?.event === "ended");
    assert.equal(Math.round(ended.audioSeconds), 6);
    assert.equal(emu.streams.length, 1);
    assert.equal(emu.streams[0]?.endFrameSeen, true);
  });

  const faults: Array<[string, Fault]> = [
    ["a reset connection", { kind: "reset", afterAudioSec: 2.5 }],
    ["a clean early end", { kind: "end", afterAudioSec: 2.5 }],
    [
      "an InternalFailureException",
      { kind: "exception", type: "InternalFailureException", afterAudioSec: 2.5 },
    ],
    [
      "a ServiceUnavailableException",
      { kind: "exception", type: "ServiceUnavailableException", afterAudioSec: 2.5 },
    ],
    ["a LimitExceededException", { kind: "exception", type: "LimitExceededException", afterAudioSec: 2.5 }],
    ["a stall (watchdog)", { kind: "stall", afterAudioSec: 2.5 }],
  ];
  for (const [what, fault] of faults) {
    it(`recovers from ${what}: replays uncovered audio, no final lost or duplicated, times continuous`, async () => {
      emu.planFaults(fault);
      const r = open(emu);
      await play(r.session, 0, 6);
      await r.session.end();
      r.client.destroy();
      assert.deepEqual(
        finals(r).map((x) => x.text),
        ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
      );
      assert.deepEqual(
        finals(r).map((x) => [x.startTime, x.endTime]),
        fixtureTimes,
      );
      const events = r.events.map((e) => e.event);
      assert.deepEqual(events, ["started", "reconnecting", "ended"]);
      assert.equal(emu.streams.length, 2);
      // The second stream started with the audio of the segment the failure interrupted.
      const second = Buffer.concat(emu.streams[1]?.audio ?? []);
      const firstTick = second.readInt16LE(0) - 1;
      assert.ok(
        firstTick * 0.01 <= (fixture[1]?.words[0]?.start ?? 0),
        `replay starts at ${firstTick * 0.01}s`,
      );
      assert.ok(
        firstTick * 0.01 >= (fixture[0]?.words.at(-1)?.end ?? 0) - 0.11,
        "covered audio is not replayed",
      );
    });
  }

  it("does not retry a fatal error, and says why", async () => {
    emu.planFaults({ kind: "reject-auth" });
    const r = open(emu);
    void play(r.session, 0, 1).catch(() => undefined);
    await r.session.done;
    r.client.destroy();
    const err = r.events.find((e) => e.event === "error");
    assert.ok(err && err.event === "error");
    assert.equal(err.error.code, "InvalidSignatureException");
    assert.match(err.error.message, /signature we calculated does not match/);
    assert.equal(emu.rejected.length, 1, "no retry");
    assert.ok(!r.events.some((e) => e.event === "reconnecting"));
  });

  it("gives up after the bounded attempts when every stream fails", async () => {
    for (let i = 0; i < 4; i++) emu.planFaults({ kind: "throttle" });
    const r = open(emu, { maxAttempts: 3 });
    void play(r.session, 0, 1).catch(() => undefined);
    await r.session.done;
    r.client.destroy();
    assert.equal(r.events.filter((e) => e.event === "reconnecting").length, 3);
    const err = r.events.find((e) => e.event === "error");
    assert.ok(err && err.event === "error");
    assert.match(err.error.message, /gave up after 3 attempts: You have reached your limit/);
  });

  it("keeps a stream alive through a pause longer than the idle timeout with silence", async () => {
    const r = open(emu, { keepaliveMs: 300 });
    await play(r.session, 0, 1.5);
    await delay(2000);
    await play(r.session, 1.5, 6);
    await r.session.end();
    r.client.destroy();
    assert.equal(emu.streams.length, 1, "no reconnect needed");
    assert.equal(emu.streams[0]?.exceptions.length, 0);
    assert.deepEqual(
      finals(r).map((x) => [x.startTime, x.endTime]),
      fixtureTimes,
      "silence does not shift session times",
    );
  });

  it("rolls over to a new stream before the maximum duration, without a gap", async () => {
    const r = open(emu, { maxStreamMs: 2000 });
    await play(r.session, 0, 6);
    await r.session.end();
    r.client.destroy();
    assert.ok(emu.streams.length >= 3, `streams: ${emu.streams.length}`);
    assert.ok(emu.streams.every((s) => s.endFrameSeen && s.exceptions.length === 0));
    assert.deepEqual(
      finals(r).map((x) => x.text),
      ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
    );
    assert.deepEqual(
      finals(r).map((x) => [x.startTime, x.endTime]),
      fixtureTimes,
    );
    assert.ok(!r.events.some((e) => e.event === "reconnecting"));
  });

  it("refuses audio beyond its bounded queue", async () => {
    const r = open(emu, { maxQueueSeconds: 0.5 });
    // No stream has pulled anything yet at this point: the queue fills.
    const results = Array.from({ length: 10 }, (_, i) => r.session.push(speechClockPcm(i * 0.1, 0.1, RATE)));
    assert.ok(results.some((x) => !x.ok && x.reason === "queue-full"));
    await r.session.abort();
    r.client.destroy();
  });

  it("abort ends everything at once", async () => {
    const r = open(emu);
    await play(r.session, 0, 1);
    await r.session.abort();
    r.client.destroy();
    assert.equal(r.events.at(-1)?.event, "ended");
    await delay(100);
    assert.equal(emu.activeStreams, 0);
  });

  it("takes a new session id after a ConflictException, and keeps it on other reconnects", async () => {
    emu.planFaults({ kind: "exception", type: "ConflictException", afterAudioSec: 1 });
    emu.planFaults({ kind: "reset", afterAudioSec: 1 });
    const r = open(emu);
    await play(r.session, 0, 6);
    await r.session.end();
    r.client.destroy();
    const ids = emu.streams.map((x) => x.headers["x-amzn-transcribe-session-id"]);
    assert.equal(ids.length, 3);
    assert.notEqual(ids[0], ids[1], "a new id after the conflict");
    assert.equal(ids[1], ids[2], "the same id after a reset");
    assert.deepEqual(
      finals(r).map((x) => x.text),
      ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
    );
  });

  it("does not reconnect a compressed (flac) stream, whose audio cannot be replayed from the middle", async () => {
    emu.planFaults({ kind: "reset", afterAudioSec: 1 });
    const r = open(emu, {}, params({ mediaEncoding: "flac" }));
    void play(r.session, 0, 3).catch(() => undefined);
    await r.session.done;
    r.client.destroy();
    assert.equal(emu.streams.length, 1);
    assert.deepEqual(
      r.events.map((e) => e.event),
      ["started", "error", "ended"],
    );
  });
});
