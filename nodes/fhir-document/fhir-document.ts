import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { sha256 } from "../../src/hospital/audit";
import {
  buildFhirBundle,
  checkFhirEncounter,
  checkFhirPatient,
  DEFAULT_FHIR_OPTIONS,
  SECURITY_LABELS,
  type FhirOptions,
  type SecurityLabel,
} from "../../src/hospital/fhir/bundle";
import type { FhirEvent } from "../../src/hospital/fhir/send";
import { buildSignedFhirBundle } from "../../src/hospital/fhir/signoff";
import { checkSignoff } from "../../src/review/signoff";
import { sourceLabel } from "../../src/hospital/source-label";
import { checkTranscriptDocument } from "../../src/transcript/document";
import { settleGuarded } from "../../src/util/guard";
import type { FhirServerNode } from "../fhir-server/types";
import { asError, evaluateTypedProperty, StatusReporter, withDefaults } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { refuseEveryInput } from "../shared/repeated-reports";

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
}

type Ports = [NodeMessage | null, NodeMessage | null, NodeMessage | null];

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
    const config = withDefaults(rawConfig, DEFAULTS);
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
    const destination = server?.name || "fhir-server";
    const patientType = config.patientType || "msg";
    const patientProperty = config.patient || "patient";
    const encounterType = config.encounterType || "msg";
    const encounterProperty = config.encounter || "encounter";

    const counts = { delivered: 0, failed: 0, refused: 0 };
    const status = new StatusReporter(node, () => ({
      fill: counts.failed > 0 || counts.refused > 0 ? "red" : "green",
      shape: sender && sender.queued > 0 ? "ring" : "dot",
      text: RED._(
        !sender
          ? "fhir-document.status.built"
          : counts.refused > 0
            ? "fhir-document.status.sentFull"
            : "fhir-document.status.sent",
        { ...counts, queued: sender?.queued ?? 0, depth: sender?.maxQueue ?? 0 },
      ),
    }));
    node.status({});

    node.on("input", (msg, send, done) => {
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
        const patient = checkFhirPatient(patientValue, sourceLabel(patientType, patientProperty, "patient"));
        const encounter = checkFhirEncounter(
          encounterValue,
          sourceLabel(encounterType, encounterProperty, "encounter"),
        );
        const built = signoff
          ? buildSignedFhirBundle(document, signoff, patient, encounter, options, new Date())
          : buildFhirBundle(document, patient, encounter, options, new Date());
        const out = msg as NodeMessage & {
          document?: unknown;
          fhir?: unknown;
          headers?: unknown;
          method?: unknown;
        };
        out.document = document;
        out.payload = built.bundle;
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
        const digest = sha256(JSON.stringify(built.bundle));
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
        const outcome = await sender.post(built.bundle, onEvent);
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
        out.fhir = delivered
          ? {
              status: "delivered",
              httpStatus: outcome.httpStatus,
              attempts: outcome.attempts,
              entries: outcome.entries,
              ...(outcome.notes.length > 0 ? { notes: outcome.notes } : {}),
              documentId: document.documentId,
              destination,
            }
          : {
              status: "rejected",
              reason: outcome.reason,
              detail: outcome.detail,
              httpStatus: outcome.httpStatus,
              issues: outcome.issues,
              attempts: outcome.attempts,
              documentId: document.documentId,
              destination,
            };
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
      status.close();
      done();
    });
  }

  RED.nodes.registerType("fhir-document", FhirDocumentNode);
};
