import { unescapeHl7 } from "./escape";

/** MSA-1 codes: original mode (AA/AE/AR) and enhanced-mode commit ACKs (CA/CE/CR). */
export type AckCode = "AA" | "AE" | "AR" | "CA" | "CE" | "CR";
const ACK_CODES: readonly string[] = ["AA", "AE", "AR", "CA", "CE", "CR"];

export interface ParsedAck {
  code: AckCode;
  /** MSA-2: the MSH-10 of the message being acknowledged. */
  controlId: string;
  /** MSA-3 (deprecated in 2.5+, still sent). It may echo content, so it never goes to logs. */
  text?: string;
  /** ERR-3 error codes and ERR-8 texts, for the rejected output only (never logged). */
  errors: Array<{ code?: string; text?: string }>;
}

export type AckParse = { ok: true; ack: ParsedAck } | { ok: false; problem: string };

/** Parses an ACK message (segments separated by CR, LF or CRLF). */
export function parseAck(message: string): AckParse {
  const segments = message.split(/\r\n|\r|\n/).filter((s) => s !== "");
  const msh = segments[0];
  if (!msh || !msh.startsWith("MSH") || msh.length < 8) {
    return { ok: false, problem: "the response does not start with an MSH segment" };
  }
  const fieldSep = msh[3] ?? "|";
  const componentSep = msh[4] ?? "^";
  const msa = segments.find((s) => s.startsWith(`MSA${fieldSep}`));
  if (!msa) return { ok: false, problem: "the response has no MSA segment" };
  const fields = msa.split(fieldSep);
  const code = (fields[1] ?? "").trim().toUpperCase();
  if (!ACK_CODES.includes(code)) return { ok: false, problem: "MSA-1 is not an acknowledgment code" };
  const errors = segments
    .filter((s) => s.startsWith(`ERR${fieldSep}`))
    .map((s) => {
      const f = s.split(fieldSep);
      const errCode = f[3]?.split(componentSep)[0];
      const text = f[8] ? unescapeHl7(f[8]) : undefined;
      return { ...(errCode ? { code: errCode } : {}), ...(text ? { text } : {}) };
    });
  const text = fields[3] ? unescapeHl7(fields[3]) : undefined;
  return {
    ok: true,
    ack: {
      code: code as AckCode,
      controlId: unescapeHl7(fields[2] ?? "").trim(),
      ...(text ? { text } : {}),
      errors,
    },
  };
}

/** The first segment of a message, found without splitting the rest. */
function firstSegment(message: string): string {
  const end = /[\r\n]/.exec(message);
  return end ? message.slice(0, end.index) : message;
}

/** MSH-10 of a message we are about to send (so the ACK can be matched to it). */
export function messageControlId(message: string): string | undefined {
  const msh = firstSegment(message);
  if (!msh || !msh.startsWith("MSH") || msh.length < 8) return undefined;
  const id = msh.split(msh[3] ?? "|")[9];
  return id ? id.trim() || undefined : undefined;
}

/** MSH-9 of a message, for PHI-free audit events. */
export function messageTypeOf(message: string): string | undefined {
  const msh = firstSegment(message);
  if (!msh || !msh.startsWith("MSH") || msh.length < 8) return undefined;
  return msh.split(msh[3] ?? "|")[8] || undefined;
}
