/**
 * HL7 v2.5.1 field definitions for the segments this package writes, and a check of any message
 * (or list of segments) against them: data type (how many components a field may have), maximum
 * length and whether the field repeats.
 *
 * Sources (HL7 Version 2.5.1, 2007): MSH chapter 2 §2.15.9; EVN, PID, PV1 chapter 3 §3.4.1–3.4.3;
 * OBR chapter 4 §4.5.3; OBX chapter 7 §7.4.2; TXA chapter 9 §9.6.1; data types chapter 2A. Every
 * row is compared by a test with the 2.5.1 definitions of the hl7-dictionary package, so a typo
 * here fails the build's tests rather than a receiver.
 *
 * Length rule: HL7 2.5.1 counts a field's maximum length over the field as it is encoded, component
 * and subcomponent separators included. Escape sequences are counted as sent (`\F\` is three
 * characters): the stricter reading, and the one validators that measure the wire text apply.
 *
 * To extend (new segments or fields for other trigger events): add rows to V251_FIELDS, and the
 * component count of any new data type to COMPONENTS. A valued field the table does not describe
 * is reported ("unlisted-field"), so a new field cannot go out unchecked.
 */

export type Hl7DataType =
  | "CE"
  | "CX"
  | "EI"
  | "HD"
  | "ID"
  | "IS"
  | "MSG"
  | "PL"
  | "PPN"
  | "PT"
  | "SI"
  | "ST"
  | "TS"
  | "TX"
  | "FT"
  | "VARIES"
  | "VID"
  | "XCN"
  | "XPN";

export interface FieldDefinition {
  segment: string;
  /** Field number: MSH-1 is the field separator itself, so MSH-n is the n-th field counted from it. */
  field: number;
  name: string;
  type: Hl7DataType;
  /** Maximum length of one occurrence, in characters as encoded. */
  maxLength: number;
  repeatable: boolean;
}

/**
 * Components a value of each data type may have (chapter 2A). 1: a primitive, which may contain
 * neither component nor subcomponent separators. VARIES takes the type named in OBX-2.
 */
export const COMPONENTS: ReadonlyMap<Hl7DataType, number> = new Map<Hl7DataType, number>([
  ["CE", 6],
  ["CX", 10],
  ["EI", 4],
  ["HD", 3],
  ["ID", 1],
  ["IS", 1],
  ["MSG", 3],
  ["PL", 11],
  ["PPN", 24],
  ["PT", 2],
  ["SI", 1],
  ["ST", 1],
  ["TS", 2],
  ["TX", 1],
  ["FT", 1],
  ["VID", 3],
  ["XCN", 23],
  ["XPN", 14],
]);

type Row = [
  segment: string,
  field: number,
  name: string,
  type: Hl7DataType,
  maxLength: number,
  repeatable: boolean,
];

const ROWS: Row[] = [
  // Chapter 2 §2.15.9 MSH
  ["MSH", 1, "Field Separator", "ST", 1, false],
  ["MSH", 2, "Encoding Characters", "ST", 4, false],
  ["MSH", 3, "Sending Application", "HD", 227, false],
  ["MSH", 4, "Sending Facility", "HD", 227, false],
  ["MSH", 5, "Receiving Application", "HD", 227, false],
  ["MSH", 6, "Receiving Facility", "HD", 227, false],
  ["MSH", 7, "Date/Time Of Message", "TS", 26, false],
  ["MSH", 8, "Security", "ST", 40, false],
  ["MSH", 9, "Message Type", "MSG", 15, false],
  ["MSH", 10, "Message Control ID", "ST", 20, false],
  ["MSH", 11, "Processing ID", "PT", 3, false],
  ["MSH", 12, "Version ID", "VID", 60, false],
  ["MSH", 15, "Accept Acknowledgment Type", "ID", 2, false],
  ["MSH", 16, "Application Acknowledgment Type", "ID", 2, false],
  ["MSH", 18, "Character Set", "ID", 16, true],
  // Chapter 3 §3.4.1 EVN
  ["EVN", 1, "Event Type Code", "ID", 3, false],
  ["EVN", 2, "Recorded Date/Time", "TS", 26, false],
  ["EVN", 3, "Date/Time Planned Event", "TS", 26, false],
  ["EVN", 5, "Operator ID", "XCN", 250, true],
  ["EVN", 6, "Event Occurred", "TS", 26, false],
  // Chapter 3 §3.4.2 PID
  ["PID", 1, "Set ID - PID", "SI", 4, false],
  ["PID", 3, "Patient Identifier List", "CX", 250, true],
  ["PID", 5, "Patient Name", "XPN", 250, true],
  ["PID", 7, "Date/Time of Birth", "TS", 26, false],
  ["PID", 8, "Administrative Sex", "IS", 1, false],
  // Chapter 3 §3.4.3 PV1
  ["PV1", 1, "Set ID - PV1", "SI", 4, false],
  ["PV1", 2, "Patient Class", "IS", 1, false],
  ["PV1", 3, "Assigned Patient Location", "PL", 80, false],
  ["PV1", 7, "Attending Doctor", "XCN", 250, true],
  ["PV1", 19, "Visit Number", "CX", 250, false],
  // Chapter 9 §9.6.1 TXA (all 23 fields: the document lifecycle events T03–T11 use the rest)
  ["TXA", 1, "Set ID- TXA", "SI", 4, false],
  ["TXA", 2, "Document Type", "IS", 30, false],
  ["TXA", 3, "Document Content Presentation", "ID", 2, false],
  ["TXA", 4, "Activity Date/Time", "TS", 26, false],
  ["TXA", 5, "Primary Activity Provider Code/Name", "XCN", 250, true],
  ["TXA", 6, "Origination Date/Time", "TS", 26, false],
  ["TXA", 7, "Transcription Date/Time", "TS", 26, false],
  ["TXA", 8, "Edit Date/Time", "TS", 26, true],
  ["TXA", 9, "Originator Code/Name", "XCN", 250, true],
  ["TXA", 10, "Assigned Document Authenticator", "XCN", 250, true],
  ["TXA", 11, "Transcriptionist Code/Name", "XCN", 250, true],
  ["TXA", 12, "Unique Document Number", "EI", 30, false],
  ["TXA", 13, "Parent Document Number", "EI", 30, false],
  ["TXA", 14, "Placer Order Number", "EI", 22, true],
  ["TXA", 15, "Filler Order Number", "EI", 22, false],
  ["TXA", 16, "Unique Document File Name", "ST", 30, false],
  ["TXA", 17, "Document Completion Status", "ID", 2, false],
  ["TXA", 18, "Document Confidentiality Status", "ID", 2, false],
  ["TXA", 19, "Document Availability Status", "ID", 2, false],
  ["TXA", 20, "Document Storage Status", "ID", 2, false],
  ["TXA", 21, "Document Change Reason", "ST", 30, false],
  ["TXA", 22, "Authentication Person, Time Stamp", "PPN", 250, true],
  ["TXA", 23, "Distributed Copies (Code and Name of Recipients)", "XCN", 250, true],
  // Chapter 4 §4.5.3 OBR
  ["OBR", 1, "Set ID - OBR", "SI", 4, false],
  ["OBR", 2, "Placer Order Number", "EI", 22, false],
  ["OBR", 3, "Filler Order Number", "EI", 22, false],
  ["OBR", 4, "Universal Service Identifier", "CE", 250, false],
  ["OBR", 7, "Observation Date/Time", "TS", 26, false],
  ["OBR", 16, "Ordering Provider", "XCN", 250, true],
  ["OBR", 22, "Results Rpt/Status Chng - Date/Time", "TS", 26, false],
  ["OBR", 25, "Result Status", "ID", 1, false],
  // Chapter 7 §7.4.2 OBX
  ["OBX", 1, "Set ID - OBX", "SI", 4, false],
  ["OBX", 2, "Value Type", "ID", 2, false],
  ["OBX", 3, "Observation Identifier", "CE", 250, false],
  ["OBX", 4, "Observation Sub-ID", "ST", 20, false],
  ["OBX", 5, "Observation Value", "VARIES", 99999, true],
  ["OBX", 11, "Observation Result Status", "ID", 1, false],
  ["OBX", 14, "Date/Time of the Observation", "TS", 26, false],
  ["OBX", 16, "Responsible Observer", "XCN", 250, true],
  // Coded entities (ORU^R01, hl7/entities.ts): OBX-2 CE, OBX-5 a CE, OBX-17 the method (machine-derived).
  ["OBX", 17, "Observation Method", "CE", 250, true],
];

export const V251_FIELDS: readonly FieldDefinition[] = ROWS.map(
  ([segment, field, name, type, maxLength, repeatable]) => ({
    segment,
    field,
    name,
    type,
    maxLength,
    repeatable,
  }),
);

/** Definitions by segment id, then field number. */
const BY_SEGMENT: ReadonlyMap<string, ReadonlyMap<number, FieldDefinition>> = (() => {
  const map = new Map<string, Map<number, FieldDefinition>>();
  for (const def of V251_FIELDS) {
    const fields = map.get(def.segment) ?? new Map<number, FieldDefinition>();
    fields.set(def.field, def);
    map.set(def.segment, fields);
  }
  return map;
})();

/** The definition of one field, or undefined when the table has none. */
export function fieldDefinition(segment: string, field: number): FieldDefinition | undefined {
  return BY_SEGMENT.get(segment)?.get(field);
}

/** Where a violation is: segment id, its position in the message (1-based) and the field number. */
interface At {
  segment: string;
  /** 1-based position of the segment in the message. */
  segmentIndex: number;
  field: number;
  /** "TXA-12": what a person reading a specification looks for. */
  where: string;
}

/** What a message did wrong; never carries the value (it may be PHI). */
export type ConformanceViolation =
  | (At & { kind: "too-long"; name: string; type: Hl7DataType; length: number; maxLength: number })
  | (At & {
      kind: "too-many-components";
      name: string;
      type: Hl7DataType;
      components: number;
      allowed: number;
    })
  | (At & { kind: "subcomponents-in-primitive"; name: string; type: Hl7DataType })
  | (At & { kind: "repeated"; name: string; repetitions: number })
  | (At & { kind: "unlisted-field" })
  | { kind: "unknown-segment"; segment: string; segmentIndex: number }
  | { kind: "empty-segment"; segmentIndex: number }
  | { kind: "line-feed"; segmentIndex: number }
  | { kind: "unterminated" }
  | { kind: "no-msh" };

const SEGMENT_ID = /^[A-Z][A-Z0-9]{2}$/;

/**
 * Checks a message against V251_FIELDS. Given the message text, it also checks that every segment,
 * the last included, ends with a carriage return (the segment terminator, chapter 2 §2.5.1) and
 * that no line feed stands in for one. Given the segments (without terminators), it checks those.
 * Assumes the standard delimiters `|^~\&` (the only ones this package writes). Linear in the input.
 */
export function checkConformance(input: string | readonly string[]): ConformanceViolation[] {
  const violations: ConformanceViolation[] = [];
  let segments: readonly string[];
  if (typeof input === "string") {
    if (!input.endsWith("\r")) violations.push({ kind: "unterminated" });
    segments = (input.endsWith("\r") ? input.slice(0, -1) : input).split("\r");
  } else {
    segments = input;
  }
  if (!(segments[0] ?? "").startsWith("MSH|")) violations.push({ kind: "no-msh" });
  segments.forEach((segment, i) => checkSegment(segment, i + 1, violations));
  return violations;
}

function checkSegment(segment: string, segmentIndex: number, out: ConformanceViolation[]): void {
  if (segment === "") {
    out.push({ kind: "empty-segment", segmentIndex });
    return;
  }
  if (segment.includes("\n")) out.push({ kind: "line-feed", segmentIndex });
  const parts = segment.split("|");
  const id = parts[0] ?? "";
  const defs = BY_SEGMENT.get(id);
  if (!SEGMENT_ID.test(id) || !defs) {
    out.push({ kind: "unknown-segment", segment: SEGMENT_ID.test(id) ? id : "?", segmentIndex });
    return;
  }
  // MSH-1 is the separator between "MSH" and MSH-2, so MSH-n sits at parts[n - 1].
  const offset = id === "MSH" ? 1 : 0;
  if (offset === 1) {
    // MSH-1 and MSH-2 hold the delimiters themselves: only their lengths can be checked.
    checkLength(defs.get(2), parts[1] ?? "", { segment: id, segmentIndex, field: 2, where: "MSH-2" }, out);
  }
  const valueType = id === "OBX" ? (parts[2] ?? "") : "";
  for (let p = 1 + offset; p < parts.length; p++) {
    const value = parts[p] ?? "";
    if (value === "") continue;
    const field = p + offset;
    const at: At = { segment: id, segmentIndex, field, where: `${id}-${field}` };
    const def = defs.get(field);
    if (!def) {
      out.push({ ...at, kind: "unlisted-field" });
      continue;
    }
    const repetitions = value.split("~");
    if (repetitions.length > 1 && !def.repeatable) {
      out.push({ ...at, kind: "repeated", name: def.name, repetitions: repetitions.length });
    }
    const type = def.type === "VARIES" ? varies(valueType) : def.type;
    for (const repetition of repetitions) {
      checkLength(def, repetition, at, out);
      if (type === undefined) continue;
      const allowed = COMPONENTS.get(type) ?? 1;
      const components = repetition.split("^").length;
      if (components > allowed) {
        out.push({ ...at, kind: "too-many-components", name: def.name, type, components, allowed });
      } else if (allowed === 1 && repetition.includes("&")) {
        out.push({ ...at, kind: "subcomponents-in-primitive", name: def.name, type });
      }
    }
  }
}

function checkLength(
  def: FieldDefinition | undefined,
  value: string,
  at: At,
  out: ConformanceViolation[],
): void {
  if (def && value.length > def.maxLength) {
    out.push({
      ...at,
      kind: "too-long",
      name: def.name,
      type: def.type,
      length: value.length,
      maxLength: def.maxLength,
    });
  }
}

/** OBX-5's data type is the one OBX-2 names; one the table does not know is not component-checked. */
function varies(valueType: string): Hl7DataType | undefined {
  return [...COMPONENTS.keys()].find((t) => t === valueType);
}

/** One line per violation, PHI-free (positions, names, numbers and codes only). */
export function describeViolation(v: ConformanceViolation): string {
  switch (v.kind) {
    case "too-long":
      return `${v.where} (${v.name}, ${v.type}) is ${v.length} characters; HL7 v2.5.1 allows ${v.maxLength}`;
    case "too-many-components":
      return `${v.where} (${v.name}, ${v.type}) has ${v.components} components; ${v.type} has ${v.allowed}`;
    case "subcomponents-in-primitive":
      return `${v.where} (${v.name}, ${v.type}) contains a subcomponent separator; ${v.type} is a single value`;
    case "repeated":
      return `${v.where} (${v.name}) has ${v.repetitions} repetitions; the field does not repeat`;
    case "unlisted-field":
      return `${v.where} is valued but not in the package's HL7 v2.5.1 field table`;
    case "unknown-segment":
      return `segment ${v.segmentIndex} (${v.segment}) is not in the package's HL7 v2.5.1 field table`;
    case "empty-segment":
      return `segment ${v.segmentIndex} is empty`;
    case "line-feed":
      return `segment ${v.segmentIndex} contains a line feed; segments end with a carriage return only`;
    case "unterminated":
      return "the last segment is not terminated by a carriage return";
    case "no-msh":
      return "the message does not start with an MSH segment";
  }
}
