import { strict as assert } from "node:assert";
import { AudioLedger } from "../../../../src/providers/assemblyai/ledger";
import { Liveness } from "../../../../src/providers/assemblyai/liveness";
import {
  connectionUrl,
  MEDICAL_DEFAULTS,
  type StreamingParams,
} from "../../../../src/providers/assemblyai/params";
import {
  AssemblyAiSession,
  type SessionEvent,
  type SessionOptions,
} from "../../../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { assertTranscriptResult } from "../../../support/contract";
import { voicedPcm, type Fixture, type VoicedOptions } from "../../../emulators/assemblyai/fixture";
import {
  assertExactlyOnce,
  audioEndMs,
  dictation,
  FastClock,
} from "../../../emulators/assemblyai/ledger-check";
import {
  AssemblyAiEmulator,
  type EmulatedConnection,
  type EmulatorOptions,
} from "../../../emulators/assemblyai/server";

// Liveness: a connection that answers pings but sends no result is found and replaced, and silence,
// room noise, fluent and slow speech never are taken for a stall. The ledger's account.

describe("Liveness (stall watchdog logic)", () => {
  it("owes an answer only for speech, probes after stallMs, and calls a connection stalled after probeMs", () => {
    const l = new Liveness({ stallMs: 5000, probeMs: 2000 });
    l.sent(100, 100, false);
    assert.equal(l.nextCheckAt(), undefined, "silence is owed nothing");
    l.sent(200, 100, true);
    l.sent(300, 100, true);
    l.sent(400, 100, true);
    assert.equal(l.nextCheckAt(), 5200);
    assert.equal(l.check(5199), "alive");
    assert.equal(l.check(5200), "probe");
    l.probed(5200);
    assert.equal(l.check(7199), "alive");
    assert.equal(l.check(7200), "stalled");
  });

  it("any message clears what is owed; a probe answered is alive", () => {
    const l = new Liveness({ stallMs: 5000, probeMs: 2000 });
    for (let t = 0; t < 1000; t += 100) l.sent(t, 100, true);
    l.probed(5000);
    l.heard();
    assert.equal(l.check(9000), "alive");
    assert.equal(l.nextCheckAt(), undefined);
  });

  it("a click or a cough (under 300 ms of speech) is not a reason to probe", () => {
    const l = new Liveness({ stallMs: 5000, probeMs: 2000 });
    l.sent(0, 100, true);
    l.sent(100, 100, true);
    assert.equal(l.check(60000), "alive");
  });

  it("once the connection acknowledged silence, any audio is owed an answer", () => {
    const l = new Liveness({ stallMs: 5000, probeMs: 2000 });
    l.heard("silence");
    for (let t = 0; t < 1000; t += 100) l.sent(t, 100, false);
    assert.equal(l.check(5000), "probe");
    l.reset();
    for (let t = 0; t < 1000; t += 100) l.sent(t, 100, false);
    assert.equal(l.check(60000), "alive", "a new connection has not shown it acknowledges silence");
  });

  it("is off with stallMs 0", () => {
    const l = new Liveness({ stallMs: 0, probeMs: 2000 });
    for (let t = 0; t < 1000; t += 100) l.sent(t, 100, true);
    assert.equal(l.check(1e9), "alive");
    assert.equal(l.nextCheckAt(), undefined);
  });
});

describe("AudioLedger (the account of a session's audio)", () => {
  it("counts confirmed, in flight, unsent and lost audio; received = confirmed + lost at the end", () => {
    const l = new AudioLedger(0);
    l.receive(5000);
    l.sent(3000);
    assert.equal(l.inFlightMs, 3000);
    assert.equal(l.unsentMs, 2000);
    l.confirm(1200);
    assert.equal(l.unconfirmedMs, 3800);
    assert.equal(l.inFlightMs, 1800);
    // A reconnect could not replay 1.2–2.0 s (fallen out of a full replay buffer).
    assert.equal(l.lose(1200, 2000), 800);
    assert.equal(l.unconfirmedMs, 3000);
    l.confirm(4000);
    assert.equal(l.loseUnconfirmed(), 1000);
    assert.deepEqual(l.account(2), {
      receivedSeconds: 5,
      confirmedSeconds: 3.2,
      lostSeconds: 1.8,
      reconnects: 2,
    });
  });

  it("never confirms or loses beyond what was received, nor twice", () => {
    const l = new AudioLedger(1000);
    l.receive(1000);
    l.confirm(5000);
    assert.equal(l.lose(0, 9000), 0);
    assert.deepEqual(l.account(0), {
      receivedSeconds: 1,
      confirmedSeconds: 1,
      lostSeconds: 0,
      reconnects: 0,
    });
  });
});

interface Run {
  session: AssemblyAiSession;
  results: TranscriptResult[];
  events: SessionEvent[];
}

const reconnects = (r: Run): SessionEvent[] => r.events.filter((e) => e.event === "reconnecting");
const probes = (c: EmulatedConnection): number =>
  c.messages.filter((m) => JSON.stringify(m) === '{"type":"ForceEndpoint"}').length;

/** A live source: 100 ms of voiced audio every 100 ms of the clock, then the end of the session. */
async function live(
  run: Run,
  clock: FastClock,
  fixture: Fixture,
  toMs: number,
  voice: VoicedOptions = {},
  during?: (ms: number) => void,
): Promise<void> {
  const started = clock.now();
  for (let t = 0; t < toMs; t += 100) {
    await clock.until(started + t);
    during?.(t);
    const r = run.session.push(voicedPcm(fixture, t, 100, voice));
    assert.ok(r.ok, r.ok ? "" : r.message);
  }
  await run.session.end();
}

function open(
  emu: AssemblyAiEmulator,
  clock: FastClock,
  o: Partial<SessionOptions> = {},
  p: Partial<StreamingParams> = {},
): Run {
  const params: StreamingParams = { ...MEDICAL_DEFAULTS, acknowledge_silence: true, ...p };
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const session = new AssemblyAiSession(
    {
      sessionId: "enc-1",
      url: connectionUrl(emu.url, params),
      apiKey: "test-api-key",
      params,
      scheduler: clock,
      maxPendingMs: 600000,
      ...o,
    },
    { result: (r) => results.push(r), event: (e) => events.push(e) },
  );
  session.start();
  return { session, results, events };
}

const emulator = (fixture: Fixture, o: Partial<EmulatorOptions> = {}): Promise<AssemblyAiEmulator> =>
  AssemblyAiEmulator.start({
    fixture,
    audioTags: "voiced",
    rateToleranceMs: 1e9,
    // The service's answer to ForceEndpoint (~270 ms), on the fast clock.
    forceEndpointDelayMs: 27,
    ...o,
  });

const endOf = (r: Run): Extract<SessionEvent, { event: "termination" }> => {
  const end = r.events.at(-1);
  assert.ok(end?.event === "termination", `ended with ${end?.event}`);
  return end;
};

describe("AssemblyAI session liveness (against the emulator, on a fast clock)", function () {
  this.timeout(30000);
  let emu: AssemblyAiEmulator;
  afterEach(() => emu.close());

  const silent: Fixture = { turns: [] };
  for (const [what, voice] of [
    ["60 s of silence", {}],
    ["60 s of room noise at a constant level (about -40 dBFS)", { noiseAmplitude: 40 }],
  ] as const) {
    for (const model of ["u3-rt-pro", "universal-streaming-english"] as const) {
      const acks = model === "u3-rt-pro";
      it(`raises no false alarm over ${what} (${model}, ${acks ? "Silence acknowledged" : "nothing sent in silence"})`, async () => {
        emu = await emulator(silent);
        const clock = new FastClock(20);
        const run = open(
          emu,
          clock,
          {},
          { speech_model: model, acknowledge_silence: acks ? true : undefined },
        );
        await live(run, clock, silent, 60000, voice);
        assert.deepEqual(reconnects(run), []);
        assert.equal(emu.connections.length, 1);
        const conn = await emu.connection(0);
        assert.equal(probes(conn), 0, "never probed");
        assert.equal(conn.sentOf("Silence").length > 50, acks);
        assert.equal(endOf(run).account.lostSeconds, 0);
      });
    }
  }

  for (const [what, fixture] of [
    // 20 s without a pause of 800 ms: words 250 ms apart by 60 ms, one turn of 64 words.
    ["fluent speech with no 800 ms pause for 20 s", dictation({ perTurn: 64, turns: 1, gapMs: 60 })],
    // Slow speech: 400 ms words, 700 ms between them (never the 800 ms that ends a U3 Pro turn).
    ["slow speech", dictation({ perTurn: 18, turns: 1, wordMs: 400, gapMs: 700 })],
  ] as const) {
    it(`raises no false alarm over ${what}, the service sending partials only at pauses (every word delivered once)`, async () => {
      emu = await emulator(fixture, { partials: "at-pauses" });
      const clock = new FastClock(10);
      const run = open(emu, clock, {}, { speaker_labels: true });
      await live(run, clock, fixture, audioEndMs(fixture), { noiseAmplitude: 10 });
      assert.deepEqual(reconnects(run), [], "no reconnect");
      assert.equal(emu.connections.length, 1);
      console.log(`      ${probes(await emu.connection(0))} probes, each answered by a final`);
      const end = endOf(run);
      assertExactlyOnce(fixture, run.results, emu.ledger, end.account);
      for (const r of run.results) assertTranscriptResult(r);
    });
  }

  it("finds a stall that still answers pings within stall + probe time, replays, and delivers every word once", async () => {
    const fixture = dictation({ perTurn: 6, turns: 8 });
    emu = await emulator(fixture, { partials: "at-pauses" });
    emu.once("connection", (c: EmulatedConnection) => c.whenContent(6000, () => c.stall()));
    const clock = new FastClock(10);
    const run = open(emu, clock, { pingIntervalMs: 1000, pongTimeoutMs: 1000 });
    let stalledAt = 0;
    await live(run, clock, fixture, audioEndMs(fixture), {}, (t) => {
      if (t === 6000) stalledAt = clock.now();
    });
    const first = await emu.connection(0);
    assert.ok(first.isStalled);
    const reconnecting = reconnects(run);
    assert.equal(reconnecting.length, 1);
    assert.equal(reconnecting[0]?.event === "reconnecting" && reconnecting[0].reason, "stalled");
    assert.equal(probes(first), 1, "one probe, unanswered");
    const end = endOf(run);
    assertExactlyOnce(fixture, run.results, emu.ledger, end.account);
    assert.equal(end.account.reconnects, 1);
    const second = await emu.connection(1);
    const detectedAfter = clock.scaled(second.frames[0]?.at ?? 0) - stalledAt;
    // The stall began at 6.0 s of audio; speech owed from then is probed 5 s after it was due, and the
    // probe is given 2 s: about 7 s, plus the reconnect.
    assert.ok(detectedAfter > 5000 && detectedAfter < 9500, `detected after ${Math.round(detectedAfter)} ms`);
    console.log(`      stall detected and replaced after ${Math.round(detectedAfter)} ms of session time`);
  });

  it("catches up after a reconnect, replaying at twice real time (catch-up time measured)", async () => {
    const fixture = dictation({ perTurn: 6, turns: 10 });
    emu = await emulator(fixture);
    emu.once("connection", (c: EmulatedConnection) => c.whenContent(8000, () => c.drop()));
    const clock = new FastClock(10);
    const run = open(emu, clock);
    const started = clock.now();
    await live(run, clock, fixture, audioEndMs(fixture));
    const second = await emu.connection(1);
    // How far behind live each frame of the new connection arrived: its audio's end against the clock.
    const lags = second.frames
      .filter((f) => f.contentMs !== undefined)
      .map((f) => ({
        at: clock.scaled(f.at) - started,
        lag: clock.scaled(f.at) - started - ((f.contentMs ?? 0) + f.ms),
      }));
    const beginAt = lags[0]?.at ?? 0;
    const backlog = lags[0]?.lag ?? 0;
    const caughtUp = lags.find((l) => l.lag <= 100);
    assert.ok(caughtUp, "the new connection caught up with live audio");
    const catchUpMs = caughtUp.at - beginAt;
    console.log(
      `      replay backlog ${Math.round(backlog)} ms; caught up ${Math.round(catchUpMs)} ms after the new connection began`,
    );
    // At twice real time a backlog B is gone after about B: never the rest of the encounter.
    assert.ok(catchUpMs < backlog * 1.5 + 500, `${catchUpMs} ms for a ${backlog} ms backlog`);
    assertExactlyOnce(fixture, run.results, emu.ledger, endOf(run).account);
  });
});
