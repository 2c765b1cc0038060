import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { sha256 } from "../../src/hospital/audit";
import { messageControlId, messageTypeOf } from "../../src/hospital/hl7/ack";
import type { DeliveryEvent, DeliveryOutcome } from "../../src/hospital/mllp/client";
import { settleGuarded } from "../../src/util/guard";
import type { MllpEndpointNode } from "../mllp-endpoint/types";
import { internalErrorReporter, StatusReporter, withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { refuseEveryInput } from "../shared/repeated-reports";

interface MllpOutDef extends NodeDef {
  endpoint: string;
}

type Ports = [NodeMessage | null, NodeMessage | null, NodeMessage | null];

export = function register(RED: NodeAPI): void {
  function MllpOutNode(this: Node, rawConfig: MllpOutDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = withDefaults(rawConfig, DEFAULTS);
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

    node.on("input", (msg, send, done) => {
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
        const out = msg as NodeMessage & { ack?: unknown; delivery?: unknown };
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
