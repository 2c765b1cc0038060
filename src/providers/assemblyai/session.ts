/**
 * One audio session streamed to AssemblyAI v3 over one WebSocket at a time, with reconnects.
 *
 * Audio is cut into fixed frames (50–1000 ms, the service's rule), paced at real time, and kept until a
 * final turn covers it, so that a reconnect can replay it; times stay session-relative across
 * connections. No Node-RED here: the node owns one of these per session id.
 */
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { PcmFramer } from "../../audio/framer";
import type { TranscriptResult } from "../../transcript/result";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import { mapTurn, turnEndMs } from "./mapping";
import { parseServerMessage, type ServerMessage, type TurnMessage } from "./messages";
import { bytesForMs, connectionUrl, type StreamingParams } from "./params";
import { ReplayBuffer, type Frame } from "./replay";
import { classifyClose, DEFAULT_RETRY, retryDelay, type FailureKind, type RetryPolicy } from "./retry";

/** Why a session ended without a Termination message. */
export type EndReason = "no-termination" | "closed" | "aborted";

/** What happened to a chunk of audio given to the session. */
export type WriteResult = { ok: true } | { ok: false; reason: "ended" | "failed" | "full"; message: string };

export type SessionState = "connecting" | "streaming" | "reconnecting" | "ending" | "closed" | "failed";

export type SessionEvent =
  | { event: "begin"; sessionId: string; serviceSessionId: string; expiresAt: number; connection: number }
  | { event: "reconnecting"; sessionId: string; code: number; attempt: number; delayMs: number }
  | { event: "warning"; sessionId: string; code: number; message: string }
  | { event: "error"; sessionId: string; code: number; kind: FailureKind; message: string }
  /**
   * The session ended without AssemblyAI's Termination (none within the wait, a normal close without it,
   * or stopped at once by abort): every session ends with exactly one of termination, error or ended.
   */
  | { event: "ended"; sessionId: string; reason: EndReason; connections: number }
  | {
      event: "termination";
      sessionId: string;
      audioDurationSeconds: number;
      sessionDurationSeconds: number;
      connections: number;
    };

/** A failure that retrying cannot fix; the message names the cause and never carries the key, audio or text. */
export class AssemblyAiSessionError extends Error {
  override readonly name = "AssemblyAiSessionError";
  constructor(
    readonly kind: FailureKind,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export interface SessionHandlers {
  result(result: TranscriptResult, raw: TurnMessage): void;
  event(event: SessionEvent): void;
  /** Called on every state change (for the node's status line). */
  state?(state: SessionState): void;
}

export interface SocketOptions {
  headers: Record<string, string>;
}

export interface SessionOptions {
  sessionId: string;
  /** The full connection URL (base plus query parameters), without any credential. */
  url: string;
  apiKey: string;
  params: StreamingParams;
  /** Frame length sent to the service: 50–1000 ms (default 100). */
  frameMs?: number;
  /** How far ahead of real time audio may be sent (default 500 ms). */
  leadMs?: number;
  connectTimeoutMs?: number;
  terminationTimeoutMs?: number;
  /** Bound on audio kept for replay when no final arrives (default 60 s). */
  maxReplayMs?: number;
  /**
   * Bound on audio written but never sent yet (while connecting or reconnecting, or when written faster
   * than real time); audio beyond it is refused (default 60 s).
   */
  maxPendingMs?: number;
  /** Session milliseconds of the first audio written (default 0): a reopened session continues the times. */
  startMs?: number;
  /** A ping goes out this often on an open connection (default 5000 ms; 0: never). */
  pingIntervalMs?: number;
  /** A connection whose pong does not come back within this time is stalled: terminated, then reconnected. */
  pongTimeoutMs?: number;
  /** How long a closing socket may wait for the service's close frame before it is terminated (default 1000 ms). */
  closeGraceMs?: number;
  /** A connection that streamed this long counts as healthy and resets the retry budget. */
  healthyAfterMs?: number;
  retry?: Partial<RetryPolicy>;
  language?: string;
  scheduler?: Scheduler;
  /** Opens the socket; replaceable in tests. */
  openSocket?: (url: string, options: SocketOptions) => WebSocket;
}

const MIN_FRAME_MS = 50;
const MAX_FRAME_MS = 1000;

const failureText: Record<FailureKind, string> = {
  auth: "AssemblyAI refused the connection (check the API key in the assemblyai-config node)",
  validation: "AssemblyAI refused a session parameter or message",
  inactivity: "AssemblyAI ended the session because it received nothing for the inactivity timeout",
  framing: "AssemblyAI refused the audio framing or pacing",
  "retries-exhausted": "AssemblyAI connection kept failing; gave up after the configured retries",
};

/** Node's ws refuses a header value holding a character HTTP does not allow (ERR_INVALID_CHAR). */
const isHeaderError = (e: unknown): boolean =>
  e instanceof Error &&
  ((e as NodeJS.ErrnoException).code === "ERR_INVALID_CHAR" || /header/i.test(e.message));

export class AssemblyAiSession {
  private readonly o: Required<Omit<SessionOptions, "retry" | "openSocket" | "language">> & {
    retry: RetryPolicy;
    language: string;
    openSocket: (url: string, options: SocketOptions) => WebSocket;
  };
  private readonly framer: PcmFramer;
  private readonly replay: ReplayBuffer;
  private readonly timers = new Set<unknown>();
  /** Random per session instance: part of every segmentId (see mapping.segmentId). */
  private readonly instance = randomBytes(4).toString("hex");
  /** The connection URL; accepted UpdateConfiguration fields are merged into it for the next connection. */
  private url: string;
  /** Updates accepted while no connection was streaming and not part of the current connection's URL. */
  private unsentUpdate: Partial<StreamingParams> | undefined;
  private ws: WebSocket | undefined;
  private current: SessionState = "connecting";
  private pending: Frame[] = [];
  private nextStartMs = 0;
  /** End of the latest audio ever sent: what lies beyond it counts against maxPendingMs. */
  private sentUntilMs = 0;
  /** Whether audio was written since the last failed connection (keeps an outage retrying). */
  private audioSinceFailure = false;
  private terminalSent = false;
  private failure: string | undefined;
  private awaitingPong = false;
  private pingTimer: unknown;
  private heldFinal: TurnMessage | undefined;
  private pongTimer: unknown;
  private connection = -1;
  private connOffsetMs = 0;
  private connStartedAt = 0;
  private connSentMs = 0;
  private coveredUntilMs = 0;
  private attempts = 0;
  private lastError: { code: number; message: string } | undefined;
  private endRequested = false;
  private terminateSent = false;
  private pumpTimer: unknown;
  private connectTimer: unknown;
  private endWaiters: Array<() => void> = [];
  private endTimer: unknown;

  constructor(
    options: SessionOptions,
    private readonly handlers: SessionHandlers,
  ) {
    const frameMs = Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, options.frameMs ?? 100));
    this.o = {
      frameMs,
      leadMs: Math.max(options.leadMs ?? 500, frameMs),
      connectTimeoutMs: options.connectTimeoutMs ?? 10000,
      terminationTimeoutMs: options.terminationTimeoutMs ?? 5000,
      maxReplayMs: options.maxReplayMs ?? 60000,
      maxPendingMs: options.maxPendingMs ?? 60000,
      startMs: Math.max(0, options.startMs ?? 0),
      pingIntervalMs: options.pingIntervalMs ?? 5000,
      pongTimeoutMs: options.pongTimeoutMs ?? 5000,
      closeGraceMs: options.closeGraceMs ?? 1000,
      healthyAfterMs: options.healthyAfterMs ?? 10000,
      scheduler: options.scheduler ?? realScheduler,
      sessionId: options.sessionId,
      url: options.url,
      apiKey: options.apiKey,
      params: { ...options.params },
      retry: { ...DEFAULT_RETRY, ...options.retry },
      language: options.language ?? "en",
      openSocket: options.openSocket ?? ((url, opts) => new WebSocket(url, opts)),
    };
    this.framer = new PcmFramer(this.bytes(frameMs));
    this.replay = new ReplayBuffer(this.o.maxReplayMs);
    this.url = this.o.url;
    this.nextStartMs = this.sentUntilMs = this.coveredUntilMs = this.o.startMs;
  }

  get state(): SessionState {
    return this.current;
  }

  get sessionId(): string {
    return this.o.sessionId;
  }

  /** Opens the first connection. */
  start(): void {
    this.connect();
  }

  /** Queues audio; it leaves in whole frames at real-time pace. False when refused (see push). */
  write(audio: Buffer): boolean {
    return this.push(audio).ok;
  }

  /**
   * Queues audio, or says why it was refused: the session has ended or failed, or more than maxPendingMs
   * of audio is already waiting to be sent. Nothing is dropped without a refusal.
   */
  push(audio: Buffer): WriteResult {
    if (this.current === "failed") {
      return { ok: false, reason: "failed", message: this.failure ?? "the AssemblyAI session failed" };
    }
    if (this.endRequested || this.current === "closed") {
      return { ok: false, reason: "ended", message: "the AssemblyAI session has ended" };
    }
    this.audioSinceFailure = true;
    const durationMs = (audio.length / this.bytes(1000)) * 1000;
    const waitingMs = this.nextStartMs - this.sentUntilMs;
    if (waitingMs + durationMs > this.o.maxPendingMs) {
      const why =
        this.current === "streaming" ? "audio arrives faster than real time" : "the connection is down";
      return {
        ok: false,
        reason: "full",
        message: `${Math.round(waitingMs / 1000)} s of audio are waiting to be sent (${why}); the limit is ${Math.round(this.o.maxPendingMs / 1000)} s`,
      };
    }
    for (const bytes of this.framer.push(audio)) this.enqueue(bytes);
    this.pump();
    return { ok: true };
  }

  /** Session milliseconds up to which audio was written. */
  get positionMs(): number {
    return this.nextStartMs;
  }

  /**
   * Ends the session: the last partial frame is padded to 50 ms (never dropped), every queued frame
   * is sent, then Terminate; resolves once Termination arrived (every Turn before it delivered), the
   * session failed, or the termination timeout passed.
   */
  end(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (this.current === "closed" || this.current === "failed") resolve();
      else this.endWaiters.push(resolve);
    });
    if (!this.endRequested) {
      this.endRequested = true;
      const tail = this.framer.flush(this.bytes(MIN_FRAME_MS));
      if (tail) this.enqueue(tail);
      this.pump();
    }
    return done;
  }

  /** Stops at once: no Terminate, every timer and the socket closed (terminated), an `ended` event. */
  abort(): void {
    if (this.current === "closed" || this.current === "failed") return;
    this.finish("closed", "aborted", true);
  }

  /** ForceEndpoint: the service finalises the current turn now. False when no connection is open. */
  forceEndpoint(): boolean {
    return this.sendJson({ type: "ForceEndpoint" });
  }

  /**
   * UpdateConfiguration mid-stream (snake_case fields, as on the wire). The fields also go into the URL of
   * every later connection (a reconnect, or a new session after 3008), so the update outlives the
   * connection; while no connection streams they are sent once the next one begins. False once ended.
   */
  updateConfiguration(fields: Partial<StreamingParams>): boolean {
    if (this.endRequested || this.current === "closed" || this.current === "failed") return false;
    this.o.params = { ...this.o.params, ...fields };
    this.url = connectionUrl(this.url, fields);
    if (!this.sendJson({ ...fields, type: "UpdateConfiguration" })) {
      this.unsentUpdate = { ...this.unsentUpdate, ...fields };
    }
    return true;
  }

  private bytes(ms: number): number {
    return bytesForMs(ms, this.o.params.sample_rate, this.o.params.encoding);
  }

  private enqueue(bytes: Buffer): void {
    const durationMs = (bytes.length / this.bytes(1000)) * 1000;
    this.pending.push({ bytes, startMs: this.nextStartMs, durationMs });
    this.nextStartMs += durationMs;
  }

  private setState(state: SessionState): void {
    if (this.current === state) return;
    this.current = state;
    this.handlers.state?.(state);
  }

  private later(fn: () => void, ms: number): unknown {
    const handle = this.o.scheduler.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private cancel(handle: unknown): void {
    if (handle === undefined) return;
    this.o.scheduler.clearTimeout(handle);
    this.timers.delete(handle);
  }

  private sendJson(message: Record<string, unknown>): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || this.current !== "streaming") return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  private connect(): void {
    this.connection++;
    this.lastError = undefined;
    this.setState(this.connection === 0 ? "connecting" : "reconnecting");
    // This connection's URL carries every update so far.
    this.unsentUpdate = undefined;
    let ws: WebSocket;
    try {
      ws = this.o.openSocket(this.url, { headers: { Authorization: this.o.apiKey } });
    } catch (e) {
      // ws throws synchronously on a header value HTTP forbids (a key pasted with a zero-width space or a
      // smart quote) or on a bad URL. Neither gets better by retrying; the key itself is never shown.
      if (isHeaderError(e)) {
        this.fail("auth", 0, "the API key holds a character that is not allowed in an HTTP header");
      } else {
        this.fail("validation", 0, this.scrub(e instanceof Error ? e.message : String(e)));
      }
      return;
    }
    this.ws = ws;
    // Always listen for errors: ws emits them asynchronously, and an unheard one crashes the process.
    ws.on("error", () => undefined);
    ws.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (ws !== this.ws || isBinary) return;
      const message = parseServerMessage(rawText(data));
      if (message) this.onMessage(message);
    });
    ws.on("close", (code: number) => {
      if (ws === this.ws) this.onClose(code);
    });
    ws.on("pong", () => {
      if (ws !== this.ws) return;
      this.awaitingPong = false;
      this.cancel(this.pongTimer);
      this.schedulePing(ws);
    });
    // The service takes about 1.3 s to send Begin; no Begin at all means a stalled connection.
    this.connectTimer = this.later(() => {
      if (ws === this.ws && this.current !== "streaming") ws.terminate();
    }, this.o.connectTimeoutMs);
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "Begin":
        this.cancel(this.connectTimer);
        this.connStartedAt = this.o.scheduler.now();
        this.connSentMs = 0;
        // The new connection's clock starts at the first frame it is sent: replayed audio, or the next new frame.
        this.connOffsetMs = this.pending[0]?.startMs ?? this.nextStartMs;
        this.setState(this.terminateSent ? "ending" : "streaming");
        this.handlers.event({
          event: "begin",
          sessionId: this.o.sessionId,
          serviceSessionId: message.id,
          expiresAt: message.expires_at,
          connection: this.connection,
        });
        this.later(() => {
          if (this.current === "streaming") this.attempts = 0;
        }, this.o.healthyAfterMs);
        if (this.unsentUpdate) {
          const update = this.unsentUpdate;
          this.unsentUpdate = undefined;
          this.sendJson({ ...update, type: "UpdateConfiguration" });
        }
        if (this.ws) this.schedulePing(this.ws);
        this.pump();
        return;
      case "Turn":
        this.onTurn(message);
        return;
      case "Termination":
        this.deliverHeldFinal();
        this.handlers.event({
          event: "termination",
          sessionId: this.o.sessionId,
          audioDurationSeconds: message.audio_duration_seconds,
          sessionDurationSeconds: message.session_duration_seconds,
          connections: this.connection + 1,
        });
        this.terminalSent = true;
        this.finish("closed", "closed");
        return;
      case "Error":
        // The close that follows carries the same code; its reason is only "See Error message for details".
        this.lastError = { code: message.error_code, message: this.scrub(message.error) };
        return;
      case "Warning":
        this.handlers.event({
          event: "warning",
          sessionId: this.o.sessionId,
          code: message.warning_code,
          message: this.scrub(message.warning),
        });
        return;
      default:
        return;
    }
  }

  private onTurn(message: TurnMessage): void {
    // With format_turns on, Universal-Streaming sends each final twice under one turn_order: unformatted,
    // then formatted. The formatted one is the final; the unformatted one goes out as the last partial.
    const awaitFormatted =
      this.o.params.format_turns === true && message.end_of_turn && !message.turn_is_formatted;
    if (this.heldFinal && (awaitFormatted || message.turn_order !== this.heldFinal.turn_order)) {
      // A formatted repeat that never came: the unformatted final is better than none.
      this.deliverHeldFinal();
    }
    if (awaitFormatted) this.heldFinal = message;
    else if (message.end_of_turn) this.heldFinal = undefined;
    this.deliverTurn(awaitFormatted ? { ...message, end_of_turn: false } : message, message);
  }

  /** The unformatted final kept while the formatted repeat is awaited, delivered as the final. */
  private deliverHeldFinal(): void {
    const held = this.heldFinal;
    this.heldFinal = undefined;
    if (held) this.deliverTurn(held, held);
  }

  private deliverTurn(turn: TurnMessage, raw: TurnMessage): void {
    const result = mapTurn(turn, {
      sessionId: this.o.sessionId,
      instance: this.instance,
      connection: this.connection,
      offsetMs: this.connOffsetMs,
      coveredUntilMs: this.coveredUntilMs,
      language: this.o.language,
    });
    if (turn.end_of_turn) {
      const end = turnEndMs(turn, this.connOffsetMs);
      if (end !== undefined && end > this.coveredUntilMs) this.coveredUntilMs = end;
      this.replay.confirm(this.coveredUntilMs);
      this.attempts = 0;
    }
    if (result) this.handlers.result(result, raw);
  }

  private onClose(code: number): void {
    this.ws = undefined;
    this.cancel(this.connectTimer);
    this.cancel(this.pumpTimer);
    this.cancel(this.pingTimer);
    this.cancel(this.pongTimer);
    this.awaitingPong = false;
    // Its turn is not covered yet: the replay on the next connection transcribes it again.
    this.heldFinal = undefined;
    if (this.current === "closed" || this.current === "failed") return;
    const errorText = this.lastError?.message ?? "";
    // A normal close after our Terminate ends the session even if Termination never came.
    const decision = classifyClose(code, errorText, this.terminateSent);
    if (decision.action === "done") {
      this.finish("closed", "closed");
      return;
    }
    if (decision.action === "fail") {
      this.fail(decision.kind, code, errorText);
      return;
    }
    // Reaching the maximum session duration is not a failure: it does not use up the retry budget.
    if (decision.action === "retry") this.attempts++;
    // Past the retry budget, an outage during a live encounter keeps retrying while audio keeps arriving
    // (buffered up to maxPendingMs, refused beyond); once audio stops or the session is ending, give up.
    const outage = this.attempts > this.o.retry.maxRetries;
    if (outage && (this.endRequested || !this.audioSinceFailure)) {
      const lostMs = this.unsentMs();
      const lost = lostMs > 0 ? `; ${(lostMs / 1000).toFixed(1)} s of audio were not transcribed` : "";
      this.fail("retries-exhausted", code, errorText, lost);
      return;
    }
    this.audioSinceFailure = false;
    // Everything not yet covered by a final goes again, ahead of what is still queued.
    this.pending = [...this.replay.takeAll(), ...this.pending];
    this.terminateSent = false;
    this.cancel(this.endTimer);
    const backoffMs = retryDelay(decision, Math.max(1, this.attempts), this.o.retry);
    const delayMs = outage ? Math.min(backoffMs, this.o.retry.outageDelayMs) : backoffMs;
    this.setState("reconnecting");
    this.handlers.event({
      event: "reconnecting",
      sessionId: this.o.sessionId,
      code,
      attempt: this.attempts,
      delayMs,
    });
    this.later(() => {
      if (this.current === "reconnecting") this.connect();
    }, delayMs);
  }

  private fail(kind: FailureKind, code: number, serverText: string, suffix = ""): void {
    const detail = serverText ? ` (${code} ${serverText})` : ` (close ${code})`;
    const error = new AssemblyAiSessionError(kind, code, `${failureText[kind]}${detail}${suffix}`);
    this.failure = error.message;
    this.terminalSent = true;
    this.handlers.event({ event: "error", sessionId: this.o.sessionId, code, kind, message: error.message });
    this.finish("failed", "closed");
  }

  /** Audio written but not covered by a final: what a failure now would leave untranscribed. */
  private unsentMs(): number {
    const replayed = this.replay.heldMs;
    const queued = this.pending.reduce((sum, f) => sum + f.durationMs, 0);
    return replayed + queued;
  }

  /** Pings the open connection; no pong within pongTimeoutMs means a stalled (half-open) connection. */
  private schedulePing(ws: WebSocket): void {
    if (this.o.pingIntervalMs <= 0) return;
    this.cancel(this.pingTimer);
    this.pingTimer = this.later(() => {
      if (ws !== this.ws || ws.readyState !== WebSocket.OPEN) return;
      this.awaitingPong = true;
      ws.ping();
      this.pongTimer = this.later(() => {
        // Terminated, the socket closes with 1006 and reconnects with replay like any dropped connection.
        if (ws === this.ws && this.awaitingPong) ws.terminate();
      }, this.o.pongTimeoutMs);
    }, this.o.pingIntervalMs);
  }

  /** Sends queued frames while they stay within the real-time lead, then Terminate once everything left. */
  private pump(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.current !== "streaming" && this.current !== "ending") return;
    this.cancel(this.pumpTimer);
    this.pumpTimer = undefined;
    for (let frame = this.pending[0]; frame; frame = this.pending[0]) {
      const elapsed = this.o.scheduler.now() - this.connStartedAt;
      const ahead = this.connSentMs + frame.durationMs - (elapsed + this.o.leadMs);
      if (ahead > 0) {
        this.pumpTimer = this.later(() => this.pump(), Math.ceil(ahead));
        return;
      }
      ws.send(frame.bytes);
      this.pending.shift();
      this.connSentMs += frame.durationMs;
      this.sentUntilMs = Math.max(this.sentUntilMs, frame.startMs + frame.durationMs);
      this.replay.add(frame);
    }
    if (this.endRequested && !this.terminateSent) {
      ws.send(JSON.stringify({ type: "Terminate" }));
      this.terminateSent = true;
      this.setState("ending");
      this.endTimer = this.later(() => {
        this.handlers.event({
          event: "warning",
          sessionId: this.o.sessionId,
          code: 0,
          message: `no Termination within ${this.o.terminationTimeoutMs} ms; closed the connection`,
        });
        this.finish("closed", "no-termination");
      }, this.o.terminationTimeoutMs);
    }
  }

  /**
   * Ends the session for good. Every end emits one terminal event: termination or error where they
   * happened, otherwise `ended` with the reason, so that a document collecting the session can close.
   */
  private finish(state: "closed" | "failed", reason: EndReason, hard = false): void {
    for (const handle of this.timers) this.o.scheduler.clearTimeout(handle);
    this.timers.clear();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      // The error listener stays attached: a socket closing late can still emit one.
      if (ws.readyState === WebSocket.OPEN && !hard) {
        ws.close(1000);
        // A peer that never answers the close would keep the socket (and ws's 30 s close timer) alive.
        const grace = this.o.scheduler.setTimeout(() => ws.terminate(), this.o.closeGraceMs);
        ws.once("close", () => this.o.scheduler.clearTimeout(grace));
      } else if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    }
    this.pending = [];
    this.replay.takeAll();
    this.setState(state);
    if (!this.terminalSent) {
      this.terminalSent = true;
      this.handlers.event({
        event: "ended",
        sessionId: this.o.sessionId,
        reason,
        connections: this.connection + 1,
      });
    }
    for (const resolve of this.endWaiters.splice(0)) resolve();
  }

  /** Server texts are shown to users: make sure the key can never be among them. */
  private scrub(text: string): string {
    return this.o.apiKey ? text.split(this.o.apiKey).join("***") : text;
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
