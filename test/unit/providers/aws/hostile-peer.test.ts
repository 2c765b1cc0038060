import { strict as assert } from "node:assert";
import http from "node:http";
import type http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { crc32 } from "node:zlib";
import { WebSocketServer, type WebSocket } from "ws";
import { createTranscribeClient } from "../../../../src/providers/aws/client";
import { checkMedicalParams } from "../../../../src/providers/aws/params";
import { medicalService } from "../../../../src/providers/aws/service";
import {
  AwsStreamSession,
  type SessionEvent,
  type SessionTuning,
} from "../../../../src/providers/aws/session";
import { clientWebSocketTransport } from "../../../../src/providers/aws/websocket";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { h2cServer } from "../../../emulators/aws/wire";
import { assertTranscriptResult } from "../../../support/contract";

// Faults an independent emulator of Amazon Transcribe may throw, played by peers written here (a raw
// `http2` server, a raw `ws` server speaking the event-stream framing, a TCP relay that goes half-open),
// not by our emulator, so that none of its habits hides anything. Through the real SDK (HTTP/2) and our
// WebSocket transport, and the real session.

const RATE = 16000;
const CREDENTIALS = {
  accessKeyId: "AKIDHOSTILEPEER01",
  secretAccessKey: "hostile/peer/secret/key/0000000000000",
};

/**
 * 100 ms of audio that owes an answer: 20 ms of silence, then a loud tone (the speech detector wants
 * sound well above the quietest block).
 */
function tone(): Buffer {
  const n = RATE / 10;
  const b = Buffer.alloc(n * 2);
  for (let i = RATE / 50; i < n; i++)
    b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / RATE)), i * 2);
  return b;
}

// ---- event-stream framing, written here from the format (research/aws.md §3.3) ----

type RawHeader = [name: string, type: number, value: Buffer];
const str = (name: string, value: string): RawHeader => [name, 7, Buffer.from(value)];

function encodeHeaders(headers: RawHeader[]): Buffer {
  return Buffer.concat(
    headers.map(([name, type, value]) => {
      const n = Buffer.from(name);
      const h = Buffer.alloc(1 + n.length + 1 + 2);
      h[0] = n.length;
      n.copy(h, 1);
      h[1 + n.length] = type;
      h.writeUInt16BE(value.length, 2 + n.length);
      return Buffer.concat([h, value]);
    }),
  );
}

function message(headers: RawHeader[], body: Buffer): Buffer {
  const hs = encodeHeaders(headers);
  const total = 16 + hs.length + body.length;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(hs.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  hs.copy(out, 12);
  body.copy(out, 12 + hs.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

interface Word {
  text: string;
  start: number;
  end: number;
}

function transcriptEvent(results: Array<{ id: string; partial: boolean; words: Word[] }>): Buffer {
  const body = {
    Transcript: {
      Results: results.map((r) => ({
        ResultId: r.id,
        IsPartial: r.partial,
        StartTime: r.words[0]?.start ?? 0,
        EndTime: r.words.at(-1)?.end ?? 0,
        Alternatives: [
          {
            Transcript: r.words.map((w) => w.text).join(" "),
            Items: r.words.map((w) => ({
              Type: "pronunciation",
              Content: w.text,
              StartTime: w.start,
              EndTime: w.end,
              ...(r.partial ? {} : { Confidence: 0.95 }),
            })),
          },
        ],
      })),
    },
  };
  return message(
    [
      str(":message-type", "event"),
      str(":event-type", "TranscriptEvent"),
      str(":content-type", "application/json"),
    ],
    Buffer.from(JSON.stringify(body)),
  );
}

const exception = (type: string, text: string): Buffer =>
  message(
    [
      str(":message-type", "exception"),
      str(":exception-type", type),
      str(":content-type", "application/json"),
    ],
    Buffer.from(JSON.stringify({ Message: text })),
  );

const EMPTY_EVENT = transcriptEvent([]);
const FINAL_WORDS: Word[] = [
  { text: "chest", start: 0.2, end: 0.5 },
  { text: "pain", start: 0.5, end: 0.9 },
];
const FINAL = transcriptEvent([{ id: "r1", partial: false, words: FINAL_WORDS }]);
const PARTIAL = transcriptEvent([{ id: "r1", partial: true, words: FINAL_WORDS.slice(0, 1) }]);

/** Reads the client's messages (length-prefixed) and tells each one's payload length (0: the end). */
class Reader {
  private buf = Buffer.alloc(0);
  constructor(private readonly onPayload: (payload: Buffer) => void) {}
  push(data: Buffer): void {
    this.buf = Buffer.concat([this.buf, data]);
    while (this.buf.length >= 12) {
      const total = this.buf.readUInt32BE(0);
      if (this.buf.length < total) return;
      const headersLength = this.buf.readUInt32BE(4);
      this.onPayload(this.buf.subarray(12 + headersLength, total - 4));
      this.buf = this.buf.subarray(total);
    }
  }
}

/** Audio bytes in a payload: HTTP/2 wraps the AudioEvent in a signed envelope; WebSocket sends it bare. */
function audioBytes(payload: Buffer, transport: Transport): number {
  if (transport === "websocket" || payload.length < 16) return payload.length;
  return payload.readUInt32BE(0) - payload.readUInt32BE(4) - 16;
}

type Transport = "http2" | "websocket";

/** One stream request, as the peer sees it. */
interface Conn {
  index: number;
  sessionId: string;
  /** Audio bytes received so far. */
  audio: number;
  send(bytes: Buffer): void;
  /** END_STREAM (HTTP/2) or a normal close 1000 (WebSocket). */
  end(): void;
  /** RST_STREAM INTERNAL_ERROR without END_STREAM (HTTP/2), or a dropped socket (WebSocket). */
  reset(): void;
}

/** A connection the peer refused at its start: nothing to send, end or reset on it. */
const refusedConn = (index: number, sessionId: string): Conn => ({
  index,
  sessionId,
  audio: 0,
  send: () => undefined,
  end: () => undefined,
  reset: () => undefined,
});

interface Script {
  /** Answers the request with an HTTP error instead of a stream. */
  reject?: { status: number; errorType: string; text: string };
  /** After each audio payload. */
  onAudio?(c: Conn): void;
  /** On the client's end of the audio. */
  onEnd?(c: Conn): void;
}

/**
 * The final of what connection `c` heard. Every session here is 1 s of audio and a replay runs to its
 * end, so the connection's stream began at session time 1 − (its audio): the words are on its own clock,
 * and a word that began before it (not heard whole) is not recognised, as by a real service.
 */
function finalHeardBy(c: Conn): Buffer {
  const offset = 1 - c.audio / 32000;
  const words = FINAL_WORDS.filter((w) => w.start >= offset - 1e-9).map((w) => ({
    ...w,
    start: w.start - offset,
    end: w.end - offset,
  }));
  return words.length > 0 ? transcriptEvent([{ id: `r${c.index}`, partial: false, words }]) : EMPTY_EVENT;
}

/** A well-behaved connection: an empty event at the first audio, the final at the end, then the end. */
const honest: Script = {
  onEnd: (c) => {
    c.send(finalHeardBy(c));
    c.end();
  },
};

interface Peer {
  endpoint: string;
  conns: Conn[];
  close(): Promise<void>;
}

/** A peer serving the stream requests, connection `i` by `scripts[i]` (the last one for any beyond). */
async function peer(transport: Transport, scripts: Script[]): Promise<Peer> {
  const conns: Conn[] = [];
  const script = (i: number): Script => scripts[Math.min(i, scripts.length - 1)] ?? honest;
  const serve = (c: Conn, s: Script, payload: Buffer): void => {
    if (payload.length === 0) {
      s.onEnd?.(c);
      return;
    }
    const first = c.audio === 0;
    c.audio += audioBytes(payload, transport);
    // The real service answers the first audio soon (new SDKs wait for an event before send() resolves).
    if (first) c.send(EMPTY_EVENT);
    s.onAudio?.(c);
  };
  if (transport === "http2") {
    const sessions = new Set<http2.ServerHttp2Session>();
    const server = h2cServer(sessions, (stream, headers) => {
      const s = script(conns.length);
      const sessionId = String(headers["x-amzn-transcribe-session-id"] ?? "");
      if (s.reject) {
        conns.push(refusedConn(conns.length, sessionId));
        stream.respond({
          ":status": s.reject.status,
          "x-amzn-errortype": s.reject.errorType,
          "content-type": "application/json",
        });
        stream.end(JSON.stringify({ Message: s.reject.text }));
        return;
      }
      stream.respond({
        ":status": 200,
        "content-type": "application/vnd.amazon.eventstream",
        "x-amzn-transcribe-session-id": sessionId,
      });
      const c: Conn = {
        index: conns.length,
        sessionId,
        audio: 0,
        send: (b) => {
          if (!stream.destroyed && stream.writable) stream.write(b);
        },
        end: () => {
          if (!stream.destroyed) stream.end();
        },
        // Not close(code): that ends the stream first (END_STREAM), which after the client's end is complete.
        reset: () => stream.destroy(new Error("reset by the peer")),
      };
      conns.push(c);
      const reader = new Reader((p) => serve(c, s, p));
      stream.on("data", (d: Buffer) => reader.push(d));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    return {
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      conns,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sessions) s.destroy();
          server.close(() => r());
        }),
    };
  }
  const server = http.createServer();
  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    socket.on("error", () => undefined);
    const s = script(conns.length);
    const url = new URL(req.url ?? "/", "http://x");
    const sessionId = url.searchParams.get("session-id") ?? "";
    if (s.reject) {
      conns.push(refusedConn(conns.length, sessionId));
      const body = JSON.stringify({ Message: s.reject.text });
      socket.end(
        `HTTP/1.1 ${s.reject.status} Refused\r\nx-amzn-errortype: ${s.reject.errorType}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      ws.on("error", () => undefined);
      const c: Conn = {
        index: conns.length,
        sessionId,
        audio: 0,
        send: (b) => {
          if (ws.readyState === ws.OPEN) ws.send(b, { binary: true });
        },
        end: () => ws.close(1000),
        reset: () => ws.terminate(),
      };
      conns.push(c);
      const reader = new Reader((p) => serve(c, s, p));
      ws.on("message", (d: Buffer) => reader.push(d));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    conns,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const TUNING: Partial<SessionTuning> = {
  backoffBaseMs: 20,
  backoffMaxMs: 100,
  watchdogMs: 2000,
  speechStallMs: 600,
  openTimeoutMs: 2000,
  endAnswerMs: 800,
  replayBurstSeconds: 30,
};

interface Run {
  session: AwsStreamSession;
  results: TranscriptResult[];
  events: SessionEvent[];
  close(): void;
}

function open(endpoint: string, transport: Transport, tuning: Partial<SessionTuning> = {}): Run {
  const settings = {
    region: "us-east-1",
    endpoint,
    credentials: CREDENTIALS,
    connectTimeoutMs: 2000,
    problems: [],
  };
  const client = createTranscribeClient(settings);
  const ws =
    transport === "websocket" ? clientWebSocketTransport(client, settings, realScheduler) : undefined;
  const c = checkMedicalParams({
    specialty: "PRIMARYCARE",
    type: "DICTATION",
    sampleRate: RATE,
    mediaEncoding: "pcm",
  });
  assert.ok(c.ok);
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const session = new AwsStreamSession({
    sessionId: "hostile",
    service: medicalService(client, c.value, ws),
    scheduler: realScheduler,
    tuning: { ...TUNING, ...tuning },
    secrets: [CREDENTIALS.accessKeyId, CREDENTIALS.secretAccessKey],
    handlers: { result: (r) => results.push(r), event: (e) => events.push(e) },
  });
  return { session, results, events, close: () => client.destroy() };
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `seconds` of audio in 100 ms chunks at five times real time; the chunks refused (session ended). */
async function speak(s: AwsStreamSession, seconds: number): Promise<number> {
  let refused = 0;
  for (let i = 0; i < seconds * 10; i++) {
    if (!s.push(tone()).ok) refused++;
    await delay(20);
  }
  return refused;
}

const ended = (r: Run) => {
  const e = r.events.filter((x) => x.event === "ended");
  assert.equal(e.length, 1, "one ended event");
  const last = e[0];
  assert.ok(last?.event === "ended");
  return last.account;
};

/** "chest pain" delivered in finals exactly once, nothing left open, nothing lost. */
function assertRecovered(r: Run, reconnects: number): void {
  for (const x of r.results) assertTranscriptResult(x);
  const words = r.results.filter((x) => x.isFinal).flatMap((x) => x.words.map((w) => w.text));
  assert.deepEqual(words, ["chest", "pain"], "every word once");
  const open = new Set<string>();
  for (const x of r.results) {
    if (x.isFinal || x.withdrawn === true) open.delete(x.segmentId);
    else open.add(x.segmentId);
  }
  assert.deepEqual([...open], [], "no partial left on screen");
  const account = ended(r);
  assert.equal(account.lostSeconds, 0);
  assert.equal(account.receivedSeconds, 1);
  assert.equal(account.confirmedSeconds, 1);
  assert.equal(account.reconnects, reconnects);
  assert.ok(!r.events.some((e) => e.event === "error"));
}

const corrupt = {
  /** A TranscriptEvent whose message CRC is wrong. */
  "a bad message CRC": (): Buffer => {
    const b = Buffer.from(PARTIAL);
    b.writeUInt32BE((b.readUInt32BE(b.length - 4) ^ 1) >>> 0, b.length - 4);
    return b;
  },
  /** A prelude CRC that does not match the lengths. */
  "a bad prelude CRC": (): Buffer => {
    const b = Buffer.from(PARTIAL);
    b.writeUInt32BE((b.readUInt32BE(8) ^ 1) >>> 0, 8);
    return b;
  },
  /** A header of a type the format does not have (99), with valid CRCs. */
  "a header of unknown type": (): Buffer =>
    message(
      [
        str(":message-type", "event"),
        str(":event-type", "TranscriptEvent"),
        ["x-odd", 99, Buffer.from("zz")],
      ],
      Buffer.from("{}"),
    ),
};

for (const transport of ["http2", "websocket"] as const)
  describe(`AWS streaming session over ${transport} against hostile peers (raw server, real client)`, function () {
    this.timeout(20000);
    let p: Peer | undefined;
    let run: Run | undefined;
    afterEach(async () => {
      run?.close();
      run = undefined;
      await p?.close();
      p = undefined;
    });

    for (const [what, make] of Object.entries(corrupt)) {
      it(`takes ${what} mid-stream as a broken stream: reconnects, replays, delivers the final once`, async () => {
        p = await peer(transport, [
          {
            onAudio: (c) => {
              if (c.audio === 3200 * 5) c.send(make());
            },
            onEnd: (c) => {
              c.send(finalHeardBy(c));
              c.end();
            },
          },
          honest,
        ]);
        run = open(p.endpoint, transport);
        await speak(run.session, 1);
        await run.session.end();
        assert.equal(p.conns.length, 2);
        assert.equal(p.conns[1]?.audio, 32000, "the second stream got the whole second again");
        assertRecovered(run, 1);
      });
    }

    it("does not take a final cut short by the end of the stream (truncated message, then END_STREAM / close 1000) as a complete end", async () => {
      p = await peer(transport, [
        {
          onEnd: (c) => {
            c.send(FINAL.subarray(0, FINAL.length - 20));
            c.end();
          },
        },
        honest,
      ]);
      run = open(p.endpoint, transport);
      await speak(run.session, 1);
      await run.session.end();
      assert.equal(p.conns.length, 2, "the unconfirmed second was replayed into a new stream");
      assertRecovered(run, 1);
      // Ending an ended session again changes nothing.
      await run.session.end();
      assert.equal(run.events.filter((e) => e.event === "ended").length, 1);
    });

    for (const [what, onEnd] of [
      ["after the final but before the end of the stream", (c: Conn) => (c.send(FINAL), c.reset())],
      [
        "with a segment still open (a partial, then the end of the stream)",
        (c: Conn) => (c.send(PARTIAL), c.end()),
      ],
      ["before the final (right after the last audio frame)", (c: Conn) => c.reset()],
    ] as const) {
      it(`recovers from a stream lost ${what}: every word once, nothing left open`, async () => {
        p = await peer(transport, [{ onEnd }, honest]);
        run = open(p.endpoint, transport);
        await speak(run.session, 1);
        await run.session.end();
        assert.equal(p.conns.length, 2);
        assertRecovered(run, 1);
      });
    }

    it("stops with a clear error when the reconnect is refused for expired credentials (ExpiredTokenException), naming the seconds lost", async () => {
      p = await peer(transport, [
        {
          onAudio: (c) => {
            if (c.audio === 3200 * 5) c.send(exception("InternalFailureException", "A problem occurred."));
          },
        },
        {
          reject: {
            status: 403,
            errorType: "ExpiredTokenException",
            text: "The security token included in the request is expired",
          },
        },
        honest,
      ]);
      run = open(p.endpoint, transport);
      const refused = await speak(run.session, 1);
      await run.session.end();
      assert.equal(p.conns.length, 2, "not retried");
      const errors = run.events.filter((e) => e.event === "error");
      assert.equal(errors.length, 1);
      const err = errors[0];
      assert.ok(err?.event === "error");
      assert.equal(err.error.code, "ExpiredTokenException");
      assert.equal(err.resumable, false);
      // Every second taken before the error is named as lost; what came after it was refused chunk by chunk.
      const account = ended(run);
      assert.ok(err.lostSeconds > 0);
      assert.match(
        err.error.message,
        new RegExp(`\\(${err.lostSeconds.toFixed(1)} s of audio not transcribed\\)$`),
      );
      assert.equal(account.lostSeconds, err.lostSeconds);
      assert.equal(account.receivedSeconds, account.lostSeconds);
      assert.equal(Math.round(account.receivedSeconds * 10) + refused, 10);
      assert.ok(!err.error.message.includes(CREDENTIALS.accessKeyId));
    });

    it("stops at a BadRequestException mid-stream that is about the request, with the seconds lost; not retried", async () => {
      p = await peer(transport, [
        {
          onAudio: (c) => {
            if (c.audio === 3200 * 5)
              c.send(exception("BadRequestException", "The request signature we calculated does not match"));
          },
        },
        honest,
      ]);
      run = open(p.endpoint, transport);
      await speak(run.session, 1);
      await run.session.end();
      assert.equal(p.conns.length, 1);
      const err = run.events.find((e) => e.event === "error");
      assert.ok(err?.event === "error");
      assert.equal(err.error.code, "BadRequestException");
      assert.ok(err.lostSeconds > 0);
      assert.equal(ended(run).lostSeconds, err.lostSeconds);
    });

    for (const type of ["ServiceUnavailableException", "ConflictException"]) {
      it(`recovers from a ${type} mid-stream${type === "ConflictException" ? " under a new session id" : ""}`, async () => {
        p = await peer(transport, [
          {
            onAudio: (c) => {
              if (c.audio === 3200 * 5) c.send(exception(type, "Try again."));
            },
          },
          honest,
        ]);
        run = open(p.endpoint, transport);
        await speak(run.session, 1);
        await run.session.end();
        assertRecovered(run, 1);
        const [first, second] = p.conns;
        if (type === "ConflictException") assert.notEqual(second?.sessionId, first?.sessionId);
        else assert.equal(second?.sessionId, first?.sessionId);
      });
    }

    it("finds a half-open connection (the peer stops reading and answering, no FIN, no RST), reconnects and replays", async () => {
      p = await peer(transport, [honest]);
      // A relay in front of the peer whose first connection, after 8 kB from the client (a few frames
      // of audio), neither forwards nor reads any more, in either direction, and never closes.
      let frozen = false;
      const held: net.Socket[] = [];
      const port = Number(new URL(p.endpoint).port);
      let accepted = 0;
      const relay = net.createServer((client) => {
        client.on("error", () => undefined);
        held.push(client);
        const first = accepted++ === 0;
        const upstream = net.connect(port, "127.0.0.1");
        upstream.on("error", () => undefined);
        held.push(upstream);
        let forwarded = 0;
        client.on("data", (d: Buffer) => {
          if (frozen && first) return;
          upstream.write(d);
          forwarded += d.length;
          if (first && forwarded > 8000) {
            frozen = true;
            client.pause();
            upstream.pause();
          }
        });
        upstream.on("data", (d: Buffer) => {
          if (!(frozen && first)) client.write(d);
        });
      });
      await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
      try {
        run = open(`http://127.0.0.1:${(relay.address() as AddressInfo).port}`, transport);
        await speak(run.session, 1);
        await run.session.end();
        assert.ok(frozen);
        assert.equal(accepted, 2, "one new connection");
        const reconnecting = run.events.find((e) => e.event === "reconnecting");
        assert.ok(reconnecting?.event === "reconnecting");
        assert.equal(reconnecting.error.code, "StreamStalled");
        assertRecovered(run, 1);
      } finally {
        for (const s of held) s.destroy();
        await new Promise<void>((r) => relay.close(() => r()));
      }
    });
  });
