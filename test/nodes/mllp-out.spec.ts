import { strict as assert } from "node:assert";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { unescapeHl7 } from "../../src/hospital/hl7/escape";
import { encodeRecord } from "../../src/hospital/queue/journal";
import { syntheticPatient } from "../support/documents";
import {
  ackFrame,
  controlIdIn,
  freePort,
  medplumPeer,
  nodeHl7Peer,
  rawPeer,
  type Peer,
  type PeerAnswer,
} from "../support/hl7-peers";
import {
  type FlowNode,
  builtNodes,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  nextMessage,
  runtimeLabel,
  statusTexts,
  until,
} from "../support/node-red";
import { fileHandlePrototype, fsError, FsFaults } from "../support/fs-faults";
import { result, words } from "../support/results";
import { tempDir } from "../support/temp-dir";

const modules = builtNodes(["transcript-document", "hl7-mdm", "mllp-out", "mllp-endpoint"]);
const PHI_MARKER = "ZZ-PHI-MARKER-9150";

let peer: Peer | undefined;

/** transcript-document → hl7-mdm → mllp-out, with outputs accepted / rejected / audit. */
function load(port: number, endpoint: Record<string, unknown> = {}): Promise<void> {
  const nodes: FlowNode[] = [
    { id: "doc", type: "transcript-document", idleTimeout: "0", wires: [["mdm"]] },
    {
      id: "mdm",
      type: "hl7-mdm",
      patient: "patient",
      patientType: "msg",
      encounter: "encounter",
      encounterType: "msg",
      wires: [["send"]],
    },
    { id: "send", type: "mllp-out", endpoint: "ep", wires: [["accepted"], ["rejected"], ["audit"]] },
    {
      id: "ep",
      type: "mllp-endpoint",
      name: "test receiver",
      host: "127.0.0.1",
      port: String(port),
      tls: false,
      connectTimeout: "1",
      ackTimeout: "0.3",
      retries: "2",
      backoff: "0.02",
      backoffMax: "0.05",
      keepOpen: true,
      // The in-memory queue's behaviour; the durable queue has its own cases below.
      queueStore: "memory",
      ...endpoint,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["accepted", "rejected", "audit"]), {});
}

// Node-RED's user directory for these tests: the durable queue lives below it by default.
const userDir = tempDir("mllp-out-spec-");
helper.settings({ userDir });

async function start(p: Promise<Peer>): Promise<Peer> {
  peer = await p;
  return peer;
}

function dictate(text: string, patient: Record<string, unknown> = syntheticPatient): void {
  const doc = helper.getNode("doc");
  doc.receive({
    topic: "session-1",
    payload: result({ text, words: words([["synthetic", 0.95]]) }),
  });
  doc.receive({ topic: "session-1", control: "flush", patient });
}

const TEXT = "Plan: ibuprofen 400 mg | 3x daily ^ with food ~ R&L \\ review\nFollow-up in 2 weeks.";

describe(`mllp-out node (${runtimeLabel})`, () => {
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(join(userDir, "medstream-queue"), { recursive: true, force: true });
  });

  for (const [name, startPeer, keepOpen] of [
    ["@medplum/hl7 Hl7Server", (a: PeerAnswer) => medplumPeer(a), true],
    ["node-hl7-server", (a: PeerAnswer) => nodeHl7Peer(a), false],
  ] as const) {
    it(`delivers a dictated document to ${name}: AA on output 1, the receiver parses the same text`, async () => {
      const p = await start(startPeer("AA"));
      await load(p.port, { keepOpen });
      const accepted = nextMessage("accepted");
      dictate(TEXT);
      const msg = (await accepted) as NodeMessage & {
        ack: { code: string; controlId: string };
        delivery: Record<string, unknown>;
        hl7: { controlId: string };
      };
      assert.equal(msg.ack.code, "AA");
      assert.equal(msg.ack.controlId, msg.hl7.controlId);
      assert.deepEqual(msg.delivery, {
        status: "accepted",
        controlId: msg.hl7.controlId,
        attempts: 1,
        destination: "test receiver",
      });
      assert.equal(p.received.length, 1);
      const obx = (p.received[0] ?? "")
        .split("\r")
        .filter((s) => s.startsWith("OBX"))
        .map((s) => unescapeHl7(s.split("|")[5] ?? ""));
      assert.deepEqual(obx, TEXT.split("\n"));
    });
  }

  it("sends AE to the rejected output without retrying", async () => {
    const p = await start(medplumPeer("AE"));
    await load(p.port);
    const rejected = nextMessage("rejected");
    dictate(TEXT);
    const msg = (await rejected) as NodeMessage & {
      delivery: { reason: string; attempts: number };
      ack: { code: string };
    };
    assert.equal(msg.delivery.reason, "AE");
    assert.equal(msg.delivery.attempts, 1);
    assert.equal(msg.ack.code, "AE");
    assert.equal(p.received.length, 1);
  });

  it("retries AR with the same message, then reports it rejected", async () => {
    const p = await start(nodeHl7Peer("AR"));
    await load(p.port, { keepOpen: false });
    const rejected = nextMessage("rejected");
    dictate(TEXT);
    const msg = (await rejected) as NodeMessage & { delivery: { reason: string; attempts: number } };
    assert.equal(msg.delivery.reason, "AR");
    assert.equal(msg.delivery.attempts, 3);
    assert.equal(p.received.length, 3);
    assert.equal(new Set(p.received).size, 1);
  });

  it("reports a receiver that never answers as ack-timeout after the retries", async () => {
    const p = await start(medplumPeer("silent"));
    await load(p.port, { retries: "1" });
    const rejected = nextMessage("rejected", 3000);
    dictate(TEXT);
    const msg = (await rejected) as NodeMessage & {
      delivery: { reason: string; attempts: number; detail: string };
    };
    assert.equal(msg.delivery.reason, "ack-timeout");
    assert.equal(msg.delivery.attempts, 2);
    assert.equal(msg.delivery.detail, "no ACK within 300 ms");
  });

  it("emits PHI-free audit events for every send and ACK", async () => {
    const p = await start(medplumPeer(["AR", "AA"]));
    await load(p.port);
    const audit = collect("audit");
    const accepted = nextMessage("accepted");
    dictate(TEXT);
    const msg = (await accepted) as NodeMessage & { hl7: { controlId: string; documentId: string } };
    await delay(20);
    const events = audit.map((m) => m.payload as AuditEvent);
    assert.deepEqual(
      events.map((e) => [e.event, e.attempt, e.outcome ?? null]),
      [
        ["send", 1, null],
        ["ack", 1, "AR"],
        ["attempt-failed", 1, "AR"],
        ["retry", 2, null],
        ["send", 2, null],
        ["ack", 2, "AA"],
        ["delivered", 2, "AA"],
      ],
    );
    for (const e of events) {
      assert.equal(e.documentId, msg.hl7.documentId);
      assert.equal(e.messageId, msg.hl7.controlId);
      assert.equal(e.destination, "test receiver");
      assert.equal(e.protocol, "mllp");
      assert.equal(e.messageType, "MDM^T02^MDM_T02");
      assert.ok(!Number.isNaN(Date.parse(e.time)));
    }
    const send = events.find((e) => e.event === "send");
    assert.match(send?.sha256 ?? "", /^[0-9a-f]{64}$/);
  });

  it("reports a refused connection as connect-failed", async () => {
    await load(await freePort(), { retries: "1" });
    const rejected = nextMessage("rejected");
    dictate(TEXT);
    const msg = (await rejected) as NodeMessage & { delivery: { reason: string; detail: string } };
    assert.equal(msg.delivery.reason, "connect-failed");
    assert.equal(msg.delivery.detail, "could not connect to the receiver (ECONNREFUSED)");
  });

  it("refuses a payload that is not HL7 through catch, and a missing endpoint at deploy", async () => {
    const p = await start(medplumPeer("AA"));
    await load(p.port);
    const caught = nextMessage("caught");
    helper.getNode("send").receive({ payload: { not: "hl7" } });
    assert.match(
      ((await caught).error as { message: string }).message,
      /msg\.payload must be an HL7 v2 message/,
    );
    const caught2 = nextMessage("caught");
    helper.getNode("send").receive({ payload: "MSH|^~\\&|A|B|C|D|20260101||MDM^T02|||2.5.1" });
    assert.match(((await caught2).error as { message: string }).message, /no MSH-10/);
    await helper.unload();
    await helper.load(
      modules,
      flowWithCatch([{ id: "send", type: "mllp-out", endpoint: "", wires: [[], [], []] }], []),
      {},
    );
    assert.ok(statusTexts(helper.getNode("send")).includes("mllp-out.status.misconfigured"));
  });

  it("refuses a bad endpoint setting with a message naming it", async () => {
    await load(2575, { ackTimeout: "-5" });
    const caught = nextMessage("caught");
    helper.getNode("send").receive({ payload: "MSH|^~\\&|A|B|C|D|20260101||MDM^T02|X1|P|2.5.1" });
    assert.match(
      ((await caught).error as { message: string }).message,
      /ACK timeout \(s\) must be a number from 0\.01 to 3600/,
    );
  });

  it("never puts transcript text or patient data in logs, status, errors or audit events", async () => {
    const p = await start(medplumPeer("AE"));
    await load(p.port);
    const audit = collect("audit");
    const rejected = nextMessage("rejected");
    dictate(`${PHI_MARKER} reports pain`, {
      ...syntheticPatient,
      id: PHI_MARKER,
      family: PHI_MARKER,
      given: PHI_MARKER,
    });
    await rejected;
    await delay(600);
    assert.ok(p.received[0]?.includes(PHI_MARKER), "the marker did reach the receiver");
    const texts = ["doc", "mdm", "send"].flatMap((id) => {
      const n = helper.getNode(id);
      return [...statusTexts(n), ...loggedTexts(n)];
    });
    assert.ok(texts.includes("0 accepted, 1 rejected, 0 queued"), JSON.stringify(texts));
    for (const t of [...texts, ...audit.map((m) => JSON.stringify(m.payload))])
      assert.ok(!t.includes(PHI_MARKER), t);
  });

  it("closes its connection when the flow stops, leaving no socket open, and reports the message it held", async () => {
    const p = await start(medplumPeer("silent"));
    await load(p.port, { ackTimeout: "10" });
    dictate(TEXT);
    await delay(100);
    const sockets = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
    const during = sockets();
    // The flow's catch node stops with it: what the node reports goes to its error method (the log).
    const reported: string[] = [];
    const n = helper.getNode("send") as unknown as { error: (err: unknown, msg?: unknown) => void };
    const error = n.error.bind(n);
    n.error = (err, msg) => {
      reported.push(String(err));
      error(err, msg);
    };
    await helper.unload();
    await delay(50);
    assert.ok(sockets() < during, `sockets during ${during}, after ${sockets()}`);
    assert.deepEqual(reported, [
      'Error: mllp-out: the flow stopped before "test receiver" acknowledged the message: it may not have been delivered',
    ]);
  });

  it("starts with only id, type, z, wires and its endpoint, the endpoint with only id and type", async () => {
    await helper.load(
      modules,
      flowWithCatch(
        [
          { id: "send", type: "mllp-out", endpoint: "ep", wires: [[], [], []] },
          { id: "ep", type: "mllp-endpoint" },
        ],
        [],
      ),
      {},
    );
    const n = helper.getNode("send");
    assert.ok(!statusTexts(n).includes("mllp-out.status.misconfigured"), JSON.stringify(statusTexts(n)));
    assert.deepEqual(loggedTexts(n), []);
    const ep = helper.getNode("ep") as unknown as { client?: { maxQueue: number; maxQueueBytes: number } };
    assert.deepEqual([ep.client?.maxQueue, ep.client?.maxQueueBytes], [1000, 64 * 1024 * 1024]);
  });

  it("refuses a message that finds the receiver's queue full through catch, naming the receiver and the bound", async () => {
    const p = await start(medplumPeer("silent"));
    await load(p.port, { ackTimeout: "5", queueDepth: "1" });
    const caught = collect("caught");
    const n = helper.getNode("send");
    const message = (id: string): string => `MSH|^~\\&|A|B|C|D|20260101||MDM^T02|${id}|P|2.5.1`;
    n.receive({ payload: message("Q1") });
    n.receive({ payload: message("Q2") });
    await delay(600);
    assert.deepEqual(
      caught.map((m) => (m.error as { message: string }).message.replace(/^Error: /, "")),
      [
        'mllp-out: the queue to "test receiver" is full (at most 1 messages and 64 MiB waiting or in flight): the message was refused and not sent',
      ],
    );
    assert.equal(p.received.length, 1, "only the first reached the receiver");
    assert.ok(
      statusTexts(n).includes("0 accepted, 0 rejected, 1 queued, 1 refused: queue full (1)"),
      JSON.stringify(statusTexts(n)),
    );
  });

  it("refuses a fractional port, retry count or queue bound at deploy", async () => {
    for (const [setting, message] of [
      [{ port: "2575.5" }, /Port must be a whole number from 1 to 65535/],
      [{ retries: "1.5" }, /Retries must be a whole number from 0 to 100/],
      [{ queueDepth: "0" }, /Queue \(messages\) must be a whole number from 1 to 100000/],
      [{ queueMegabytes: "abc" }, /Queue \(MiB\) must be a number from 1 to 1024/],
    ] as const) {
      await load(2575, setting);
      const caught = nextMessage("caught");
      helper.getNode("send").receive({ payload: "MSH|^~\\&|A|B|C|D|20260101||MDM^T02|X1|P|2.5.1" });
      assert.match(((await caught).error as { message: string }).message, message);
      await helper.unload();
    }
  });
});

/** An HL7 message with the given MSH-10 (what mllp-out checks and the receivers parse). */
function hl7(controlId: string): string {
  return `MSH|^~\\&|MEDSTREAM|HOSP|EHR|HOSP|20260115143105||MDM^T02^MDM_T02|${controlId}|P|2.5.1\rEVN|T02|20260115143105\rPID|1||${PHI_MARKER}^^^HOSP^MR\rTXA|1|CN|TX|||||||||${controlId}||||||DO||UN`;
}

describe(`mllp-out node with the durable (disk) queue (${runtimeLabel})`, () => {
  let queueDir: string;

  /** mllp-out → a receiver on `port`, its queue in queueDir; outputs, and a complete node for done(). */
  function loadDurable(port: number, endpoint: Record<string, unknown> = {}): Promise<void> {
    return helper.load(
      modules,
      flowWithCatch(
        [
          { id: "send", type: "mllp-out", endpoint: "ep", wires: [["accepted"], ["rejected"], ["audit"]] },
          { id: "completed", type: "complete", scope: ["send"], wires: [["done"]] },
          {
            id: "ep",
            type: "mllp-endpoint",
            name: "durable receiver",
            host: "127.0.0.1",
            port: String(port),
            connectTimeout: "0.5",
            ackTimeout: "0.5",
            retries: "0",
            backoff: "0.05",
            backoffMax: "0.1",
            queueDir,
            ...endpoint,
          },
        ],
        ["accepted", "rejected", "audit", "done"],
      ),
      {},
    );
  }

  const journal = (): string => join(queueDir, "mllp-ep", "journal.log");
  type Queued = { current?: { depth: number } };
  const depth = (): number =>
    (helper.getNode("ep") as unknown as { destination?: Queued }).destination?.current?.depth ?? -1;

  beforeEach(() => {
    queueDir = mkdtempSync(join(tmpdir(), "mllp-queue-"));
  });

  /**
   * A receiver that is down: it drops every connection as soon as a message arrives (a port that
   * nothing listens on could be taken by the test runtime's own HTTP server meanwhile).
   */
  async function downPeer(): Promise<number> {
    peer = await rawPeer((socket) => socket.destroy());
    return peer.port;
  }
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    peer = undefined;
    rmSync(queueDir, { recursive: true, force: true });
  });

  it("is done() only once the message is in the journal, keeps it across a restart while the receiver is down, then delivers it once with the same MSH-10", async () => {
    const port = await downPeer();
    await loadDurable(port);
    const done = nextMessage("done");
    helper.getNode("send").receive({ payload: hl7("CTRL-0001") });
    await done;
    // Complete fired: the message is on disk already.
    assert.ok(readFileSync(journal(), "latin1").includes("CTRL-0001"));
    await until(() => depth() === 1);
    await helper.unload();

    // Node-RED restarts; the receiver is back.
    await peer?.close();
    const p = await start(medplumPeer("AA"));
    await loadDurable(p.port, { port: String(p.port) });
    const accepted = await nextMessage("accepted", 5000);
    assert.equal(
      (accepted as NodeMessage & { delivery: { controlId: string } }).delivery.controlId,
      "CTRL-0001",
    );
    assert.deepEqual(p.received.map(controlIdIn), ["CTRL-0001"]);
    await until(() => depth() === 0);
    await helper.unload();

    // Once more: an acknowledged message is never sent again.
    await loadDurable(p.port, { port: String(p.port) });
    await delay(300);
    assert.deepEqual(p.received.map(controlIdIn), ["CTRL-0001"]);
  });

  it("keeps order across a restart while the receiver is down, telling Catch that the head stays queued", async () => {
    const port = await downPeer();
    await loadDurable(port);
    const caught = collect("caught");
    for (const id of ["A-1", "A-2", "A-3"]) helper.getNode("send").receive({ payload: hl7(id) });
    await until(() => caught.length > 0, 3000);
    assert.match(
      String((caught[0] as NodeMessage & { error: { message: string } }).error.message),
      /stays queued on disk/,
    );
    const seen: string[] = [];
    await peer?.close();
    peer = await rawPeer((socket, chunk) => {
      const id = controlIdIn(chunk.toString("latin1"));
      seen.push(id);
      socket.write(ackFrame(id, "AA"));
    });
    // The receiver comes up on the port the endpoint retries.
    await helper.unload();
    await loadDurable(peer.port);
    await until(() => seen.length === 3, 5000);
    assert.deepEqual(seen, ["A-1", "A-2", "A-3"]);
  });

  it("keeps a failing message's attempt count across a restart, and tells the new process's Catch once", async () => {
    const port = await downPeer();
    await loadDurable(port);
    type Listed = { current?: { list(): Array<{ attempts: number; firstAttemptAt?: number }> } };
    const head = () =>
      (helper.getNode("ep") as unknown as { destination?: Listed } | null)?.destination?.current?.list()[0];
    helper.getNode("send").receive({ payload: hl7("P-1") });
    await until(() => (head()?.attempts ?? 0) >= 2, 3000);
    const failed = head()?.attempts ?? 0;
    await helper.unload();
    assert.match(readFileSync(journal(), "latin1"), /"t":"att"/);

    // The restart, to a receiver that takes the message and never answers: the attempt on the wire
    // is the next one after those before the restart, not the first.
    await peer?.close();
    peer = await rawPeer(() => undefined);
    await loadDurable(peer.port);
    const caught = collect("caught");
    await until(() => head() !== undefined, 3000);
    const restored = head();
    // Without the kept count this is 0 (or 1 once the attempt starts); failed is 2 at least.
    assert.ok(restored && restored.attempts >= failed, `attempts ${restored?.attempts} after ${failed}`);
    assert.ok(restored.firstAttemptAt !== undefined);
    await until(() => caught.some((m) => /stays queued on disk/.test(JSON.stringify(m))), 3000);
  });

  it("delivers each message once to an enhanced-mode receiver whose AA for a message comes after its CA, while the next waits", async () => {
    const seen: string[] = [];
    peer = await rawPeer((socket, chunk) => {
      const id = controlIdIn(chunk.toString("latin1"));
      const previous = seen[seen.length - 1];
      seen.push(id);
      // The application ACK of the previous message arrives first, then this message's commit ACK.
      if (previous !== undefined) socket.write(ackFrame(previous, "AA"));
      setTimeout(() => socket.write(ackFrame(id, "CA")), 30);
    });
    await loadDurable(peer.port);
    const accepted = collect("accepted");
    const rejected = collect("rejected");
    const caught = collect("caught");
    for (const id of ["E-1", "E-2", "E-3"]) helper.getNode("send").receive({ payload: hl7(id) });
    await until(() => accepted.length === 3, 5000);
    assert.deepEqual(
      accepted.map((m) => {
        const d = (m as NodeMessage & { delivery: { controlId: string; status: string; attempts: number } })
          .delivery;
        return [d.controlId, d.status, d.attempts];
      }),
      [
        ["E-1", "accepted", 1],
        ["E-2", "accepted", 1],
        ["E-3", "accepted", 1],
      ],
    );
    await until(() => depth() === 0);
    await delay(100);
    assert.deepEqual([rejected.length, caught.length], [0, 0], "nothing rejected, nothing told to Catch");
    assert.deepEqual(seen, ["E-1", "E-2", "E-3"], "each message reached the receiver once");
  });

  it("tells a journal the disk refuses as a disk fault on the endpoint, by its code and without a path, and keeps the message", async () => {
    const port = await downPeer();
    await loadDurable(port);
    const done = nextMessage("done");
    helper.getNode("send").receive({ payload: hl7("EIO-1") });
    await done;
    // Queued on disk; from here the disk fails every fsync (the failed attempts' records).
    const faults = new FsFaults();
    try {
      faults.replace(
        await fileHandlePrototype(),
        "datasync",
        () => () => Promise.reject(fsError("EIO", "fdatasync", queueDir)),
      );
      const ep = helper.getNode("ep");
      await until(() => loggedTexts(ep).some((t) => t.includes("could not be written")), 5000);
      faults.restore();
      const texts = loggedTexts(ep).join("\n");
      assert.match(
        texts,
        /mllp-endpoint: the queue journal could not be written \(EIO\)\. The queued messages are kept/,
      );
      assert.ok(!texts.includes(queueDir), "no directory in the log");
      assert.ok(!texts.includes("internal error"), texts);
    } finally {
      faults.restore();
    }
    assert.equal(depth(), 1, "the message stays queued");
  });

  it("records an AE as final: rejected output, not sent again after a restart", async () => {
    const p = await start(medplumPeer("AE"));
    await loadDurable(p.port);
    helper.getNode("send").receive({ payload: hl7("AE-1") });
    const rejected = (await nextMessage("rejected", 3000)) as NodeMessage & { delivery: { reason: string } };
    assert.equal(rejected.delivery.reason, "AE");
    await until(() => depth() === 0);
    await helper.unload();
    await loadDurable(p.port);
    await delay(300);
    assert.equal(p.received.length, 1);
  });

  it("delivers every whole record after damage in the middle of the journal, and reports the damage to Catch and the status", async () => {
    // A journal as a previous process left it, with the record of B-2 damaged on disk.
    const damaged = encodeRecord({ t: "enq", seq: 2, key: "B-2", origin: "send", at: 2, body: hl7("B-2") });
    damaged[20] ^= 0x5a;
    mkdirSync(join(queueDir, "mllp-ep"), { recursive: true });
    writeFileSync(
      journal(),
      Buffer.concat([
        encodeRecord({ t: "enq", seq: 1, key: "B-1", origin: "send", at: 1, body: hl7("B-1") }),
        damaged,
        encodeRecord({ t: "enq", seq: 3, key: "B-3", origin: "send", at: 3, body: hl7("B-3") }),
      ]),
    );
    const p = await start(medplumPeer("AA"));
    await loadDurable(p.port);
    await until(() => p.received.length === 2, 5000);
    assert.deepEqual(p.received.map(controlIdIn), ["B-1", "B-3"]);
    const send = helper.getNode("send");
    const { error } = send as unknown as { error: { args: unknown[][] } };
    // node.error(err, msg): the form that reaches Catch nodes.
    const report = error.args.find(([e]) => e instanceof Error && /damaged in the middle/.test(e.message));
    assert.ok(report, loggedTexts(send).join("\n"));
    assert.equal(report.length, 2);
    assert.match(
      (report[0] as Error).message,
      new RegExp(
        `${damaged.length} bytes in 1 place\\(s\\) could not be read .* kept in journal\\.log\\.damaged-`,
      ),
    );
    await until(() => statusTexts(send).some((t) => /^journal damaged: 1 record/.test(t)));
    assert.ok(readdirSync(join(queueDir, "mllp-ep")).some((f) => f.startsWith("journal.log.damaged-")));
  });

  it("drops a torn last write of the journal and says how many bytes, delivering the whole records", async () => {
    const torn = encodeRecord({ t: "enq", seq: 2, key: "T-2", origin: "send", at: 2, body: hl7("T-2") });
    mkdirSync(join(queueDir, "mllp-ep"), { recursive: true });
    writeFileSync(
      journal(),
      Buffer.concat([
        encodeRecord({ t: "enq", seq: 1, key: "T-1", origin: "send", at: 1, body: hl7("T-1") }),
        torn.subarray(0, 30),
      ]),
    );
    const p = await start(medplumPeer("AA"));
    await loadDurable(p.port);
    await until(() => p.received.length === 1, 5000);
    assert.deepEqual(p.received.map(controlIdIn), ["T-1"]);
    await until(() =>
      loggedTexts(helper.getNode("send")).some((t) => /ended in a torn write of 30 bytes/.test(t)),
    );
  });

  it("refuses a message past the queue bound through catch, naming the receiver and the bound", async () => {
    const port = await downPeer();
    await loadDurable(port, { queueDepth: "2" });
    const caught = collect("caught");
    for (const id of ["F-1", "F-2", "F-3"]) helper.getNode("send").receive({ payload: hl7(id) });
    await until(() => caught.some((m) => /is full/.test(JSON.stringify(m))), 3000);
    const full = caught.find((m) => /is full/.test(JSON.stringify(m))) as NodeMessage & {
      error: { message: string };
    };
    assert.match(full.error.message, /"durable receiver" is full \(at most 2 messages/);
    // The refusal can come while the second message's write (holding its place) is still under way.
    await until(() => depth() === 2, 2000);
  });

  it("lists queued messages by metadata on the admin endpoint, retries now, and discards one with an audit line", async () => {
    const port = await freePort();
    await loadDurable(port, { backoff: "30", backoffMax: "60" });
    for (const id of ["Q-1", "Q-2"]) helper.getNode("send").receive({ payload: hl7(id) });
    await until(() => depth() === 2);
    await until(
      () =>
        (
          helper.getNode("ep") as unknown as {
            destination?: { current?: { list(): Array<{ attempts: number }> } };
          }
        ).destination?.current?.list()[0]?.attempts === 1 && true,
    );
    await delay(100);
    const listing = await helper.request().get("/medstream-queue").expect(200);
    const body = listing.body as {
      destinations: Array<{
        id: string;
        name: string;
        depth: number;
        messages: Array<Record<string, unknown>>;
      }>;
    };
    const ep = body.destinations.find((d) => d.id === "ep");
    assert.ok(ep);
    assert.equal(ep.name, "durable receiver");
    assert.deepEqual(
      ep.messages.map((m) => m.controlId),
      ["Q-1", "Q-2"],
    );
    assert.ok(!JSON.stringify(body).includes(PHI_MARKER), "no message content in the listing");
    const second = ep.messages[1] as { seq: number };
    await helper.request().post(`/medstream-queue/ep/discard/${second.seq}`).send({}).expect(400);
    await helper
      .request()
      .post(`/medstream-queue/ep/discard/${second.seq}`)
      .send({ reason: "sent by hand" })
      .expect(200);
    assert.equal(depth(), 1);
    const audit = readFileSync(join(queueDir, "mllp-ep", "discard-audit.log"), "utf8")
      .trim()
      .split("\n");
    assert.equal(audit.length, 1);
    const line = JSON.parse(audit[0] ?? "{}") as Record<string, unknown>;
    assert.equal(line.controlId, "Q-2");
    assert.equal(line.reason, "sent by hand");
    assert.equal(typeof line.user, "string");

    const head = ep.messages[0] as { attempts: number; lastError?: string };
    assert.equal(head.attempts, 1);
    assert.equal(head.lastError, "connect-failed");

    // The receiver comes up on the same port; "retry now" sends the waiting head without waiting out
    // its 30 s backoff.
    const seen: string[] = [];
    const server = net.createServer((socket) => {
      socket.on("data", (chunk) => {
        const id = controlIdIn(chunk.toString("latin1"));
        seen.push(id);
        socket.write(ackFrame(id, "AA"));
      });
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    try {
      await delay(300);
      assert.deepEqual(seen, [], "nothing before the backoff ends");
      await helper.request().post("/medstream-queue/ep/retry").expect(200);
      await until(() => seen.length === 1, 3000);
      assert.deepEqual(seen, ["Q-1"]);
      await until(() => depth() === 0);
    } finally {
      await helper.unload();
      await new Promise((resolve) => server.close(resolve));
    }
    assert.ok(existsSync(journal()));
  });
});
