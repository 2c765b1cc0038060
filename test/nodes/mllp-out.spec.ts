import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { unescapeHl7 } from "../../src/hospital/hl7/escape";
import { syntheticPatient } from "../support/documents";
import { freePort, medplumPeer, nodeHl7Peer, type Peer, type PeerAnswer } from "../support/hl7-peers";
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
} from "../support/node-red";
import { result, words } from "../support/results";

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
      ...endpoint,
    },
  ];
  return helper.load(modules, flowWithCatch(nodes, ["accepted", "rejected", "audit"]), {});
}

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
