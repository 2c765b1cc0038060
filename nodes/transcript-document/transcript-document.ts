import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import { gateMarkOf, type SessionCollector, type TranscriptDocument } from "../../src/transcript/document";
import { DocumentSessions, sessionEventEnd } from "../../src/transcript/document-sessions";
import { checkTranscriptResult } from "../../src/transcript/validate";
import { StatusReporter } from "../shared/node-red";
import { carryOver, takeOver } from "../shared/stop-handover";

interface TranscriptDocumentDef extends NodeDef {
  /** Seconds without a new result after which a session's document is emitted; 0 = only on flush. */
  idleTimeout: string | number;
}

export = function register(RED: NodeAPI): void {
  function TranscriptDocumentNode(this: Node, config: TranscriptDocumentDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const idleSeconds = Number(config.idleTimeout ?? 30);
    if (!Number.isFinite(idleSeconds) || idleSeconds < 0) {
      const error = new Error(RED._("transcript-document.errors.badIdle"));
      node.error(error.message);
      node.status({ fill: "red", shape: "ring", text: "transcript-document.status.misconfigured" });
      node.on("input", (_msg, _send, done) => done(error));
      return;
    }

    const counts = { documents: 0, ignored: 0 };
    const status = new StatusReporter(node, () => ({
      fill: "green",
      shape: sessions.openSessions > 0 ? "dot" : "ring",
      text: RED._("transcript-document.status.counts", { open: sessions.openSessions, ...counts }),
    }));
    const emitted = (): void => {
      counts.documents++;
      status.update();
    };
    const sessions = new DocumentSessions({
      idleTimeoutMs: idleSeconds * 1000,
      onIdle: (document) => {
        emitted();
        node.send(documentMessage(document));
      },
    });
    const previous = takeOver<SessionCollector[]>(node.id);
    if (previous) sessions.adopt(previous);
    node.status({});

    node.on("input", (msg, send, done) => {
      const control = (msg as { control?: unknown }).control;
      if (control === "flush") {
        // A topic names one session; a flush without one closes them all (end of a batch, a shift).
        const ids = typeof msg.topic === "string" && msg.topic !== "" ? [msg.topic] : sessions.ids();
        for (const id of ids) {
          const document = sessions.flush(id);
          if (!document) continue;
          emitted();
          // The flush message's own properties (msg.patient, msg.encounter…) travel with the document.
          const out = RED.util.cloneMessage(msg) as NodeMessage & { control?: unknown };
          delete out.control;
          send(Object.assign(out, documentMessage(document)));
        }
        status.update();
        done();
        return;
      }
      if (control !== undefined) {
        done(new Error(RED._("transcript-document.errors.badControl")));
        return;
      }
      // Session events from a transcriber's second output end (or leave alone) a session.
      const sessionEvent = sessionEventEnd(msg.payload);
      if (sessionEvent !== undefined) {
        if (sessionEvent !== "other") {
          const document = sessions.flush(sessionEvent.sessionId, sessionEvent.reason);
          if (document) {
            emitted();
            send(documentMessage(document));
          }
        }
        done();
        return;
      }
      const checked = checkTranscriptResult(msg.payload);
      if (!checked.ok) {
        done(checked.error);
        return;
      }
      if (!checked.value.isFinal) {
        counts.ignored++;
      } else {
        sessions.add(checked.value, gateMarkOf((msg as { confidenceGate?: unknown }).confidenceGate));
      }
      status.update();
      done();
    });

    node.on("close", (removed: boolean, done: () => void) => {
      if (removed) {
        const dropped = sessions.close();
        if (dropped > 0) node.warn(RED._("transcript-document.warnings.dropped", { count: dropped }));
      } else {
        // A deploy: the sessions still collecting go on in the node's next instance, and so do the
        // finals the transcribers flush while the deploy stops them (they arrive there).
        const open = sessions.detach();
        const notRestarted = (o: SessionCollector[]): void =>
          RED.log.warn(RED._("transcript-document.warnings.notRestarted", { id: node.id, count: o.length }));
        if (open.length > 0) carryOver(node.id, open, notRestarted);
      }
      status.close();
      done();
    });
  }

  RED.nodes.registerType("transcript-document", TranscriptDocumentNode);
};

function documentMessage(document: TranscriptDocument): NodeMessage {
  return { topic: document.sessionId, payload: document };
}
