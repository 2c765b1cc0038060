import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { dirname, join } from "node:path";
import { FrameDecoder } from "../../src/hospital/mllp/frame";
import { crashUserDirectory } from "../support/crash-user-dir";
import { documentWithText } from "../support/documents";
import { ackFrame, controlIdIn, freePort } from "../support/hl7-peers";
import { prng as random } from "../support/prng";

/**
 * The durable queue under `kill -9`. A real Node-RED process (the built package, linked into its user
 * directory) takes documents over HTTP (http in → mllp-out; a complete node answers 200 once mllp-out
 * called done(), i.e. once the document is fsynced in the journal; a catch node answers 503) and
 * delivers them to an MLLP receiver in this process. The process is killed with SIGKILL at random
 * moments (during start-up and recovery as well as while delivering) and started again, CRASH_KILLS
 * times (default 100). The poster sends document i+1 only after document i got its 200, and posts a
 * document again when its request failed (the process died under it).
 *
 * What the receiver's log must show at the end:
 * - every document accepted, none lost, in the order they were posted (first acceptance);
 * - no control id accepted twice (the receiver drops a resend by MSH-10, as a receiver should);
 * - never a resend of an id whose ACK the process had recorded: a resend of an acknowledged id is
 *   allowed only when the process was killed after the ACK went out and before it sent anything
 *   else (it may have died before its ACK record reached the disk), or when the poster posted that
 *   document again itself (its 200 was lost in the kill).
 *
 *   CRASH_KILLS=500 CRASH_SEED=7 npx mocha --timeout 0 test/crash/delivery-crash.spec.ts
 */

const KILLS = Number(process.env.CRASH_KILLS ?? 100);
/** The FHIR variant is smaller: the same machinery, another transport. */
const FHIR_KILLS = Number(process.env.CRASH_FHIR_KILLS ?? 15);
const SEED = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000);
const nodeRedDir = dirname(require.resolve("node-red/package.json"));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hl7(controlId: string): string {
  return (
    `MSH|^~\\&|MEDSTREAM|HOSP|EHR|HOSP|20260115143105||MDM^T02^MDM_T02|${controlId}|P|2.5.1\r` +
    `EVN|T02|20260115143105\rTXA|1|CN|TX|||||||||${controlId}||||||DO||UN\r` +
    `OBX|1|TX|11506-3^Progress note^LN||${"Synthetic dictation text. ".repeat(20)}||||||P`
  );
}

/** The receiver: answers AA to everything, keeps the first copy of each MSH-10, logs every event. */
type LogEvent =
  | { kind: "received"; id: string; duplicate: boolean }
  | { kind: "ack"; id: string }
  | { kind: "kill" }
  | { kind: "repost"; id: string };

interface Receiver {
  /** Where the destination points: the MLLP port, or the FHIR server's port. */
  port: number;
  accepted: string[];
  close(): Promise<void>;
}

/** Logs a reception, keeps the first copy of each id. */
function receive(log: LogEvent[], seen: Set<string>, accepted: string[], id: string): void {
  const duplicate = seen.has(id);
  log.push({ kind: "received", id, duplicate });
  if (!duplicate) {
    seen.add(id);
    accepted.push(id);
  }
}

/**
 * A FHIR server that takes each transaction once by its Bundle.identifier (a resend answers 200 as a
 * conditional create would) and logs every event like the MLLP receiver.
 */
async function fhirReceiver(log: LogEvent[]): Promise<Receiver> {
  const accepted: string[] = [];
  const seen = new Set<string>();
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { identifier?: { value?: string } };
      const id = (body.identifier?.value ?? "").replace(/^urn:uuid:/, "");
      receive(log, seen, accepted, id);
      res.writeHead(200, { "content-type": "application/fhir+json" });
      res.end(JSON.stringify({ resourceType: "Bundle", type: "transaction-response", entry: [] }));
      log.push({ kind: "ack", id });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The MLLP receiver: answers AA to everything and logs every event. */
async function mllpReceiver(log: LogEvent[]): Promise<Receiver> {
  const accepted: string[] = [];
  const seen = new Set<string>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    const decoder = new FrameDecoder();
    socket.on("error", () => undefined);
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", (chunk) => {
      for (const message of decoder.push(chunk)) {
        const id = controlIdIn(message);
        receive(log, seen, accepted, id);
        socket.write(ackFrame(id, "AA"));
        log.push({ kind: "ack", id });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A user directory with the built package linked in, only the nodes the flow uses, and the flow. */
type Kind = "mllp" | "fhir";

function userDirectory(kind: Kind, receiverPort: number): string {
  // Start-up time is most of each cycle: load only the nodes the flow uses.
  const dir = crashUserDirectory("delivery-crash-", [
    "21-httpin.js",
    "25-catch.js",
    "24-complete.js",
    "15-change.js",
    ...(kind === "mllp" ? ["mllp-out.js", "mllp-endpoint.js"] : ["fhir-document.js", "fhir-server.js"]),
  ]);
  // x and y: Node-RED takes a node without a position for a config node.
  const at = { x: 100, y: 100 };
  const flow = [
    { id: "tab", type: "tab", label: "crash" },
    { ...at, id: "in", z: "tab", type: "http in", url: "/doc", method: "post", wires: [["send"]] },
    kind === "mllp"
      ? { ...at, id: "send", z: "tab", type: "mllp-out", endpoint: "dest", wires: [[], [], []] }
      : {
          ...at,
          id: "send",
          z: "tab",
          type: "fhir-document",
          server: "dest",
          patient: '{"reference":"Patient/p1"}',
          patientType: "json",
          wires: [[], [], []],
        },
    { ...at, id: "complete", z: "tab", type: "complete", scope: ["send"], wires: [["ok"]] },
    { ...at, id: "ok", z: "tab", type: "http response", statusCode: "200", wires: [] },
    { ...at, id: "catch", z: "tab", type: "catch", scope: ["send"], uncaught: false, wires: [["why"]] },
    {
      ...at,
      id: "why",
      z: "tab",
      type: "change",
      rules: [{ t: "set", p: "payload", pt: "msg", to: "error.message", tot: "msg" }],
      wires: [["refused"]],
    },
    { ...at, id: "refused", z: "tab", type: "http response", statusCode: "503", wires: [] },
    kind === "mllp"
      ? {
          id: "dest",
          type: "mllp-endpoint",
          name: "crash receiver",
          host: "127.0.0.1",
          port: String(receiverPort),
          connectTimeout: "1",
          ackTimeout: "2",
          retries: "0",
          backoff: "0.02",
          backoffMax: "0.2",
          queueStore: "disk",
        }
      : {
          id: "dest",
          type: "fhir-server",
          name: "crash server",
          baseUrl: `http://127.0.0.1:${receiverPort}/fhir`,
          auth: "none",
          timeout: "2",
          retries: "0",
          backoff: "0.02",
          backoffMax: "0.2",
          queueStore: "disk",
        },
  ];
  writeFileSync(join(dir, "flows.json"), JSON.stringify(flow));
  return dir;
}

class Child {
  output = "";
  readonly exited: Promise<void>;
  constructor(readonly process: ChildProcess) {
    process.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    process.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => process.once("exit", () => resolve()));
  }
}

function startNodeRed(userDir: string, port: number): Child {
  return new Child(
    spawn(
      process.execPath,
      [join(nodeRedDir, "red.js"), "-u", userDir, "-s", join(userDir, "settings.js"), "-p", String(port)],
      { stdio: ["ignore", "pipe", "pipe"] },
    ),
  );
}

describe("durable delivery queue under kill -9 (a real Node-RED process)", function () {
  this.timeout(0);

  it(`mllp-out: delivers every document exactly once to a receiver that drops duplicates, across ${KILLS} SIGKILLs at random moments (seed ${SEED})`, () =>
    crashRun("mllp", KILLS));

  it(`fhir-document: delivers every transaction exactly once to a server that drops duplicates, across ${FHIR_KILLS} SIGKILLs at random moments (seed ${SEED})`, () =>
    crashRun("fhir", FHIR_KILLS));
});

/** The document the poster sends as its n-th: HL7 text for mllp-out, a transcript document for fhir-document. */
function documentFor(kind: Kind, n: number): { id: string; type: string; body: string } {
  if (kind === "mllp") {
    const id = `DOC-${String(n).padStart(6, "0")}`;
    return { id, type: "text/plain", body: hl7(id) };
  }
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
  return {
    id,
    type: "application/json",
    body: JSON.stringify(documentWithText("Synthetic dictation text. ".repeat(20), id)),
  };
}

async function crashRun(kind: Kind, kills: number): Promise<void> {
  {
    const rng = random(SEED);
    const log: LogEvent[] = [];
    const peer = kind === "mllp" ? await mllpReceiver(log) : await fhirReceiver(log);
    const userDir = userDirectory(kind, peer.port);
    const httpPort = await freePort();
    const url = `http://127.0.0.1:${httpPort}/doc`;
    /** Documents that got their 200 (on disk), in order; and the ones posted again. */
    const confirmed: string[] = [];
    const reposted = new Set<string>();
    let posting = true;
    /** Set when the test ends either way: the poster gives up the document in progress. */
    let stopped = false;
    let next = 1;
    /** What the flow answered last when it refused a document (for the failure message). */
    let lastRefusal = "";
    const started = Date.now();

    // The poster: document after document, each until it gets a 200.
    const poster = (async () => {
      while (posting) {
        const { id, type, body } = documentFor(kind, next);
        let tries = 0;
        for (;;) {
          if (stopped) return;
          tries++;
          if (tries > 1 && !reposted.has(id)) {
            reposted.add(id);
            log.push({ kind: "repost", id });
          }
          const res = await fetch(url, {
            method: "POST",
            headers: { "content-type": type },
            body,
            signal: AbortSignal.timeout(5000),
          }).catch(() => undefined);
          if (res?.status === 200) break;
          if (res && res.status !== 503) lastRefusal = `HTTP ${res.status}: ${await res.text()}`;
          else if (res) lastRefusal = `HTTP 503: ${await res.text()}`;
          await sleep(20);
        }
        confirmed.push(id);
        next++;
      }
    })();

    let child: Child | undefined;
    try {
      for (let kill = 0; kill < kills; kill++) {
        child = startNodeRed(userDir, httpPort);
        const during = rng() < 0.2;
        if (during) {
          // Somewhere in start-up: loading, opening the journal, recovering, resending.
          await sleep(rng() * 2500);
        } else {
          const deadline = Date.now() + 30_000;
          while (!/Started flows/.test(child.output) && child.process.exitCode === null) {
            if (Date.now() > deadline) throw new Error(`Node-RED did not start:\n${child.output}`);
            await sleep(10);
          }
          await sleep(rng() * 800);
        }
        assert.equal(child.process.exitCode, null, `Node-RED exited by itself:\n${child.output}`);
        log.push({ kind: "kill" });
        child.process.kill("SIGKILL");
        await child.exited;
      }
      // The last start: no kill. Post the document in progress to the end, then wait for delivery.
      child = startNodeRed(userDir, httpPort);
      posting = false;
      // A document that can never be taken (a refusal) fails the test instead of hanging it.
      const gaveUp = sleep(60_000).then(() => {
        stopped = true;
      });
      await Promise.race([poster, gaveUp]);
      const deadline = Date.now() + 60_000;
      while (peer.accepted.length < confirmed.length && Date.now() < deadline) await sleep(50);
    } finally {
      posting = false;
      stopped = true;
      await poster;
      if (child && child.process.exitCode === null) {
        child.process.kill("SIGKILL");
        await child.exited;
      }
      await peer.close();
      rmSync(userDir, { recursive: true, force: true });
    }

    const received = log.filter((e) => e.kind === "received").length;
    const duplicates = log.filter((e) => e.kind === "received" && e.duplicate).length;
    const violations = resendsOfRecordedAcks(log);
    console.log(
      `      ${kind}: ${kills} kills in ${Math.round((Date.now() - started) / 1000)} s: ${confirmed.length} documents confirmed, ` +
        `${peer.accepted.length} accepted, ${received} receptions, ${duplicates} duplicates dropped by the receiver, ` +
        `${reposted.size} posted again by the client`,
    );
    assert.ok(
      confirmed.length > kills / 2,
      `only ${confirmed.length} documents got through (${lastRefusal})`,
    );
    // None lost, none accepted twice, in order.
    assert.deepEqual(peer.accepted, confirmed);
    assert.deepEqual(violations, [], "a resend of an id whose ACK had been recorded");
  }
}

/**
 * The resends of an acknowledged id that the queue may not make. After the ACK of X, the process
 * writes (and fsyncs) its ACK record before it sends anything else; so if anything else was received
 * after X's ACK, the record was on disk and X must never come again. Exempt: ids the poster posted
 * again itself.
 */
function resendsOfRecordedAcks(log: LogEvent[]): string[] {
  const violations: string[] = [];
  const reposted = new Set<string>();
  /** For each acknowledged id: whether the ACK record must be on disk by now. */
  const recorded = new Map<string, boolean>();
  // A kill changes nothing here: the next process sends X again only if its record was not on disk,
  // and anything else only if it was.
  let lastAck: string | undefined;
  for (const e of log) {
    if (e.kind === "repost") reposted.add(e.id);
    else if (e.kind === "received") {
      if (lastAck !== undefined && lastAck !== e.id) recorded.set(lastAck, true);
      if (recorded.get(e.id) === true && !reposted.has(e.id)) violations.push(e.id);
    } else if (e.kind === "ack") {
      if (!recorded.has(e.id)) recorded.set(e.id, false);
      lastAck = e.id;
    }
  }
  return violations;
}
