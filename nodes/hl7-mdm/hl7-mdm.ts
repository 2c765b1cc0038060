import type { Node, NodeAPI, NodeDef } from "node-red";
import {
  buildHl7,
  checkEncounter,
  checkPatient,
  COMPLETION_STATUSES,
  DEFAULT_HL7_OPTIONS,
  HL7_MESSAGE_TYPES,
  type CompletionStatus,
  type Hl7MessageType,
  type Hl7Options,
} from "../../src/hospital/hl7/build";
import { sourceLabel } from "../../src/hospital/source-label";
import { checkTranscriptDocument } from "../../src/transcript/document";
import { asError, evaluateTypedProperty, StatusReporter } from "../shared/node-red";

interface Hl7MdmDef extends NodeDef {
  messageType: Hl7MessageType;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  processingId: "P" | "T" | "D";
  documentTypeCode: string;
  documentTypeText: string;
  loincCode: string;
  loincText: string;
  completionStatus: CompletionStatus;
  confidentiality: "U" | "R" | "V";
  maxObxLength: string | number;
  documentIdNamespace: string;
  patient: string;
  patientType: string;
  encounter: string;
  encounterType: string;
}

/** Reads the node's settings into builder options; throws a message naming the bad setting. */
function optionsFrom(RED: NodeAPI, c: Hl7MdmDef): Hl7Options {
  const d = DEFAULT_HL7_OPTIONS;
  const messageType = c.messageType || d.messageType;
  if (!HL7_MESSAGE_TYPES.includes(messageType)) {
    throw new Error(RED._("hl7-mdm.errors.badMessageType", { types: HL7_MESSAGE_TYPES.join(", ") }));
  }
  const completionStatus = c.completionStatus || d.completionStatus;
  if (!COMPLETION_STATUSES.includes(completionStatus)) {
    throw new Error(RED._("hl7-mdm.errors.badCompletion", { codes: COMPLETION_STATUSES.join(", ") }));
  }
  const maxObxLength = Number(
    c.maxObxLength === "" || c.maxObxLength === undefined ? d.maxObxLength : c.maxObxLength,
  );
  if (!Number.isInteger(maxObxLength) || maxObxLength < 16 || maxObxLength > 65536) {
    throw new Error(RED._("hl7-mdm.errors.badMaxLength"));
  }
  const pick = <T extends string>(value: T | undefined, fallback: T): T =>
    value === undefined ? fallback : value;
  return {
    messageType,
    sendingApplication: pick(c.sendingApplication, d.sendingApplication),
    sendingFacility: pick(c.sendingFacility, d.sendingFacility),
    receivingApplication: pick(c.receivingApplication, d.receivingApplication),
    receivingFacility: pick(c.receivingFacility, d.receivingFacility),
    processingId: ["P", "T", "D"].includes(c.processingId) ? c.processingId : d.processingId,
    documentTypeCode: c.documentTypeCode || d.documentTypeCode,
    documentTypeText: pick(c.documentTypeText, d.documentTypeText),
    loincCode: c.loincCode || d.loincCode,
    loincText: pick(c.loincText, d.loincText),
    completionStatus,
    confidentiality: ["U", "R", "V"].includes(c.confidentiality) ? c.confidentiality : d.confidentiality,
    maxObxLength,
    ...(c.documentIdNamespace ? { documentIdNamespace: c.documentIdNamespace } : {}),
  };
}

export = function register(RED: NodeAPI): void {
  function Hl7MdmNode(this: Node, config: Hl7MdmDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let options: Hl7Options;
    try {
      options = optionsFrom(RED, config);
    } catch (err) {
      const error = asError(err);
      node.error(error.message);
      node.status({ fill: "red", shape: "ring", text: "hl7-mdm.status.misconfigured" });
      node.on("input", (_msg, _send, done) => done(error));
      return;
    }
    const patientProperty = config.patient || "patient";
    const patientType = config.patientType || "msg";
    const encounterProperty = config.encounter || "encounter";
    const encounterType = config.encounterType || "msg";

    const counts = { built: 0, failed: 0 };
    const status = new StatusReporter(node, () => ({
      fill: counts.failed > 0 ? "yellow" : "green",
      shape: "dot",
      text: RED._("hl7-mdm.status.counts", counts),
    }));
    node.status({});

    node.on("input", (msg, send, done) => {
      const fail = (err: unknown): void => {
        counts.failed++;
        status.update();
        done(asError(err));
      };
      const checked = checkTranscriptDocument(msg.payload);
      if (!checked.ok) {
        fail(checked.error);
        return;
      }
      Promise.all([
        evaluateTypedProperty(RED, node, patientProperty, patientType, msg),
        evaluateTypedProperty(RED, node, encounterProperty, encounterType, msg),
      ])
        .then(([patientValue, encounterValue]) => {
          // Errors name where the value came from (e.g. "msg.patient.id"), never the value.
          const patient = checkPatient(patientValue, sourceLabel(patientType, patientProperty, "patient"));
          const encounter = checkEncounter(
            encounterValue,
            sourceLabel(encounterType, encounterProperty, "encounter"),
          );
          const built = buildHl7(checked.value, patient, encounter, options, new Date());
          const out = msg as typeof msg & { document?: unknown; hl7?: unknown };
          out.document = checked.value;
          out.payload = built.message;
          out.hl7 = {
            messageType: built.messageType,
            controlId: built.controlId,
            documentId: built.documentId,
            segmentCount: built.segmentCount,
            obxCount: built.obxCount,
          };
          counts.built++;
          status.update();
          send(out);
          done();
        })
        .catch(fail);
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType("hl7-mdm", Hl7MdmNode);
};
