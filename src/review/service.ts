import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { join } from "node:path";
import { checkTranscriptDocument, type TranscriptDocument } from "../transcript/document";
import { OTHER_KEY, RepeatedReports, repeatsText } from "../util/repeated-reports";
import type { Scheduler } from "../util/scheduler";
import { Accuracy, rowOf, type AccuracyBucket, type AccuracyRow } from "./accuracy";
import {
  AudioStore,
  audioChunkOf,
  parseRange,
  wavHeader,
  type AppendOutcome,
  type AudioLimits,
} from "./audio";
import { AuditLog, type ReviewAction, type ReviewAuditEntry } from "./audit-log";
import {
  Csrf,
  identify,
  requireRole,
  userOf,
  type AuthConfig,
  type Identity,
  type RequestFacts,
} from "./auth";
import type { DeliveryCheck } from "./delivery-checks";
import { wordSegmentIds } from "./note";
import { REVIEW_PAGE } from "./page";
import {
  applyAddendum,
  applyEdit,
  applySign,
  applyWithdraw,
  finalDocument,
  newRecord,
  outboxKey,
  ReviewError,
  withOutbox,
  withoutOutbox,
  type OutboxEntry,
  type ReviewRecord,
  type Signoff,
  type SignedStatus,
  type Transition,
} from "./record";
import { atomicWrite, ReviewStore, StoreWriteError } from "./store";
import { promises as fs } from "node:fs";
import { MAX_SESSION_ID_LENGTH } from "../util/session-id";

/**
 * The review worklist with its HTTP API, page and live updates: everything of review-queue that
 * does not need Node-RED. The node mounts `handle` on RED.httpNode (so settings.httpNodeAuth and
 * httpNodeMiddleware apply first) and feeds `input` with its messages.
 */
export interface ReviewOptions {
  dir: string;
  auth: AuthConfig;
  completionStatus: SignedStatus;
  maxDocuments: number;
  retentionMs: number;
  audio: AudioLimits & { keep: boolean };
  vocabulary: ReadonlySet<string>;
  /** How often expired documents and audio are deleted. */
  sweepMs: number;
  /**
   * The checks of the delivery nodes the final documents go to (delivery-checks.ts), asked for each
   * new document: a patient context they would refuse after signing is refused at intake instead.
   */
  deliveryChecks?: () => readonly DeliveryCheck[];
}

/**
 * A final message leaves the record's outbox this long after the node sent it. Node-RED hands a
 * message on asynchronously and the delivery node (mllp-out, fhir-document) fsyncs it in its own
 * queue some milliseconds later; review-queue is not told when. A crash before the outbox entry is
 * cleared makes the next start send it again, and the delivery queue drops a copy it holds or
 * delivered already by its idempotency key (MSH-10 / Bundle.identifier): the receiver gets it once.
 */
export const HANDOVER_SETTLE_MS = 30_000;

export const MAX_BODY_BYTES = 2 * 1024 * 1024;
/** A change's body must arrive within this (a client trickling it holds a connection no longer). */
export const BODY_TIMEOUT_MS = 30_000;
/** Bytes of change bodies read at once, all clients together; a body past it is refused with 503 BUSY. */
export const MAX_BUFFERED_BODY_BYTES = 32 * 1024 * 1024;
/** A change is a flat object ({version, text}); a body nested deeper or longer than this is refused. */
const MAX_JSON_DEPTH = 8;
const MAX_JSON_MEMBERS = 1000;
/** JSON characters of msg.patient and msg.encounter kept with a document (each field is 1024 at most). */
export const MAX_CONTEXT_CHARS = 64 * 1024;
export const MAX_EVENT_CLIENTS = 200;
/** The most audio bytes one partial (Range) answer carries. */
export const MAX_RANGE_BYTES = 1024 * 1024;
/** An event client whose unsent data passes this is too slow and is dropped (it reconnects). */
const MAX_CLIENT_BACKLOG = 1024 * 1024;
const HEARTBEAT_MS = 25_000;
const MAX_FLAGGED_SESSIONS = 1000;
/** The audit log's user of a refusal with no signed-in user (or a summary of several users' refusals). */
const ANONYMOUS = "(refused)";
/**
 * Refusals followed at once for the audit log: an unauthenticated one by its code alone, others by
 * code, document and user. The first of each is an audit entry (and an event); repeats within a minute are
 * one entry with their count, so a scanner or a script hammering the page cannot grow the audit log
 * and the event output without bound.
 */
const MAX_REFUSAL_KEYS = 100;

/** What the service hands to the node: final documents (output 1) and audit/accuracy events (output 2). */
export interface ReviewSinks {
  final(msg: FinalMessage): void;
  event(topic: string, payload: unknown): void;
  /** Something went wrong that nobody asked for (a failed write, expired unsigned documents): for Catch. */
  error(err: Error): void;
}

export interface FinalMessage {
  topic: string;
  payload: TranscriptDocument & { signoff: Signoff };
  patient?: unknown;
  encounter?: unknown;
  review: { documentId: string; event: Signoff["event"]; version: number };
}

export type InputOutcome =
  | { kind: "document"; added: boolean }
  | { kind: "audio"; outcome: AppendOutcome }
  | { kind: "audio-end" }
  | { kind: "flag" }
  | { kind: "report"; rows: AccuracyRow[] };

export class NotReviewInputError extends Error {
  override readonly name = "NotReviewInputError";
  readonly code = "NOT_REVIEW_INPUT";
  constructor() {
    super(
      "review-queue: msg is not a transcript document (msg.payload from transcript-document), a confidence-gate " +
        'review-route result (msg.confidenceGate.passed false), audio-in audio (msg.audio with a Buffer payload) or msg.topic "accuracy-report"',
    );
  }
}

/** A patient context the delivery node wired to the final output would refuse; for Catch. */
export class PatientContextError extends Error {
  override readonly name = "PatientContextError";
  readonly code = "PATIENT_CONTEXT_REFUSED";
  constructor(delivery: DeliveryCheck, reason: string) {
    super(
      `review-queue: document refused: its patient context would be refused by ${delivery.type} ${delivery.node} after signing: ${reason}`,
    );
  }
}

interface Req extends RequestFacts {
  path: string;
  query: URLSearchParams;
  raw: IncomingMessage;
}

export class ReviewService {
  readonly store: ReviewStore;
  readonly audio: AudioStore;
  readonly audit: AuditLog;
  private accuracy: Accuracy;
  private readonly csrf = new Csrf(randomBytes(32));
  private readonly clients = new Set<ServerResponse>();
  private readonly flagged = new Set<string>();
  private readonly refusals: RepeatedReports<{ documentId: string; outcome: string; user: string }>;
  private heartbeat: unknown;
  private sweeper: unknown;
  /** Timers that clear handed-on outbox entries. */
  private readonly settling = new Set<unknown>();
  private closed = false;
  /** Background writes under way (`background`). */
  private readonly pending = new Set<Promise<unknown>>();
  /** Bytes of change bodies being read, all requests together (MAX_BUFFERED_BODY_BYTES). */
  private bodyBytes = 0;

  constructor(
    private readonly options: ReviewOptions,
    private readonly sinks: ReviewSinks,
    private readonly scheduler: Scheduler,
  ) {
    this.store = new ReviewStore(join(options.dir, "documents"), { maxDocuments: options.maxDocuments });
    // Audio of every document awaiting review, and of up to 1000 sessions still being recorded.
    this.audio = new AudioStore(
      join(options.dir, "audio"),
      { maxSessions: options.maxDocuments + 1000, ...options.audio },
      (err) => sinks.error(err),
    );
    this.audit = new AuditLog(join(options.dir, "audit.jsonl"), (err) => sinks.error(err));
    this.accuracy = new Accuracy(options.vocabulary);
    this.refusals = new RepeatedReports(
      (key, repeats) =>
        this.log(
          {
            user: key === OTHER_KEY ? ANONYMOUS : repeats.last.user,
            action: "refused",
            documentId: repeats.last.documentId,
            outcome: repeatsText(repeats.last.outcome, repeats),
          },
          new Date(this.scheduler.now()),
        ),
      scheduler,
      undefined,
      MAX_REFUSAL_KEYS,
    );
  }

  async start(): Promise<{ loaded: number; unreadable: number; resent: number }> {
    await fs.mkdir(this.options.dir, { recursive: true, mode: 0o700 });
    const loaded = await this.store.load();
    await this.audio.init();
    try {
      const saved = JSON.parse(
        await fs.readFile(join(this.options.dir, "accuracy.json"), "utf8"),
      ) as AccuracyBucket[];
      if (Array.isArray(saved)) this.accuracy = new Accuracy(this.options.vocabulary, saved);
    } catch {
      // No figures yet (or unreadable: they start again; the signed records keep the texts).
    }
    const resent = this.handOnOutbox();
    this.scheduleHeartbeat();
    this.scheduleSweep(0);
    return { ...loaded, resent };
  }

  /**
   * Sends again every final message a crash (or a stop) left in an outbox: signed, but not known to
   * have reached the delivery queue. Returns how many.
   */
  private handOnOutbox(): number {
    let resent = 0;
    for (const record of this.store.all()) {
      for (const entry of record.outbox ?? []) {
        this.handOn(record, entry);
        resent++;
      }
    }
    return resent;
  }

  /** Sends a final message and clears its outbox entry once it has had time to reach the delivery queue. */
  private handOn(record: ReviewRecord, entry: OutboxEntry): void {
    // A signature that was being written when the node stopped: its outputs may be gone (a deploy
    // replaces the flow), and a timer left behind would later write this instance's copy of the record
    // over the next instance's. The entry stays in the outbox; the next start hands it on.
    if (this.closed) return;
    const t: Transition = { record, signoff: entry.signoff, text: entry.text };
    const msg: FinalMessage = {
      topic: record.document.sessionId,
      payload: finalDocument(record, t, entry.documentId),
      review: { documentId: entry.documentId, event: entry.signoff.event, version: entry.signoff.version },
    };
    if (record.context.patient !== undefined) msg.patient = record.context.patient;
    if (record.context.encounter !== undefined) msg.encounter = record.context.encounter;
    this.sinks.final(msg);
    const key = outboxKey(entry);
    const timer = this.scheduler.setTimeout(() => {
      this.settling.delete(timer);
      this.store
        .update(record.id, (r) => ({ record: withoutOutbox(r, key), result: undefined }))
        .catch((err: unknown) => {
          // Expired meanwhile: nothing left to clear. Anything else (a failed write) is told: the
          // next start sends the message again, and the delivery queue drops the copy.
          if (err instanceof ReviewError && err.status === 404) return;
          this.sinks.error(err instanceof Error ? err : new Error(String(err)));
        });
    }, HANDOVER_SETTLE_MS);
    this.settling.add(timer);
  }

  /**
   * Stops: new changes are refused, and the ones being written finish first, so that the next
   * instance (a deploy's new node) reads every signature answered as done, with its outbox.
   */
  async close(): Promise<void> {
    this.closed = true;
    this.scheduler.clearTimeout(this.heartbeat);
    this.scheduler.clearTimeout(this.sweeper);
    // Entries not cleared yet stay in the outbox: the next start sends them again (deduplicated).
    for (const timer of this.settling) this.scheduler.clearTimeout(timer);
    this.settling.clear();
    this.refusals.close();
    for (const res of this.clients) res.end();
    this.clients.clear();
    await this.store.idle();
    await Promise.all(this.pending);
    await this.audit.flush();
  }

  // ---------------------------------------------------------------------------------------------
  // Messages from the flow

  async input(msg: Record<string, unknown>, now: Date): Promise<InputOutcome> {
    if (msg.topic === "accuracy-report") return { kind: "report", rows: this.accuracy.report() };
    const chunk = audioChunkOf(msg);
    if (chunk) {
      if (!this.options.audio.keep) return { kind: "audio", outcome: { kept: true } };
      if (chunk.pcm.length === 0) return { kind: "audio-end" };
      return { kind: "audio", outcome: this.audio.append(chunk, now.getTime()) };
    }
    const gate = msg.confidenceGate;
    const payload = msg.payload;
    if (typeof gate === "object" && gate !== null && (gate as { passed?: unknown }).passed === false) {
      const sessionId = (payload as { sessionId?: unknown } | null)?.sessionId;
      if (typeof sessionId === "string" && sessionId.length <= MAX_SESSION_ID_LENGTH) {
        if (this.flagged.size >= MAX_FLAGGED_SESSIONS)
          this.flagged.delete(this.flagged.values().next().value!);
        this.flagged.add(sessionId);
        return { kind: "flag" };
      }
    }
    const checked = checkTranscriptDocument(payload);
    if (!checked.ok) {
      if (typeof payload === "object" && payload !== null && "documentId" in payload) throw checked.error;
      throw new NotReviewInputError();
    }
    if ((checked.value as { signoff?: unknown }).signoff !== undefined) {
      throw new ReviewError(
        400,
        "ALREADY_SIGNED",
        "review-queue: msg.payload is a signed document already (payload.signoff is set)",
      );
    }
    const document = checked.value;
    const source =
      this.flagged.delete(document.sessionId) || document.review.length > 0 ? "review-route" : "document";
    const context: ReviewRecord["context"] = {};
    if (msg.patient !== undefined) context.patient = msg.patient;
    if (msg.encounter !== undefined) context.encounter = msg.encounter;
    checkContext(context);
    this.checkDelivery(context);
    const record = newRecord(document, context, source, now, this.options.retentionMs);
    const added = await this.store.add(record);
    if (added) {
      this.log({ user: "(flow)", action: "received", documentId: record.id, version: 1 }, now);
      this.broadcast(record);
    }
    return { kind: "document", added };
  }

  /**
   * Refuses a context a delivery node would refuse once the document is signed: the clinician's work
   * would be lost. The error is the delivery node's own (the property and what is accepted, never
   * the value), naming the node.
   */
  private checkDelivery(context: ReviewRecord["context"]): void {
    for (const delivery of this.options.deliveryChecks?.() ?? []) {
      try {
        delivery.check(context);
      } catch (err) {
        throw new PatientContextError(delivery, err instanceof Error ? err.message : String(err));
      }
    }
  }

  accuracyReport(): AccuracyRow[] {
    return this.accuracy.report();
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  /** The request handler mounted under the configured path; never throws, always answers. */
  handle(raw: IncomingMessage & { user?: unknown; originalUrl?: string }, res: ServerResponse): void {
    let url: URL;
    try {
      url = new URL(raw.url ?? "/", "http://x");
    } catch {
      // "//[" and the like: the client's mistake (or a scanner's), answered as such, not an internal error.
      json(res, 400, { error: "BAD_URL", message: "the address is not valid" });
      return;
    }
    const req: Req = {
      method: raw.method ?? "GET",
      headers: raw.headers,
      remoteAddress: raw.socket?.remoteAddress,
      user: raw.user,
      path: url.pathname,
      query: url.searchParams,
      raw,
    };
    this.route(req, res).catch((err: unknown) => this.fail(res, err, req));
  }

  private async route(req: Req, res: ServerResponse): Promise<void> {
    const now = (): Date => new Date(this.scheduler.now());
    const identity = identify(req, this.options.auth);
    const parts = req.path.split("/").filter((p) => p !== "");
    const allowed = methodOf(parts);
    if (allowed === undefined) throw new ReviewError(404, "NOT_FOUND", `no such page or API: ${API_SUMMARY}`);
    if (req.method !== allowed) {
      throw new ReviewError(
        405,
        "METHOD_NOT_ALLOWED",
        `this address takes ${allowed} only (${API_SUMMARY})`,
        {
          allow: allowed,
        },
      );
    }
    if (parts.length === 0) {
      const original = (req.raw as { originalUrl?: string }).originalUrl ?? req.raw.url ?? "/";
      const pathOnly = original.split("?")[0];
      if (!pathOnly.endsWith("/")) {
        res.writeHead(302, { location: `${pathOnly}/` }).end();
        return;
      }
      send(res, 200, REVIEW_PAGE, "text/html; charset=utf-8");
      return;
    }
    const [, what, rawId, action] = parts;
    if (what === "session" && parts.length === 2) {
      json(res, 200, {
        user: identity.user,
        roles: [...identity.roles],
        csrfToken: this.csrf.tokenFor(identity.user),
        completionStatus: this.options.completionStatus,
      });
      return;
    }
    if (what === "events" && parts.length === 2) {
      this.subscribe(res);
      return;
    }
    if (what === "accuracy" && parts.length === 2) {
      json(res, 200, { rows: this.accuracy.report() });
      return;
    }
    if (parts.length === 2) {
      json(res, 200, { documents: this.worklist() });
      return;
    }
    const id = decodeId(rawId);
    if (parts.length === 3) {
      const record = this.get(id);
      this.log({ user: identity.user, action: "opened", documentId: id, version: record.version }, now());
      json(res, 200, this.view(record));
      return;
    }
    if (action === "audio") {
      await this.serveAudio(req, res, this.get(id), identity);
      return;
    }
    this.csrf.check(req, identity, this.options.auth.trustedProxies);
    const body = await this.readJson(req.raw);
    // Checked once the body is in (a slow client may take a while): nothing changes once stopping.
    if (this.closed) {
      throw new ReviewError(
        503,
        "STOPPING",
        "review-queue is stopping (a deploy or a restart): try again in a moment",
      );
    }
    const status = this.options.completionStatus;
    let transition: Transition | undefined;
    let written: ReviewRecord;
    let audited: ReviewAction;
    let finalId = id;
    switch (action) {
      case "edit":
        requireRole(identity, "reviewer");
        written = await this.store.update(id, (r) => {
          const record = applyEdit(r, body.version, body.text, identity.user, now());
          return { record, result: record };
        });
        audited = "edited";
        break;
      case "sign":
        requireRole(identity, "signer");
        transition = await this.store.update(id, (r) =>
          outboxed(applySign(r, body.version, body.text, identity.user, status, now()), id),
        );
        written = transition.record;
        audited = transition.signoff.event === "amend" ? "amended" : "signed";
        break;
      case "withdraw":
        requireRole(identity, "signer");
        transition = await this.store.update(id, (r) =>
          outboxed(applyWithdraw(r, body.version, body.reason, identity.user, now()), id),
        );
        written = transition.record;
        audited = "withdrawn";
        break;
      case "addendum":
        requireRole(identity, "signer");
        finalId = randomUUID();
        transition = await this.store.update(id, (r) =>
          outboxed(applyAddendum(r, body.version, body.text, identity.user, status, now(), finalId), finalId),
        );
        written = transition.record;
        audited = "addendum";
        break;
      default:
        throw new ReviewError(404, "NOT_FOUND", "no such action: edit, sign, withdraw or addendum");
    }
    // The record as this change wrote it: what the signer signed is what goes out, even if an expiry
    // (or a later change) reached the worklist between the write and this line.
    const record = written;
    this.log(
      {
        user: identity.user,
        action: audited,
        documentId: finalId === id ? id : finalId,
        version: record.version,
      },
      now(),
    );
    if (transition) this.emit(record, transition, finalId);
    this.broadcast(record);
    json(res, 200, this.view(record));
  }

  private emit(record: ReviewRecord, t: Transition, documentId: string): void {
    this.handOn(record, { documentId, signoff: t.signoff, text: t.text });
    if (t.signoff.event === "sign" && record.signed) {
      const bucket = this.accuracy.add(record, record.signed);
      this.sinks.event("review-accuracy", rowOf(bucket));
      const snapshot = JSON.stringify(this.accuracy.snapshot());
      this.background(atomicWrite(join(this.options.dir, "accuracy.json"), snapshot));
    }
    if (t.signoff.event === "sign" || t.signoff.event === "withdraw") {
      // The audio served its purpose: it goes as soon as the document is signed or withdrawn.
      this.background(this.audio.remove(record.document.sessionId));
    }
  }

  /**
   * A write nobody waits for (the accuracy figures, deleting audio): its failure goes to Catch, and a
   * stop waits for it, so that the next instance (a deploy's new node) reads what it wrote, and no
   * write lands after the stop.
   */
  private background(work: Promise<unknown>): void {
    const tracked = work
      .catch((err: unknown) => this.sinks.error(err instanceof Error ? err : new Error(String(err))))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private get(id: string): ReviewRecord {
    const record = this.store.get(id);
    if (!record) throw new ReviewError(404, "NOT_FOUND", "no such document in the worklist");
    return record;
  }

  /**
   * A change's body: a JSON object of at most MAX_BODY_BYTES, arrived within BODY_TIMEOUT_MS, while
   * the bodies being read together hold at most MAX_BUFFERED_BODY_BYTES (hundreds of clients sending
   * at once cannot take the process's memory), and no deeper or longer than a change needs (JSON.parse
   * of 2 MiB of nested brackets holds the event loop for over a second).
   */
  private readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    // A body parser mounted ahead of us (httpNodeMiddleware) may have read the body already.
    const parsed = (req as { body?: unknown }).body;
    if (typeof parsed === "object" && parsed !== null && !Buffer.isBuffer(parsed) && !Array.isArray(parsed)) {
      return Promise.resolve(parsed as Record<string, unknown>);
    }
    if (req.readableEnded)
      return Promise.reject(
        badJson("it was read already, by a middleware ahead of this node, as something else"),
      );
    if (Number(req.headers["content-length"]) > MAX_BODY_BYTES) return Promise.reject(bodyTooLarge());
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let settled = false;
      const settle = (err: ReviewError | undefined, value?: Record<string, unknown>): void => {
        if (settled) return;
        settled = true;
        this.scheduler.clearTimeout(timer);
        this.bodyBytes -= size;
        if (err) reject(err);
        else resolve(value ?? {});
      };
      const timer = this.scheduler.setTimeout(
        () =>
          settle(
            new ReviewError(
              408,
              "BODY_TIMEOUT",
              `the request body must arrive within ${BODY_TIMEOUT_MS / 1000} s; nothing was changed`,
            ),
          ),
        BODY_TIMEOUT_MS,
      );
      req.on("data", (chunk: Buffer) => {
        if (settled) return;
        if (size + chunk.length > MAX_BODY_BYTES) return settle(bodyTooLarge());
        if (this.bodyBytes + chunk.length > MAX_BUFFERED_BODY_BYTES) {
          return settle(
            new ReviewError(
              503,
              "BUSY",
              "too many changes are being sent at once: nothing was changed, try again in a moment",
            ),
          );
        }
        size += chunk.length;
        this.bodyBytes += chunk.length;
        chunks.push(chunk);
      });
      // A client that goes away mid-body is no failure of ours (nothing for Catch): its change is dropped.
      const aborted = (): void =>
        settle(new ReviewError(400, "BODY_ABORTED", "the request body broke off before its end"));
      req.on("error", aborted);
      req.on("close", () => {
        if (!req.complete) aborted();
      });
      req.on("end", () => {
        if (settled) return;
        const body = Buffer.concat(chunks);
        const problem = jsonShapeProblem(body);
        if (problem) return settle(badJson(problem));
        let value: unknown;
        try {
          value = JSON.parse(body.toString("utf8"));
        } catch {
          return settle(badJson("it is not valid JSON"));
        }
        if (typeof value !== "object" || value === null || Array.isArray(value))
          return settle(badJson("it is JSON, but not an object"));
        settle(undefined, value as Record<string, unknown>);
      });
    });
  }

  private async serveAudio(
    req: Req,
    res: ServerResponse,
    record: ReviewRecord,
    identity: Identity,
  ): Promise<void> {
    const info = this.audio.info(record.document.sessionId);
    if (!info) throw new ReviewError(404, "NO_AUDIO", "no audio is kept for this document");
    const size = 44 + info.bytes;
    const range = parseRange(header(req, "range"), size);
    if (range === "unsatisfiable") {
      res.writeHead(416, { "content-range": `bytes */${size}` }).end();
      return;
    }
    // A partial answer carries MAX_RANGE_BYTES at most (a player asks again for the rest, RFC 9110
    // §14.1.2 lets the server answer less): a seek to the start ("bytes=0-") is not a whole-file read.
    const start = range?.start ?? 0;
    const end = range ? Math.min(range.end, start + MAX_RANGE_BYTES - 1) : size - 1;
    if (start === 0)
      this.log(
        { user: identity.user, action: "audio", documentId: record.id },
        new Date(this.scheduler.now()),
      );
    const pcm =
      end >= 44
        ? await this.audio.stream(record.document.sessionId, Math.max(0, start - 44), end - 44)
        : undefined;
    if (end >= 44 && !pcm) throw new ReviewError(404, "NO_AUDIO", "no audio is kept for this document");
    res.writeHead(range ? 206 : 200, {
      "content-type": "audio/wav",
      "accept-ranges": "bytes",
      "content-length": String(end - start + 1),
      "cache-control": "no-store",
      ...(range ? { "content-range": `bytes ${start}-${end}/${size}` } : {}),
    });
    if (start < 44)
      res.write(wavHeader(info.sampleRate, info.channels, info.bytes).subarray(start, Math.min(44, end + 1)));
    if (!pcm) {
      res.end();
      return;
    }
    // Streamed with backpressure; a read failure or a player that goes away ends both sides.
    pcm.on("error", (err: Error) => {
      res.destroy();
      this.sinks.error(err);
    });
    res.on("close", () => pcm.destroy());
    // A file shorter than its count (a write that failed, reported then) must not leave the player
    // waiting for bytes that never come: the answer is cut instead.
    let sent = 0;
    const expected = end - Math.max(44, start) + 1;
    pcm.on("data", (chunk: Buffer) => (sent += chunk.length));
    pcm.on("end", () => (sent === expected ? res.end() : res.destroy()));
    pcm.pipe(res, { end: false });
  }

  private subscribe(res: ServerResponse): void {
    if (this.closed || this.clients.size >= MAX_EVENT_CLIENTS) {
      throw new ReviewError(
        503,
        "TOO_MANY_CLIENTS",
        `at most ${MAX_EVENT_CLIENTS} pages may follow the worklist at once`,
      );
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-store",
      connection: "keep-alive",
    });
    res.write("retry: 3000\n\n");
    this.clients.add(res);
    res.on("close", () => this.clients.delete(res));
  }

  private broadcast(record: ReviewRecord): void {
    const data = `event: worklist\ndata: ${JSON.stringify({ id: record.id, version: record.version, state: record.state })}\n\n`;
    for (const res of this.clients) this.write(res, data);
  }

  private write(res: ServerResponse, data: string): void {
    if (res.writableLength > MAX_CLIENT_BACKLOG) {
      this.clients.delete(res);
      res.destroy();
      return;
    }
    res.write(data);
  }

  private scheduleHeartbeat(): void {
    if (this.closed) return;
    this.heartbeat = this.scheduler.setTimeout(() => {
      for (const res of this.clients) this.write(res, ": keep-alive\n\n");
      this.scheduleHeartbeat();
    }, HEARTBEAT_MS);
  }

  private scheduleSweep(ms: number): void {
    if (this.closed) return;
    this.sweeper = this.scheduler.setTimeout(() => {
      const done = this.sweep(new Date(this.scheduler.now())).catch((err: unknown) =>
        this.sinks.error(err instanceof Error ? err : new Error(String(err))),
      );
      void done.then(() => this.scheduleSweep(this.options.sweepMs));
    }, ms);
  }

  /** Deletes records past their time, and audio no record claims past the retention time. */
  async sweep(now: Date): Promise<{ expired: number; unsigned: number }> {
    let expired = 0;
    let unsigned = 0;
    for (const record of this.store.all()) {
      if (Date.parse(record.expiresAt) > now.getTime()) continue;
      await this.store.remove(record.id);
      await this.audio.remove(record.document.sessionId);
      expired++;
      if (record.state === "pending") unsigned++;
      this.log({ user: "(expiry)", action: "expired", documentId: record.id, version: record.version }, now);
      this.broadcast({ ...record, state: record.state });
    }
    const claimed = new Set(this.store.all().map((r) => r.document.sessionId));
    for (const session of this.audio.startedBefore(now.getTime() - this.options.retentionMs)) {
      if (!claimed.has(session)) await this.audio.remove(session);
    }
    if (unsigned > 0) {
      // Never silent: an unsigned document leaving the worklist is a review that did not happen.
      this.sinks.error(
        new Error(
          `review-queue: ${unsigned} document(s) expired unsigned after the retention time and were deleted (see the audit log)`,
        ),
      );
    }
    return { expired, unsigned };
  }

  private log(entry: Omit<ReviewAuditEntry, "time">, now: Date): void {
    const full: ReviewAuditEntry = { time: now.toISOString(), ...entry };
    void this.audit.append(full);
    this.sinks.event("review-audit", full);
  }

  private fail(res: ServerResponse, err: unknown, req: Req): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    // A body that did not arrive in time is read no longer: the connection closes after the answer.
    // (Any other body left unread, a refusal before it or one too large, is read and dropped by Node
    // while the connection stays open, so that the client reads the answer rather than a reset.)
    if (err instanceof ReviewError && err.status === 408) res.setHeader("connection", "close");
    if (err instanceof ReviewError) {
      if (err.status === 401 || err.status === 403 || err.status === 409) {
        const id = req.path.split("/")[3];
        const documentId = id ? safeId(id) : "-";
        const outcome = `${err.status} ${err.code}`;
        // A user the identity source vouches for is named (a signer's refused signature, a user with
        // no role here); a request without one stays anonymous: its "user" would be the client's word.
        const user = userOf(req, this.options.auth) ?? ANONYMOUS;
        const key = err.status === 401 ? outcome : `${outcome} ${documentId} ${user}`;
        if (this.refusals.occurred(key, { documentId, outcome, user })) {
          this.log({ user, action: "refused", documentId, outcome }, new Date(this.scheduler.now()));
        }
      }
      if (err.status === 405) res.setHeader("allow", String(err.detail?.allow));
      json(res, err.status, { error: err.code, message: err.message, ...(err.detail ?? {}) });
      return;
    }
    this.sinks.error(err instanceof Error ? err : new Error(String(err)));
    if (err instanceof StoreWriteError) {
      // The disk refused the change (full, failing): nothing was signed or edited, and the user can try again.
      json(res, 503, { error: "STORE_WRITE_FAILED", message: err.message });
      return;
    }
    json(res, 500, {
      error: "INTERNAL",
      message: "the review service failed; the error went to the flow's Catch nodes",
    });
  }

  worklist(): unknown[] {
    return this.store
      .all()
      .sort((a, b) => b.receivedAt.localeCompare(a.receivedAt))
      .map((r) => ({
        id: r.id,
        version: r.version,
        state: r.state,
        source: r.source,
        receivedAt: r.receivedAt,
        updatedAt: r.updatedAt,
        expiresAt: r.expiresAt,
        patient: personLabel(r.context.patient),
        encounter: encounterLabel(r.context.encounter),
        provider: r.document.provider,
        durationSeconds: r.document.durationSeconds,
        words: r.document.quality?.wordCount ?? r.document.words?.length ?? 0,
        reviewSegments: r.document.review.length,
        editedBy: r.editedBy,
        signedBy: r.signed?.by,
      }));
  }

  private viewWords(document: TranscriptDocument): unknown[] {
    const words = document.words ?? [];
    // Only a note's page needs each word's segment (to highlight a sentence's evidence).
    const segments = document.note ? wordSegmentIds(words, document.segments ?? []) : [];
    return words.map((w, i) => ({
      text: w.text,
      startTime: w.startTime,
      endTime: w.endTime,
      confidence: w.confidence,
      kind: w.kind,
      speaker: w.speaker,
      ...(segments[i] !== undefined ? { segment: segments[i] } : {}),
    }));
  }

  view(r: ReviewRecord): unknown {
    return {
      id: r.id,
      version: r.version,
      state: r.state,
      source: r.source,
      receivedAt: r.receivedAt,
      patient: personLabel(r.context.patient),
      encounter: encounterLabel(r.context.encounter),
      provider: r.document.provider,
      language: r.document.language,
      machineText: r.document.text,
      draftText: r.draftText,
      editedBy: r.editedBy,
      turns: r.document.turns,
      words: this.viewWords(r.document),
      // A scribe's note: the page shows it by section, each sentence with its evidence.
      note: r.document.note,
      review: r.document.review,
      audio: this.audio.info(r.document.sessionId) !== undefined,
      signed: r.signed
        ? {
            by: r.signed.by,
            at: r.signed.at,
            completionStatus: r.signed.completionStatus,
            edited: r.signed.edited,
            wer: r.signed.wer,
          }
        : undefined,
      withdrawn: r.withdrawn,
      addenda: r.addenda,
    };
  }
}

/**
 * The change of a sign-off with its final message in the record's outbox: one atomic write holds the
 * signature and what is still to be handed on, so no crash can keep the one and lose the other.
 */
function outboxed(t: Transition, documentId: string): { record: ReviewRecord; result: Transition } {
  const record = withOutbox(t.record, { documentId, signoff: t.signoff, text: t.text });
  return { record, result: { ...t, record } };
}

/**
 * msg.patient and msg.encounter are stored with the document and handed on with its final version:
 * bounded, so that a record stays far below what the store reads back at a restart (32 MiB), and
 * plain JSON data. Errors name the properties, never their content.
 */
function checkContext(context: ReviewRecord["context"]): void {
  let size: number;
  try {
    size = JSON.stringify(context).length;
  } catch {
    throw new ReviewError(
      400,
      "BAD_CONTEXT",
      "review-queue: msg.patient and msg.encounter must be plain JSON data (no cycles, no BigInt)",
    );
  }
  if (size > MAX_CONTEXT_CHARS) {
    throw new ReviewError(
      413,
      "CONTEXT_TOO_LARGE",
      `review-queue: msg.patient and msg.encounter together must be at most ${MAX_CONTEXT_CHARS} characters of JSON`,
    );
  }
}

function header(req: RequestFacts, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** What the API serves, for the answer to an address or method it does not. */
const API_SUMMARY =
  "GET / (the page), GET api/session, api/events, api/accuracy, api/documents, api/documents/<id>, " +
  "api/documents/<id>/audio; POST api/documents/<id>/edit, sign, withdraw or addendum";

const CHANGES: ReadonlySet<string> = new Set(["edit", "sign", "withdraw", "addendum"]);

/** The method an address takes (each takes one), or undefined for an address the API does not serve. */
function methodOf(parts: readonly string[]): "GET" | "POST" | undefined {
  if (parts.length === 0) return "GET";
  if (parts[0] !== "api" || parts.length > 4) return undefined;
  if (parts.length === 2)
    return ["session", "events", "accuracy", "documents"].includes(parts[1]) ? "GET" : undefined;
  if (parts[1] !== "documents") return undefined;
  if (parts.length === 3 || parts[3] === "audio") return "GET";
  return CHANGES.has(parts[3]) ? "POST" : undefined;
}

function decodeId(raw: string | undefined): string {
  let id: string;
  try {
    id = decodeURIComponent(raw ?? "");
  } catch {
    throw new ReviewError(400, "BAD_ID", "the document id in the address is not valid");
  }
  if (id === "" || id.length > 128)
    throw new ReviewError(400, "BAD_ID", "the document id in the address is not valid");
  return id;
}

/** Only a UUID-shaped id goes into the audit log from an address (the address may hold anything). */
function safeId(raw: string): string {
  return /^[0-9a-f-]{36}$/i.test(raw) ? raw : "-";
}

function personLabel(value: unknown): string {
  if (typeof value !== "object" || value === null) return "";
  const p = value as Record<string, unknown>;
  const text = (k: string): string => (typeof p[k] === "string" ? p[k].slice(0, 100) : "");
  const name = [text("family"), text("given")].filter((s) => s !== "").join(", ") || text("display");
  const id = text("id") || text("reference");
  return [name, id ? `(${id})` : ""].filter((s) => s !== "").join(" ");
}

function encounterLabel(value: unknown): string {
  if (typeof value !== "object" || value === null) return "";
  const e = value as Record<string, unknown>;
  const text = (k: string): string => (typeof e[k] === "string" ? e[k].slice(0, 100) : "");
  const author = typeof e.author === "object" && e.author !== null ? personLabel(e.author) : "";
  return [text("visitNumber") || text("reference"), text("location"), author]
    .filter((s) => s !== "")
    .join(" · ");
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, {
    "content-type": type,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy":
      "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; media-src 'self' blob:; frame-ancestors 'none'",
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  res.end(JSON.stringify(value));
}

const BODY_ACCEPTED = 'a JSON object such as {"version": 2, "text": "…"} (withdraw: "reason" for "text")';

function badJson(what: string): ReviewError {
  return new ReviewError(400, "BAD_JSON", `the request body must be ${BODY_ACCEPTED}: ${what}`);
}

function bodyTooLarge(): ReviewError {
  return new ReviewError(413, "BODY_TOO_LARGE", `the request body must be at most ${MAX_BODY_BYTES} bytes`);
}

/**
 * Why a body is no change's shape before JSON.parse sees it: nested deeper than MAX_JSON_DEPTH or
 * with more than MAX_JSON_MEMBERS values. One pass over the bytes, outside strings.
 */
function jsonShapeProblem(body: Buffer): string | undefined {
  let depth = 0;
  let members = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return `it is nested more than ${MAX_JSON_DEPTH} deep`;
    } else if (c === 0x7d || c === 0x5d) depth--;
    else if (c === 0x2c && ++members >= MAX_JSON_MEMBERS)
      return `it has more than ${MAX_JSON_MEMBERS} values`;
  }
  return undefined;
}
