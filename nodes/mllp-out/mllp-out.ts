import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { sha256 } from "../../src/hospital/audit";
import { messageControlId, messageTypeOf } from "../../src/hospital/hl7/ack";
import type { DeliveryEvent, DeliveryOutcome } from "../../src/hospital/mllp/client";
import type {
  AttemptResult,
  EnqueueRefusal,
  QueueItem,
  RecoveryReport,
} from "../../src/hospital/queue/durable-queue";
import { FailedHere } from "../../src/hospital/queue/failed-here";
import { sameHold, tlsHoldOf, type TlsHold } from "../../src/hospital/queue/outcomes";
import { reportRecovery, tlsHoldError, tlsHoldStatusKey } from "../mllp-endpoint/delivery-reports";
import { settleGuarded } from "../../src/util/guard";
import type { MllpEndpointNode } from "../mllp-endpoint/types";
import { internalErrorReporter, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { intake, outgoing } from "../shared/intake";

/** The catalog key of each refusal of the durable queue. */
const REFUSALS: ReadonlyMap<EnqueueRefusal, string> = new Map([
  ["full-messages", "mllp-out.errors.queueFull"],
  ["full-bytes", "mllp-out.errors.queueFull"],
  ["full-disk", "mllp-out.errors.diskFull"],
  ["write-failed", "mllp-out.errors.notStored"],
  ["closed", "mllp-out.errors.notStored"],
]);

interface MllpOutDef extends NodeDef {
  endpoint: string;
}

type Ports = [NodeMessage | null, NodeMessage | null, NodeMessage | null];

export = function register(RED: NodeAPI): void {
  function MllpOutNode(this: Node, rawConfig: MllpOutDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = settingsOrRefuse(node, "mllp-out", rawConfig, DEFAULTS);
    if (!config) return;
    const endpoint = RED.nodes.getNode(config.endpoint) as MllpEndpointNode | null;
    const client = endpoint?.client;
    if (!endpoint || !client) {
      const error = new Error(endpoint?.configError ?? RED._("mllp-out.errors.noEndpoint"));
      refuseEveryInput(node, "mllp-out", error);
      return;
    }
    // Audit events name the destination by its configured name, never by address.
    const destination = endpoint.name || "mllp-endpoint";

    const internalError = internalErrorReporter(node, "mllp-out");
    if (endpoint.destination) {
      durableMllpOut(RED, node, endpoint, destination, internalError);
      return;
    }

    const counts = { accepted: 0, rejected: 0, refused: 0 };
    const status = new StatusReporter(node, () => ({
      fill: counts.rejected > 0 || counts.refused > 0 ? "red" : "green",
      shape: client.queued > 0 ? "ring" : "dot",
      text: RED._(counts.refused > 0 ? "mllp-out.status.countsFull" : "mllp-out.status.counts", {
        ...counts,
        queued: client.queued,
        depth: client.maxQueue,
      }),
    }));
    node.status({});

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "mllp-out", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      const text = Buffer.isBuffer(msg.payload) ? msg.payload.toString("utf8") : msg.payload;
      if (typeof text !== "string" || !text.startsWith("MSH")) {
        done(new Error(RED._("mllp-out.errors.notHl7")));
        return;
      }
      if (!messageControlId(text)) {
        done(new Error(RED._("mllp-out.errors.noControlId")));
        return;
      }
      const hl7 = (msg as { hl7?: { documentId?: unknown } }).hl7;
      const base = {
        nodeId: node.id,
        nodeType: "mllp-out",
        destination,
        protocol: "mllp" as const,
        ...(typeof hl7?.documentId === "string" ? { documentId: hl7.documentId } : {}),
        messageType: messageTypeOf(text),
      };
      const digest = sha256(text);
      const audit = (fields: Partial<AuditEvent> & Pick<AuditEvent, "event">): void => {
        const event: AuditEvent = { time: new Date().toISOString(), ...base, ...fields };
        send([null, null, { topic: "audit", payload: event }] as Ports);
      };
      const onEvent = (e: DeliveryEvent): void => {
        const common = { messageId: e.controlId, attempt: e.attempt };
        if (e.type === "send") audit({ event: "send", ...common, bytes: e.bytes, sha256: digest });
        else if (e.type === "ack") audit({ event: "ack", ...common, outcome: e.code });
        else if (e.type === "attempt-failed")
          audit({ event: "attempt-failed", ...common, outcome: e.reason });
        else audit({ event: "retry", ...common, delayMs: e.delayMs });
      };
      status.update();
      const delivered = client.send(text, onEvent).then((outcome: DeliveryOutcome) => {
        const accepted = outcome.status === "accepted";
        audit({
          event: accepted ? "delivered" : "rejected",
          messageId: outcome.controlId,
          attempt: outcome.attempts,
          outcome: accepted ? outcome.ack.code : outcome.reason,
        });
        if (outcome.status === "rejected" && outcome.reason === "queue-full") {
          // Never a silent drop: Catch nodes hear which receiver's queue was full, and its bound.
          counts.refused++;
          status.update();
          done(
            new Error(
              RED._("mllp-out.errors.queueFull", {
                destination,
                depth: client.maxQueue,
                megabytes: client.maxQueueBytes / (1024 * 1024),
              }),
            ),
          );
          return;
        }
        counts[accepted ? "accepted" : "rejected"]++;
        status.update();
        if (outcome.status === "rejected" && outcome.reason === "client-closed") {
          // The flow is stopping: nothing is left to receive the message, but its loss is told.
          done(new Error(RED._("mllp-out.errors.notDelivered", { destination })));
          return;
        }
        const out = outgoing((m) => RED.util.cloneMessage(m), msg) as NodeMessage & {
          ack?: unknown;
          delivery?: unknown;
        };
        out.delivery = {
          status: outcome.status,
          controlId: outcome.controlId,
          attempts: outcome.attempts,
          destination,
          ...(outcome.status === "rejected" ? { reason: outcome.reason, detail: outcome.detail } : {}),
        };
        if (outcome.status === "accepted" || outcome.ack) out.ack = outcome.ack;
        send(accepted ? [out, null, null] : [null, out, null]);
        done();
      });
      // A throw above (a bug) reaches Catch nodes by its class only, and the message is done.
      settleGuarded(delivered, (err) => {
        internalError(err, msg);
        done();
      });
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType("mllp-out", MllpOutNode);
};

type OutMessage = NodeMessage & { ack?: unknown; delivery?: unknown };

/**
 * mllp-out over the endpoint's durable queue: a message is done() once it is fsynced in the journal;
 * its outcome comes later on the first or second output (the original message while this node runs,
 * else a message carrying the HL7 text), with the audit events on the third.
 */
function durableMllpOut(
  RED: NodeAPI,
  node: Node,
  endpoint: MllpEndpointNode,
  destination: string,
  internalError: (err: Error, msg?: NodeMessage) => void,
): void {
  const queue = endpoint.destination;
  if (!queue) return;
  const retries = endpoint.client?.retries ?? 0;
  /** The messages this node queued, by queue seq, to route their outcome with the original msg. */
  const pending = new Map<number, NodeMessage>();
  /** Messages that failed in this process (once per message: Catch hears the first failure here). */
  const failing = new FailedHere();
  const counts = { accepted: 0, rejected: 0, refused: 0, failing: 0 };
  /** Records the journal's recovery could not read (shown on the status until a restart). */
  let unreadable = 0;
  /** While a TLS certificate (the receiver's or ours) holds the queue (told once per change). */
  let tlsHeld: TlsHold | undefined;
  const depth = (): number => queue.current?.depth ?? 0;
  const statusKey = (): string => {
    if (tlsHeld !== undefined) return tlsHoldStatusKey("mllp-out", tlsHeld);
    if (unreadable > 0) return "mllp-out.status.damaged";
    return counts.refused > 0 ? "mllp-out.status.countsFull" : "mllp-out.status.counts";
  };
  const status = new StatusReporter(node, () => ({
    fill:
      counts.rejected > 0 || counts.refused > 0 || counts.failing > 0 || unreadable > 0 || tlsHeld
        ? "red"
        : "green",
    shape: depth() > 0 ? "ring" : "dot",
    text: RED._(statusKey(), {
      ...counts,
      records: unreadable,
      code: tlsHeld?.code ?? "",
      queued: depth(),
      depth: queue.current?.maxMessages ?? 0,
    }),
  }));
  node.status({});

  const audit = (item: QueueItem, fields: Partial<AuditEvent> & Pick<AuditEvent, "event">): void => {
    const event: AuditEvent = {
      time: new Date().toISOString(),
      nodeId: node.id,
      nodeType: "mllp-out",
      destination,
      protocol: "mllp",
      messageType: messageTypeOf(item.body),
      messageId: item.key,
      ...fields,
    };
    node.send([null, null, { topic: "audit", payload: event }] as Ports);
  };
  const listener = {
    onRecovered: (report: RecoveryReport): void => {
      unreadable = reportRecovery(RED, node, "mllp-out", destination, report);
      status.update();
    },
    onEvent: (item: QueueItem, e: DeliveryEvent): void => {
      const common = { attempt: e.attempt };
      if (e.type === "send")
        audit(item, { event: "send", ...common, bytes: e.bytes, sha256: sha256(item.body) });
      else if (e.type === "ack") audit(item, { event: "ack", ...common, outcome: e.code });
      else if (e.type === "attempt-failed")
        audit(item, { event: "attempt-failed", ...common, outcome: e.reason });
      else audit(item, { event: "retry", ...common, delayMs: e.delayMs });
    },
    onRetry: (item: QueueItem, delayMs: number): void => {
      const firstHere = failing.failed(item.seq, () => queue.current?.list());
      counts.failing = failing.size;
      const hold = tlsHoldOf(item.lastError);
      if (!sameHold(hold, tlsHeld)) {
        // A refused certificate holds every message behind it: told once per change of state,
        // not per message or per attempt.
        tlsHeld = hold;
        if (hold) {
          node.error(tlsHoldError(RED, "mllp-out", hold, destination, delayMs), pending.get(item.seq) ?? {});
        }
      }
      // Told once per message (and on the status): it is kept and tried again until delivered or
      // discarded through the admin endpoint.
      if (firstHere && hold === undefined) {
        node.error(
          new Error(
            RED._("mllp-out.errors.retrying", {
              destination,
              reason: item.lastError ?? "",
              attempts: 1 + retries,
              seconds: Math.round(delayMs / 1000),
            }),
          ),
          pending.get(item.seq) ?? {},
        );
      }
      status.update();
    },
    onSettled: (item: QueueItem, outcome: AttemptResult<DeliveryOutcome>, recorded: boolean): void => {
      if (outcome.kind !== "delivered" && outcome.kind !== "rejected") return;
      const result = outcome.result;
      const accepted = result.status === "accepted";
      failing.settled(item.seq);
      counts.failing = failing.size;
      tlsHeld = undefined;
      const msg = (pending.get(item.seq) ?? {
        payload: item.body,
        _msgid: RED.util.generateId(),
      }) as OutMessage;
      pending.delete(item.seq);
      audit(item, {
        event: accepted ? "delivered" : "rejected",
        attempt: result.attempts,
        outcome: result.status === "accepted" ? result.ack.code : result.reason,
      });
      if (!recorded) node.error(new Error(RED._("mllp-out.errors.endNotRecorded", { destination })), msg);
      msg.delivery = {
        status: result.status,
        controlId: result.controlId,
        attempts: item.attempts,
        destination,
        ...(result.status === "rejected" ? { reason: result.reason, detail: result.detail } : {}),
      };
      if (result.status === "accepted" || result.ack) msg.ack = result.ack;
      counts[accepted ? "accepted" : "rejected"]++;
      status.update();
      node.send(accepted ? [msg, null, null] : [null, msg, null]);
    },
  };
  queue.register(node.id, listener);
  // The depth of a queue recovered from disk shows at once.
  queue.ready.then(
    () => status.update(),
    () => undefined,
  );

  // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
  const fieldsRead = ["topic", "payload"];
  node.on("input", (msg, _send, nodeRedDone) => {
    const done = intake(node, "mllp-out", msg, nodeRedDone, fieldsRead);
    if (!done) return;
    const text = Buffer.isBuffer(msg.payload) ? msg.payload.toString("utf8") : msg.payload;
    if (typeof text !== "string" || !text.startsWith("MSH")) {
      done(new Error(RED._("mllp-out.errors.notHl7")));
      return;
    }
    const controlId = messageControlId(text);
    if (!controlId) {
      done(new Error(RED._("mllp-out.errors.noControlId")));
      return;
    }
    // A signed document from review-queue (msg.review) is taken once by its MSH-10: review-queue
    // hands it on again after a crash, and a copy this queue holds or delivered already is not queued twice.
    const review = (msg as { review?: unknown }).review;
    const idem = typeof review === "object" && review !== null ? controlId : undefined;
    const stored = queue.enqueue(controlId, node.id, text, idem).then((result) => {
      if (!result.ok) {
        // Never a silent drop: Catch nodes hear which receiver's queue refused it, and why.
        counts.refused++;
        status.update();
        const q = queue.current;
        done(
          new Error(
            RED._(REFUSALS.get(result.reason) ?? "mllp-out.errors.notStored", {
              destination,
              depth: q?.maxMessages ?? 0,
              megabytes: (q?.maxBytes ?? 0) / (1024 * 1024),
              detail: result.detail,
            }),
          ),
        );
        return;
      }
      if (pending.size >= (queue.current?.maxMessages ?? 0)) {
        // Messages discarded through the admin endpoint never settle here: forget those.
        const live = new Set(queue.current?.list().map((i) => i.seq));
        for (const seq of pending.keys()) if (!live.has(seq)) pending.delete(seq);
      }
      if (result.item) pending.set(result.item.seq, msg);
      status.update();
      // On disk: the flow may forget it.
      done();
    });
    settleGuarded(stored, (err) => {
      internalError(err, msg);
      done();
    });
  });

  node.on("close", (_removed: boolean, done: () => void) => {
    queue.unregister(node.id, listener);
    status.close();
    done();
  });
}
