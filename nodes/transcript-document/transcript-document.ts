import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import {
  DOCUMENT_LIMITS,
  type DocumentEndReason,
  type GateMark,
  type SessionCollector,
  type TranscriptDocument,
} from "../../src/transcript/document";
import type { DocumentEntity } from "../../src/transcript/document-entities";
import { readDocumentInput } from "../../src/transcript/document-input";
import type { DocumentLimitError } from "../../src/transcript/document-sessions";
import { DocumentBuildError, DocumentSessions } from "../../src/transcript/document-sessions";
import type { TranscriptResult } from "../../src/transcript/result";
import { idTag } from "../../src/util/identifiers";
import { runGuarded } from "../../src/util/guard";
import { internalErrorReporter, nodeScheduler, StatusReporter } from "../shared/node-red";
import { carryOver, takeOver } from "../shared/stop-handover";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { copyMessage, intake } from "../shared/intake";

interface TranscriptDocumentDef extends NodeDef {
  /** Seconds without a new result after which a session's document is emitted; 0 = only on flush. */
  idleTimeout: string | number;
  /** Sessions collected at once at most. */
  maxSessions: string | number;
}

/** The longest idle timeout: one day. */
const MAX_IDLE_SECONDS = 86_400;
const MAX_SESSIONS = 10_000;

type Send = (msg: NodeMessage | Array<NodeMessage | null>) => void;
type Done = (err?: Error) => void;

export = function register(RED: NodeAPI): void {
  function TranscriptDocumentNode(this: Node, rawConfig: TranscriptDocumentDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = settingsOrRefuse(node, "transcript-document", rawConfig, DEFAULTS);
    if (!config) return;
    const idleSeconds = numberSetting(config.idleTimeout, DEFAULTS.idleTimeout);
    const maxSessions = numberSetting(config.maxSessions, DEFAULTS.maxSessions);
    const problem = !(idleSeconds >= 0 && idleSeconds <= MAX_IDLE_SECONDS)
      ? RED._("transcript-document.errors.badIdle", { max: MAX_IDLE_SECONDS })
      : !(Number.isInteger(maxSessions) && maxSessions >= 1 && maxSessions <= MAX_SESSIONS)
        ? RED._("transcript-document.errors.badMaxSessions", { max: MAX_SESSIONS })
        : undefined;
    if (problem !== undefined) {
      const error = new Error(problem);
      refuseEveryInput(node, "transcript-document", error);
      return;
    }

    const scheduler = nodeScheduler(node, "transcript-document");
    const internalError = internalErrorReporter(node, "transcript-document");
    const counts = { documents: 0, ignored: 0, refused: 0 };
    const status = new StatusReporter(node, () => ({
      fill: counts.refused > 0 ? "yellow" : "green",
      shape: sessions.openSessions > 0 ? "dot" : "ring",
      text: RED._(
        counts.refused > 0 ? "transcript-document.status.countsRefused" : "transcript-document.status.counts",
        { open: sessions.openSessions, max: maxSessions, ...counts },
      ),
    }));
    const emitted = (): void => {
      counts.documents++;
      status.update();
    };
    // Errors name a session by its tag only: a session id is often an encounter or patient number.
    const buildFailed = (err: DocumentBuildError): Error =>
      new Error(
        RED._("transcript-document.errors.buildFailed", {
          session: idTag(err.sessionId),
          segments: err.segments,
          error: err.cause instanceof Error ? err.cause.name : "Error",
        }),
      );
    const sessions = new DocumentSessions({
      idleTimeoutMs: idleSeconds * 1000,
      maxSessions,
      scheduler,
      onIdle: (document) => {
        emitted();
        node.send(documentMessage(document));
      },
      onError: (err) => {
        counts.refused++;
        status.update();
        node.error(buildFailed(err), {});
      },
    });
    const previous = takeOver<SessionCollector[]>(node.id);
    if (previous) sessions.adopt(previous);
    node.status({});

    /** Flushes that end every session, one document per turn of the event loop (see flushAll). */
    const flushing = new Set<{ timer: unknown; done: Done }>();

    /** Ends one session; a document that cannot be built is reported, the others go on. */
    const flushOne = (id: string, msg: NodeMessage, send: Send): void => {
      let document: TranscriptDocument | undefined;
      try {
        document = sessions.flush(id);
      } catch (err) {
        if (!(err instanceof DocumentBuildError)) throw err;
        counts.refused++;
        node.error(buildFailed(err), msg);
        return;
      }
      if (!document) return;
      emitted();
      // The flush message's own properties (msg.patient, msg.encounter…) travel with the document.
      const out = copyMessage((m) => RED.util.cloneMessage(m), msg) as NodeMessage & { control?: unknown };
      delete out.control;
      send(Object.assign(out, documentMessage(document)));
    };

    /**
     * A flush without a topic ends every open session, one per turn of the event loop: a hundred
     * documents at the size limit built in one go would hold up every other flow for seconds.
     */
    const flushAll = (msg: NodeMessage, send: Send, done: Done): void => {
      const ids = sessions.ids();
      const job = { timer: undefined as unknown, done };
      let next = 0;
      const step = (): void => {
        job.timer = undefined;
        const id = ids[next++];
        if (id !== undefined)
          runGuarded(
            () => flushOne(id, msg, send),
            (err) => internalError(err, msg),
          );
        if (next < ids.length) {
          job.timer = scheduler.setTimeout(step, 0);
          return;
        }
        flushing.delete(job);
        status.update();
        done();
      };
      flushing.add(job);
      step();
    };

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload", "control", "confidenceGate", "entities", "patient", "encounter"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "transcript-document", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      const input = readDocumentInput(msg);
      switch (input.kind) {
        case "flush":
          // A topic names one session; a flush without one closes them all (end of a batch, a shift).
          if (input.sessionId === undefined) {
            flushAll(msg, send, done);
            return;
          }
          flushOne(input.sessionId, msg, send);
          status.update();
          done();
          return;
        case "note-document":
          // A scribe's document (payload.note) is the session's document already: passed through.
          passNoteDocument(input.document.sessionId, msg, send, done);
          return;
        case "refused":
          counts.refused++;
          status.update();
          done(input.error);
          return;
        case "bad-control":
          done(new Error(RED._("transcript-document.errors.badControl")));
          return;
        case "event":
          done();
          return;
        case "end":
          // A transcriber's session event (its second output) ends the session.
          endSession(input.sessionId, input.reason, send, done);
          return;
        case "too-large":
          refuse(input.error, done);
          return;
        case "invalid":
          done(input.error);
          return;
        case "partial":
          counts.ignored++;
          status.update();
          done();
          return;
        case "final":
          addFinal(input.result, input.mark, input.entities, msg, send, done);
          return;
      }
    });

    function endSession(sessionId: string, reason: DocumentEndReason, send: Send, done: Done): void {
      let document: TranscriptDocument | undefined;
      try {
        document = sessions.flush(sessionId, reason);
      } catch (err) {
        if (!(err instanceof DocumentBuildError)) throw err;
        counts.refused++;
        status.update();
        done(buildFailed(err));
        return;
      }
      if (document) {
        emitted();
        send(documentMessage(document));
      }
      done();
    }

    function addFinal(
      result: TranscriptResult,
      mark: GateMark | undefined,
      entities: DocumentEntity[],
      msg: NodeMessage,
      send: Send,
      done: Done,
    ): void {
      let outcome: ReturnType<DocumentSessions["add"]>;
      try {
        outcome = sessions.add(result, mark, entities);
      } catch (err) {
        if (!(err instanceof DocumentBuildError)) throw err;
        counts.refused++;
        status.update();
        done(buildFailed(err));
        return;
      }
      if (outcome.kind === "refused") {
        refuse(outcome.error, done);
        return;
      }
      if (outcome.kind === "split") {
        // Never a silent cut: the full document goes on, and Catch nodes hear why it ended early.
        emitted();
        send(documentMessage(outcome.document));
        node.error(
          new Error(
            RED._("transcript-document.errors.limitReached", {
              session: idTag(result.sessionId),
              value: DOCUMENT_LIMITS[outcome.limit],
              limit: outcome.limit,
            }),
          ),
          msg,
        );
      }
      status.update();
      done();
    }

    /**
     * An ambient scribe (scribe-medical) emits the session's document itself, built from the same
     * finals with the clinical note on it: it goes on as it came (checked, with msg.patient and the
     * other properties), and the finals collected here for its session are dropped, since the note's
     * document holds them; a flush or session event after it finds nothing to send.
     */
    function passNoteDocument(sessionId: string, msg: NodeMessage, send: Send, done: Done): void {
      try {
        sessions.flush(sessionId);
      } catch (err) {
        // What could not be built is superseded by the note's document: nothing is lost.
        if (!(err instanceof DocumentBuildError)) throw err;
      }
      emitted();
      send(msg);
      done();
    }

    function refuse(error: DocumentLimitError, done: Done): void {
      counts.refused++;
      status.update();
      done(
        new Error(
          error.limit === "sessions"
            ? RED._("transcript-document.errors.sessionsFull", { max: error.value })
            : RED._("transcript-document.errors.resultTooLarge", { value: error.value, limit: error.limit }),
        ),
      );
    }

    node.on("close", (removed: boolean, done: () => void) => {
      for (const job of flushing) {
        scheduler.clearTimeout(job.timer);
        job.done();
      }
      flushing.clear();
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

/** A number setting: the editor's default when empty, NaN when not a number. */
function numberSetting(value: string | number, fallback: string): number {
  return Number(value === "" ? fallback : value);
}

/** A document with a clinical note, as the scribe node emits it at the end of a session. */
function documentMessage(document: TranscriptDocument): NodeMessage {
  return { topic: document.sessionId, payload: document };
}
