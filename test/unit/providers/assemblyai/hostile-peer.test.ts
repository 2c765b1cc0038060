import { strict as assert } from "node:assert";
import type { AddressInfo } from "node:net";
import net from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { connectionUrl, MEDICAL_DEFAULTS } from "../../../../src/providers/assemblyai/params";
import { AssemblyAiSession, type SessionEvent } from "../../../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { assertTranscriptResult } from "../../../support/contract";

// Faults an independent emulator may throw, played by a raw `ws` (or TCP) peer written here, not by our
// emulator, so that none of its habits hides anything: what the session does with malformed frames, Turns
// out of order, close codes with only a reason, v2-era codes, and a handshake that never completes.

const RATE = 16000;
/**
 * 100 ms of audio that owes an answer: 20 ms of silence, then a loud tone (the speech detector wants
 * sound well above the quietest block, so a steady tone alone would count as room noise).
 */
const tone = (ms = 100): Buffer => {
  const n = (RATE * ms) / 1000;
  const quiet = (RATE * 20) / 1000;
  const b = Buffer.alloc(n * 2);
  for (let i = quiet; i < n; i++)
    b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), i * 2);
  return b;
};

interface Peer {
  url: string;
  /** Connections accepted so far. */
  connections: WebSocket[];
  close(): Promise<void>;
}

/** A raw ws server: `script` runs for each connection with its index. */
async function peer(script: (ws: WebSocket, index: number) => void): Promise<Peer> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((r) => wss.once("listening", () => r()));
  const connections: WebSocket[] = [];
  wss.on("connection", (ws) => {
    ws.on("error", () => undefined);
    connections.push(ws);
    script(ws, connections.length - 1);
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/v3/ws`,
    connections,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

const begin = (ws: WebSocket, id = "b"): void =>
  ws.send(JSON.stringify({ type: "Begin", id, expires_at: Math.floor(Date.now() / 1000) + 3600 }));

/** Runs `fn` when the client sends Terminate. */
function onTerminate(ws: WebSocket, fn: () => void): void {
  ws.on("message", (data: Buffer, binary: boolean) => {
    if (binary) return;
    const m = JSON.parse(data.toString("utf8")) as { type?: unknown };
    if (m.type === "Terminate") fn();
  });
}

const turnMsg = (order: number, final: boolean, words: Array<[string, number, number]>): string =>
  JSON.stringify({
    type: "Turn",
    turn_order: order,
    end_of_turn: final,
    turn_is_formatted: final,
    transcript: words.map((w) => w[0]).join(" "),
    words: words.map(([text, start, end]) => ({ text, start, end, confidence: 0.9, word_is_final: final })),
  });

interface Run {
  session: AssemblyAiSession;
  results: TranscriptResult[];
  events: SessionEvent[];
}

function open(url: string, o: Partial<ConstructorParameters<typeof AssemblyAiSession>[0]> = {}): Run {
  const params = { ...MEDICAL_DEFAULTS };
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const session = new AssemblyAiSession(
    {
      sessionId: "enc-h",
      url: connectionUrl(url, params),
      apiKey: "test-api-key",
      params,
      retry: { retryDelayMs: 20, backoffDelayMs: 40, maxRetries: 2, outageDelayMs: 50 },
      connectTimeoutMs: 500,
      terminationTimeoutMs: 500,
      ...o,
    },
    { result: (r) => results.push(r), event: (e) => events.push(e) },
  );
  session.start();
  return { session, results, events };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `ms` of tone in 100 ms chunks, paced at twice real time (within the session's lead). */
async function speak(session: AssemblyAiSession, ms: number): Promise<void> {
  for (let t = 0; t < ms; t += 100) {
    session.push(tone());
    await delay(50);
  }
}

const terminal = (events: SessionEvent[]): SessionEvent[] =>
  events.filter((e) => e.event === "termination" || e.event === "error" || e.event === "ended");

describe("AssemblyAI session against hostile peers (raw ws / TCP)", function () {
  this.timeout(15000);
  let p: Peer | undefined;
  afterEach(async () => {
    await p?.close();
    p = undefined;
  });

  it("never gives a later Turn the segment id of a delivered final: turn_order going backwards, end_of_turn repeated", async () => {
    p = await peer((ws) => {
      begin(ws);
      onTerminate(ws, () => {
        ws.send(
          turnMsg(0, true, [
            ["chest", 100, 300],
            ["pain", 300, 500],
          ]),
        );
        // The same turn's final again, now with a word more: only the new word is new.
        ws.send(
          turnMsg(0, true, [
            ["chest", 100, 300],
            ["pain", 300, 500],
            ["denied", 500, 700],
          ]),
        );
        ws.send(
          turnMsg(1, true, [
            ["no", 800, 900],
            ["fever", 900, 1100],
          ]),
        );
        // turn_order goes back to 0 with new words: a partial, then its final.
        ws.send(turnMsg(0, false, [["cough", 1200, 1400]]));
        ws.send(
          turnMsg(0, true, [
            ["cough", 1200, 1400],
            ["resolved", 1400, 1600],
          ]),
        );
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 2, session_duration_seconds: 2 }),
        );
        ws.close(1000, "Session Ended");
      });
    });
    const run = open(p.url);
    await speak(run.session, 2000);
    await run.session.end();
    for (const r of run.results) assertTranscriptResult(r);
    const finals = run.results.filter((r) => r.isFinal);
    // What a document collecting finals by segment id keeps (a later final replaces an earlier one).
    const document = new Map(finals.map((r) => [r.segmentId, r.text]));
    const words = [...document.values()].join(" ").split(/\s+/);
    assert.deepEqual(words, ["chest", "pain", "denied", "no", "fever", "cough", "resolved"]);
    assert.equal(new Set(finals.map((r) => r.segmentId)).size, finals.length, "no two finals share an id");
    // The partial of the reissued turn 0 and its final share one id, not the first final's.
    const partial = run.results.find((r) => !r.isFinal);
    assert.equal(partial?.segmentId, finals.at(-1)?.segmentId);
    assert.notEqual(partial?.segmentId, finals[0]?.segmentId);
    assert.equal(terminal(run.events).length, 1);
  });

  it("does not take text frames that are not JSON, JSON of an unknown shape, or binary frames as signs of life: the stall is found, reported and replayed", async () => {
    let garbage: NodeJS.Timeout | undefined;
    p = await peer((ws, index) => {
      begin(ws, `b${index}`);
      if (index === 0) {
        // The first connection answers only with junk while audio flows.
        garbage = setInterval(() => {
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send("<html>502 Bad Gateway</html>");
          ws.send(JSON.stringify({ type: 42, payload: [1, 2] }));
          ws.send(JSON.stringify([{ type: "Turn" }]));
          ws.send(Buffer.from([1, 2, 3]));
        }, 50);
        return;
      }
      onTerminate(ws, () => {
        ws.send(
          turnMsg(0, true, [
            ["all", 100, 300],
            ["clear", 300, 500],
          ]),
        );
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 2, session_duration_seconds: 2 }),
        );
        ws.close(1000, "Session Ended");
      });
    });
    try {
      const run = open(p.url, { stallTimeoutMs: 300, probeTimeoutMs: 200 });
      await speak(run.session, 1500);
      await run.session.end();
      const reconnecting = run.events.find((e) => e.event === "reconnecting");
      assert.ok(reconnecting && reconnecting.event === "reconnecting", "the stall was found");
      assert.equal(reconnecting.reason, "stalled");
      const warnings = run.events.filter((e) => e.event === "warning" && /could not read/i.test(e.message));
      assert.equal(warnings.length, 1, "one warning per connection, not one per frame");
      assert.ok(
        warnings[0]?.event === "warning" && !warnings[0].message.includes("502"),
        "the junk is not echoed",
      );
      assert.deepEqual(
        run.results.filter((r) => r.isFinal).map((r) => r.text),
        ["all clear"],
      );
      const end = terminal(run.events);
      assert.equal(end.length, 1);
      assert.equal(end[0]?.event, "termination");
    } finally {
      clearInterval(garbage);
    }
  });

  it("retries a 1008 close whose reason (no Error frame) says too many concurrent sessions, with backoff", async () => {
    p = await peer((ws, index) => {
      if (index === 0) {
        ws.close(1008, "Unauthorized connection: Too many concurrent sessions");
        return;
      }
      begin(ws);
      onTerminate(ws, () => {
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 1, session_duration_seconds: 1 }),
        );
        ws.close(1000, "Session Ended");
      });
    });
    const run = open(p.url);
    await speak(run.session, 500);
    await run.session.end();
    const reconnecting = run.events.find((e) => e.event === "reconnecting");
    assert.ok(reconnecting?.event === "reconnecting");
    assert.equal(reconnecting.code, 1008);
    assert.equal(reconnecting.delayMs, 40, "the back-off delay, not the quick retry");
    assert.equal(terminal(run.events)[0]?.event, "termination");
  });

  for (const [code, reason, kind] of [
    [4001, "Not Authorized", "auth"],
    [4002, "Insufficient Funds", "auth"],
    [4003, "This feature is paid-only", "auth"],
    [1008, "Unauthorized Connection: Invalid API key", "auth"],
  ] as const) {
    it(`fails at once on close ${code} "${reason}" (no Error frame), though audio keeps arriving`, async () => {
      p = await peer((ws) => ws.close(code, reason));
      const run = open(p.url);
      await speak(run.session, 800);
      await run.session.end();
      assert.equal(p.connections.length, 1, "no retry");
      const end = terminal(run.events);
      assert.equal(end.length, 1);
      assert.ok(end[0]?.event === "error");
      assert.equal(end[0].kind, kind);
      assert.equal(end[0].code, code);
      assert.ok(!end[0].message.includes("test-api-key"));
    });
  }

  it("gives up a TLS handshake that never completes within the connect timeout, retries, then names the seconds lost", async () => {
    // A TCP peer that accepts and never answers: not the TLS server hello, not the upgrade.
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.on("error", () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const run = open(`wss://127.0.0.1:${port}/v3/ws`, { connectTimeoutMs: 200 });
      const started = Date.now();
      await speak(run.session, 300);
      await run.session.end();
      assert.ok(Date.now() - started < 5000, "bounded");
      assert.equal(sockets.length, 3, "the first connection and the 2 retries");
      const attempts = run.events
        .filter((e) => e.event === "reconnecting")
        .map((e) => e.event === "reconnecting" && e.attempt);
      assert.deepEqual(attempts, [1, 2]);
      const end = terminal(run.events);
      assert.ok(end[0]?.event === "error");
      assert.equal(end[0].kind, "retries-exhausted");
      assert.match(end[0].message, /0\.3 s of audio were not transcribed$/);
      assert.equal(end[0].account.lostSeconds, 0.3);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("ignores a Turn after Termination, and a second end() of an ended session", async () => {
    p = await peer((ws) => {
      begin(ws);
      onTerminate(ws, () => {
        ws.send(turnMsg(0, true, [["fine", 100, 300]]));
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 1, session_duration_seconds: 1 }),
        );
        // A result after the end: the session is over, nobody may receive it.
        ws.send(turnMsg(1, true, [["ghost", 400, 500]]));
        setTimeout(() => ws.close(1000, "Session Ended"), 50);
      });
    });
    const run = open(p.url);
    await speak(run.session, 600);
    await run.session.end();
    await run.session.end();
    await delay(150);
    assert.deepEqual(
      run.results.filter((r) => r.isFinal).map((r) => r.text),
      ["fine"],
    );
    const end = terminal(run.events);
    assert.equal(end.length, 1);
    assert.equal(end[0]?.event, "termination");
    assert.equal(run.session.push(tone()).ok, false);
  });

  it("keeps the times of a connection when Begin comes again mid-stream", async () => {
    p = await peer((ws) => {
      begin(ws);
      let frames = 0;
      ws.on("message", (_d: Buffer, binary: boolean) => {
        if (binary && ++frames === 5) begin(ws, "again");
      });
      onTerminate(ws, () => {
        ws.send(turnMsg(0, true, [["late", 800, 1000]]));
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 1, session_duration_seconds: 1 }),
        );
        ws.close(1000, "Session Ended");
      });
    });
    const run = open(p.url);
    await speak(run.session, 1200);
    await run.session.end();
    const final = run.results.find((r) => r.isFinal);
    assert.equal(final?.startTime, 0.8, "on the connection's clock, which began at the session's 0");
    assert.equal(run.events.filter((e) => e.event === "begin").length, 1, "one begin per connection");
  });

  it("goes on after a Termination it did not ask for while audio keeps coming: a new connection, nothing refused", async () => {
    p = await peer((ws, index) => {
      begin(ws, `b${index}`);
      let frames = 0;
      ws.on("message", (_d: Buffer, binary: boolean) => {
        if (index === 0 && binary && ++frames === 5) {
          ws.send(turnMsg(0, true, [["first", 100, 400]]));
          ws.send(
            JSON.stringify({ type: "Termination", audio_duration_seconds: 0, session_duration_seconds: 1 }),
          );
          ws.close(1000, "Session Ended");
        }
      });
      onTerminate(ws, () => {
        ws.send(
          JSON.stringify({ type: "Termination", audio_duration_seconds: 1, session_duration_seconds: 1 }),
        );
        ws.close(1000, "Session Ended");
      });
    });
    const run = open(p.url);
    let refused = 0;
    for (let t = 0; t < 1500; t += 100) {
      if (!run.session.push(tone()).ok) refused++;
      await delay(50);
    }
    await run.session.end();
    assert.equal(refused, 0);
    assert.equal(p.connections.length, 2);
    const reconnecting = run.events.find((e) => e.event === "reconnecting");
    assert.ok(reconnecting?.event === "reconnecting");
    assert.equal(reconnecting.reason, "unrequested-termination");
    assert.ok(run.events.some((e) => e.event === "warning" && /before the node asked/.test(e.message)));
    // The replay carries the first final's audio again; its words are not delivered twice.
    assert.deepEqual(
      run.results.filter((r) => r.isFinal).map((r) => r.text),
      ["first"],
    );
    const end = terminal(run.events);
    assert.equal(end.length, 1);
    assert.equal(end[0]?.event, "termination");
    assert.ok(end[0]?.event === "termination");
    assert.equal(end[0].account.receivedSeconds, 1.5);
    assert.equal(end[0].account.lostSeconds, 0);
  });
});
