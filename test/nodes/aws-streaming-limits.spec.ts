import { strict as assert } from "node:assert";
import { readdirSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Node, NodeMessage } from "node-red";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";
import { deadEndpoint, type DeadEndpoint, type DeadKind } from "../support/dead-endpoints";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  redeploy,
  runtimeLabel,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";

/**
 * What a flow can make an Amazon Transcribe streaming node hold is bounded: streams by the node's
 * session limit, session ids by their length, connections to a dead endpoint by the connect timeout,
 * and nothing is left behind by redeploys.
 */

const RATE = 16000;
const modules = [
  builtNode("aws-transcribe-config"),
  builtNode("transcribe-medical"),
  builtNode("transcribe-standard"),
];
const fixture = scriptedFixture([
  { text: "Patient denies chest pain." },
  { text: "Blood pressure is normal." },
]);

function chunk(sessionId: string, seq: number, end = false): NodeMessage {
  return {
    topic: sessionId,
    payload: speechClockPcm(seq / 10, 0.1, RATE),
    audio: {
      sessionId,
      seq,
      sampleRate: RATE,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: seq * 100,
      durationMs: 100,
      ...(end ? { end: true } : {}),
    },
  };
}

const TUNING = { backoffBaseMs: 50, backoffMaxMs: 200, watchdogMs: 1000, closeTimeoutMs: 300 };

function flowOf(endpoint: string, type: string, config: Record<string, unknown> = {}): FlowNode[] {
  return flowWithCatch(
    [
      { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint, connectTimeoutS: 1 },
      { id: "tx", type, aws: "awscfg", tuning: TUNING, wires: [["out"], ["events"]], ...config },
      // Every done() without an error reaches it: with the catch node, every message is accounted for.
      { id: "completer", type: "complete", scope: ["tx"], uncaught: false, wires: [["completed"]] },
    ],
    ["out", "events", "completed"],
  );
}

const tx = (): Node => helper.getNode("tx");
const errorsOf = (caught: NodeMessage[]): string[] =>
  caught.map((m) => (m.error as { message: string }).message);
const eventsOf = (msgs: NodeMessage[], event: string): string[] =>
  msgs
    .map((m) => m.payload as { event: string; sessionId: string })
    .filter((e) => e.event === event)
    .map((e) => e.sessionId);
/** The chunks an error says it refused ("N chunk(s)"). */
const refusedIn = (message: string): number => Number(/(\d+) chunk\(s\)/.exec(message)?.[1] ?? 0);

describe(`AWS streaming nodes: limits (${runtimeLabel})`, function () {
  this.timeout(20000);
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({
      fixture,
      spokenLanguage: "es-US",
      clock: "clock",
      idleTimeoutMs: 5000,
    }).start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
  });

  const load = (type: string, config: Record<string, unknown> = {}): Promise<void> =>
    helper.load(modules, flowOf(emu.endpoint, type, config), { awscfg: { ...EMULATOR_CREDENTIALS } });

  it("refuses new sessions beyond its session limit: errors name the limit, the status shows it, every refused chunk is counted", async () => {
    await load("transcribe-medical", { maxSessions: 2, tuning: { ...TUNING, refuseReportMs: 500 } });
    const caught = collect("caught");
    const events = collect("events");
    for (let seq = 0; seq < 5; seq++) {
      tx().receive(chunk("ENC-1001", seq));
      tx().receive(chunk("ENC-1002", seq));
      await delay(10);
    }
    await until(() => emu.activeStreams === 2);
    // Two more sessions while both places are taken: 2 × 10 chunks refused.
    for (let seq = 0; seq < 10; seq++) {
      tx().receive(chunk("ENC-1003", seq));
      tx().receive(chunk("ENC-1004", seq));
      await delay(10);
    }
    await delay(900);
    assert.equal(emu.streams.length, 2, "no stream beyond the limit");
    const errors = errorsOf(caught);
    assert.ok(errors.length >= 1 && errors.length <= 3, `${errors.length} errors for 20 refused chunks`);
    for (const e of errors) {
      assert.match(
        e,
        /transcribe-medical: audio refused: new sessions beyond the node's limit of 2 concurrent sessions \(raise Max sessions on the node, within the AWS account's quota of concurrent streams/,
      );
      assert.ok(!/ENC-|100[34]/.test(e), `no session id in: ${e}`);
    }
    assert.equal(
      errors.reduce((n, e) => n + refusedIn(e), 0),
      20,
      "every refused chunk is counted",
    );
    assert.ok(
      caught.every((m) => m.topic === "ENC-1003" || m.topic === "ENC-1004"),
      "the refused session is in msg.topic",
    );
    await delay(600);
    assert.ok(statusTexts(tx()).includes("at the limit: 2 of 2 sessions"), statusTexts(tx()).join(" | "));
    // A place frees: a new session streams again.
    tx().receive(chunk("ENC-1001", 5, true));
    await until(() => eventsOf(events, "ended").includes("ENC-1001"));
    for (let seq = 0; seq < 3; seq++) tx().receive(chunk("ENC-1005", seq, seq === 2));
    await until(() => eventsOf(events, "ended").includes("ENC-1005"));
    assert.equal(emu.streams.length, 3);
    for (const t of [...statusTexts(tx()), ...loggedTexts(tx())]) assert.ok(!t.includes("ENC-"), t);
  });

  it("answers every message of a flood of session ids at once, with a few errors and one stream per place", async () => {
    await load("transcribe-standard", { maxSessions: 3, tuning: { ...TUNING, refuseReportMs: 300 } });
    const caught = collect("caught");
    const completed = collect("completed");
    const flood = 3000;
    for (let i = 0; i < flood; i++) {
      tx().receive(chunk(`flood-${i}`, 0));
      if (i % 100 === 99) await delay(1);
    }
    await until(() => emu.activeStreams === 3);
    await delay(500);
    // done(err) hands the message itself to the catch node; a later report of counted refusals has none.
    const failedMessages = caught.filter((m) => Buffer.isBuffer(m.payload)).length;
    assert.equal(completed.length + failedMessages, flood, "every message answered by done() once");
    assert.equal(emu.streams.length, 3);
    const errors = errorsOf(caught);
    assert.ok(errors.length <= 20, `${errors.length} errors`);
    assert.equal(
      errors.reduce((n, e) => n + refusedIn(e), 0),
      flood - 3,
      "every refused chunk is counted",
    );
  });

  for (const bad of [0, -1, 2.5, 1001, "many"]) {
    it(`refuses a session limit of ${JSON.stringify(bad)} at deploy, saying what is accepted`, async () => {
      await load("transcribe-medical", { maxSessions: bad });
      assert.deepEqual(statusTexts(tx()), ["misconfigured"]);
      const logged = loggedTexts(tx()).join(" | ");
      assert.match(
        logged,
        /transcribe-medical: the session limit must be a whole number from 1 to 1000 \(default 25, the AWS default quota of concurrent streams\)/,
      );
    });
  }

  it("refuses a session limit of true (not a number at all) at deploy, naming the setting and what is accepted", async () => {
    await load("transcribe-medical", { maxSessions: true });
    // The key of the node's catalog: the editor shows it translated ("misconfigured").
    assert.deepEqual(statusTexts(tx()), ["transcribe-medical.status.misconfigured"]);
    assert.match(
      loggedTexts(tx()).join(" | "),
      /transcribe-medical: the setting "maxSessions" holds the value true; accepted: a number/,
    );
  });

  it("refuses a session id of a megabyte, or with a control character, without echoing it, and goes on", async () => {
    await load("transcribe-medical");
    const caught = collect("caught");
    const events = collect("events");
    const huge = "P".repeat(1 << 20);
    tx().receive({
      ...chunk("x", 0),
      topic: huge,
      audio: { ...(chunk("x", 0).audio as object), sessionId: huge },
    });
    tx().receive({
      ...chunk("x", 0),
      topic: "ok",
      audio: { ...(chunk("x", 0).audio as object), sessionId: "A\u0000B" },
    });
    await until(() => caught.length === 2);
    const [first, second] = errorsOf(caught);
    assert.match(
      first ?? "",
      /msg\.audio\.sessionId is 1048576 characters long, over the limit of 256\. Accepted: a string of 1 to 256 characters/,
    );
    assert.match(second ?? "", /msg\.audio\.sessionId holds a control character/);
    assert.ok((first ?? "").length < 400 && !(first ?? "").includes("PPPP"));
    for (let seq = 0; seq < 3; seq++) tx().receive(chunk("after", seq, seq === 2));
    await until(() => eventsOf(events, "ended").includes("after"));
    assert.equal(emu.streams.length, 1, "no stream for the refused ids");
  });

  for (const [field, value, message] of [
    ["offsetMs", Infinity, /msg\.audio\.offsetMs must be a number of milliseconds from 0 to 25920000000/],
    ["offsetMs", -5, /msg\.audio\.offsetMs must be/],
    ["durationMs", 60_000, /msg\.audio\.durationMs must be a number of milliseconds from 0 to 1000/],
    ["seq", 1.5, /msg\.audio\.seq must be a whole number from 0/],
    [
      "sampleRate",
      123456789,
      /the audio's sample rate \(msg\.audio\.sampleRate or msg\.rate\) must be a whole number of Hz/,
    ],
  ] as const) {
    it(`refuses msg.audio.${field} = ${String(value)} with a clear error that does not echo it`, async () => {
      await load("transcribe-medical");
      const caught = collect("caught");
      const m = chunk("s", 0);
      (m.audio as Record<string, unknown>)[field] = value;
      tx().receive(m);
      await until(() => caught.length === 1);
      const [e] = errorsOf(caught);
      assert.match(e ?? "", message);
      if (typeof value === "number" && Math.abs(value) > 1000)
        assert.ok(!(e ?? "").includes(String(value)), e);
    });
  }
});

/** Handles, descriptors and heap of this process. */
interface Usage {
  fds: number;
  handles: Map<string, number>;
}

function usage(): Usage {
  const handles = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) handles.set(r, (handles.get(r) ?? 0) + 1);
  return { fds: readdirSync("/proc/self/fd").length, handles };
}

/** What is above the baseline: every kind of handle (timers with Node-RED's own 0–2) and descriptors. */
function above(base: Usage, now: Usage): string[] {
  const out: string[] = [];
  for (const [kind, n] of now.handles) {
    const extra = n - (base.handles.get(kind) ?? 0);
    const tolerated = kind === "Timeout" ? 2 : 0;
    if (extra > tolerated) out.push(`${kind} +${extra}`);
  }
  if (now.fds > base.fds) out.push(`descriptors +${now.fds - base.fds}`);
  return out;
}

// A full GC without --expose-gc: the flag is turned on at run time, and `gc` read from a new context.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function heapMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await delay(30);
  }
  return process.memoryUsage().heapUsed / 2 ** 20;
}

describe(`AWS streaming nodes: redeploys against an endpoint that never answers (${runtimeLabel})`, function () {
  this.timeout(90_000);
  let peer: DeadEndpoint | undefined;
  afterEach(async () => {
    await helper.unload();
    await peer?.stop();
    peer = undefined;
  });

  const REDEPLOYS = 15;
  for (const kind of ["blackhole", "silent"] as DeadKind[]) {
    it(`leaves nothing behind after ${REDEPLOYS} full deploys against a ${kind} endpoint, and the heap stays flat`, async () => {
      peer = await deadEndpoint(kind);
      // A baseline without the sockets earlier tests may still be closing.
      const sockets = (): number =>
        process.getActiveResourcesInfo().filter((r) => /^(TCPSocketWrap|ConnectWrap|TLSWrap)$/.test(r))
          .length;
      for (let t = 0; t < 60 && sockets() > 0; t++) await delay(50);
      const base = usage();
      const flow = flowOf(peer.url(), "transcribe-medical");
      const credentials = { awscfg: { ...EMULATOR_CREDENTIALS } };
      await helper.load(modules, flow, credentials);
      let heapAfterFirst = 0;
      for (let i = 1; i <= REDEPLOYS; i++) {
        if (i > 1) await redeploy(flow, credentials, []);
        for (let seq = 0; seq < 5; seq++) {
          for (let s = 0; s < 3; s++) tx().receive(chunk(`dead-${i}-${s}`, seq));
        }
        await delay(300);
        if (i === 1) heapAfterFirst = await heapMiB();
      }
      const heapAtEnd = await heapMiB();
      await helper.unload();
      let left: string[] = [];
      for (let t = 0; t < 50; t++) {
        left = above(base, usage());
        if (left.length === 0) break;
        await delay(50);
      }
      assert.deepEqual(left, [], "handles and descriptors back to the baseline");
      assert.ok(
        heapAtEnd - heapAfterFirst < 16,
        `heap grew ${(heapAtEnd - heapAfterFirst).toFixed(1)} MiB over ${REDEPLOYS} deploys`,
      );
    });
  }
});
