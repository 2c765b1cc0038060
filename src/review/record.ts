import type { TranscriptDocument } from "../transcript/document";
import { reviseNote } from "./note";
import { correctedTerms, wordErrorRate } from "./wer";

/**
 * One document in the review worklist and everything that happened to it. Stored as one JSON file
 * (store.ts); every change makes a new record with `version` + 1, so that two reviewers who opened
 * the same version cannot both change it (optimistic locking: the second gets a conflict).
 */
export interface ReviewRecord {
  /** The document id (TXA-12, the FHIR identifier) of the preliminary document. */
  id: string;
  version: number;
  state: ReviewState;
  receivedAt: string;
  updatedAt: string;
  /** When the record (and its audio) is deleted if nobody finishes it; signed records are kept as long. */
  expiresAt: string;
  /** The machine document exactly as transcript-document made it. */
  document: TranscriptDocument;
  /** What the flow gave with it: msg.patient and msg.encounter, handed on with the final document. */
  context: { patient?: unknown; encounter?: unknown };
  /** Why it is here: "document" (transcript-document) or "review-route" (the gate's review output). */
  source: string;
  /** The text as the reviewers left it (starts as the machine text). */
  draftText: string;
  /** Who changed the draft last (a user name), if anyone did. */
  editedBy?: string;
  signed?: Signature;
  /** Addenda signed after the document: their own document ids. */
  addenda: string[];
  withdrawn?: { by: string; at: string; reason: string };
  /**
   * Final messages signed but not yet known to be handed on (the outbox): written in the same atomic
   * write as the signature, so a crash before the hand-over leaves them here, and the next start
   * hands them on again (service.ts). Absent in records of earlier versions: nothing to hand on.
   */
  outbox?: OutboxEntry[];
}

/** What a final message is rebuilt from: the same document, signoff and text, so the same ids. */
export interface OutboxEntry {
  /** The document id the final message carries (an addendum's own). */
  documentId: string;
  signoff: Signoff;
  text: string;
}

/** The entry's identity: one per sign-off event of a document (as its MSH-10 and Bundle.identifier). */
export function outboxKey(entry: Pick<OutboxEntry, "documentId" | "signoff">): string {
  return `${entry.documentId}|${entry.signoff.trigger}|${entry.signoff.version}`;
}

export type ReviewState = "pending" | "signed" | "withdrawn";

export interface Signature {
  by: string;
  at: string;
  /** Table 0271: AU authenticated, LA legally authenticated. */
  completionStatus: SignedStatus;
  /** The machine text beside the signed text: what the accuracy figures are made of. */
  machineText: string;
  signedText: string;
  edited: boolean;
  /** How many times a signed document was corrected after signing. */
  amendments: number;
  wer: number | null;
  errors: number | null;
  referenceWords: number;
}

export type SignedStatus = "AU" | "LA";
export const SIGNED_STATUSES: readonly SignedStatus[] = ["AU", "LA"];

/**
 * What the node emits when a document is signed, corrected, extended or withdrawn. `hl7-mdm` and
 * `fhir-document` read it from `msg.payload.signoff` and build the final message.
 *
 * HL7 v2 ch. 9 (http://www.hl7.eu/HL7v2x/v27/std27/ch09.html, research/hospital.md §1.8):
 * - sign, text unchanged → MDM^T04 (status change + content), TXA-17 AU/LA, TXA-19 AV;
 * - sign, text edited → MDM^T08 (edit notification + content);
 * - amend (a correction after signing) → MDM^T08, OBX-11 C; FHIR docStatus `amended`;
 * - addendum → MDM^T06 with a new TXA-12 and TXA-13 = the signed document; FHIR relatesTo `appends`;
 * - withdraw before signing → MDM^T11 (cancel: "only for an original document with an availability
 *   status of Unavailable", which a preliminary from this package always is, TXA-19 UN);
 * - withdraw after signing (the document was made available): ch. 9 allows no cancel, so the
 *   document's status changes instead: MDM^T04 with TXA-19 CA (table 0273 "deleted") and the same
 *   content; FHIR status and docStatus `entered-in-error` (valueset-document-reference-status).
 */
export interface Signoff {
  event: SignoffEvent;
  /** The HL7 trigger event that fits: T04, T06, T08 or T11. */
  trigger: "T04" | "T06" | "T08" | "T11";
  signer: string;
  /** ISO 8601 UTC. */
  at: string;
  completionStatus: SignedStatus;
  edited: boolean;
  /** The record version this message comes from (a receiver may ignore an older one). */
  version: number;
  /** For an addendum: the document it adds to. */
  parentDocumentId?: string;
  /** For a withdrawal: whether the document had been signed (made available) before. */
  wasSigned?: boolean;
  reason?: string;
}

export type SignoffEvent = "sign" | "amend" | "addendum" | "withdraw";

/** A refused change: the HTTP status it maps to and a message for the reviewer (no PHI). */
export class ReviewError extends Error {
  override readonly name = "ReviewError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 408 | 409 | 413 | 503,
    readonly code: string,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

/** The longest text a reviewer may save: the document limit of transcript-document (1 MiB UTF-8). */
export const MAX_TEXT_BYTES = 1024 * 1024;
/** The longest withdrawal reason kept. */
export const MAX_REASON_CHARS = 500;

export function newRecord(
  document: TranscriptDocument,
  context: ReviewRecord["context"],
  source: string,
  now: Date,
  retentionMs: number,
): ReviewRecord {
  return {
    id: document.documentId,
    version: 1,
    state: "pending",
    receivedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + retentionMs).toISOString(),
    document,
    context,
    source,
    draftText: document.text,
    addenda: [],
  };
}

function checkVersion(record: ReviewRecord, version: unknown): void {
  if (typeof version !== "number" || !Number.isInteger(version)) {
    throw new ReviewError(
      400,
      "VERSION_REQUIRED",
      "the request must give the version of the document it changes",
    );
  }
  if (version !== record.version) {
    throw new ReviewError(
      409,
      "VERSION_CONFLICT",
      `the document was changed by ${record.signed?.by ?? record.editedBy ?? record.withdrawn?.by ?? "another reviewer"} ` +
        `since you opened it (your version ${version}, now ${record.version}): reload it and check the changes`,
      { version: record.version, state: record.state },
    );
  }
}

export function checkText(text: unknown, field = "text"): string {
  if (typeof text !== "string") throw new ReviewError(400, "TEXT_REQUIRED", `${field} must be a string`);
  if (text.length > MAX_TEXT_BYTES || Buffer.byteLength(text, "utf8") > MAX_TEXT_BYTES) {
    throw new ReviewError(413, "TEXT_TOO_LONG", `${field} must be at most ${MAX_TEXT_BYTES} bytes (UTF-8)`);
  }
  if (text.trim() === "") throw new ReviewError(400, "TEXT_EMPTY", `${field} must not be empty`);
  // A lone CR would end an HL7 segment: line ends are normalised to LF here, once.
  return text.replace(/\r\n?/g, "\n");
}

function bump(record: ReviewRecord, now: Date, patch: Partial<ReviewRecord>): ReviewRecord {
  return { ...record, ...patch, version: record.version + 1, updatedAt: now.toISOString() };
}

/** Saves a draft (reviewer or signer). */
export function applyEdit(
  record: ReviewRecord,
  version: unknown,
  text: unknown,
  user: string,
  now: Date,
): ReviewRecord {
  checkVersion(record, version);
  if (record.state !== "pending") {
    throw new ReviewError(
      409,
      "NOT_PENDING",
      `the document is ${record.state}: a correction after signing is an amendment`,
    );
  }
  return bump(record, now, { draftText: checkText(text), editedBy: user });
}

export interface Transition {
  record: ReviewRecord;
  signoff: Signoff;
  /** The document text the final message carries. */
  text: string;
}

/** Signs a pending document with the text as given, or amends a signed one (a correction after signing). */
export function applySign(
  record: ReviewRecord,
  version: unknown,
  text: unknown,
  user: string,
  status: SignedStatus,
  now: Date,
): Transition {
  checkVersion(record, version);
  if (record.state === "withdrawn") throw new ReviewError(409, "WITHDRAWN", "the document was withdrawn");
  const signedText = checkText(text);
  const machineText = record.document.text;
  const score = wordErrorRate(machineText, signedText);
  const amending = record.state === "signed";
  if (amending && record.signed && signedText === record.signed.signedText) {
    throw new ReviewError(409, "UNCHANGED", "the document is already signed with this text");
  }
  const edited = signedText !== machineText;
  const signed: Signature = {
    by: user,
    at: now.toISOString(),
    completionStatus: status,
    machineText,
    signedText,
    edited,
    amendments: amending && record.signed ? record.signed.amendments + 1 : 0,
    wer: score.wer,
    errors: score.errors,
    referenceWords: score.referenceWords,
  };
  const next = bump(record, now, { state: "signed", draftText: signedText, signed });
  return {
    record: next,
    text: signedText,
    signoff: {
      event: amending ? "amend" : "sign",
      trigger: amending || edited ? "T08" : "T04",
      signer: user,
      at: signed.at,
      completionStatus: status,
      edited,
      version: next.version,
    },
  };
}

export function applyWithdraw(
  record: ReviewRecord,
  version: unknown,
  reason: unknown,
  user: string,
  now: Date,
): Transition {
  checkVersion(record, version);
  if (record.state === "withdrawn")
    throw new ReviewError(409, "WITHDRAWN", "the document was withdrawn already");
  if (typeof reason !== "string" || reason.trim() === "") {
    throw new ReviewError(400, "REASON_REQUIRED", "a withdrawal needs a reason (for example: wrong patient)");
  }
  const wasSigned = record.state === "signed";
  const next = bump(record, now, {
    state: "withdrawn",
    withdrawn: { by: user, at: now.toISOString(), reason: reason.slice(0, MAX_REASON_CHARS) },
  });
  return {
    record: next,
    text: record.signed?.signedText ?? record.document.text,
    signoff: {
      event: "withdraw",
      trigger: wasSigned ? "T04" : "T11",
      signer: user,
      at: now.toISOString(),
      completionStatus: record.signed?.completionStatus ?? "AU",
      edited: false,
      version: next.version,
      wasSigned,
      reason: reason.slice(0, MAX_REASON_CHARS),
    },
  };
}

/** An addendum to a signed document: a new document (new id) that points at its parent. */
export function applyAddendum(
  record: ReviewRecord,
  version: unknown,
  text: unknown,
  user: string,
  status: SignedStatus,
  now: Date,
  newId: string,
): Transition {
  checkVersion(record, version);
  if (record.state !== "signed") {
    throw new ReviewError(409, "NOT_SIGNED", "an addendum is for a signed document; edit the draft instead");
  }
  const addText = checkText(text);
  const next = bump(record, now, { addenda: [...record.addenda, newId] });
  return {
    record: next,
    text: addText,
    signoff: {
      event: "addendum",
      trigger: "T06",
      signer: user,
      at: now.toISOString(),
      completionStatus: status,
      edited: true,
      version: next.version,
      parentDocumentId: record.id,
    },
  };
}

/** The final document message's payload: the machine document with the signed text and the signoff. */
export function finalDocument(
  record: ReviewRecord,
  t: Transition,
  documentId: string,
): TranscriptDocument & { signoff: Signoff } {
  // The machine's entities are not carried into what a clinician signed: signing confirms the text,
  // not them, and their offsets point into the machine text, which the clinician may have corrected.
  const { note, ...rest } = record.document;
  const document: TranscriptDocument = rest;
  delete document.entities;
  // A scribe's note is signed as corrected, section by section; an addendum is text of its own.
  const signedNote = note && t.signoff.event !== "addendum" ? { note: reviseNote(note, t.text) } : {};
  return { ...document, ...signedNote, documentId, text: t.text, signoff: t.signoff };
}

/** The record with a final message put in its outbox (to be written with the change that made it). */
export function withOutbox(record: ReviewRecord, entry: OutboxEntry): ReviewRecord {
  return { ...record, outbox: [...(record.outbox ?? []), entry] };
}

/** The record without the outbox entry of that key (handed on); the record itself when it had none. */
export function withoutOutbox(record: ReviewRecord, key: string): ReviewRecord {
  const outbox = (record.outbox ?? []).filter((e) => outboxKey(e) !== key);
  if (outbox.length === (record.outbox ?? []).length) return record;
  const { outbox: _dropped, ...rest } = record;
  return outbox.length > 0 ? { ...rest, outbox } : rest;
}

/** Corrected terms of a signature, for the accuracy report. */
export function termsOf(sig: Signature, vocabulary: ReadonlySet<string>): Map<string, number> {
  return correctedTerms(sig.machineText, sig.signedText, vocabulary);
}
