import { strict as assert } from "node:assert";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import type { NodeMessage } from "node-red";
import type { SessionEvent } from "../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../src/transcript/result";
import { taggedPcm, turn, voicedPcm, type Fixture } from "../emulators/assemblyai/fixture";
import { assertExactlyOnce, dictation } from "../emulators/assemblyai/ledger-check";
import { AssemblyAiEmulator, type EmulatedConnection } from "../emulators/assemblyai/server";
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
  type FlowNode,
} from "../support/node-red";

// The node at the edges of a session (issue #18) and under hostile settings and input (issue #17):
// stalls and unrecoverable faults through the node, the account on the end event, errors to Catch naming
// the seconds lost, withdrawals, the session limit, defaults, and no session id in any text.

const nodes = [builtNode("assemblyai-config"), builtNode("assemblyai-medical")];
const KEY = "test-api-key";
/** A session id that looks like a patient number: it must appear in no log, status or error. */
const SESSION = "MRN-00424242";

let emu: AssemblyAiEmulator;

function flowOf(config: Record<string, unknown> = {}, endpoint = emu.url): FlowNode[] {
  const cfg: FlowNode = { id: "cfg", type: "assemblyai-config", endpoint };
  // Only what a flow must carry: every other setting takes the editor's default.
  const node: FlowNode = {
    id: "aai",
    type: "assemblyai-medical",
    z: "tab",
    config: "cfg",
    wires: [["results"], ["events"]],
    ...config,
  };
  return flowWithCatch([cfg, node], ["results", "events"]);
}

const load = (config: Record<string, unknown> = {}): Promise<void> =>
  helper.load(nodes, flowOf(config), { cfg: { apiKey: KEY } });

/** Contract-1 chunks of `fixture`'s voiced audio, 100 ms each, the last one ending the session. */
function chunks(fixture: Fixture, sessionId: string, toMs: number, end = true): NodeMessage[] {
  const out: NodeMessage[] = [];
  for (let t = 0, seq = 0; t < toMs; t += 100, seq++) {
    out.push({
      topic: sessionId,
      payload: voicedPcm(fixture, t, 100),
      audio: {
        sessionId,
        seq,
        sampleRate: 16000,
        channels: 1,
        encoding: "pcm_s16le",
        offsetMs: t,
        durationMs: 100,
        ...(end && t + 100 >= toMs ? { end: true } : {}),
      },
    });
  }
  return out;
}

const send = (msgs: NodeMessage[]): void => {
  for (const m of msgs) helper.getNode("aai").receive(m);
};

async function untilEvent(events: NodeMessage[], kinds: string[], ms = 15000): Promise<SessionEvent> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = events.map((e) => e.payload as SessionEvent).find((e) => kinds.includes(e.event));
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no ${kinds.join("/")} event within ${ms} ms`);
    await delay(20);
  }
}

/** The text of an error a Catch node got (done(err) reaches it as "Error: …"). */
const caughtText = (m: NodeMessage | undefined): string =>
  ((m?.error as { message?: string } | undefined)?.message ?? "").replace(/^\w*Error: /, "");

const payloads = (msgs: NodeMessage[]): TranscriptResult[] => msgs.map((m) => m.payload as TranscriptResult);

/** Nothing the node logged, showed or sent to Catch names the session. */
function assertNoSessionId(caught: NodeMessage[]): void {
  const n = helper.getNode("aai");
  for (const text of [...loggedTexts(n), ...statusTexts(n)]) assert.ok(!text.includes(SESSION), text);
  for (const c of caught) {
    const message = (c.error as { message?: string } | undefined)?.message ?? "";
    assert.ok(!message.includes(SESSION), message);
  }
}

describe(`assemblyai-medical at the edges of a session (${runtimeLabel})`, function () {
  this.timeout(30000);
  afterEach(async () => {
    await helper.unload();
    await emu.close();
  });

  it("finds a stalled connection that still answers pings, replays, and ends with an account of every second", async () => {
    const fixture = dictation({ perTurn: 5, turns: 3 });
    emu = await AssemblyAiEmulator.start({ fixture, audioTags: "voiced", partials: "at-pauses" });
    emu.once("connection", (c: EmulatedConnection) => c.whenContent(2500, () => c.stall()));
    await load({ stallTimeout: 1, probeTimeout: 0.5 });
    const results = collect("results");
    const events = collect("events");
    const caught = collect("caught");
    send(chunks(fixture, SESSION, 7000));
    const end = await untilEvent(events, ["termination", "error", "ended"]);
    assert.equal(end.event, "termination");
    assert.ok(end.event === "termination");
    const reconnecting = events
      .map((e) => e.payload as SessionEvent)
      .filter((e) => e.event === "reconnecting");
    assert.equal(reconnecting.length, 1);
    assert.equal(reconnecting[0]?.event === "reconnecting" && reconnecting[0].reason, "stalled");
    assert.deepEqual(end.account, { receivedSeconds: 7, confirmedSeconds: 7, lostSeconds: 0, reconnects: 1 });
    assertExactlyOnce(fixture, payloads(results), emu.ledger, end.account);
    for (const r of results) assertTranscriptResult(r.payload);
    assert.deepEqual(caught, [], "nothing lost, nothing to report");
    assertNoSessionId(caught);
  });

  it("when a session cannot be recovered, sends an error to Catch naming the seconds not transcribed, and the account", async () => {
    const fixture = dictation({ perTurn: 5, turns: 3 });
    emu = await AssemblyAiEmulator.start({ fixture, audioTags: "voiced" });
    emu.once("connection", (c: EmulatedConnection) =>
      c.whenContent(3000, () => {
        emu.plan(...Array.from({ length: 20 }, () => ({ reject: 1011 })));
        c.drop();
      }),
    );
    await load({ maxRetries: 2, retryDelayMs: 20 });
    const events = collect("events");
    const caught = collect("caught");
    const results = collect("results");
    send(chunks(fixture, SESSION, 7000));
    const end = await untilEvent(events, ["termination", "error", "ended"]);
    assert.ok(end.event === "error");
    assert.equal(end.kind, "retries-exhausted");
    assert.ok(end.account.lostSeconds > 3, JSON.stringify(end.account));
    assert.equal(end.account.receivedSeconds, 7);
    await delay(50);
    assert.equal(caught.length, 1);
    const message = caughtText(caught[0]);
    assert.match(
      message,
      new RegExp(
        `^assemblyai-medical #[0-9a-f]{8}: AssemblyAI connection kept failing; gave up after the configured retries .*; ${end.account.lostSeconds.toFixed(1)} s of audio were not transcribed$`,
      ),
    );
    assertExactlyOnce(fixture, payloads(results), emu.ledger, end.account, { everyWord: false });
    assertNoSessionId(caught);
  });

  it("withdraws a partial shown before a dropped connection, before the replay's results", async () => {
    const fixture: Fixture = { turns: [turn(100, "Blood pressure stable today."), turn(1600, "No edema.")] };
    emu = await AssemblyAiEmulator.start({ fixture });
    // Mid-turn: two words heard (partials out), no final yet.
    emu.once("connection", (c: EmulatedConnection) => c.whenContent(650, () => c.drop()));
    await load({ minTurnSilence: 300 });
    const results = collect("results");
    const events = collect("events");
    const msgs: NodeMessage[] = [];
    for (let t = 0; t < 2600; t += 100) {
      msgs.push({
        topic: SESSION,
        payload: taggedPcm(t, 100),
        audio: { sessionId: SESSION, offsetMs: t, ...(t + 100 >= 2600 ? { end: true } : {}) },
      });
    }
    send(msgs);
    await untilEvent(events, ["termination"]);
    const all = payloads(results);
    const withdrawn = all.findIndex((r) => r.withdrawn === true);
    assert.ok(withdrawn > 0, "a withdrawal");
    const cut = all[withdrawn];
    assert.ok(cut);
    assertTranscriptResult(cut);
    assert.ok(all.slice(0, withdrawn).some((r) => r.segmentId === cut.segmentId && !r.isFinal));
    assert.ok(
      !all.slice(withdrawn + 1).some((r) => r.segmentId === cut.segmentId),
      "nothing more under its id",
    );
    assert.deepEqual(
      all.filter((r) => r.isFinal).map((r) => r.text),
      ["Blood pressure stable today.", "No edema."],
    );
  });

  it("limits the sessions of one node, refusing a new one with a clear error", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    await load({ maxSessions: 2 });
    const caught = collect("caught");
    for (const id of [`${SESSION}-a`, `${SESSION}-b`, `${SESSION}-c`]) {
      send([{ topic: id, payload: taggedPcm(0, 100), audio: { sessionId: id } }]);
    }
    await delay(100);
    assert.equal(caught.length, 1);
    const message = caughtText(caught[0]);
    assert.equal(
      message,
      "assemblyai-medical: 2 sessions are open in this node, its session limit; audio of a new session is refused. End sessions (msg.audio.end) or raise the limit",
    );
    assertNoSessionId(caught);
  });

  it("starts with only id, type, z, wires and its account, on the editor's defaults", async () => {
    const fixture: Fixture = { turns: [turn(100, "Blood pressure stable.")] };
    emu = await AssemblyAiEmulator.start({ fixture });
    await load();
    const events = collect("events");
    send(
      [0, 100, 200, 300, 400, 500].map((t, i, all) => ({
        topic: SESSION,
        payload: taggedPcm(t, 100),
        audio: { sessionId: SESSION, ...(i === all.length - 1 ? { end: true } : {}) },
      })),
    );
    await untilEvent(events, ["termination"]);
    const conn = await emu.connection(0);
    assert.equal(conn.params.speech_model, "u3-rt-pro");
    assert.equal(conn.params.min_turn_silence, "800");
    assert.equal(conn.params.acknowledge_silence, "true");
  });

  it("a config node with only id and type is the US region", async () => {
    emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
    await helper.load(nodes, [{ id: "cfg", type: "assemblyai-config" }], { cfg: { apiKey: KEY } });
    const cfg = helper.getNode("cfg") as unknown as { region: string; endpoint: string };
    assert.equal(cfg.region, "us");
    assert.equal(cfg.endpoint, "");
  });

  for (const [setting, value, text] of [
    [
      "stallTimeout",
      -1,
      'setting "Stall timeout" is invalid; accepted: a number of seconds from 1 to 300, or 0 for never',
    ],
    [
      "maxSessions",
      1.5,
      'setting "Session limit" is invalid; accepted: a whole number of sessions from 1 to 10000',
    ],
    [
      "replayRate",
      "fast",
      'setting "Replay speed" is invalid; accepted: a number of times real time from 1 to 10',
    ],
    ["frameMs", 20, 'setting "Frame length" is invalid; accepted: a number of milliseconds from 50 to 1000'],
  ] as const) {
    it(`refuses an invalid ${setting} at deploy, naming the setting and what is accepted`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
      await load({ [setting]: value });
      const caught = nextMessage("caught");
      send([{ topic: SESSION, payload: taggedPcm(0, 100) }]);
      const message = caughtText(await caught);
      assert.equal(message, `assemblyai-medical: ${text}`);
      assert.ok(statusTexts(helper.getNode("aai")).includes("misconfigured"));
    });
  }

  for (const offsetMs of [-1, 1e20, "10", Number.POSITIVE_INFINITY]) {
    it(`refuses msg.audio.offsetMs ${String(offsetMs)} with a clear error`, async () => {
      emu = await AssemblyAiEmulator.start({ fixture: { turns: [] } });
      await load();
      const caught = nextMessage("caught");
      send([{ topic: SESSION, payload: taggedPcm(0, 100), audio: { sessionId: SESSION, offsetMs } }]);
      const message = caughtText(await caught);
      assert.match(message, /^msg\.audio\.offsetMs must be a number of milliseconds from 0 to one year/);
      assert.equal(emu.connections.length, 0);
    });
  }
});

describe(`assemblyai-medical against a hostile peer (raw ws server, ${runtimeLabel})`, function () {
  this.timeout(30000);
  let wss: WebSocketServer | undefined;
  let accepted = 0;
  afterEach(async () => {
    await helper.unload();
    await new Promise<void>((r) => (wss ? wss.close(() => r()) : r()));
    wss = undefined;
    accepted = 0;
  });

  /** Serves every connection with `script`; loads the node against it. */
  async function against(
    script: (ws: WebSocket, index: number) => void,
    config: Record<string, unknown> = {},
  ): Promise<void> {
    const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    wss = server;
    await new Promise<void>((r) => server.once("listening", () => r()));
    server.on("connection", (ws) => {
      ws.on("error", () => undefined);
      script(ws, accepted++);
    });
    const { port } = server.address() as AddressInfo;
    await helper.load(nodes, flowOf(config, `ws://127.0.0.1:${port}/v3/ws`), { cfg: { apiKey: KEY } });
  }

  const audioMsgs = (ms: number): NodeMessage[] =>
    chunks({ turns: [turn(100, "Blood pressure stable.")] }, SESSION, ms);

  it("a v2 close 4002 (account refused) goes to Catch once, as a refusal, with the seconds lost; not retried", async () => {
    await against((ws) => ws.close(4002, "Insufficient Funds"));
    const events = collect("events");
    const caught = collect("caught");
    send(audioMsgs(1000));
    const end = await untilEvent(events, ["termination", "error", "ended"]);
    assert.ok(end.event === "error");
    assert.equal(end.kind, "auth");
    assert.equal(end.code, 4002);
    await delay(300);
    assert.equal(accepted, 1, "not retried");
    assert.equal(caught.length, 1);
    assert.match(
      caughtText(caught[0]),
      new RegExp(
        `AssemblyAI refused the connection .*\\(4002 .*\\); ${end.account.lostSeconds.toFixed(1)} s of audio were not transcribed$`,
      ),
    );
    assert.deepEqual(end.account, { receivedSeconds: 1, confirmedSeconds: 0, lostSeconds: 1, reconnects: 0 });
    assert.ok(
      statusTexts(helper.getNode("aai")).some((t) => /4002/.test(t)),
      "the status shows the code",
    );
    assertNoSessionId(caught);
  });

  it("a peer answering junk while audio flows: one warning in the log (not the junk), the stall found, the audio replayed", async () => {
    await against(
      (ws, index) => {
        ws.send(JSON.stringify({ type: "Begin", id: `b${index}`, expires_at: 2e9 }));
        if (index === 0) {
          ws.on("message", (_d: Buffer, binary: boolean) => {
            if (binary) ws.send("<html>502 Bad Gateway PHI-MARKER</html>");
          });
          return;
        }
        let frames = 0;
        ws.on("message", (d: Buffer, binary: boolean) => {
          // An alive service answers audio (here with SpeechStarted every few frames).
          if (binary && ++frames % 5 === 0)
            ws.send(JSON.stringify({ type: "SpeechStarted", timestamp: frames * 100 }));
          if (binary || (JSON.parse(d.toString("utf8")) as { type?: unknown }).type !== "Terminate") return;
          ws.send(
            JSON.stringify({ type: "Termination", audio_duration_seconds: 3, session_duration_seconds: 3 }),
          );
          ws.close(1000, "Session Ended");
        });
      },
      { stallTimeout: 1, probeTimeout: 0.5 },
    );
    const events = collect("events");
    const caught = collect("caught");
    send(audioMsgs(4000));
    const end = await untilEvent(events, ["termination", "error", "ended"], 25000);
    assert.equal(end.event, "termination");
    assert.ok(end.event === "termination");
    assert.deepEqual(end.account, { receivedSeconds: 4, confirmedSeconds: 4, lostSeconds: 0, reconnects: 1 });
    const logged = loggedTexts(helper.getNode("aai"));
    assert.equal(logged.filter((t) => /could not read/.test(t)).length, 1, logged.join("\n"));
    assert.ok(!logged.some((t) => t.includes("PHI-MARKER")));
    const reconnecting = events.map((e) => e.payload as SessionEvent).find((e) => e.event === "reconnecting");
    assert.equal(reconnecting?.event === "reconnecting" && reconnecting.reason, "stalled");
    assert.deepEqual(caught, []);
  });
});
