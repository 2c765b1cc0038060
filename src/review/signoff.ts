import { MAX_REASON_CHARS, SIGNED_STATUSES, type Signoff, type SignoffEvent } from "./record";

/**
 * Reads `msg.payload.signoff` (what review-queue puts on a final document) at the edge of hl7-mdm
 * and fhir-document. undefined: no signoff, a preliminary document. A value that is there but
 * malformed is an error naming the field, never its value.
 */
export class SignoffError extends Error {
  override readonly name = "SignoffError";
  readonly code = "BAD_SIGNOFF";
  constructor(field: string, accepted: string) {
    super(
      `msg.payload.signoff.${field} is missing or wrong: accepted ${accepted} (the output of review-queue)`,
    );
  }
}

const EVENTS: Readonly<Record<SignoffEvent, ReadonlyArray<Signoff["trigger"]>>> = {
  sign: ["T04", "T08"],
  amend: ["T08"],
  addendum: ["T06"],
  withdraw: ["T04", "T11"],
};

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

export function checkSignoff(value: unknown): Signoff | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SignoffError("", "an object {event, trigger, signer, at, completionStatus, …}");
  }
  const v = value as Record<string, unknown>;
  const event = v.event;
  if (typeof event !== "string" || !Object.hasOwn(EVENTS, event)) {
    throw new SignoffError("event", Object.keys(EVENTS).join(", "));
  }
  const triggers = EVENTS[event as SignoffEvent];
  if (!triggers.includes(v.trigger as Signoff["trigger"]))
    throw new SignoffError("trigger", triggers.join(", "));
  if (
    typeof v.signer !== "string" ||
    v.signer.trim() === "" ||
    v.signer.length > 128 ||
    /[\p{Cc}|^~\\&]/u.test(v.signer)
  ) {
    throw new SignoffError("signer", "a user name of 1 to 128 characters without HL7 delimiters");
  }
  if (typeof v.at !== "string" || !INSTANT.test(v.at) || Number.isNaN(Date.parse(v.at))) {
    throw new SignoffError("at", "an ISO 8601 UTC time");
  }
  if (!SIGNED_STATUSES.includes(v.completionStatus as Signoff["completionStatus"])) {
    throw new SignoffError("completionStatus", SIGNED_STATUSES.join(", "));
  }
  if (typeof v.version !== "number" || !Number.isInteger(v.version) || v.version < 1) {
    throw new SignoffError("version", "a positive integer");
  }
  if (
    event === "addendum" &&
    (typeof v.parentDocumentId !== "string" || v.parentDocumentId === "" || v.parentDocumentId.length > 128)
  ) {
    throw new SignoffError("parentDocumentId", "the id of the signed document the addendum adds to");
  }
  return {
    event: event as SignoffEvent,
    trigger: v.trigger as Signoff["trigger"],
    signer: v.signer,
    at: v.at,
    completionStatus: v.completionStatus as Signoff["completionStatus"],
    edited: v.edited === true,
    version: v.version,
    ...(typeof v.parentDocumentId === "string" ? { parentDocumentId: v.parentDocumentId } : {}),
    ...(v.wasSigned === true ? { wasSigned: true } : {}),
    ...(typeof v.reason === "string" ? { reason: v.reason.slice(0, MAX_REASON_CHARS) } : {}),
  };
}
