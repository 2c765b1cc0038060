import net from "node:net";
import tls from "node:tls";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import { messageControlId, parseAck, type AckCode, type ParsedAck } from "../hl7/ack";
import { frame, FrameDecoder } from "./frame";

export interface MllpTlsOptions {
  /** PEM of the CA (or CAs) that signed the receiver's certificate; default: Node's trusted roots. */
  ca?: string;
  rejectUnauthorized: boolean;
  /** SNI / certificate name to check, when it differs from the host. */
  servername?: string;
}

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
  maxFrameBytes?: number;
}

export type RejectReason =
  | "AE"
  | "AR"
  | "CE"
  | "CR"
  | "ack-timeout"
  | "connect-failed"
  | "connection-closed"
  | "ack-mismatch"
  | "bad-ack"
  | "no-control-id"
  | "client-closed";

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
    };

/** What happens during a delivery, for audit events; never carries message content. */
export type DeliveryEvent =
  | { type: "send"; controlId: string; attempt: number; bytes: number }
  | { type: "ack"; controlId: string; attempt: number; code: AckCode }
  | { type: "attempt-failed"; controlId: string; attempt: number; reason: RejectReason }
  | { type: "retry"; controlId: string; attempt: number; delayMs: number };

type AttemptResult =
  { ok: true; ack: ParsedAck } | { ok: false; reason: RejectReason; detail: string; ack?: ParsedAck };

interface Job {
  message: string;
  onEvent: (event: DeliveryEvent) => void;
  resolve: (outcome: DeliveryOutcome) => void;
}

/**
 * An MLLP sender with one message in flight per connection: messages queue and go out in order,
 * each waiting for its ACK (or its last retry) before the next. The connection stays open between
 * messages and is opened again when the receiver dropped it.
 */
export class MllpClient {
  private readonly queue: Job[] = [];
  private busy = false;
  private closed = false;
  private connection: Connection | undefined;
  private readonly timers = new Set<unknown>();
  private readonly scheduler: Scheduler;
  /** Settles the attempt in progress when the client is closed under it. */
  private abortAttempt: (() => void) | undefined;
  /** Destroys a socket still connecting (or in its TLS handshake) when the client is closed. */
  private cancelConnect: (() => void) | undefined;

  constructor(private readonly options: MllpClientOptions) {
    this.scheduler = options.scheduler ?? realScheduler;
  }

  get queued(): number {
    return this.queue.length + (this.busy ? 1 : 0);
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
      this.queue.push({ message, onEvent, resolve });
      void this.pump();
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
        job.resolve(await this.deliver(job));
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
      return {
        ok: false,
        reason: "connect-failed",
        detail: `could not connect to the receiver (${errorCode(err)})`,
      };
    }
    const response = await new Promise<string | { lost: RejectReason }>((resolve) => {
      const timer = this.timer(() => {
        // After a timeout a late ACK could be taken for the next message's: drop the connection.
        connection.destroy();
        resolve({ lost: "ack-timeout" });
      }, this.options.ackTimeoutMs);
      this.abortAttempt = () => resolve({ lost: "client-closed" });
      connection.expect((frameOrLoss) => {
        this.clear(timer);
        resolve(frameOrLoss);
      });
      connection.write(payload);
    });
    this.abortAttempt = undefined;
    if (typeof response !== "string") {
      const detail =
        response.lost === "ack-timeout"
          ? `no ACK within ${this.options.ackTimeoutMs} ms`
          : "the receiver closed the connection before it acknowledged";
      return { ok: false, reason: response.lost, detail };
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

  private connect(): Promise<Connection> {
    if (this.connection && !this.connection.closed) return Promise.resolve(this.connection);
    this.connection = undefined;
    const { host, port } = this.options;
    return new Promise<Connection>((resolve, reject) => {
      const t = this.options.tls;
      const socket = t
        ? tls.connect({
            host,
            port,
            ca: t.ca || undefined,
            rejectUnauthorized: t.rejectUnauthorized,
            servername: t.servername || (net.isIP(host) ? undefined : host),
          })
        : net.connect({ host, port });
      const connectedEvent = t ? "secureConnect" : "connect";
      const timer = this.timer(() => {
        this.cancelConnect = undefined;
        socket.destroy();
        reject(Object.assign(new Error("connect timeout"), { code: "ETIMEDOUT" }));
      }, this.options.connectTimeoutMs);
      const onError = (err: Error): void => {
        this.clear(timer);
        this.cancelConnect = undefined;
        socket.destroy();
        reject(err);
      };
      this.cancelConnect = () => onError(Object.assign(new Error("closed"), { code: "CLOSED" }));
      socket.once("error", onError);
      socket.once(connectedEvent, () => {
        this.clear(timer);
        this.cancelConnect = undefined;
        socket.off("error", onError);
        if (this.closed) {
          socket.destroy();
          reject(new Error("closed"));
          return;
        }
        const connection = new Connection(socket, this.options.maxFrameBytes);
        this.connection = connection;
        resolve(connection);
      });
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

/** One TCP/TLS connection: frames in, at most one waiter for the next frame. */
class Connection {
  closed = false;
  private waiter: ((frameOrLoss: string | { lost: RejectReason }) => void) | undefined;
  private readonly decoder: FrameDecoder;

  constructor(
    private readonly socket: net.Socket,
    maxFrameBytes?: number,
  ) {
    this.decoder = new FrameDecoder(maxFrameBytes);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => {
      let frames: string[];
      try {
        frames = this.decoder.push(chunk);
      } catch {
        this.destroy();
        return;
      }
      for (const f of frames) {
        const waiter = this.waiter;
        this.waiter = undefined;
        // A frame nobody waits for (a late ACK after a timeout) is dropped.
        waiter?.(f);
      }
    });
    // A peer that closes after each ACK (some listeners do) is reconnected on the next message.
    socket.on("end", () => {
      this.closed = true;
    });
    socket.on("close", () => {
      this.closed = true;
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter?.({ lost: "connection-closed" });
    });
    // Errors are followed by "close", which settles any waiter; the listener keeps them from crashing the process.
    socket.on("error", () => undefined);
  }

  expect(waiter: (frameOrLoss: string | { lost: RejectReason }) => void): void {
    if (this.closed) {
      waiter({ lost: "connection-closed" });
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
}

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : "error";
}
