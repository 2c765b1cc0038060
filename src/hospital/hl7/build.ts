import { SessionCollector, type TranscriptDocument } from "../../transcript/document";
import { readCodedEntities } from "../fhir/entities";
import { fieldText, objectField } from "../field-text";
import { codedObxSegments } from "./entities";
import { components, fieldValue, splitText } from "./escape";
import { noteObxSegments, txObx } from "./note";
import { MIN_ID_BUDGET, shortIdentifier } from "./short-id";
import {
  checkConformance,
  describeViolation,
  fieldDefinition,
  type ConformanceViolation,
} from "./v251-fields";

/**
 * Builds HL7 v2.5.1 MDM^T02 (or ORU^R01) messages carrying a machine transcript. The transcript is
 * an unreviewed draft, so the statuses say so: TXA-17 DO (or PA), TXA-19 UN, OBX-11 P, OBR-25 P.
 */

export type Hl7MessageType = "MDM^T02" | "ORU^R01";
export const HL7_MESSAGE_TYPES: readonly Hl7MessageType[] = ["MDM^T02", "ORU^R01"];

/** Table 0271 codes for a document nobody has signed; AU/LA are for after human review. */
export type CompletionStatus = "DO" | "PA" | "IP" | "DI";
export const COMPLETION_STATUSES: readonly CompletionStatus[] = ["DO", "PA", "IP", "DI"];

export interface Hl7Options {
  messageType: Hl7MessageType;
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  /** MSH-11: P production, T training, D debugging. */
  processingId: "P" | "T" | "D";
  /**
   * TXA-2, table 0270 (site-defined), for example PR. In v2.5.1 TXA-2 is IS, a code alone (at most
   * 30 characters). The text is not sent: TXA-2 carries one only from v2.6 on (CWE); the setting
   * stays so existing flows keep loading.
   */
  documentTypeCode: string;
  documentTypeText: string;
  /** OBX-3 (and OBR-4): the LOINC note code, for example 11506-3 / Progress note. */
  loincCode: string;
  loincText: string;
  completionStatus: CompletionStatus;
  /** TXA-18, table 0272: U usual, R restricted, V very restricted. */
  confidentiality: "U" | "R" | "V";
  /** Longest OBX-5 value (escaped characters); many engines truncate at 1000. */
  maxObxLength: number;
  /** Assigning authority for TXA-12 / OBR-3 (defaults to the sending application). */
  documentIdNamespace?: string;
  /**
   * ORU^R01 only: after the text, one coded OBX (CE) per deliverable entity of `document.entities`
   * (hl7/entities.ts), preliminary and machine-derived. MDM^T02 stays text only: its OBX carry the
   * document's content (chapter 9), not coded observations.
   */
  codedEntities?: boolean;
}

export const DEFAULT_HL7_OPTIONS: Hl7Options = {
  messageType: "MDM^T02",
  sendingApplication: "NODERED-ASR",
  sendingFacility: "",
  receivingApplication: "",
  receivingFacility: "",
  processingId: "P",
  documentTypeCode: "PR",
  documentTypeText: "Progress note",
  loincCode: "11506-3",
  loincText: "Progress note",
  completionStatus: "DO",
  confidentiality: "U",
  maxObxLength: 1000,
};

/** Patient fields (PID); `id` and `family` are required. */
export interface Hl7Patient {
  id: string;
  /** PID-3.4, the assigning authority of the identifier. */
  idAuthority?: string;
  /** PID-3.5, identifier type (default MR). */
  idType?: string;
  family: string;
  given?: string;
  /** YYYYMMDD (checkPatient also accepts YYYY-MM-DD and converts it). */
  birthDate?: string;
  /** Table 0001: F, M, O, U, A, N. */
  sex?: string;
}

export interface Hl7Person {
  id?: string;
  family?: string;
  given?: string;
}

/** Encounter fields (PV1) and the people of the document (TXA). All optional. */
export interface Hl7Encounter {
  /** PV1-2, table 0004: I, O, E, … (default U unknown). */
  patientClass?: string;
  /** PV1-3.1: point of care. */
  location?: string;
  /** PV1-19.1 */
  visitNumber?: string;
  visitAuthority?: string;
  /** TXA-5 / TXA-9 / PV1-7: the dictating clinician. */
  author?: Hl7Person;
}

/**
 * An identifier this package minted that was too long for its field and went out in short form
 * (see short-id.ts); a flow keeps the pair to find the document from what the receiver shows.
 */
export interface ShortenedIdentifier {
  /** Where the short form was sent, e.g. "TXA-12.1". */
  field: string;
  original: string;
  sent: string;
}

export interface BuiltHl7 {
  /** Every segment, the last included, terminated by CR (the HL7 segment terminator). */
  message: string;
  messageType: Hl7MessageType;
  /** MSH-10. */
  controlId: string;
  documentId: string;
  segmentCount: number;
  obxCount: number;
  /** Identifiers sent in short form because the original exceeded the field; empty when none. */
  shortened: ShortenedIdentifier[];
}

/** A required HL7 field with no usable value; names the message property, never a value. */
export class Hl7FieldError extends Error {
  override readonly name = "Hl7FieldError";
  readonly code = "HL7_FIELD_MISSING";
  constructor(
    readonly property: string,
    readonly segmentField: string,
    hint: string,
  ) {
    super(`${property} is required for ${segmentField}: ${hint}`);
  }
}

/** A setting that cannot make a conformant message; names the setting, says what is accepted. */
export class Hl7SettingError extends Error {
  override readonly name = "Hl7SettingError";
  readonly code = "HL7_SETTING";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A message that would break HL7 v2.5.1 (a field too long, too many components…): the builder
 * refuses to send it. The violations name fields and numbers only, never a value.
 */
export class Hl7ConformanceError extends Error {
  override readonly name = "Hl7ConformanceError";
  readonly code = "HL7_NOT_CONFORMANT";
  constructor(readonly violations: ConformanceViolation[]) {
    const shown = violations.slice(0, 5).map(describeViolation);
    if (violations.length > shown.length) shown.push(`${violations.length - shown.length} more`);
    super(`the message would not conform to HL7 v2.5.1: ${shown.join("; ")}`);
  }
}

/** Longest MSH-10 (ST, chapter 2 §2.15.9). */
const MSH10_MAX = fieldDefinition("MSH", 10)?.maxLength ?? 20;

/**
 * MSH-10 from the document id: its letters and digits when they fit the 20 characters of MSH-10,
 * otherwise their deterministic short form (short-id.ts). The same document always gets the same
 * control id, so a resend can be de-duplicated.
 */
export function controlIdFor(documentId: string): string {
  const alnum = documentId.replace(/[^0-9A-Za-z]/g, "") || "DOC";
  return alnum.length <= MSH10_MAX ? alnum : shortIdentifier(alnum, MSH10_MAX);
}

/**
 * The EI `id^namespace` for a field of at most `max` characters. The namespace is sent as is; the
 * id is sent escaped when that fits, else in short form (recorded in `shortened`). Throws
 * Hl7FieldError when the namespace leaves the id fewer than MIN_ID_BUDGET characters.
 */
export function entityIdentifier(
  id: string,
  namespace: string,
  segment: "TXA" | "OBR",
  field: number,
  shortened: ShortenedIdentifier[],
): string {
  const where = `${segment}-${field}`;
  const max = fieldDefinition(segment, field)?.maxLength ?? 22;
  const ns = fieldValue(namespace);
  const budget = max - (ns ? ns.length + 1 : 0);
  if (budget < MIN_ID_BUDGET) {
    throw new Hl7SettingError(
      "documentIdNamespace",
      `the document id namespace (the TXA-12 authority setting, or the sending application when that is empty) has ${ns.length} characters; ${where} leaves it at most ${max - 1 - MIN_ID_BUDGET}`,
    );
  }
  const escaped = fieldValue(id);
  if (escaped.length <= budget) return components(id, namespace);
  const sent = shortIdentifier(id, budget);
  shortened.push({ field: `${where}.1`, original: id, sent });
  return components(sent, namespace);
}

/** HL7 DTM in UTC with an explicit offset: YYYYMMDDHHMMSS+0000. */
export function hl7Time(iso: string | number | Date): string {
  const d = new Date(iso);
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return (
    `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}` +
    `${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}+0000`
  );
}

function hl7Date(value: string | undefined, property: string): string | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(value);
  const [year, month, day] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [NaN, NaN, NaN];
  // A real calendar date: 2026-02-30 would come back from Date.UTC as March 2.
  const date = new Date(Date.UTC(year, month - 1, day));
  if (!m || year < 1800 || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    throw new Hl7FieldError(property, "PID-7", "a date as YYYY-MM-DD or YYYYMMDD, from 1800 on");
  }
  return `${m[1]}${m[2]}${m[3]}`;
}

/**
 * msg.patient (or the patient setting) as PID fields; `property` names where it came from in errors.
 * Throws Hl7FieldError for a missing required field and FieldValueError for a value of the wrong
 * kind (NaN, an object, text over 1024 characters), naming the property, never the value.
 */
export function checkPatient(value: unknown, property: string): Hl7Patient {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Hl7FieldError(property, "PID", "an object {id, family, given?, birthDate?, sex?}");
  }
  const v = value as Record<string, unknown>;
  const text = (key: string): string | undefined => fieldText(v, key, property);
  const id = text("id");
  if (!id) throw new Hl7FieldError(`${property}.id`, "PID-3", "the patient identifier (for example the MRN)");
  const family = text("family");
  if (!family) throw new Hl7FieldError(`${property}.family`, "PID-5", "the patient's family name");
  return {
    id,
    family,
    idAuthority: text("idAuthority"),
    idType: text("idType"),
    given: text("given"),
    birthDate: hl7Date(text("birthDate"), `${property}.birthDate`),
    sex: text("sex"),
  };
}

/** msg.encounter (or the encounter setting) as PV1 and TXA fields; all optional, checked as checkPatient. */
export function checkEncounter(value: unknown, property: string): Hl7Encounter {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new Hl7FieldError(property, "PV1", "an object {patientClass?, location?, visitNumber?, author?}");
  }
  const v = value as Record<string, unknown>;
  const a = objectField(v, "author") ?? {};
  const author = `${property}.author`;
  return {
    patientClass: fieldText(v, "patientClass", property),
    location: fieldText(v, "location", property),
    visitNumber: fieldText(v, "visitNumber", property),
    visitAuthority: fieldText(v, "visitAuthority", property),
    author: {
      id: fieldText(a, "id", author),
      family: fieldText(a, "family", author),
      given: fieldText(a, "given", author),
    },
  };
}

/**
 * Checks the settings alone against HL7 v2.5.1 (MSH-3..6, TXA-2, OBX-3/OBR-4, the document id
 * namespace), by building a message from a placeholder document and patient: a node can refuse
 * them at deploy instead of failing every message. Throws Hl7ConformanceError or Hl7FieldError.
 */
export function checkHl7Options(options: Hl7Options): void {
  const now = new Date(0);
  const placeholder = { ...new SessionCollector("settings-check", "0").build("flush", 0), text: "x" };
  try {
    buildHl7(placeholder, { id: "0", family: "X" }, {}, options, now);
  } catch (err) {
    // The user knows the settings, not the HL7 fields they fill: name the settings too.
    if (!(err instanceof Hl7ConformanceError)) throw err;
    const settings = [
      ...new Set(err.violations.flatMap((v) => ("where" in v ? (SETTINGS_OF_FIELD[v.where] ?? []) : []))),
    ];
    if (settings.length === 0) throw err;
    throw new Hl7SettingError(settings.join(", "), `${err.message} (settings: ${settings.join(", ")})`);
  }
}

/** The fields of a message that node settings fill, with those settings (names as in the node's config). */
const SETTINGS_OF_FIELD: Record<string, string[]> = {
  "MSH-3": ["sendingApplication"],
  "MSH-4": ["sendingFacility"],
  "MSH-5": ["receivingApplication"],
  "MSH-6": ["receivingFacility"],
  "TXA-2": ["documentTypeCode", "documentTypeText"],
  "OBX-3": ["loincCode", "loincText"],
  "OBR-4": ["loincCode", "loincText"],
  "TXA-12": ["documentIdNamespace", "sendingApplication"],
  "OBR-3": ["documentIdNamespace", "sendingApplication"],
};

export function buildHl7(
  document: TranscriptDocument,
  patient: Hl7Patient,
  encounter: Hl7Encounter,
  options: Hl7Options,
  now: Date,
): BuiltHl7 {
  const controlId = controlIdFor(document.documentId);
  const [event, structure] = options.messageType === "MDM^T02" ? ["T02", "MDM_T02"] : ["R01", "ORU_R01"];
  const [code] = options.messageType.split("^");
  const nowTs = hl7Time(now);
  const namespace = options.documentIdNamespace || options.sendingApplication;
  const shortened: ShortenedIdentifier[] = [];
  if (controlId !== document.documentId) {
    // Reported only when it is a short form: stripping the UUID's hyphens is no loss.
    const alnum = document.documentId.replace(/[^0-9A-Za-z]/g, "");
    if (alnum.length > MSH10_MAX)
      shortened.push({ field: "MSH-10", original: document.documentId, sent: controlId });
  }
  const [idSegment, idField] =
    options.messageType === "MDM^T02" ? (["TXA", 12] as const) : (["OBR", 3] as const);
  const documentNumber = entityIdentifier(document.documentId, namespace, idSegment, idField, shortened);
  const author = encounter.author ?? {};
  const authorXcn = components(author.id, author.family, author.given);

  const msh = [
    "MSH",
    "^~\\&",
    fieldValue(options.sendingApplication),
    fieldValue(options.sendingFacility),
    fieldValue(options.receivingApplication),
    fieldValue(options.receivingFacility),
    nowTs,
    "",
    `${code}^${event}^${structure}`,
    controlId,
    options.processingId,
    "2.5.1",
    "",
    "",
    // MSH-15/16 empty: original acknowledgment mode, one application ACK per message.
    "",
    "",
    "",
    "UNICODE UTF-8", // MSH-18
  ].join("|");
  const pid = trimFields([
    "PID",
    "1",
    "",
    components(patient.id, "", "", patient.idAuthority, patient.idType || "MR"),
    "",
    components(patient.family, patient.given),
    "",
    patient.birthDate ?? "",
    fieldValue(patient.sex),
  ]);
  const pv1 = trimFields([
    "PV1",
    "1",
    fieldValue(encounter.patientClass || "U"),
    components(encounter.location),
    "",
    "",
    "",
    authorXcn,
    ...Array<string>(11).fill(""),
    components(encounter.visitNumber, "", "", encounter.visitAuthority, encounter.visitNumber ? "VN" : ""),
  ]);

  // A scribe's note goes out one section per OBX (note.ts); a transcript, one OBX per line.
  const obx: string[] = document.note ? noteObxSegments(document.note, options.maxObxLength) : [];
  const paragraphs = document.note ? [] : splitText(document.text, options.maxObxLength);
  if (obx.length === 0 && paragraphs.length === 0) {
    throw new Hl7FieldError("msg.payload.text", "OBX-5", "the document has no text to send");
  }
  const loinc = components(options.loincCode, options.loincText, "LN");
  paragraphs.forEach((lines, p) => {
    for (const line of lines) {
      // OBX-4 groups the lines of one paragraph, so a receiver can re-join wrapped lines.
      // splitText's lines are cleaned and single-spaced already: txObx escapes them.
      obx.push(txObx(obx.length + 1, loinc, p + 1, line));
    }
  });

  const coded =
    options.messageType === "ORU^R01" && options.codedEntities
      ? codedObxSegments(readCodedEntities(document.entities), obx.length + 1)
      : [];
  const segments =
    options.messageType === "MDM^T02"
      ? [msh, `EVN|T02|${nowTs}`, pid, pv1, txa(document, options, authorXcn, documentNumber), ...obx]
      : [msh, pid, pv1, obr(document, loinc, authorXcn, documentNumber, nowTs), ...obx, ...coded];
  // Every field against its v2.5.1 type and length: what fails here would fail at the receiver.
  const violations = checkConformance(segments);
  if (violations.length > 0) throw new Hl7ConformanceError(violations);
  return {
    // HL7 terminates every segment with CR, the last one included (chapter 2 §2.5.1).
    message: `${segments.join("\r")}\r`,
    messageType: options.messageType,
    controlId,
    documentId: document.documentId,
    segmentCount: segments.length,
    obxCount: obx.length + coded.length,
    shortened,
  };
}

function txa(
  document: TranscriptDocument,
  options: Hl7Options,
  authorXcn: string,
  documentNumber: string,
): string {
  const started = hl7Time(document.startedAt);
  return trimFields([
    "TXA",
    "1",
    fieldValue(options.documentTypeCode), // TXA-2 is IS in v2.5.1: the code alone
    "TX",
    started, // TXA-4 activity
    authorXcn, // TXA-5 primary activity provider
    started, // TXA-6 origination
    hl7Time(document.completedAt), // TXA-7 transcription
    "",
    authorXcn, // TXA-9 originator
    "", // TXA-10 authenticator: only after human sign-off
    "",
    documentNumber, // TXA-12
    "",
    "",
    "",
    "",
    options.completionStatus, // TXA-17
    options.confidentiality, // TXA-18
    "UN", // TXA-19: unavailable for patient care until reviewed
  ]);
}

function obr(
  document: TranscriptDocument,
  loinc: string,
  authorXcn: string,
  documentNumber: string,
  nowTs: string,
): string {
  const fields = ["OBR", "1", "", documentNumber, loinc, "", "", hl7Time(document.startedAt)];
  while (fields.length < 16) fields.push("");
  fields.push(authorXcn); // OBR-16 ordering provider
  while (fields.length < 22) fields.push("");
  fields.push(nowTs); // OBR-22 results status change
  fields.push(""); // OBR-23
  fields.push(""); // OBR-24
  fields.push("P"); // OBR-25 result status: preliminary
  return trimFields(fields);
}

function trimFields(fields: string[]): string {
  const copy = [...fields];
  while (copy.length > 1 && copy[copy.length - 1] === "") copy.pop();
  return copy.join("|");
}
