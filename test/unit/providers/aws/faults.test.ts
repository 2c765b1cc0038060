import { strict as assert } from "node:assert";
import { checkMedicalParams } from "../../../../src/providers/aws/params";
import { medicalService } from "../../../../src/providers/aws/service";
import {
  AwsStreamSession,
  type SessionEvent,
  type SessionTuning,
} from "../../../../src/providers/aws/session";
import type { SessionAccount } from "../../../../src/providers/session-account";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { clientWebSocketTransport } from "../../../../src/providers/aws/websocket";
import { assertTranscriptResult } from "../../../support/contract";
import {
  AwsTranscribeEmulator,
  emulatorClient,
  EMULATOR_CREDENTIALS,
  type Fault,
} from "../../../emulators/aws/emulator";
import { scriptedFixture, voicedClockPcm, type FixtureWord } from "../../../emulators/aws/fixture";

// The fault matrix (issue #18): every fault the service or the network can throw at a stream, at every
// moment of a session, through the real SDK and the real session. Afterwards every word the audio
// carried must have been delivered in a final exactly once, by the emulator's own script (which words it
// recognised where), no partial may be left on screen, and the account must add up.

const RATE = 16000;
const FRAME = 0.1;
const fixture = scriptedFixture(
  [
    { text: "Patient denies chest pain." },
    { text: "No, no shortness of breath." },
    { text: "Blood pressure one twenty over eighty." },
    { text: "Start metoprolol twenty five milligrams." },
  ],
  { gapSec: 0.5 },
);
const spoken: FixtureWord[] = fixture.flatMap((s) => s.words.filter((w) => !w.punctuation));
const AUDIO_SEC = Math.ceil(((spoken.at(-1)?.end ?? 0) + 0.4) * 10) / 10;

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
  backoffMaxMs: 100,
  watchdogMs: 1500,
  speechStallMs: 600,
  openTimeoutMs: 2000,
  endAnswerMs: 1000,
  // Audio is pushed at ten times real time here: no replay pacing in the matrix (tested on its own).
  replayBurstSeconds: 30,
};

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  results: TranscriptResult[];
  events: SessionEvent[];
  account: SessionAccount;
}

type Transport = "http2" | "websocket";

async function session(
  emu: AwsTranscribeEmulator,
  transport: Transport,
  during?: (at: number) => void,
): Promise<Outcome> {
  const client = emulatorClient(emu);
  const ws =
    transport === "websocket"
      ? clientWebSocketTransport(client, { region: "us-east-1", endpoint: emu.wsEndpoint }, realScheduler)
      : undefined;
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const s = new AwsStreamSession({
    sessionId: "matrix",
    service: medicalService(client, params, ws),
    scheduler: realScheduler,
    tuning: TUNING,
    secrets: [EMULATOR_CREDENTIALS.secretAccessKey],
    handlers: { result: (r) => results.push(r), event: (e) => events.push(e) },
  });
  for (let t = 0; t < AUDIO_SEC - 1e-9; t += FRAME) {
    s.push(voicedClockPcm(fixture, t, FRAME, RATE));
    during?.(t);
    await delay(10);
  }
  await s.end();
  client.destroy();
  return { results, events, account: s.account };
}

type Word = TranscriptResult["words"][number];

/**
 * Pairs delivered words with the script's, one to one, in order (same text, start within 0.6 s: the
 * replays are re-timed by 0.3 s): what is left on either side was missed or delivered twice.
 */
function pair(delivered: Word[], script: FixtureWord[]): { missed: FixtureWord[]; extra: Word[] } {
  const extra = [...delivered];
  const missed: FixtureWord[] = [];
  for (const w of script) {
    const at = extra.findIndex(
      (d) => d.text.toLowerCase() === w.text.toLowerCase() && Math.abs(d.startTime - w.start) < 0.6,
    );
    if (at < 0) missed.push(w);
    else extra.splice(at, 1);
  }
  return { missed, extra };
}

const wordsOf = (o: Outcome): Word[] =>
  o.results.filter((r) => r.isFinal).flatMap((r) => r.words.filter((w) => w.kind === "word"));

/** Every spoken word in the finals exactly once, near its script time; the words in order. */
function assertExactlyOnce(o: Outcome, what: string): void {
  for (const r of o.results) assertTranscriptResult(r);
  const delivered = wordsOf(o);
  const { missed, extra } = pair(delivered, spoken);
  assert.deepEqual(
    missed.map((w) => `${w.text}@${w.start}`),
    [],
    `${what}: words never delivered`,
  );
  assert.deepEqual(
    extra.map((d) => `${d.text}@${d.startTime}`),
    [],
    `${what}: words delivered twice or never spoken`,
  );
  assert.deepEqual(
    delivered.map((d) => d.text.toLowerCase()),
    spoken.map((w) => w.text.toLowerCase()),
    `${what}: in spoken order`,
  );
}

/** Every partial shown was followed by its segment's final or withdrawn. */
function assertNothingLeftOpen(o: Outcome, what: string): void {
  const open = new Set<string>();
  for (const r of o.results) {
    if (r.isFinal || r.withdrawn === true) open.delete(r.segmentId);
    else open.add(r.segmentId);
  }
  assert.deepEqual([...open], [], `${what}: partials left on screen`);
}

function assertAccount(o: Outcome, lost: "none" | "some", what: string): void {
  const a = o.account;
  assert.ok(Math.abs(a.receivedSeconds - AUDIO_SEC) < 0.01, `${what}: received ${a.receivedSeconds}`);
  assert.ok(
    Math.abs(a.receivedSeconds - a.confirmedSeconds - a.lostSeconds) < 0.002,
    `${what}: received = confirmed + lost (${JSON.stringify(a)})`,
  );
  const ended = o.events.filter((e) => e.event === "ended");
  assert.equal(ended.length, 1, `${what}: one ended event`);
  assert.deepEqual(ended[0]?.event === "ended" ? ended[0].account : undefined, a);
  if (lost === "none") assert.equal(a.lostSeconds, 0, `${what}: nothing lost`);
  else assert.ok(a.lostSeconds > 0, `${what}: the loss is counted`);
}

const LAST = Math.round((AUDIO_SEC - FRAME) * 10) / 10;
const moments: Array<[string, (f: Fault) => Fault[][]]> = [
  ["before the first result", (f) => [[{ ...f, afterAudioSec: 0.1 }]]],
  ["mid-segment", (f) => [[{ ...f, afterAudioSec: 1.0 }]]],
  ["on the last frame", (f) => [[{ ...f, afterAudioSec: LAST }]]],
  ["after the end-of-audio signal", (f) => [[{ ...f, atEndFrame: true }]]],
  // The first stream fails mid-segment, and so does the first reconnect, before any result.
  ["during a reconnect", (f) => [[{ ...f, afterAudioSec: 1.0 }], [{ ...f, afterAudioSec: 0.1 }]]],
  // The second stream fails while it is still replaying what the first left unconfirmed.
  ["during replay", (f) => [[{ ...f, afterAudioSec: 4.0 }], [{ ...f, afterAudioSec: 0.6 }]]],
];
const faults: Array<[string, Fault]> = [
  ["a reset stream", { kind: "reset" }],
  ["a GOAWAY", { kind: "goaway" }],
  ["a TCP reset", { kind: "tcp-reset" }],
  ["a silent end", { kind: "end" }],
  ["a destroyed connection", { kind: "destroy" }],
  ["a stall (HTTP/2 pings still answered)", { kind: "stall" }],
  ["an InternalFailureException", { kind: "exception", type: "InternalFailureException" }],
  ["throttling (LimitExceededException mid-stream)", { kind: "exception", type: "LimitExceededException" }],
];

for (const transport of ["http2", "websocket"] as const)
  describe(`AWS streaming session over ${transport}: fault matrix (real SDK, emulator with re-timed replays)`, function () {
    this.timeout(20000);
    let emu: AwsTranscribeEmulator;
    beforeEach(async () => {
      // Finals wait for 0.5 s of pause, so the last segment is still open when the audio ends (0.4 s on).
      emu = await new AwsTranscribeEmulator({
        fixture,
        clock: "clock",
        retimeSec: 0.3,
        finalAfterSec: 0.5,
      }).start();
    });
    afterEach(() => emu.stop());

    it("delivers every word once with no fault (the baseline the matrix is held to)", async () => {
      const o = await session(emu, transport);
      assertExactlyOnce(o, "no fault");
      assertNothingLeftOpen(o, "no fault");
      assertAccount(o, "none", "no fault");
      assert.equal(o.account.reconnects, 0);
    });

    for (const [faultName, fault] of faults) {
      for (const [moment, plan] of moments) {
        const what = `${faultName} ${moment}`;
        it(`recovers from ${what}: every word once, nothing left open, nothing lost`, async () => {
          for (const faultsOfStream of plan(fault)) emu.planFaults(...faultsOfStream);
          const o = await session(emu, transport);
          assertExactlyOnce(o, what);
          assertNothingLeftOpen(o, what);
          assertAccount(o, "none", what);
          assert.ok(o.account.reconnects >= 1, `${what}: reconnected`);
          assert.equal(o.events.filter((e) => e.event === "error").length, 0);
          assert.ok(
            emu.streams.every((r) => r.transport === transport),
            `${what}: every stream went over ${transport}`,
          );
        });
      }
    }

    it("recovers from throttling when the reconnect itself is refused (429 LimitExceeded)", async () => {
      emu.planFaults({ kind: "reset", afterAudioSec: 1.0 });
      emu.planFaults({ kind: "throttle" });
      emu.planFaults({ kind: "throttle" });
      const o = await session(emu, transport);
      assertExactlyOnce(o, "throttled reconnect");
      assertAccount(o, "none", "throttled reconnect");
      assert.equal(o.account.reconnects, 3);
    });

    it("withdraws the partial of a segment cut by a lost connection before its words come again", async () => {
      emu.planFaults({ kind: "reset", afterAudioSec: 1.0 });
      const o = await session(emu, transport);
      const withdrawn = o.results.filter((r) => r.withdrawn === true);
      assert.ok(withdrawn.length >= 1, "the cut segment's partial is withdrawn");
      const cut = withdrawn[0]?.segmentId;
      const at = o.results.findIndex((r) => r.withdrawn === true);
      assert.ok(
        o.results.slice(at + 1).every((r) => r.segmentId !== cut),
        "nothing more comes under a withdrawn segment id",
      );
    });

    it("when the service stays down after the end of the audio, names the seconds not transcribed", async () => {
      emu.planFaults({ kind: "reset", afterAudioSec: 4.0 });
      let out = false;
      const o = await session(emu, transport, (t) => {
        // The outage begins as the second stream replays; nothing answers again.
        if (!out && t >= 4.5) {
          out = true;
          emu.startOutage("unavailable");
        }
      });
      const errors = o.events.filter((e) => e.event === "error");
      assert.equal(errors.length, 1);
      const error = errors[0];
      assert.ok(error?.event === "error");
      assert.match(error.error.message, /\d+\.\d s of audio not transcribed/);
      assertAccount(o, "some", "outage");
      assert.equal(error.lostSeconds, o.account.lostSeconds);
      // What was delivered is exact: every word up to the confirmed point once, none twice; what was not
      // delivered lies in the lost tail.
      const { missed, extra } = pair(wordsOf(o), spoken);
      assert.deepEqual(
        extra.map((d) => `${d.text}@${d.startTime}`),
        [],
        "no word twice",
      );
      const confirmedUntil = o.account.confirmedSeconds;
      assert.ok(missed.length > 0, "the outage cost words");
      for (const w of missed)
        assert.ok(w.end > confirmedUntil - 0.6, `"${w.text}" missed inside the confirmed part`);
      assertNothingLeftOpen(o, "outage");
    });
  });
