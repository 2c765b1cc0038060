import { promises as fs } from "node:fs";
import { fileErrorCode } from "../util/error-code";

/**
 * The review audit trail: one JSON line per action (who opened, changed, signed or withdrew which
 * document, when), appended to `audit.jsonl` and never rewritten. It holds no transcript text and no
 * patient identifier: the document id (a UUID made by transcript-document) says which document.
 * Lines are appended one at a time in order (a chain), each with O_APPEND.
 */
export interface ReviewAuditEntry {
  time: string;
  user: string;
  action: ReviewAction;
  documentId: string;
  version?: number;
  /** For refusals: the HTTP status and code (never the request's content). */
  outcome?: string;
}

export type ReviewAction =
  | "received"
  | "opened"
  | "audio"
  | "edited"
  | "signed"
  | "amended"
  | "addendum"
  | "withdrawn"
  | "expired"
  | "refused";

/**
 * An audit line that could not be written, told by its action and the system's code only: the system's
 * message names the file, in a folder a flow may have chosen.
 */
export class AuditWriteError extends Error {
  override readonly name = "AuditWriteError";
  /** The system's error code (ENOSPC, EIO, EACCES, ...), or "error" when it gave none. */
  readonly code: string;

  constructor(action: ReviewAction, cause: unknown) {
    const known = fileErrorCode(cause);
    super(`review-queue: an audit line ("${action}") could not be written to audit.jsonl (${known})`);
    this.code = known;
  }
}

export class AuditLog {
  private chain: Promise<void> = Promise.resolve();
  /** The last append failed, perhaps half-way: the next line starts on a line of its own. */
  private torn = false;

  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {}

  append(entry: ReviewAuditEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    this.chain = this.chain.then(async () => {
      try {
        await fs.appendFile(this.path, this.torn ? `\n${line}` : line, {
          encoding: "utf8",
          mode: 0o600,
          flag: "a",
        });
        this.torn = false;
      } catch (err) {
        this.torn = true;
        this.onError(new AuditWriteError(entry.action, err));
      }
    });
    return this.chain;
  }

  /** Waits for every line so far to be written (close, tests). */
  flush(): Promise<void> {
    return this.chain;
  }
}
