import {
  TranscribeStreamingClient,
  type AudioStream,
  type MedicalTranscriptResultStream,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import {
  AwsStreamSession,
  type SessionEvent,
  type SessionTuning,
} from "../../../../src/providers/aws/session";
import { medicalService, type StreamService } from "../../../../src/providers/aws/service";
import { checkMedicalParams, type MedicalParams } from "../../../../src/providers/aws/params";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { assertTranscriptResult } from "../../../support/contract";
import {
  AwsTranscribeEmulator,
  EMULATOR_CREDENTIALS,
  emulatorClient,
  type Fault,
} from "../../../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../../../emulators/aws/fixture";

const RATE = 16000;
const fixture = scriptedFixture([
  { text: "Patient denies chest pain." },
  { text: "No known drug allergies." },
  { text: "Blood pressure is normal." },
]);

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
  session: AwsStreamSession;
  client: TranscribeStreamingClient;
}

function open(emu: AwsTranscribeEmulator, tuning: Partial<SessionTuning> = {}, p = params()): Run {
  const client = emulatorClient(emu);
  const run: Partial<Run> = { results: [], events: [], client };
  run.session = new AwsStreamSession({
    sessionId: "s1",
    service: medicalService(client, p),
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
async function play(s: AwsStreamSession, fromSec: number, toSec: number, gapMs = 10): Promise<void> {
  for (let t = fromSec; t < toSec - 1e-9; t += 0.1) {
    const r = s.push(speechClockPcm(t, 0.1, RATE));
    assert.ok(r.ok, `push refused: ${JSON.stringify(r)}`);
    await delay(gapMs);
  }
}

const finals = (r: Run): TranscriptResult[] => r.results.filter((x) => x.isFinal);
const fixtureTimes = fixture.map((seg) => [seg.words[0]?.start, seg.words.at(-1)?.end]);

describe("AwsStreamSession against the emulator (real SDK)", () => {
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

  it("gives up after the bounded attempts when every stream fails and no audio comes", async () => {
    for (let i = 0; i < 10; i++) emu.planFaults({ kind: "throttle" });
    const r = open(emu, { maxAttempts: 3 });
    for (let i = 0; i < 10; i++) assert.ok(r.session.push(speechClockPcm(i / 10, 0.1, RATE)).ok);
    await r.session.done;
    r.client.destroy();
    // The first failure saw the audio arrive; then three quiet ones end it.
    assert.equal(r.events.filter((e) => e.event === "reconnecting").length, 3);
    const err = r.events.find((e) => e.event === "error");
    assert.ok(err && err.event === "error");
    assert.match(
      err.error.message,
      /gave up after 3 attempts without new audio: You have reached your limit/,
    );
    assert.match(err.error.message, /1\.0 s of audio not transcribed/, "says what was not transcribed");
    assert.equal(err.resumable, true);
  });

  for (const mode of ["reset", "unavailable"] as const) {
    it(`keeps retrying through an outage (${mode}) longer than the retry budget while audio comes, then resumes: nothing lost, duplicated or dropped`, async () => {
      // Retry budget: 3 attempts at 50, 100, 200 ms; the outage lasts 2 s of wall time.
      const r = open(emu, { maxAttempts: 3 });
      await play(r.session, 0, 2);
      emu.startOutage(mode);
      await play(r.session, 2, 4, 100); // play() asserts that every chunk is accepted
      emu.endOutage();
      await play(r.session, 4, 6);
      await r.session.end();
      r.client.destroy();
      assert.ok(emu.outageRequests > 3, `requests during the outage: ${emu.outageRequests}`);
      assert.ok(!r.events.some((e) => e.event === "error"), JSON.stringify(r.events));
      assert.deepEqual(
        finals(r).map((x) => x.text),
        ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
      );
      assert.deepEqual(
        finals(r).map((x) => [x.startTime, x.endTime]),
        fixtureTimes,
      );
      const ended = r.events.at(-1);
      assert.ok(ended?.event === "ended");
      assert.equal(Math.round(ended.audioSeconds * 10) / 10, 6);
    });
  }

  it("refuses audio beyond its queue during an outage, and accepts it again once the service is back", async () => {
    const r = open(emu, { maxQueueSeconds: 1 });
    await play(r.session, 0, 1);
    emu.startOutage();
    let refused = 0;
    for (let t = 1; t < 3; t += 0.1) {
      const res = r.session.push(speechClockPcm(t, 0.1, RATE));
      if (!res.ok) {
        assert.equal(res.reason, "queue-full");
        refused++;
      }
      await delay(20);
    }
    assert.ok(refused > 0, "the bounded queue refuses");
    emu.endOutage();
    await delay(600);
    assert.ok(r.session.push(speechClockPcm(3, 0.1, RATE)).ok, "accepted again after the outage");
    await r.session.abort();
    r.client.destroy();
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

/** One provider stream of a scripted fake service: reads the audio it wants, yields the events it wants. */
type Script = (audio: AsyncIterator<AudioStream>) => AsyncGenerator<MedicalTranscriptResultStream>;

/** Opens every stream with the next script: the session's view of the service, without a network. */
type Opener = StreamService["open"];

function scripted(...scripts: Script[]): Opener {
  let i = 0;
  return (audio) => {
    const script = scripts[i++];
    assert.ok(script, "no more streams scripted");
    return Promise.resolve(script(audio[Symbol.asyncIterator]()));
  };
}

/** The medical service of `p`, opening its streams with `open`. */
function scriptedService(open: Opener, p: MedicalParams): StreamService {
  return { ...medicalService(new TranscribeStreamingClient({ region: "us-east-1" }), p), open };
}

async function take(audio: AsyncIterator<AudioStream>, n: number, into: Buffer[] = []): Promise<Buffer[]> {
  for (let k = 0; k < n; k++) {
    const r = await audio.next();
    if (r.done === true) break;
    const chunk = r.value.AudioEvent?.AudioChunk;
    if (chunk) into.push(Buffer.from(chunk));
  }
  return into;
}

type W = [text: string, start: number, end: number, confidence?: number];

function finalEvent(id: string, words: W[]): MedicalTranscriptResultStream {
  const items = words.map(([text, start, end, confidence]) => ({
    Content: text,
    StartTime: start,
    EndTime: end,
    Type: /^[.,?]$/.test(text) ? ("punctuation" as const) : ("pronunciation" as const),
    ...(confidence !== undefined ? { Confidence: confidence } : {}),
  }));
  const transcript = words.reduce((t, [w]) => (/^[.,?]$/.test(w) || t === "" ? t + w : `${t} ${w}`), "");
  return {
    TranscriptEvent: {
      Transcript: {
        Results: [
          {
            ResultId: id,
            IsPartial: false,
            StartTime: words[0]?.[1] ?? 0,
            EndTime: words.at(-1)?.[2] ?? 0,
            Alternatives: [{ Transcript: transcript, Items: items }],
          },
        ],
      },
    },
  };
}

function fakeSession(send: Opener, p: MedicalParams, tuning: Partial<SessionTuning> = {}): Run {
  const run: Partial<Run> = { results: [], events: [] };
  run.session = new AwsStreamSession({
    sessionId: "f1",
    service: scriptedService(send, p),
    scheduler: realScheduler,
    tuning: { backoffBaseMs: 10, backoffMaxMs: 20, ...tuning },
    handlers: {
      result: (r) => run.results?.push(r),
      event: (e) => run.events?.push(e),
    },
  });
  return run as Run;
}

describe("AwsStreamSession with a scripted service", () => {
  for (const mediaEncoding of ["ogg-opus", "flac"] as const) {
    it(`sends every byte of a burst of ${mediaEncoding} audio, also after a final result`, async () => {
      const sent: Buffer[] = [];
      const send = scripted(async function* (audio) {
        await take(audio, 5, sent);
        // A final "ending at 5 s": in PCM bytes that is far more than the 20 kB sent so far.
        yield finalEvent("r1", [["hello", 0.2, 5, 0.9]]);
        await take(audio, Infinity, sent);
      });
      const r = fakeSession(send, params({ mediaEncoding }));
      const pushed = Array.from({ length: 100 }, (_, i) => Buffer.alloc(4000, i));
      for (const b of pushed) assert.ok(r.session.push(b).ok);
      await r.session.end();
      assert.equal(Buffer.concat(sent).length, 400_000);
      assert.ok(Buffer.concat(sent).equals(Buffer.concat(pushed)), "every byte, in order");
      assert.deepEqual(
        finals(r).map((x) => x.text),
        ["hello"],
      );
    });
  }

  it("delivers only the new words of a replayed final that straddles what was delivered", async () => {
    const send = scripted(
      async function* (audio) {
        await take(audio, 10);
        yield finalEvent("r1", [
          ["Patient", 0.1, 0.4, 0.9],
          ["stable", 0.45, 0.85, 0.8],
          [".", 0.85, 0.85],
        ]);
        throw Object.assign(new Error("A problem occurred while processing the audio."), {
          name: "InternalFailureException",
        });
      },
      async function* (audio) {
        // The replay starts with the frame at 0.8 s: the service hears "stable" again.
        await take(audio, 1);
        yield finalEvent("r2", [
          ["stable", 0.0, 0.05, 0.7],
          ["today", 0.1, 0.3, 0.6],
          [".", 0.3, 0.3],
        ]);
        await take(audio, Infinity);
      },
    );
    const r = fakeSession(send, params());
    for (let i = 0; i < 12; i++) assert.ok(r.session.push(speechClockPcm(i / 10, 0.1, RATE)).ok);
    await r.session.end();
    assert.deepEqual(
      r.events.map((e) => e.event),
      ["started", "reconnecting", "ended"],
    );
    const [first, second] = finals(r);
    assert.equal(first?.text, "Patient stable.");
    assert.equal(second?.text, "today.", "no word repeated");
    assert.deepEqual(
      second?.words.map((w) => [w.text, w.startTime, w.endTime]),
      [
        ["today", 0.9, 1.1],
        [".", 1.1, 1.1],
      ],
    );
    assert.equal(second?.startTime, 0.9);
    assert.equal(second?.endTime, 1.1);
    assert.equal(second?.confidence, 0.6);
    for (const x of r.results) assertTranscriptResult(x);
  });

  it("continues the times of a reopened session from its first chunk's offset", async () => {
    const send = scripted(async function* (audio) {
      await take(audio, 3);
      yield finalEvent("r1", [["again", 0.1, 0.25, 0.9]]);
      await take(audio, Infinity);
    });
    const run: Partial<Run> = { results: [], events: [] };
    const session = new AwsStreamSession({
      sessionId: "f2",
      service: scriptedService(send, params()),
      scheduler: realScheduler,
      startSeconds: 61.5,
      handlers: { result: (x) => run.results?.push(x), event: () => undefined },
    });
    for (let i = 0; i < 4; i++) assert.ok(session.push(speechClockPcm(61.5 + i / 10, 0.1, RATE)).ok);
    await session.end();
    assert.deepEqual(
      run.results?.map((x) => [x.startTime, x.endTime]),
      [[61.6, 61.75]],
    );
  });
});

describe("AwsStreamSession frames (real SDK, emulator)", () => {
  it("sends 48 kHz stereo in frames of at most 16 KiB of whole samples, every byte once", async () => {
    const emu = await new AwsTranscribeEmulator({ fixture, clock: "clock", idleTimeoutMs: 1500 }).start();
    try {
      const p = params({ sampleRate: 48000, channelIdentification: true });
      const r = open(emu, {}, p);
      const pushed: Buffer[] = [];
      for (let t = 0; t < 6 - 1e-9; t += 0.1) {
        const b = speechClockPcm(t, 0.1, 48000, 2); // 19,200 bytes
        pushed.push(b);
        assert.ok(r.session.push(b).ok);
        await delay(10);
      }
      await r.session.end();
      r.client.destroy();
      const frames = emu.streams[0]?.audio ?? [];
      assert.ok(frames.length > 0);
      for (const f of frames) {
        assert.ok(f.length <= 16 * 1024, `frame of ${f.length} bytes`);
        assert.equal(f.length % 4, 0, "whole stereo samples");
      }
      assert.ok(Buffer.concat(frames).equals(Buffer.concat(pushed)));
      assert.deepEqual(
        finals(r).map((x) => x.text),
        ["Patient denies chest pain.", "No known drug allergies.", "Blood pressure is normal."],
      );
    } finally {
      await emu.stop();
    }
  });
});
