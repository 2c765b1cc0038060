import net from "node:net";
import tls from "node:tls";
import { backstop } from "../../util/backstop";
import { asError, guard, runGuarded, settleGuarded } from "../../util/guard";
import { guardedScheduler, realScheduler, type Scheduler } from "../../util/scheduler";
import { messageControlId, parseAck, type AckCode, type ParsedAck } from "../hl7/ack";
import {
  CLOSED_AFTER_HANDSHAKE,
  ClientCertificateWatch,
  describeConnectError,
  isTlsError,
  tlsConnectOptions,
  tlsRefusal,
  type ClientTlsSettings,
  type TlsRefusal,
} from "../tls-options";
import { frame, FrameDecoder, FrameTooLargeError, MAX_ACK_FRAME_BYTES } from "./frame";

/** Default bound of the queue to one receiver: messages waiting or in flight. */
export const DEFAULT_QUEUE_MESSAGES = 1000;
/** Default bound of the queue to one receiver: UTF-8 bytes of the messages waiting or in flight. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024;

/** CA, server name and, for mutual TLS, the client certificate and key (see tls-options.ts). */
export type MllpTlsOptions = ClientTlsSettings;

export interface MllpClientOptions {
  host: string;
  port: number;
  tls?: MllpTlsOptions;
  connectTimeoutMs: number;
  ackTimeoutMs: number;
  /** Further attempts after the first, for retryable outcomes (AR, CR, timeout, connection lost). */
  retries: number;
  /** First backoff delay; it doubles per attempt up to backoffMaxMs. */
  backoffMs: number;
  backoffMaxMs: number;
  /**
   * Keep the connection open between messages (the MLLP norm). Off: close it after each ACK, for
   * receivers that expect one message per connection.
   */
  keepConnectionOpen?: boolean;
  scheduler?: Scheduler;
  /** Largest answer frame read from the receiver (default 1 MiB); a larger one fails the attempt. */
  maxAckBytes?: number;
  /** Messages waiting or in flight at most (default 1000); `send` refuses more with "queue-full". */
  maxQueue?: number;
  /** UTF-8 bytes of the messages waiting or in flight at most (default 64 MiB). */
  maxQueueBytes?: number;
  /** Where an error inside the client's own callbacks goes (a bug); the client goes on. */
  onError?: (err: Error) => void;
}

export type RejectReason =
  | "AE"
  | "AR"
  | "CE"
  | "CR"
  | "ack-timeout"
  | "connect-failed"
  /** This node could not verify the receiver's TLS certificate (expired, wrong host, unknown CA). */
  | "tls-certificate"
  /** The receiver refused our TLS client certificate (unknown CA, expired, required and none set). */
  | "tls-client-certificate"
  | "connection-closed"
  | "ack-mismatch"
  | "bad-ack"
  | "no-control-id"
  | "client-closed"
  | "queue-full"
  | "internal-error";

/** Outcomes worth trying again unchanged: the receiver was busy or unreachable, not the message wrong. */
const RETRYABLE: ReadonlySet<RejectReason> = new Set([
  "AR",
  "CR",
  "ack-timeout",
  "connect-failed",
  "connection-closed",
]);

export type DeliveryOutcome =
  | { status: "accepted"; controlId: string; attempts: number; ack: ParsedAck }
  | {
      status: "rejected";
      controlId: string;
      attempts: number;
      reason: RejectReason;
      /** PHI-free explanation (fixed wording plus codes). */
      detail: string;
      ack?: ParsedAck;
      /** With "tls-certificate" / "tls-client-certificate": the TLS code, e.g. CERT_HAS_EXPIRED. */
      tlsCode?: string;
    };

/** What happens during a delivery, for audit events; never carries message content. */
export type DeliveryEvent =
  | { type: "send"; controlId: string; attempt: number; bytes: number }
  | { type: "ack"; controlId: string; attempt: number; code: AckCode }
  | { type: "attempt-failed"; controlId: string; attempt: number; reason: RejectReason }
  | { type: "retry"; controlId: string; attempt: number; delayMs: number };

/** Whether a final outcome was one worth trying again later (the receiver busy or unreachable). */
export function isRetryable(reason: RejectReason): boolean {
  return RETRYABLE.has(reason);
}

type AttemptResult =
  | { ok: true; ack: ParsedAck }
  | { ok: false; reason: RejectReason; detail: string; ack?: ParsedAck; tlsCode?: string };

/** What a connection hands the attempt waiting on it: a frame, or why none will come. */
type Answer = string | { lost: RejectReason; detail?: string; tlsCode?: string };

/** A TLS refusal as the reason of a failed attempt (not retried: see outcomes.ts for the queue). */
function refused(refusal: TlsRefusal): { lost: RejectReason; detail: string; tlsCode: string } {
  return { lost: refusal.reason, detail: refusal.detail, tlsCode: refusal.code };
}

interface Job {
  message: string;
  bytes: number;
  onEvent: (event: DeliveryEvent) => void;
  resolve: (outcome: DeliveryOutcome) => void;
}

/**
 * An MLLP sender with one message in flight per connection: messages queue and go out in order,
 * each waiting for its ACK (or its last retry) before the next. The connection stays open between
 * messages and is opened again when the receiver dropped it. The queue is bounded in messages and
 * bytes: past either bound `send` answers "queue-full" at once, and nothing is dropped unsaid.
 */
export class MllpClient {
  private readonly queue: Job[] = [];
  /** UTF-8 bytes of the queued messages and of the one in flight. */
  private pendingBytes = 0;
  private busy = false;
  private closed = false;
  private connection: Connection | undefined;
  private readonly timers = new Set<unknown>();
  private readonly scheduler: Scheduler;
  /** Settles the attempt in progress when the client is closed under it. */
  private abortAttempt: (() => void) | undefined;
  /** Destroys a socket still connecting (or in its TLS handshake) when the client is closed. */
  private cancelConnect: (() => void) | undefined;
  /**
   * MSH-10 of the last messages whose attempts ended (at most STALE_ACK_MEMORY): an ACK naming one
   * of them while another message waits is a late or repeated answer, not a mismatch.
   */
  private readonly earlier: string[] = [];

  private readonly onError: (err: Error) => void;
  readonly maxQueue: number;
  readonly maxQueueBytes: number;

  constructor(private readonly options: MllpClientOptions) {
    this.onError = options.onError ?? backstop;
    // A throw in any of the client's timers reaches onError, never the process.
    this.scheduler = guardedScheduler(options.scheduler ?? realScheduler, this.onError);
    this.maxQueue = options.maxQueue ?? DEFAULT_QUEUE_MESSAGES;
    this.maxQueueBytes = options.maxQueueBytes ?? DEFAULT_QUEUE_BYTES;
  }

  /** Further attempts after the first (the endpoint's Retries setting). */
  get retries(): number {
    return this.options.retries;
  }

  /** Messages waiting or in flight. */
  get queued(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  /** UTF-8 bytes of the messages waiting or in flight. */
  get queuedBytes(): number {
    return this.pendingBytes;
  }

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.closed;
  }

  /** Queues a message (segments separated by CR); resolves with its final outcome, never rejects. */
  send(message: string, onEvent: (event: DeliveryEvent) => void = () => undefined): Promise<DeliveryOutcome> {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve({
          status: "rejected",
          controlId: "",
          attempts: 0,
          reason: "client-closed",
          detail: "the MLLP connection was closed",
        });
        return;
      }
      const bytes = Buffer.byteLength(message, "utf8");
      if (this.queued >= this.maxQueue || this.pendingBytes + bytes > this.maxQueueBytes) {
        resolve({
          status: "rejected",
          controlId: messageControlId(message) ?? "",
          attempts: 0,
          reason: "queue-full",
          detail:
            this.queued >= this.maxQueue
              ? `the queue to the receiver holds ${this.queued} messages, its limit`
              : `the queue to the receiver would exceed its limit of ${this.maxQueueBytes} bytes`,
        });
        return;
      }
      this.pendingBytes += bytes;
      this.queue.push({
        message,
        bytes,
        onEvent: (event) => runGuarded(() => onEvent(event), this.onError),
        resolve: (outcome) => {
          this.pendingBytes -= bytes;
          resolve(outcome);
        },
      });
      settleGuarded(this.pump(), this.onError);
    });
  }

  /** Ends the connection and every timer; queued messages resolve as rejected ("client-closed"). */
  close(): void {
    this.closed = true;
    for (const t of this.timers) this.scheduler.clearTimeout(t);
    this.timers.clear();
    this.abortAttempt?.();
    this.cancelConnect?.();
    this.connection?.destroy();
    this.connection = undefined;
    for (const job of this.queue.splice(0)) {
      job.resolve({
        status: "rejected",
        controlId: messageControlId(job.message) ?? "",
        attempts: 0,
        reason: "client-closed",
        detail: "the MLLP connection was closed before the message was sent",
      });
    }
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (let job = this.queue.shift(); job && !this.closed; job = this.queue.shift()) {
        let outcome: DeliveryOutcome;
        try {
          outcome = await this.deliver(job);
        } catch (err) {
          // A bug, not the receiver: the message is reported undelivered and the queue goes on.
          this.onError(asError(err));
          outcome = {
            status: "rejected",
            controlId: messageControlId(job.message) ?? "",
            attempts: 0,
            reason: "internal-error",
            detail: "an internal error ended the delivery; see the Node-RED log",
          };
        }
        job.resolve(outcome);
      }
    } finally {
      this.busy = false;
    }
  }

  private async deliver(job: Job): Promise<DeliveryOutcome> {
    const controlId = messageControlId(job.message);
    if (!controlId) {
      return {
        status: "rejected",
        controlId: "",
        attempts: 0,
        reason: "no-control-id",
        detail: "the message has no MSH-10 control id, so its ACK cannot be matched",
      };
    }
    const payload = frame(job.message);
    for (let attempt = 1; ; attempt++) {
      job.onEvent({ type: "send", controlId, attempt, bytes: payload.length });
      const result = await this.attempt(payload, controlId);
      if (result.ok) {
        job.onEvent({ type: "ack", controlId, attempt, code: result.ack.code });
        return { status: "accepted", controlId, attempts: attempt, ack: result.ack };
      }
      if (result.ack) job.onEvent({ type: "ack", controlId, attempt, code: result.ack.code });
      job.onEvent({ type: "attempt-failed", controlId, attempt, reason: result.reason });
      const retry = RETRYABLE.has(result.reason) && attempt <= this.options.retries && !this.closed;
      if (!retry) {
        return {
          status: "rejected",
          controlId,
          attempts: attempt,
          reason: this.closed ? "client-closed" : result.reason,
          detail: result.detail,
          ...(result.ack ? { ack: result.ack } : {}),
          ...(result.tlsCode && !this.closed ? { tlsCode: result.tlsCode } : {}),
        };
      }
      const delayMs = Math.min(this.options.backoffMs * 2 ** (attempt - 1), this.options.backoffMaxMs);
      job.onEvent({ type: "retry", controlId, attempt: attempt + 1, delayMs });
      await this.sleep(delayMs);
      if (this.closed) {
        return {
          status: "rejected",
          controlId,
          attempts: attempt,
          reason: "client-closed",
          detail: "the MLLP connection was closed during a retry wait",
        };
      }
    }
  }

  private async attempt(payload: Buffer, controlId: string): Promise<AttemptResult> {
    let connection: Connection;
    try {
      connection = await this.connect();
    } catch (err) {
      // A certificate either side refused is a configuration error, not a passing fault.
      const refusal = tlsRefusal(err);
      if (refusal)
        return { ok: false, reason: refusal.reason, tlsCode: refusal.code, detail: refusal.detail };
      return {
        ok: false,
        reason: "connect-failed",
        detail: `could not connect to the receiver (${describeConnectError(err)})`,
      };
    }
    const response = await new Promise<Answer>((resolve) => {
      const timer = this.timer(() => {
        // After a timeout a late ACK could be taken for the next message's: drop the connection.
        connection.destroy();
        resolve({ lost: "ack-timeout" });
      }, this.options.ackTimeoutMs);
      this.abortAttempt = () => resolve({ lost: "client-closed" });
      const wait = (frameOrLoss: Answer): void => {
        // A second ACK for an earlier message (a commit ACK followed by the application ACK, a
        // receiver that answers twice) is no answer to this one: keep waiting, within the timeout.
        if (typeof frameOrLoss === "string" && this.isStale(frameOrLoss, controlId)) {
          connection.expect(wait);
          return;
        }
        this.clear(timer);
        resolve(frameOrLoss);
      };
      connection.expect(wait);
      connection.write(payload);
    });
    this.abortAttempt = undefined;
    this.remember(controlId);
    if (typeof response !== "string") {
      const detail =
        response.detail ??
        (response.lost === "ack-timeout"
          ? `no ACK within ${this.options.ackTimeoutMs} ms`
          : "the receiver closed the connection before it acknowledged");
      return {
        ok: false,
        reason: response.lost,
        detail,
        ...(response.tlsCode ? { tlsCode: response.tlsCode } : {}),
      };
    }
    const parsed = parseAck(response);
    if (!parsed.ok) {
      connection.destroy();
      return { ok: false, reason: "bad-ack", detail: `the response is not an HL7 ACK: ${parsed.problem}` };
    }
    const { ack } = parsed;
    if (ack.controlId !== controlId) {
      // An ACK for another message means the two sides are out of step: start a fresh connection.
      connection.destroy();
      return {
        ok: false,
        reason: "ack-mismatch",
        detail: "MSA-2 of the ACK does not match MSH-10 of the message",
        ack,
      };
    }
    if (this.options.keepConnectionOpen === false) connection.destroy();
    if (ack.code === "AA" || ack.code === "CA") return { ok: true, ack };
    return { ok: false, reason: ack.code, detail: `the receiver answered ${ack.code}`, ack };
  }

  /** Whether a frame is an ACK for a message sent before this one (not for `controlId`). */
  private isStale(answer: string, controlId: string): boolean {
    const parsed = parseAck(answer);
    return parsed.ok && parsed.ack.controlId !== controlId && this.earlier.includes(parsed.ack.controlId);
  }

  /** Notes a control id whose attempt has ended, keeping the last STALE_ACK_MEMORY. */
  private remember(controlId: string): void {
    if (this.earlier[this.earlier.length - 1] === controlId) return;
    this.earlier.push(controlId);
    if (this.earlier.length > STALE_ACK_MEMORY) this.earlier.shift();
  }

  private async connect(): Promise<Connection> {
    const open = this.connection;
    if (open && !open.closed) {
      // A receiver that writes its ACK and closes in one go: the close is read after the ACK, so
      // the next message waits until the I/O that came with the ACK has been seen; otherwise it
      // would go out on a connection the receiver is closing, and again on the next one.
      await open.settled();
      if (!open.closed) return open;
    }
    this.connection = undefined;
    return this.open();
  }

  private open(): Promise<Connection> {
    const { host, port } = this.options;
    return new Promise<Connection>((resolve, reject) => {
      const t = this.options.tls;
      const socket = t
        ? tls.connect({ host, port, ...tlsConnectOptions(t, host) })
        : net.connect({ host, port });
      const connectedEvent = t ? "secureConnect" : "connect";
      // Presenting a certificate: a receiver may refuse it by closing, without an alert.
      const watch = t?.cert ? new ClientCertificateWatch(socket as tls.TLSSocket) : undefined;
      const timer = this.timer(() => {
        this.cancelConnect = undefined;
        socket.destroy();
        reject(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" }));
      }, this.options.connectTimeoutMs);
      let ticketTimer: unknown;
      let done = false;
      // One function for once() and off(): removing a different wrapper would leave it attached.
      const onError = guard((err: Error): void => {
        if (done) return;
        done = true;
        this.clear(timer);
        if (ticketTimer !== undefined) this.clear(ticketTimer);
        this.cancelConnect = undefined;
        socket.destroy();
        reject(watch && closedByPeer(err) && watch.closeIsRefusal ? closedAfterHandshake() : err);
      }, this.onError);
      const onClose = (): void => onError(Object.assign(new Error("closed"), { code: "ECONNRESET" }));
      const handOver = guard((): void => {
        if (done) return;
        done = true;
        this.clear(timer);
        if (ticketTimer !== undefined) this.clear(ticketTimer);
        this.cancelConnect = undefined;
        socket.off("error", onError);
        socket.off("close", onClose);
        socket.off("session", onTicket);
        if (this.closed) {
          socket.destroy();
          reject(new Error("closed"));
          return;
        }
        const connection = new Connection(socket, {
          maxAckBytes: this.options.maxAckBytes ?? MAX_ACK_FRAME_BYTES,
          scheduler: this.scheduler,
          onError: this.onError,
        });
        this.connection = connection;
        resolve(connection);
      }, this.onError);
      const onTicket = (): void => {
        if (ticketTimer !== undefined) this.clear(ticketTimer);
        ticketTimer = this.timer(handOver, 0);
      };
      this.cancelConnect = () => onError(Object.assign(new Error("closed"), { code: "CLOSED" }));
      socket.once("error", onError);
      socket.once(
        connectedEvent,
        guard(() => {
          if (!watch?.awaitsTicket) {
            handOver();
            return;
          }
          // TLS 1.3 sends our certificate as our side completes the handshake: the receiver's
          // verdict (a session ticket, or a close) is waited for before the first message goes
          // out, so a close for a refused certificate is never taken for a dropped message.
          // Handed over on a later turn: a write made inside the ticket's own read is not sent.
          socket.once("session", onTicket);
          socket.once("close", onClose);
          ticketTimer = this.timer(handOver, TICKET_WAIT_MS);
        }, this.onError),
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.abortAttempt = resolve;
      this.timer(() => {
        this.abortAttempt = undefined;
        resolve();
      }, ms);
    });
  }

  private timer(fn: () => void, ms: number): unknown {
    const handle: unknown = this.scheduler.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private clear(handle: unknown): void {
    this.scheduler.clearTimeout(handle);
    this.timers.delete(handle);
  }
}

/**
 * How long a fresh TLS 1.3 connection presenting a client certificate waits for the receiver's
 * session ticket (its sign that it took the certificate; one round trip) before the first message:
 * a receiver that sends none costs this once per connection, and one that refuses the certificate
 * by closing later than this is reported as a closed connection.
 */
export const TICKET_WAIT_MS = 250;

/** Control ids of earlier messages recognised in a late ACK: more than a receiver plausibly lags. */
export const STALE_ACK_MEMORY = 64;

/** The socket's error when the peer closed or reset the connection (not a TLS alert, not a timeout). */
function closedByPeer(err: Error): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "ECONNRESET" || code === "EPIPE";
}

/**
 * A receiver that checks client certificates itself (Node's own TLS server does) closes the
 * connection without an alert when it refuses ours: all we see is the close (ClientCertificateWatch).
 */
function closedAfterHandshake(): Error {
  return Object.assign(new Error("the receiver closed the TLS connection"), { code: CLOSED_AFTER_HANDSHAKE });
}

/** One TCP/TLS connection: frames in, at most one waiter for the next frame. */
class Connection {
  closed = false;
  private waiter: ((answer: Answer) => void) | undefined;
  private readonly decoder: FrameDecoder;
  /** Why the connection failed, when it was our decision (an answer too large). */
  private failure: { lost: RejectReason; detail: string } | undefined;
  /** Resolves once the event loop has gone round after the last answer (see `settled`). */
  private quiet: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: net.Socket,
    private readonly options: {
      maxAckBytes: number;
      scheduler: Scheduler;
      onError: (err: Error) => void;
    },
  ) {
    this.decoder = new FrameDecoder(options.maxAckBytes);
    socket.setNoDelay(true);
    socket.on(
      "data",
      guard((chunk: Buffer) => this.onData(chunk), options.onError),
    );
    // A peer that closes after each ACK (some listeners do) is reconnected on the next message.
    socket.on(
      "end",
      guard(() => {
        this.closed = true;
      }, options.onError),
    );
    socket.on(
      "close",
      guard(() => {
        this.closed = true;
        this.settle(this.failure ?? { lost: "connection-closed" });
      }, options.onError),
    );
    // Errors are followed by "close", which settles any waiter; the listener keeps them from crashing
    // the process. A TLS error is kept for the waiter: under TLS 1.3 a receiver refuses our client
    // certificate only after the handshake has completed on our side.
    socket.on(
      "error",
      guard((err: Error) => {
        const refusal = tlsRefusal(err);
        if (refusal) this.failure ??= refused(refusal);
        else if (isTlsError(err)) {
          this.failure ??= {
            lost: "connection-closed",
            detail: `the TLS connection failed: ${describeConnectError(err)}`,
          };
        }
      }, options.onError),
    );
  }

  /**
   * Resolves when the I/O that arrived with the last answer has been processed: two turns of the
   * event loop, so that a poll phase (where an end-of-stream sent in the same write is read) lies in
   * between. A timer set inside a timer callback runs in the next turn at the earliest.
   */
  settled(): Promise<void> {
    return this.quiet;
  }

  expect(waiter: (answer: Answer) => void): void {
    if (this.closed) {
      waiter(this.failure ?? { lost: "connection-closed" });
      return;
    }
    this.waiter = waiter;
  }

  write(payload: Buffer): void {
    if (!this.closed) this.socket.write(payload);
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let frames: string[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.failure = {
        lost: "bad-ack",
        detail: `the receiver's answer exceeded ${this.options.maxAckBytes} bytes`,
      };
      this.destroy();
      return;
    }
    if (frames.length === 0) return;
    const { scheduler } = this.options;
    this.quiet = new Promise((resolve) => {
      scheduler.setTimeout(() => scheduler.setTimeout(resolve, 0), 0);
    });
    // A frame nobody waits for (a late ACK after a timeout) is dropped.
    for (const f of frames) this.settle(f);
  }

  private settle(answer: Answer): void {
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(answer);
  }
}
