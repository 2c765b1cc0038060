import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { sha256 } from "../../src/hospital/audit";
import {
  addCodedEntities,
  buildFhirBundle,
  DEFAULT_FHIR_OPTIONS,
  SECURITY_LABELS,
  type FhirOptions,
  type SecurityLabel,
} from "../../src/hospital/fhir/bundle";
import { identifiedBundle, type FhirEvent, type FhirOutcome } from "../../src/hospital/fhir/send";
import { buildSignedFhirBundle, signoffBundleIdentifier } from "../../src/hospital/fhir/signoff";
import type {
  AttemptResult,
  EnqueueRefusal,
  QueueItem,
  RecoveryReport,
} from "../../src/hospital/queue/durable-queue";
import { FailedHere } from "../../src/hospital/queue/failed-here";
import { sameHold, tlsHoldOf, type TlsHold } from "../../src/hospital/queue/outcomes";
import { checkSignoff } from "../../src/review/signoff";
import { checkFhirContext } from "../../src/hospital/patient-context";
import { sourceLabel } from "../../src/hospital/source-label";
import { checkTranscriptDocument } from "../../src/transcript/document";
import { settleGuarded } from "../../src/util/guard";
import type { FhirServerNode } from "../fhir-server/types";
import { reportRecovery, tlsHoldError, tlsHoldStatusKey } from "../mllp-endpoint/delivery-reports";
import { asError, evaluateTypedProperty, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { documentFields, intake, outgoing } from "../shared/intake";

interface FhirDocumentDef extends NodeDef {
  server: string;
  loincCode: string;
  loincText: string;
  security: string;
  identifierSystem: string;
  patient: string;
  patientType: string;
  encounter: string;
  encounterType: string;
  /** Add the coded entities a document carries as unconfirmed resources (off: the document alone). */
  codedEntities: boolean | string;
}

type Ports = [NodeMessage | null, NodeMessage | null, NodeMessage | null];

/** The catalog key of each refusal of the durable queue. */
const REFUSALS: ReadonlyMap<EnqueueRefusal, string> = new Map([
  ["full-messages", "fhir-document.errors.queueFull"],
  ["full-bytes", "fhir-document.errors.queueFull"],
  ["full-disk", "fhir-document.errors.diskFull"],
  ["write-failed", "fhir-document.errors.notStored"],
  ["closed", "fhir-document.errors.notStored"],
]);

type FhirOut = NodeMessage & { document?: unknown; fhir?: unknown };

/** What the fhir document message says of a final outcome (the same in both queue modes). */
function fhirResult(
  outcome: FhirOutcome,
  documentId: string,
  destination: string,
  attempts: number,
): unknown {
  return outcome.status === "delivered"
    ? {
        status: "delivered",
        httpStatus: outcome.httpStatus,
        attempts,
        entries: outcome.entries,
        ...(outcome.notes.length > 0 ? { notes: outcome.notes } : {}),
        documentId,
        destination,
      }
    : {
        status: "rejected",
        reason: outcome.reason,
        detail: outcome.detail,
        httpStatus: outcome.httpStatus,
        issues: outcome.issues,
        attempts,
        documentId,
        destination,
      };
}

function optionsFrom(RED: NodeAPI, c: FhirDocumentDef): FhirOptions {
  if (typeof c.security !== "string") {
    throw new Error(RED._("fhir-document.errors.badSecurity", { labels: SECURITY_LABELS.join(", ") }));
  }
  const labels = c.security
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const label of labels) {
    if (!SECURITY_LABELS.includes(label as SecurityLabel)) {
      throw new Error(RED._("fhir-document.errors.badSecurity", { labels: SECURITY_LABELS.join(", ") }));
    }
  }
  return {
    loincCode: c.loincCode || DEFAULT_FHIR_OPTIONS.loincCode,
    loincText: c.loincText || DEFAULT_FHIR_OPTIONS.loincText,
    securityLabels: labels as SecurityLabel[],
    identifierSystem: c.identifierSystem || DEFAULT_FHIR_OPTIONS.identifierSystem,
  };
}

export = function register(RED: NodeAPI): void {
  function FhirDocumentNode(this: Node, rawConfig: FhirDocumentDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = settingsOrRefuse(node, "fhir-document", rawConfig, DEFAULTS);
    if (!config) return;
    const server = config.server ? (RED.nodes.getNode(config.server) as FhirServerNode | null) : null;
    let options: FhirOptions;
    try {
      options = optionsFrom(RED, config);
      if (config.server && !server?.sender) {
        throw new Error(server?.configError ?? RED._("fhir-document.errors.noServer"));
      }
    } catch (err) {
      const error = asError(err);
      refuseEveryInput(node, "fhir-document", error);
      return;
    }
    const sender = server?.sender;
    const durable = server?.destination;
    const destination = server?.name || "fhir-server";
    const patientType = config.patientType || "msg";
    const patientProperty = config.patient || "patient";
    const encounterType = config.encounterType || "msg";
    const encounterProperty = config.encounter || "encounter";
    const codedEntities = String(config.codedEntities) === "true";

    const counts = { delivered: 0, failed: 0, refused: 0, failing: 0 };
    /** Records the journal's recovery could not read (shown on the status until a restart). */
    let unreadable = 0;
    /** While a TLS certificate (the server's or ours) holds the queue (told once per change). */
    let tlsHeld: TlsHold | undefined;
    const queued = (): number => (durable ? (durable.current?.depth ?? 0) : (sender?.queued ?? 0));
    const statusKey = (): string => {
      if (!sender) return "fhir-document.status.built";
      if (tlsHeld) return tlsHoldStatusKey("fhir-document", tlsHeld);
      if (unreadable > 0) return "fhir-document.status.damaged";
      return counts.refused > 0 ? "fhir-document.status.sentFull" : "fhir-document.status.sent";
    };
    const status = new StatusReporter(node, () => ({
      fill:
        counts.failed > 0 || counts.refused > 0 || counts.failing > 0 || unreadable > 0 || tlsHeld
          ? "red"
          : "green",
      shape: queued() > 0 ? "ring" : "dot",
      text: RED._(statusKey(), {
        ...counts,
        records: unreadable,
        code: tlsHeld?.code ?? "",
        queued: queued(),
        depth: sender?.maxQueue ?? 0,
      }),
    }));
    node.status({});

    /** Durable mode: the messages this node queued, by queue seq, to route their outcome. */
    const pending = new Map<number, FhirOut>();
    /** Messages that failed in this process (once per message: Catch hears the first failure here). */
    const failing = new FailedHere();
    const durableAudit = (item: QueueItem, fields: Partial<AuditEvent> & Pick<AuditEvent, "event">): void => {
      const event: AuditEvent = {
        time: new Date().toISOString(),
        nodeId: node.id,
        nodeType: "fhir-document",
        destination,
        protocol: "fhir",
        documentId: item.key,
        messageId: item.key,
        messageType: "Bundle/transaction",
        ...fields,
      };
      node.send([null, null, { topic: "audit", payload: event }] as Ports);
    };
    const listener = {
      onRecovered: (report: RecoveryReport): void => {
        unreadable = reportRecovery(RED, node, "fhir-document", destination, report);
        status.update();
      },
      onEvent: (item: QueueItem, e: FhirEvent): void => {
        if (e.type === "send")
          durableAudit(item, {
            event: "send",
            attempt: e.attempt,
            bytes: e.bytes,
            sha256: sha256(item.body),
          });
        else if (e.type === "response")
          durableAudit(item, { event: "ack", attempt: e.attempt, outcome: String(e.httpStatus) });
        else if (e.type === "attempt-failed")
          durableAudit(item, { event: "attempt-failed", attempt: e.attempt, outcome: e.reason });
        else durableAudit(item, { event: "retry", attempt: e.attempt, delayMs: e.delayMs });
      },
      onRetry: (item: QueueItem, delayMs: number): void => {
        const firstHere = failing.failed(item.seq, () => durable?.current?.list());
        counts.failing = failing.size;
        const hold = tlsHoldOf(item.lastError);
        if (!sameHold(hold, tlsHeld)) {
          // A refused certificate holds every transaction behind it: told once per change of state,
          // not per transaction or per attempt.
          tlsHeld = hold;
          if (hold) {
            node.error(
              tlsHoldError(RED, "fhir-document", hold, destination, delayMs),
              pending.get(item.seq) ?? {},
            );
          }
        }
        // Told once per transaction (and on the status): it is kept and tried again until
        // delivered or discarded through the admin endpoint.
        if (firstHere && hold === undefined) {
          node.error(
            new Error(
              RED._("fhir-document.errors.retrying", {
                destination,
                reason: item.lastError ?? "",
                seconds: Math.round(delayMs / 1000),
              }),
            ),
            pending.get(item.seq) ?? {},
          );
        }
        status.update();
      },
      onSettled: (item: QueueItem, outcome: AttemptResult<FhirOutcome>, recorded: boolean): void => {
        if (outcome.kind !== "delivered" && outcome.kind !== "rejected") return;
        const result = outcome.result;
        const delivered = result.status === "delivered";
        failing.settled(item.seq);
        counts.failing = failing.size;
        tlsHeld = undefined;
        const out = pending.get(item.seq) ?? { _msgid: RED.util.generateId() };
        pending.delete(item.seq);
        durableAudit(item, {
          event: delivered ? "delivered" : "rejected",
          attempt: item.attempts,
          outcome: result.status === "delivered" ? String(result.httpStatus) : result.reason,
        });
        if (!recorded)
          node.error(new Error(RED._("fhir-document.errors.endNotRecorded", { destination })), out);
        out.fhir = fhirResult(result, item.key, destination, item.attempts);
        if (result.status === "delivered") out.payload = result.response;
        counts[delivered ? "delivered" : "failed"]++;
        status.update();
        node.send(delivered ? [out, null, null] : [null, out, null]);
      },
    };
    durable?.register(node.id, listener);
    // The depth of a queue recovered from disk shows at once.
    durable?.ready.then(
      () => status.update(),
      () => undefined,
    );

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = documentFields([patientType, patientProperty], [encounterType, encounterProperty]);
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "fhir-document", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      const checked = checkTranscriptDocument(msg.payload);
      if (!checked.ok) {
        done(checked.error);
        return;
      }
      const document = checked.value;
      // A document signed in review-queue carries payload.signoff: final / amended / entered-in-error.
      let signoff: ReturnType<typeof checkSignoff>;
      try {
        signoff = checkSignoff((document as { signoff?: unknown }).signoff);
      } catch (err) {
        done(asError(err));
        return;
      }
      const handled = Promise.all([
        evaluateTypedProperty(RED, node, patientProperty, patientType, msg),
        evaluateTypedProperty(RED, node, encounterProperty, encounterType, msg),
      ]).then(async ([patientValue, encounterValue]) => {
        const { patient, encounter } = checkFhirContext(patientValue, encounterValue, {
          patient: sourceLabel(patientType, patientProperty, "patient"),
          encounter: sourceLabel(encounterType, encounterProperty, "encounter"),
        });
        const built = signoff
          ? buildSignedFhirBundle(document, signoff, patient, encounter, options, new Date())
          : buildFhirBundle(document, patient, encounter, options, new Date());
        // Machine-derived entities go with the preliminary document only: a sign-off confirms the text,
        // not them, and sending them again would make second copies (docs/medical-entities.md).
        if (codedEntities && !signoff) {
          addCodedEntities(built, document.entities ?? (msg as { entities?: unknown }).entities);
        }
        // Bundle.identifier: the document's identifier for the preliminary transaction, one of its own for
        // each sign-off event, so that a receiver dropping resends by it never drops a sign-off.
        const bundleIdentifier = signoff
          ? signoffBundleIdentifier(built.identifier, signoff)
          : built.identifier;
        const bundle = identifiedBundle(built.bundle, bundleIdentifier);
        const out = outgoing((m) => RED.util.cloneMessage(m), msg) as NodeMessage & {
          document?: unknown;
          fhir?: unknown;
          headers?: unknown;
          method?: unknown;
        };
        out.document = document;
        out.payload = bundle;
        if (!sender) {
          // Ready for the core http request node: set its URL to the FHIR base.
          out.method = "POST";
          out.headers = { "content-type": "application/fhir+json", accept: "application/fhir+json" };
          out.fhir = {
            documentId: document.documentId,
            identifier: built.identifier,
            ifNoneExist: built.ifNoneExist,
          };
          counts.delivered++;
          status.update();
          send([out, null, null] as Ports);
          done();
          return;
        }
        if (durable) {
          // A sign-off is taken once by its Bundle.identifier: review-queue hands it on again after a
          // crash, and a copy this queue holds or delivered already is not queued twice.
          const result = await durable.enqueue(
            document.documentId,
            node.id,
            JSON.stringify(bundle),
            signoff ? bundleIdentifier.value : undefined,
          );
          if (!result.ok) {
            // Never a silent drop: Catch nodes hear which server's queue refused it, and why.
            counts.refused++;
            status.update();
            const q = durable.current;
            done(
              new Error(
                RED._(REFUSALS.get(result.reason) ?? "fhir-document.errors.notStored", {
                  destination,
                  depth: q?.maxMessages ?? 0,
                  megabytes: (q?.maxBytes ?? 0) / (1024 * 1024),
                  detail: result.detail,
                }),
              ),
            );
            return;
          }
          if (pending.size >= (durable.current?.maxMessages ?? 0)) {
            // Transactions discarded through the admin endpoint never settle here: forget those.
            const live = new Set(durable.current?.list().map((i) => i.seq));
            for (const seq of pending.keys()) if (!live.has(seq)) pending.delete(seq);
          }
          if (result.item) pending.set(result.item.seq, out);
          status.update();
          // On disk (or taken already): the flow may forget it.
          done();
          return;
        }
        const digest = sha256(JSON.stringify(bundle));
        const audit = (fields: Partial<AuditEvent> & Pick<AuditEvent, "event">): void => {
          const event: AuditEvent = {
            time: new Date().toISOString(),
            nodeId: node.id,
            nodeType: "fhir-document",
            destination,
            protocol: "fhir",
            documentId: document.documentId,
            messageId: document.documentId,
            messageType: "Bundle/transaction",
            ...fields,
          };
          send([null, null, { topic: "audit", payload: event }] as Ports);
        };
        const onEvent = (e: FhirEvent): void => {
          if (e.type === "send") audit({ event: "send", attempt: e.attempt, bytes: e.bytes, sha256: digest });
          else if (e.type === "response")
            audit({ event: "ack", attempt: e.attempt, outcome: String(e.httpStatus) });
          else if (e.type === "attempt-failed")
            audit({ event: "attempt-failed", attempt: e.attempt, outcome: e.reason });
          else audit({ event: "retry", attempt: e.attempt, delayMs: e.delayMs });
        };
        status.update();
        const outcome = await sender.post(bundle, onEvent);
        if (outcome.status === "rejected" && outcome.reason === "queue-full") {
          // Never a silent drop: Catch nodes hear which server's queue was full, and its bound.
          counts.refused++;
          status.update();
          done(
            new Error(
              RED._("fhir-document.errors.queueFull", {
                destination,
                depth: sender.maxQueue,
                megabytes: sender.maxQueueBytes / (1024 * 1024),
              }),
            ),
          );
          return;
        }
        if (outcome.status === "rejected" && outcome.reason === "closed") {
          // The flow is stopping: nothing is left to receive the message, but its loss is told.
          done(new Error(RED._("fhir-document.errors.notDelivered", { destination })));
          return;
        }
        const delivered = outcome.status === "delivered";
        audit({
          event: delivered ? "delivered" : "rejected",
          attempt: outcome.attempts,
          outcome: delivered ? String(outcome.httpStatus) : outcome.reason,
        });
        out.fhir = fhirResult(outcome, document.documentId, destination, outcome.attempts);
        if (delivered) out.payload = outcome.response;
        counts[delivered ? "delivered" : "failed"]++;
        status.update();
        send(delivered ? [out, null, null] : [null, out, null]);
        done();
      });
      settleGuarded(handled, (err) => {
        counts.failed++;
        status.update();
        done(asError(err));
      });
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      durable?.unregister(node.id, listener);
      status.close();
      done();
    });
  }

  RED.nodes.registerType("fhir-document", FhirDocumentNode);
};
