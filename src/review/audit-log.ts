import { promises as fs } from "node:fs";

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

export class AuditLog {
  private chain: Promise<void> = Promise.resolve();

  constructor(
    readonly path: string,
    private readonly onError: (err: Error) => void,
  ) {}

  append(entry: ReviewAuditEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`;
    this.chain = this.chain
      .then(() => fs.appendFile(this.path, line, { encoding: "utf8", mode: 0o600, flag: "a" }))
      .catch((err: unknown) => this.onError(err instanceof Error ? err : new Error(String(err))));
    return this.chain;
  }

  /** Waits for every line so far to be written (close, tests). */
  flush(): Promise<void> {
    return this.chain;
  }
}
