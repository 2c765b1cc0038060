import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AudioInputError } from "../../../src/audio/format";
import { MAX_QUEUED_BYTES, MAX_QUEUED_INPUTS } from "../../../src/audio/session";
import { AudioSessions, type AudioInOptions, type OutgoingChunk } from "../../../src/audio/sessions";
import { tone, wavOf } from "../../support/audio-fixtures";
import { ManualScheduler } from "../../support/manual-scheduler";

const defaults: AudioInOptions = {
  sampleRate: 16000,
  channels: "mono",
  frameMs: 100,
  realTime: false,
  maxAheadMs: 60000,
  idleTimeoutMs: 0,
  maxSessions: 10,
  endAfterRecording: true,
  rawDefault: undefined,
  compressedStream: false,
};

function setup(
  options: Partial<AudioInOptions> = {},
  scheduler?: ManualScheduler,
  onError?: (e: Error) => void,
) {
  const chunks: OutgoingChunk[] = [];
  const sessions = new AudioSessions({ ...defaults, ...options }, (c) => chunks.push(c), scheduler, onError);
  const of = (id: string) => chunks.filter((c) => c.audio.sessionId === id);
  return { sessions, chunks, of };
}

const codeOf = (p: Promise<void> | undefined): Promise<string> =>
  Promise.resolve(p).then(
    () => "ok",
    (e: unknown) => (e instanceof AudioInputError ? e.code : String(e)),
  );

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("audio-in session bounds: what a flow can make grow is bounded, with a clear error at the bound", () => {
  it("counts sessions that have ended but still send a recording against the session limit", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ realTime: true, maxSessions: 2 }, clock);
    // 1.5 s: framed at once (one slice), then paced for 1.5 s.
    const recording = wavOf(tone(440, 1.5, 16000), { rate: 16000, channels: 1, bits: 16 });
    await sessions.handle({ topic: "a", payload: recording });
    await sessions.handle({ topic: "b", payload: recording });
    assert.equal(sessions.size, 0, "both recordings ended their sessions");
    assert.equal(sessions.active, 2, "and both still send, paced at real time");
    const refused = sessions.handle({ topic: "c", payload: recording });
    await assert.rejects(
      async () => refused,
      (e: unknown) =>
        e instanceof AudioInputError &&
        e.code === "TOO_MANY_SESSIONS" &&
        /already carries 2 sessions \(open, or ended and still sending\), its limit/.test(e.message),
    );
    clock.advance(2000);
    await turn();
    assert.equal(of("a").at(-1)?.audio.end, true);
    assert.equal(sessions.active, 0, "sent: the slots are free");
    await sessions.handle({ topic: "c", payload: recording });
    sessions.close();
  });

  it("refuses inputs beyond MAX_QUEUED_INPUTS waiting in one session with QUEUE_FULL, and keeps the session", async () => {
    const clock = new ManualScheduler();
    const { sessions, of } = setup({ realTime: true, endAfterRecording: false }, clock);
    // A 30 s recording, paced at real time: the clock does not move, so it keeps the session busy.
    const recording = sessions.handle({
      topic: "s",
      payload: wavOf(tone(440, 30, 16000), { rate: 16000, channels: 1, bits: 16 }),
    });
    const live = tone(300, 0.02, 16000);
    const outcomes: Array<Promise<string>> = [];
    for (let i = 0; i < MAX_QUEUED_INPUTS + 5; i++) {
      outcomes.push(codeOf(sessions.handle({ topic: "s", payload: live, audio: { sampleRate: 16000 } })));
    }
    const settled = await Promise.race([Promise.all(outcomes.slice(-5)), turn().then(() => "pending")]);
    assert.deepEqual(settled, ["QUEUE_FULL", "QUEUE_FULL", "QUEUE_FULL", "QUEUE_FULL", "QUEUE_FULL"]);
    const text = await Promise.resolve(
      sessions.handle({ topic: "s", payload: live, audio: { sampleRate: 16000 } }),
    ).catch((e: Error) => e.message);
    assert.match(
      String(text),
      /already has 1000 inputs .* waiting to be framed; accepted: at most 1000 inputs and 256 MiB waiting per session/,
    );
    // Time passes: the recording and the queued live audio are framed, in order, and the session goes on.
    for (let t = 0; t < 60; t++) {
      clock.advance(1000);
      await turn();
    }
    await recording;
    const first = await Promise.all(outcomes.slice(0, MAX_QUEUED_INPUTS - 1));
    assert.ok(first.every((c) => c === "ok"));
    assert.equal(sessions.size, 1);
    assert.equal(of("s").at(-1)?.audio.end, undefined);
    sessions.close();
  });

  it("refuses audio beyond MAX_QUEUED_BYTES waiting in one session", async () => {
    const clock = new ManualScheduler();
    const { sessions } = setup({ realTime: true, endAfterRecording: false }, clock);
    const running = sessions.handle({
      topic: "s",
      payload: wavOf(tone(440, 30, 16000), { rate: 16000, channels: 1, bits: 16 }),
    });
    // One large Buffer, never written: its pages are not touched until it is framed.
    const big = Buffer.alloc(MAX_QUEUED_BYTES / 2 + 1024);
    const first = codeOf(sessions.handle({ topic: "s", payload: big, audio: { sampleRate: 16000 } }));
    const second = codeOf(sessions.handle({ topic: "s", payload: big, audio: { sampleRate: 16000 } }));
    assert.equal(await second, "QUEUE_FULL");
    sessions.close();
    assert.equal(await first, "ok");
    await running;
  });

  it("holds a compressed stream sent faster than ffmpeg takes it in the queue, refusing pieces beyond it", async function () {
    this.timeout(30000);
    const dir = mkdtempSync(join(tmpdir(), "stream-"));
    try {
      const file = join(dir, "long.ogg");
      execFileSync("ffmpeg", [
        "-loglevel",
        "error",
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=300",
        "-ar",
        "48000",
        "-c:a",
        "libopus",
        "-b:a",
        "16k",
        file,
      ]);
      const ogg = readFileSync(file);
      const clock = new ManualScheduler();
      const { sessions } = setup({ realTime: true, compressedStream: true }, clock);
      const outcomes: Array<Promise<string>> = [];
      for (let at = 0; at < ogg.length; at += 100) {
        outcomes.push(codeOf(sessions.handle({ topic: "s", payload: ogg.subarray(at, at + 100) })));
        // Let ffmpeg read and write now and then, as it would between messages.
        if (at % 20_000 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      const settled = await Promise.all(outcomes.map((o) => Promise.race([o, turn().then(() => "waiting")])));
      const count = (code: string): number => settled.filter((c) => c === code).length;
      assert.ok(count("QUEUE_FULL") > 0, "pieces beyond the queue are refused");
      assert.ok(count("waiting") <= MAX_QUEUED_INPUTS, `${count("waiting")} pieces wait: within the bound`);
      assert.equal(count("ok") + count("waiting") + count("QUEUE_FULL"), settled.length);
      sessions.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets timers and I/O run while a large WAV Buffer is framed as fast as possible", async () => {
    const { sessions, of } = setup();
    const wav = wavOf(tone(440, 600, 16000), { rate: 16000, channels: 1, bits: 16 });
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 1);
    let ticksBeforeDone = -1;
    try {
      await sessions.handle({ topic: "big", payload: wav })?.then(() => (ticksBeforeDone = ticks));
    } finally {
      clearInterval(ticker);
    }
    assert.ok(ticksBeforeDone > 0, "a 1 ms interval ticked while the 600 s recording was framed");
    assert.equal(of("big").length, 6001, "and all of it was framed, with the end marker");
  });

  it("reports a failure of a session ended by its idle timeout through onError, not as an unhandled rejection", async () => {
    const clock = new ManualScheduler();
    const errors: Error[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const { sessions } = setup({ compressedStream: true, idleTimeoutMs: 1000 }, clock, (e) =>
        errors.push(e),
      );
      await codeOf(
        sessions.handle({ topic: "s", payload: Buffer.concat([Buffer.from("OggS"), Buffer.alloc(300, 9)]) }),
      );
      clock.advance(1000);
      for (let i = 0; i < 100 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(errors[0] instanceof AudioInputError && errors[0].code, "DECODE_FAILED");
      assert.deepEqual(unhandled, []);
      sessions.close();
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
