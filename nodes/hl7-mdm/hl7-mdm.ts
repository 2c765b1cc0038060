import type { Node, NodeAPI, NodeDef } from "node-red";
import {
  buildHl7,
  checkHl7Options,
  COMPLETION_STATUSES,
  DEFAULT_HL7_OPTIONS,
  HL7_MESSAGE_TYPES,
  type CompletionStatus,
  type Hl7MessageType,
  type Hl7Options,
} from "../../src/hospital/hl7/build";
import { buildSignedHl7 } from "../../src/hospital/hl7/signoff";
import { checkHl7Context } from "../../src/hospital/patient-context";
import { sourceLabel } from "../../src/hospital/source-label";
import { checkSignoff } from "../../src/review/signoff";
import { checkTranscriptDocument, type TranscriptDocument } from "../../src/transcript/document";
import { numberSetting } from "../../src/hospital/settings";
import { settleGuarded } from "../../src/util/guard";
import { asError, evaluateTypedProperty, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { documentFields, intake } from "../shared/intake";

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
  codedEntities: boolean | string;
  documentIdNamespace: string;
  patient: string;
  patientType: string;
  encounter: string;
  encounterType: string;
}

const PROCESSING_IDS: ReadonlyArray<Hl7Options["processingId"]> = ["P", "T", "D"];
const CONFIDENTIALITY: ReadonlyArray<Hl7Options["confidentiality"]> = ["U", "R", "V"];

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
  const maxObxLength = numberSetting(c.maxObxLength, d.maxObxLength, { min: 16, max: 65536, integer: true });
  if (maxObxLength === undefined) throw new Error(RED._("hl7-mdm.errors.badMaxLength"));
  const processingId = c.processingId || d.processingId;
  if (!PROCESSING_IDS.includes(processingId)) {
    throw new Error(RED._("hl7-mdm.errors.badProcessingId", { codes: PROCESSING_IDS.join(", ") }));
  }
  const confidentiality = c.confidentiality || d.confidentiality;
  if (!CONFIDENTIALITY.includes(confidentiality)) {
    throw new Error(RED._("hl7-mdm.errors.badConfidentiality", { codes: CONFIDENTIALITY.join(", ") }));
  }
  const text = (value: unknown, fallback: string): string => (typeof value === "string" ? value : fallback);
  const options: Hl7Options = {
    messageType,
    sendingApplication: text(c.sendingApplication, d.sendingApplication),
    sendingFacility: text(c.sendingFacility, d.sendingFacility),
    receivingApplication: text(c.receivingApplication, d.receivingApplication),
    receivingFacility: text(c.receivingFacility, d.receivingFacility),
    processingId,
    documentTypeCode: text(c.documentTypeCode, "") || d.documentTypeCode,
    documentTypeText: text(c.documentTypeText, d.documentTypeText),
    loincCode: text(c.loincCode, "") || d.loincCode,
    loincText: text(c.loincText, d.loincText),
    completionStatus,
    confidentiality,
    maxObxLength,
    ...(text(c.documentIdNamespace, "") ? { documentIdNamespace: c.documentIdNamespace } : {}),
    codedEntities: String(c.codedEntities) === "true",
  };
  // A setting too long for its HL7 v2.5.1 field (an application name, TXA-2, the namespace) would
  // fail every message: refuse it at deploy, naming the field and the limit.
  checkHl7Options(options);
  return options;
}

/** The document with `msg.entities` (medical-entities run on the document) when it carries none itself. */
function withEntities(document: TranscriptDocument, msg: { entities?: unknown }): TranscriptDocument {
  if (document.entities !== undefined || !Array.isArray(msg.entities)) return document;
  return { ...document, entities: msg.entities as TranscriptDocument["entities"] };
}

export = function register(RED: NodeAPI): void {
  function Hl7MdmNode(this: Node, rawConfig: Hl7MdmDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = settingsOrRefuse(node, "hl7-mdm", rawConfig, DEFAULTS);
    if (!config) return;
    let options: Hl7Options;
    try {
      options = optionsFrom(RED, config);
    } catch (err) {
      const error = asError(err);
      refuseEveryInput(node, "hl7-mdm", error);
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

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = documentFields([patientType, patientProperty], [encounterType, encounterProperty]);
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "hl7-mdm", msg, nodeRedDone, fieldsRead);
      if (!done) return;
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
      // A document signed in review-queue carries payload.signoff: it becomes T04/T06/T08/T11.
      let signoff: ReturnType<typeof checkSignoff>;
      try {
        signoff = checkSignoff((checked.value as { signoff?: unknown }).signoff);
      } catch (err) {
        fail(err);
        return;
      }
      const built = Promise.all([
        evaluateTypedProperty(RED, node, patientProperty, patientType, msg),
        evaluateTypedProperty(RED, node, encounterProperty, encounterType, msg),
      ]).then(([patientValue, encounterValue]) => {
        // Errors name where the value came from (e.g. "msg.patient.id"), never the value.
        const { patient, encounter } = checkHl7Context(patientValue, encounterValue, {
          patient: sourceLabel(patientType, patientProperty, "patient"),
          encounter: sourceLabel(encounterType, encounterProperty, "encounter"),
        });
        const message = signoff
          ? buildSignedHl7(checked.value, signoff, patient, encounter, options, new Date())
          : buildHl7(
              withEntities(checked.value, msg as { entities?: unknown }),
              patient,
              encounter,
              options,
              new Date(),
            );
        const out = msg as typeof msg & { document?: unknown; hl7?: unknown };
        out.document = checked.value;
        out.payload = message.message;
        out.hl7 = {
          messageType: message.messageType,
          controlId: message.controlId,
          documentId: message.documentId,
          segmentCount: message.segmentCount,
          obxCount: message.obxCount,
          // Identifiers sent in short form to fit v2.5.1 lengths, with their originals.
          shortened: message.shortened,
        };
        counts.built++;
        status.update();
        send(out);
        done();
      });
      settleGuarded(built, fail);
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType("hl7-mdm", Hl7MdmNode);
};
