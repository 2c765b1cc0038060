import { strict as assert } from "node:assert";
import { checkMedicalParams } from "../../../../src/providers/aws/params";
import { medicalService } from "../../../../src/providers/aws/service";
import {
  AwsStreamSession,
  type SessionEvent,
  type SessionTuning,
} from "../../../../src/providers/aws/session";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { AwsTranscribeEmulator, emulatorClient, epochMs } from "../../../emulators/aws/emulator";
import {
  CLOCK_TICK_SEC,
  scriptedFixture,
  voicedClockPcm,
  type TranscriptFixture,
} from "../../../emulators/aws/fixture";

// Liveness and catch-up of the AWS session (issue #18): a stall is found in seconds while speech goes
// unanswered, never over silence or slow speech; a replay after a reconnect goes faster than real time
// (2x by default) until the stream is live again.

const RATE = 16000;
const FRAME = 0.1;
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
const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  results: TranscriptResult[];
  events: SessionEvent[];
  startedAt: number;
}

/** Pushes `seconds` of the fixture's voiced audio, one frame every `frameWallMs`. */
async function stream(
  emu: AwsTranscribeEmulator,
  fixture: TranscriptFixture,
  seconds: number,
  frameWallMs: number,
  tuning: Partial<SessionTuning>,
): Promise<Outcome> {
  const client = emulatorClient(emu);
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const s = new AwsStreamSession({
    sessionId: "live",
    service: medicalService(client, params),
    scheduler: realScheduler,
    tuning: { backoffBaseMs: 20, backoffMaxMs: 100, ...tuning },
    handlers: { result: (r) => results.push(r), event: (e) => events.push(e) },
  });
  const startedAt = epochMs();
  for (let i = 0; i * FRAME < seconds - 1e-9; i++) {
    s.push(voicedClockPcm(fixture, i * FRAME, FRAME, RATE));
    // Against the clock, not after each push: a push that waited does not slow the source.
    const due = startedAt + (i + 1) * frameWallMs - epochMs();
    if (due > 0) await delay(due);
  }
  await s.end();
  client.destroy();
  return { results, events, startedAt };
}

const reconnects = (o: Outcome) => o.events.filter((e) => e.event === "reconnecting");

describe("AWS streaming session: liveness and catch-up (real SDK, emulator)", function () {
  this.timeout(60000);
  let emu: AwsTranscribeEmulator;
  afterEach(() => emu.stop());

  const speech = scriptedFixture([{ text: "Patient denies chest pain and shortness of breath today." }]);

  it("finds a stall that keeps the connection up within the speech stall time, not the 20 s watchdog", async () => {
    emu = await new AwsTranscribeEmulator({ fixture: speech, clock: "clock" }).start();
    emu.planFaults({ kind: "stall", afterAudioSec: 1.0 });
    const t0 = Date.now();
    const o = await stream(emu, speech, 4, 100, { speechStallMs: 1000 });
    const first = reconnects(o)[0];
    assert.ok(first?.event === "reconnecting");
    assert.equal(first.error.code, "StreamStalled");
    assert.match(first.error.message, /speech/);
    // The stall began at 1 s of audio (1 s of wall time); found within the speech stall time after.
    assert.ok(Date.now() - t0 < 20000);
    assert.equal(emu.streams.length, 2);
    const stalledFor = (emu.streams[1]?.audioAt[0] ?? 0) - (emu.streams[0]?.eventsAt.at(-1) ?? 0);
    assert.ok(stalledFor < 2000, `replaced ${Math.round(stalledFor)} ms after its last answer`);
  });

  it("raises no alarm over a long silence or over slow speech (60 s of audio, 5x real time)", async () => {
    // Words three seconds apart, between long silences; the emulator answers as the service does:
    // partials for words, empty events while audio flows.
    const slow = scriptedFixture([{ text: "Pain." }, { text: "Left." }, { text: "Arm." }], {
      startSec: 20,
      gapSec: 3,
    });
    emu = await new AwsTranscribeEmulator({ fixture: slow, clock: "clock" }).start();
    // At 5x, the 1.2 s speech stall time is 6 s of audio, the 4 s watchdog 20 s. (At 10x the margin
    // between a word's answer and the stall time was 300 ms of wall time: a loaded machine's pause.)
    const o = await stream(emu, slow, 60, 20, { speechStallMs: 1200, watchdogMs: 4000 });
    assert.deepEqual(reconnects(o), [], "no reconnect");
    assert.equal(emu.streams.length, 1);
    assert.deepEqual(
      o.results.filter((r) => r.isFinal).map((r) => r.text),
      ["Pain.", "Left.", "Arm."],
    );
  });

  it("replays at twice real time after a reconnect until it is live again, and says how long that took", async () => {
    const long = scriptedFixture([
      { text: "Blood pressure one twenty over eighty, pulse seventy two, regular." },
      { text: "Start metoprolol twenty five milligrams twice daily." },
    ]);
    emu = await new AwsTranscribeEmulator({ fixture: long, clock: "clock", finalAfterSec: 0.5 }).start();
    // The first stream is cut 3 s in; the first two reconnects are refused: a backlog builds.
    emu.planFaults({ kind: "reset", afterAudioSec: 3 });
    emu.planFaults({ kind: "throttle" });
    emu.planFaults({ kind: "throttle" });
    const o = await stream(emu, long, 14, 100, { backoffBaseMs: 600, backoffMaxMs: 1200, replaySpeed: 2 });
    const replay = emu.streams.at(-1);
    assert.ok(replay);
    // Each frame's script time is in its audio; it was pushed at startedAt + that time.
    const lag = replay.audio.map((frame, i) => {
      const content = (frame.readInt16LE(0) - 1) * CLOCK_TICK_SEC;
      return (replay.audioAt[i] ?? 0) - (o.startedAt + content * 1000);
    });
    const backlogMs = lag[0] ?? 0;
    const liveAt = lag.findIndex((l) => l < 250);
    assert.ok(backlogMs > 1000, `a backlog of ${Math.round(backlogMs)} ms built up`);
    assert.ok(liveAt > 0, "the replay caught up before the audio ended");
    const catchUpMs = (replay.audioAt[liveAt] ?? 0) - (replay.audioAt[0] ?? 0);
    // At 2x a backlog B is gone after about B - burst (2 s go at once); paced, yet faster than real time.
    const expectedMs = Math.max(0, backlogMs - 2000);
    console.log(
      `      catch-up: a backlog of ${(backlogMs / 1000).toFixed(2)} s gone after ${(catchUpMs / 1000).toFixed(2)} s (2x, 2 s burst)`,
    );
    assert.ok(catchUpMs > expectedMs * 0.7, `paced, not a burst (${Math.round(catchUpMs)} ms)`);
    assert.ok(
      catchUpMs < expectedMs * 1.3 + 500,
      `caught up at twice real time (${Math.round(catchUpMs)} ms)`,
    );
    const words = o.results.filter((r) => r.isFinal).flatMap((r) => r.words.filter((w) => w.kind === "word"));
    assert.equal(words.length, long.flatMap((s) => s.words.filter((w) => !w.punctuation)).length);
  });
});
