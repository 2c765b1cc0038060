import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import {
  buildHl7,
  checkEncounter,
  checkPatient,
  DEFAULT_HL7_OPTIONS,
} from "../../../../src/hospital/hl7/build";
import { MllpClient, type DeliveryEvent, type MllpClientOptions } from "../../../../src/hospital/mllp/client";
import { frame, FrameDecoder } from "../../../../src/hospital/mllp/frame";
import { documentWithText, syntheticPatient } from "../../../support/documents";
import {
  ackFrame,
  controlIdIn,
  freePort,
  medplumPeer,
  type PeerAnswer,
  nodeHl7Peer,
  rawPeer,
  type Peer,
} from "../../../support/hl7-peers";

const TEXT = "BP 120/80 | pain 3^4 ~ R&L knee \\ note\nSecond line";

function message(documentId = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11", text = TEXT): string {
  return buildHl7(
    documentWithText(text, documentId),
    checkPatient(syntheticPatient, "msg.patient"),
    checkEncounter({}, "msg.encounter"),
    DEFAULT_HL7_OPTIONS,
    new Date("2026-01-15T14:31:05Z"),
  ).message;
}

const clients: MllpClient[] = [];
const peers: Peer[] = [];

function client(port: number, overrides: Partial<MllpClientOptions> = {}): MllpClient {
  const c = new MllpClient({
    host: "127.0.0.1",
    port,
    connectTimeoutMs: 1000,
    ackTimeoutMs: 500,
    retries: 2,
    backoffMs: 20,
    backoffMaxMs: 40,
    ...overrides,
  });
  clients.push(c);
  return c;
}

async function peer<P extends Peer>(p: Promise<P>): Promise<P> {
  const started = await p;
  peers.push(started);
  return started;
}

describe("MLLP framing", () => {
  it("reassembles frames split anywhere and several frames in one chunk, dropping noise", () => {
    const decoder = new FrameDecoder();
    const bytes = Buffer.concat([Buffer.from("noise"), frame("MSH|one"), frame("MSH|twö")]);
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i += 3) out.push(...decoder.push(bytes.subarray(i, i + 3)));
    assert.deepEqual(out, ["MSH|one", "MSH|twö"]);
    assert.deepEqual(new FrameDecoder().push(Buffer.concat([frame("a"), frame("b")])), ["a", "b"]);
  });

  it("starts a frame again at a <VT> inside it, and drops blank frames (keep-alives)", () => {
    const decoder = new FrameDecoder();
    const bytes = Buffer.from(
      "\x0b\x1c\r\x0b \r\n\x1c\rnoise\x0bbroken off\x0b\x0bMSH|a\x1c\r\x0bMSH|b\x0bMSH|c\x1c",
    );
    assert.deepEqual(decoder.push(bytes), ["MSH|a", "MSH|c"]);
    const byByte: string[] = [];
    const again = new FrameDecoder();
    for (let i = 0; i < bytes.length; i++) byByte.push(...again.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(byByte, ["MSH|a", "MSH|c"], "the same, a byte at a time");
    const starts = Buffer.concat([Buffer.alloc(200_000, 0x0b), frame("MSH|d")]);
    const began = Date.now();
    assert.deepEqual(new FrameDecoder().push(starts), ["MSH|d"]);
    assert.ok(Date.now() - began < 500, "linear in the start blocks");
  });

  it("refuses a frame that grows past the size limit", () => {
    const decoder = new FrameDecoder(10);
    assert.throws(() => decoder.push(Buffer.from("\x0b0123456789abc")), /exceeded 10 bytes/);
  });

  it("ends a frame at <FS> even when its <CR> never comes (a receiver that closes at once)", () => {
    const decoder = new FrameDecoder();
    assert.deepEqual(decoder.push(Buffer.from("\x0bMSH|a\x1c")), ["MSH|a"]);
    assert.deepEqual(decoder.push(Buffer.from("\r\x0bMSH|b\x1c\r")), ["MSH|b"], "the late <CR> is noise");
  });

  it("reassembles a 1 MiB frame that arrives one byte at a time, and bounds by default at 1 MiB", () => {
    const text = `MSH|${"x".repeat(1024 * 1024 - 8)}`;
    const bytes = frame(text);
    const decoder = new FrameDecoder();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) {
      for (const f of decoder.push(bytes.subarray(i, i + 1))) out.push(f);
    }
    assert.deepEqual(out, [text]);
    assert.throws(() => new FrameDecoder().push(frame(`${text}${"y".repeat(16)}`)), /exceeded 1048576 bytes/);
  });
});

describe(`MLLP client against independent receivers`, () => {
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of peers.splice(0)) await p.close();
  });

  // node-hl7-server 2.5.0 keeps appending to its receive buffer on a reused connection, so the
  // client closes the connection after each ACK for it (the "keep connection open: off" setting).
  const receivers: Array<[string, (answers: PeerAnswer | PeerAnswer[]) => Promise<Peer>, boolean]> = [
    ["@medplum/hl7 Hl7Server", medplumPeer, true],
    ["node-hl7-server", nodeHl7Peer, false],
  ];
  for (const [name, start, keepConnectionOpen] of receivers) {
    it(`${name}: AA is accepted, MSA-2 matches MSH-10 and the receiver got the same text`, async () => {
      const p = await peer(start("AA"));
      const sent = message();
      const events: DeliveryEvent[] = [];
      const outcome = await client(p.port, { keepConnectionOpen }).send(sent, (e) => events.push(e));
      assert.equal(outcome.status, "accepted");
      assert.equal(outcome.attempts, 1);
      assert.equal(outcome.status === "accepted" && outcome.ack.code, "AA");
      assert.equal(outcome.controlId, controlIdIn(sent));
      assert.equal(p.received.length, 1);
      // Both libraries re-serialise the parsed message without the final segment terminator.
      assert.ok(sent.endsWith("\r"), "every segment we send, the last included, ends with CR");
      assert.equal(
        p.received[0]?.replace(/\r$/, ""),
        sent.slice(0, -1),
        "the receiver parsed exactly what we sent",
      );
      assert.deepEqual(
        events.map((e) => e.type),
        ["send", "ack"],
      );
    });

    it(`${name}: AE is rejected at once, not retried`, async () => {
      const p = await peer(start("AE"));
      const outcome = await client(p.port, { keepConnectionOpen }).send(message());
      assert.equal(outcome.status, "rejected");
      assert.equal(outcome.status === "rejected" && outcome.reason, "AE");
      assert.equal(outcome.attempts, 1);
      assert.equal(p.received.length, 1);
    });

    it(`${name}: AR is retried with the same message until accepted`, async () => {
      const p = await peer(start(["AR", "AR", "AA"]));
      const events: DeliveryEvent[] = [];
      const outcome = await client(p.port, { keepConnectionOpen }).send(message(), (e) => events.push(e));
      assert.equal(outcome.status, "accepted");
      assert.equal(outcome.attempts, 3);
      assert.equal(p.received.length, 3);
      assert.equal(new Set(p.received).size, 1, "every attempt carried the same message and MSH-10");
      assert.deepEqual(
        events.filter((e) => e.type === "retry").map((e) => (e as { delayMs: number }).delayMs),
        [20, 40],
        "backoff doubles up to its cap",
      );
    });

    it(`${name}: AR beyond the retry budget is rejected`, async () => {
      const p = await peer(start("AR"));
      const outcome = await client(p.port, { retries: 1, keepConnectionOpen }).send(message());
      assert.equal(outcome.status === "rejected" && outcome.reason, "AR");
      assert.equal(outcome.attempts, 2);
      assert.equal(p.received.length, 2);
    });

    it(`${name}: a receiver that never answers times out, is retried, then rejected`, async () => {
      const p = await peer(start("silent"));
      const started = Date.now();
      const outcome = await client(p.port, { ackTimeoutMs: 150, retries: 1, keepConnectionOpen }).send(
        message(),
      );
      assert.equal(outcome.status === "rejected" && outcome.reason, "ack-timeout");
      assert.equal(outcome.attempts, 2);
      assert.ok(Date.now() - started >= 300, "two full ACK timeouts");
      assert.equal(p.received.length, 2);
    });

    it(`${name}: messages go out one at a time, in order`, async () => {
      const p = await peer(start("AA"));
      const c = client(p.port, { keepConnectionOpen });
      const ids = [
        "11111111-0000-4000-8000-000000000001",
        "22222222-0000-4000-8000-000000000002",
        "33333333-0000-4000-8000-000000000003",
      ];
      const outcomes = await Promise.all(ids.map((id) => c.send(message(id))));
      assert.deepEqual(
        outcomes.map((o) => o.status),
        ["accepted", "accepted", "accepted"],
      );
      assert.deepEqual(
        p.received.map(controlIdIn),
        outcomes.map((o) => o.controlId),
      );
    });
  }

  it("speaks MLLP over TLS to node-hl7-server, checking its certificate against the configured CA", async () => {
    const fixtures = join(__dirname, "../../../fixtures/tls");
    const cert = readFileSync(join(fixtures, "receiver-cert.pem"), "utf8");
    const key = readFileSync(join(fixtures, "receiver-key.pem"), "utf8");
    const p = await peer(nodeHl7Peer("AA", { key, cert }));
    const trusted = await client(p.port, {
      tls: { ca: cert, rejectUnauthorized: true },
      keepConnectionOpen: false,
    }).send(message());
    assert.equal(trusted.status, "accepted");
    assert.equal(p.received.length, 1);
    const untrusted = await client(p.port, { tls: { rejectUnauthorized: true }, retries: 0 }).send(message());
    assert.equal(untrusted.status === "rejected" && untrusted.reason, "tls-certificate");
    assert.equal(
      untrusted.status === "rejected" && untrusted.detail,
      "TLS certificate rejected by this node: the receiver's certificate is self-signed and not the configured CA (DEPTH_ZERO_SELF_SIGNED_CERT)",
    );
    assert.equal(p.received.length, 1, "nothing was sent over the untrusted connection");
  });

  it("times out a TLS handshake that never completes, and close() ends one in progress at once", async () => {
    const p = await peer(rawPeer(() => undefined)); // accepts TCP, never answers the TLS hello
    const timedOut = await client(p.port, {
      tls: { rejectUnauthorized: true },
      connectTimeoutMs: 100,
      retries: 0,
    }).send(message());
    assert.equal(
      timedOut.status === "rejected" && timedOut.detail,
      "could not connect to the receiver (ETIMEDOUT)",
    );
    const c = client(p.port, { tls: { rejectUnauthorized: true }, connectTimeoutMs: 10000 });
    const pending = c.send(message());
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    c.close();
    const outcome = await pending;
    assert.equal(outcome.status === "rejected" && outcome.reason, "client-closed");
    assert.ok(Date.now() - started < 100, "settled without waiting for the connect timeout");
  });

  it("reconnects when the receiver closes the connection after each ACK", async () => {
    const p = await peer(
      rawPeer((socket, chunk) => {
        socket.end(ackFrame(controlIdIn(chunk.toString()), "AA"));
      }),
    );
    const c = client(p.port);
    const first = await c.send(message());
    await new Promise((r) => setTimeout(r, 20));
    const second = await c.send(message("55555555-0000-4000-8000-000000000005"));
    assert.deepEqual([first.status, second.status], ["accepted", "accepted"]);
    assert.equal(second.attempts, 1, "the closed connection was noticed before the next message");
    assert.equal(p.connections, 2);
  });

  it("waits for each ACK before sending the next message", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const p = await peer(
      rawPeer((socket, chunk) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        setTimeout(() => {
          inFlight--;
          socket.write(ackFrame(controlIdIn(chunk.toString()), "AA"));
        }, 30);
      }),
    );
    const c = client(p.port);
    const outcomes = await Promise.all(
      [1, 2, 3].map((n) => c.send(message(`0000000${n}-0000-4000-8000-000000000000`))),
    );
    assert.ok(outcomes.every((o) => o.status === "accepted"));
    assert.equal(maxInFlight, 1);
    assert.equal(p.connections, 1, "one connection kept open for all three");
  });

  it("accepts an ACK split across writes, byte by byte", async () => {
    const p = await peer(
      rawPeer((socket, chunk) => {
        const ack = ackFrame(controlIdIn(chunk.toString()), "AA");
        void (async () => {
          for (const byte of ack) {
            socket.write(Buffer.from([byte]));
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
      }),
    );
    const outcome = await client(p.port).send(message());
    assert.equal(outcome.status, "accepted");
  });

  it("rejects an ACK whose MSA-2 does not match MSH-10, without retrying", async () => {
    const p = await peer(rawPeer((socket) => socket.write(ackFrame("SOMEONE-ELSE", "AA"))));
    const outcome = await client(p.port).send(message());
    assert.equal(outcome.status === "rejected" && outcome.reason, "ack-mismatch");
    assert.equal(outcome.attempts, 1);
  });

  it("ignores a late or repeated ACK for an earlier message and waits for this one's, alone or in one segment with it", async () => {
    // Enhanced-mode receivers answer CA and then AA; others repeat an ACK. Either way the answer
    // naming the previous MSH-10 arrives while the next message waits for its own.
    for (const together of [false, true]) {
      const received: string[] = [];
      const p = await peer(
        rawPeer((socket, chunk) => {
          const id = controlIdIn(chunk.toString());
          const previous = received[received.length - 1];
          received.push(id);
          const own = ackFrame(id, "AA");
          if (previous === undefined) socket.write(ackFrame(id, "CA"));
          else if (together)
            socket.write(Buffer.concat([Buffer.from("noise"), ackFrame(previous, "AA"), own]));
          else {
            socket.write(ackFrame(previous, "AA"));
            setTimeout(() => socket.write(own), 30);
          }
        }),
      );
      const c = client(p.port);
      const ids = [1, 2, 3].map((n) => `0000000${n}-0000-4000-8000-00000000000${together ? 1 : 0}`);
      const outcomes = await Promise.all(ids.map((id) => c.send(message(id))));
      assert.deepEqual(
        outcomes.map((o) => [o.status, o.attempts, o.status === "accepted" && o.ack.controlId]),
        outcomes.map((o) => ["accepted", 1, o.controlId]),
        `together: ${together}`,
      );
      assert.deepEqual(
        received,
        outcomes.map((o) => o.controlId),
        "each message reached the receiver once",
      );
      assert.equal(p.connections, 1);
    }
  });

  it("still rejects an ACK naming a control id it never sent", async () => {
    let n = 0;
    const p = await peer(
      rawPeer((socket, chunk) => {
        const id = controlIdIn(chunk.toString());
        socket.write(++n === 1 ? ackFrame(id, "AA") : ackFrame("NEVER-SENT", "AA"));
      }),
    );
    const c = client(p.port);
    const [first, second] = await Promise.all([
      c.send(message("00000001-0000-4000-8000-000000000002")),
      c.send(message("00000002-0000-4000-8000-000000000002")),
    ]);
    assert.equal(first?.status, "accepted");
    assert.deepEqual(second?.status === "rejected" && [second.reason, second.attempts], ["ack-mismatch", 1]);
  });

  it("takes the ACK after a keep-alive frame and a frame broken off by a new start block", async () => {
    const p = await peer(
      rawPeer((socket, chunk) => {
        const id = controlIdIn(chunk.toString());
        socket.write(Buffer.from([0x0b, 0x1c, 0x0d]));
        setTimeout(
          () => socket.write(Buffer.concat([Buffer.from("\x0bMSH|^~\\&|broken"), ackFrame(id, "AA")])),
          20,
        );
      }),
    );
    const outcome = await client(p.port).send(message());
    assert.deepEqual([outcome.status, outcome.attempts], ["accepted", 1]);
    assert.equal(p.received.length, 1);
  });

  it("rejects a response that is not an ACK", async () => {
    const p = await peer(rawPeer((socket) => socket.write(frame("HELLO"))));
    const outcome = await client(p.port).send(message());
    assert.equal(outcome.status === "rejected" && outcome.reason, "bad-ack");
  });

  it("routes each original and enhanced-mode code: AA/CA delivered, AE/CE final, AR/CR sent again unchanged", async () => {
    const expected: Record<string, [string, number, string?]> = {
      AA: ["accepted", 1],
      CA: ["accepted", 1],
      AE: ["rejected", 1, "AE"],
      CE: ["rejected", 1, "CE"],
      AR: ["accepted", 2],
      CR: ["accepted", 2],
    };
    for (const code of Object.keys(expected)) {
      const received: string[] = [];
      const p = await peer(
        rawPeer((socket, chunk) => {
          const id = controlIdIn(chunk.toString());
          received.push(id);
          socket.write(ackFrame(id, received.length === 1 ? code : "AA"));
        }),
      );
      const outcome = await client(p.port).send(message());
      assert.deepEqual(
        [outcome.status, outcome.attempts, outcome.status === "rejected" ? outcome.reason : undefined],
        [expected[code]?.[0], expected[code]?.[1], expected[code]?.[2]],
        code,
      );
      assert.deepEqual(
        received,
        received.map(() => outcome.controlId),
        `${code}: every copy the receiver got carries the same MSH-10`,
      );
      assert.equal(received.length, expected[code]?.[1], `${code}: sent ${expected[code]?.[1]} time(s)`);
    }
  });

  it("leaves a half-open connection (the receiver silent, no FIN) after the ACK timeout and resends on a new one, same MSH-10", async () => {
    const received: string[] = [];
    const silent = new WeakSet<object>();
    const p = await peer(
      rawPeer((socket, chunk) => {
        const id = controlIdIn(chunk.toString());
        received.push(id);
        // After its first ACK the first connection goes silent, as a receiver whose host vanished.
        if (silent.has(socket)) return;
        socket.write(ackFrame(id, "AA"));
        if (received.length === 1) silent.add(socket);
      }),
    );
    const c = client(p.port, { ackTimeoutMs: 150 });
    const first = await c.send(message("00000001-0000-4000-8000-000000000003"));
    const events: DeliveryEvent[] = [];
    const second = await c.send(message("00000002-0000-4000-8000-000000000003"), (e) => events.push(e));
    assert.deepEqual([first.status, second.status, second.attempts], ["accepted", "accepted", 2]);
    assert.deepEqual(
      events.filter((e) => e.type === "attempt-failed").map((e) => (e as { reason: string }).reason),
      ["ack-timeout"],
    );
    assert.deepEqual(
      received,
      [first.controlId, second.controlId, second.controlId],
      "the silent receiver may hold the second message: the resend has the same MSH-10",
    );
    assert.equal(p.connections, 2, "the silent connection was left for a new one");
  });

  it("takes an ACK cut off by FIN (no end block) for no answer: the same message again on a new connection", async () => {
    const received: string[] = [];
    const p = await peer(
      rawPeer((socket, chunk) => {
        const id = controlIdIn(chunk.toString());
        received.push(id);
        const ack = ackFrame(id, "AA");
        if (received.length === 1) socket.end(ack.subarray(0, ack.length - 2));
        else socket.write(ack);
      }),
    );
    const events: DeliveryEvent[] = [];
    const outcome = await client(p.port).send(message(), (e) => events.push(e));
    assert.deepEqual([outcome.status, outcome.attempts], ["accepted", 2]);
    assert.deepEqual(
      events.filter((e) => e.type === "attempt-failed").map((e) => (e as { reason: string }).reason),
      ["connection-closed"],
    );
    assert.deepEqual(received, [outcome.controlId, outcome.controlId], "the same MSH-10 both times");
    assert.equal(p.connections, 2);
  });

  it("times out a receiver that accepts the connection but never reads, each attempt on a new connection, and frees the queue", async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      sockets.push(socket);
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const big = message(undefined, "x ".repeat(2 * 1024 * 1024));
      const c = client(port, { ackTimeoutMs: 200, retries: 1 });
      const outcome = await c.send(big);
      assert.deepEqual(outcome.status === "rejected" && [outcome.reason, outcome.attempts], [
        "ack-timeout",
        2,
      ]);
      assert.equal(sockets.length, 2, "each attempt on a connection of its own");
      assert.equal(c.queued, 0);
      assert.equal(c.queuedBytes, 0);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("reconnects when the receiver drops the connection mid-message, keeping the same message", async () => {
    let calls = 0;
    const p = await peer(
      rawPeer((socket, chunk) => {
        calls++;
        if (calls === 1) socket.destroy();
        else socket.write(ackFrame(controlIdIn(chunk.toString()), "AA"));
      }),
    );
    const outcome = await client(p.port).send(message());
    assert.equal(outcome.status, "accepted");
    assert.equal(outcome.attempts, 2);
    assert.equal(p.connections, 2);
    assert.equal(p.received[0], p.received[1]);
  });

  it("retries a refused connection, then reports connect-failed", async () => {
    const port = await freePort();
    const events: DeliveryEvent[] = [];
    const outcome = await client(port, { retries: 2 }).send(message(), (e) => events.push(e));
    assert.equal(outcome.status === "rejected" && outcome.reason, "connect-failed");
    assert.equal(outcome.attempts, 3);
    assert.equal(
      outcome.status === "rejected" && outcome.detail,
      "could not connect to the receiver (ECONNREFUSED)",
    );
  });

  it("close() ends the socket and every timer, and settles queued messages", async () => {
    const p = await peer(medplumPeer("silent"));
    const before = process
      .getActiveResourcesInfo()
      .filter((r) => r === "TCPSocketWrap" || r === "Timeout").length;
    const c = client(p.port, { ackTimeoutMs: 5000 });
    const first = c.send(message());
    const second = c.send(message("44444444-0000-4000-8000-000000000004"));
    await new Promise((r) => setTimeout(r, 100));
    c.close();
    const outcomes = await Promise.all([first, second]);
    assert.deepEqual(
      outcomes.map((o) => o.status === "rejected" && o.reason),
      ["client-closed", "client-closed"],
    );
    await new Promise((r) => setTimeout(r, 20));
    const after = process
      .getActiveResourcesInfo()
      .filter((r) => r === "TCPSocketWrap" || r === "Timeout").length;
    assert.ok(after <= before, `resources before ${before}, after ${after}`);
    assert.equal(c.connected, false);
  });

  it("sends each message once to a receiver that writes its ACK and closes the connection in one go", async () => {
    const received: string[] = [];
    const p = await peer(
      rawPeer((socket, chunk) => {
        const id = controlIdIn(chunk.toString());
        received.push(id);
        socket.end(ackFrame(id, "AA"));
      }),
    );
    const c = client(p.port);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => `0000000${n}-0000-4000-8000-000000000000`);
    const outcomes = await Promise.all(ids.map((id) => c.send(message(id))));
    assert.deepEqual(
      outcomes.map((o) => [o.status, o.attempts]),
      ids.map(() => ["accepted", 1]),
    );
    assert.deepEqual(
      received,
      outcomes.map((o) => o.controlId),
      "each message reached the receiver once",
    );
    assert.equal(p.connections, ids.length);
  });

  it("drops the connection on an answer frame past 1 MiB and reports it, without retrying", async () => {
    const p = await peer(
      rawPeer((socket) => {
        socket.write(Buffer.from([0x0b]));
        socket.write(Buffer.alloc(2 * 1024 * 1024, 0x41));
      }),
    );
    const outcome = await client(p.port, { ackTimeoutMs: 5000 }).send(message());
    assert.deepEqual(outcome.status === "rejected" && [outcome.reason, outcome.attempts, outcome.detail], [
      "bad-ack",
      1,
      "the receiver's answer exceeded 1048576 bytes",
    ]);
    assert.equal(p.received.length, 1);
  });

  it("times out a receiver that answers garbage without a frame, or an ACK too slowly", async () => {
    const garbage = await peer(rawPeer((socket) => socket.write(Buffer.alloc(64 * 1024, 0x41))));
    const slow = await peer(
      rawPeer((socket, chunk) => {
        const ack = ackFrame(controlIdIn(chunk.toString()), "AA");
        let i = 0;
        const timer = setInterval(() => {
          if (i >= ack.length || socket.destroyed) clearInterval(timer);
          else socket.write(ack.subarray(i, ++i));
        }, 10);
      }),
    );
    for (const p of [garbage, slow]) {
      const outcome = await client(p.port, { ackTimeoutMs: 150, retries: 0 }).send(message());
      assert.equal(outcome.status === "rejected" && outcome.reason, "ack-timeout");
    }
  });

  it("refuses a message past the queue bound at once, and delivers the rest", async () => {
    const p = await peer(medplumPeer("AA"));
    const c = client(p.port, { maxQueue: 2 });
    const ids = [1, 2, 3].map((n) => `0000000${n}-0000-4000-8000-000000000000`);
    const outcomes = await Promise.all(ids.map((id) => c.send(message(id))));
    assert.deepEqual(
      outcomes.map((o) => (o.status === "rejected" ? o.reason : o.status)),
      ["accepted", "accepted", "queue-full"],
    );
    assert.equal(
      outcomes[2]?.status === "rejected" && outcomes[2].detail,
      "the queue to the receiver holds 2 messages, its limit",
    );
    assert.equal(p.received.length, 2, "the refused message was never sent");
    assert.deepEqual([c.queued, c.queuedBytes], [0, 0]);
    const bytes = client(p.port, { maxQueueBytes: 100 });
    const tooBig = await bytes.send(message());
    assert.equal(tooBig.status === "rejected" && tooBig.reason, "queue-full");
  });

  it("keeps delivering when an event listener throws", async () => {
    const p = await peer(medplumPeer("AA"));
    const errors: Error[] = [];
    const c = client(p.port, { onError: (e) => errors.push(e) });
    const outcome = await c.send(message(), () => {
      throw new Error("listener bug");
    });
    assert.equal(outcome.status, "accepted");
    assert.ok(errors.length > 0, "the listener's error was reported");
    assert.equal((await c.send(message("22222222-0000-4000-8000-000000000002"))).status, "accepted");
  });
});
