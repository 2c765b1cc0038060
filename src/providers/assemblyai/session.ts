/**
 * One audio session streamed to AssemblyAI v3 over one WebSocket at a time, with reconnects.
 *
 * Audio is cut into fixed frames (50–1000 ms, the service's rule), paced at real time, and kept until a
 * final turn covers it, so that a reconnect can replay it; times stay session-relative across
 * connections. No Node-RED here: the node owns one of these per session id.
 */
import WebSocket from "ws";
import { PcmFramer } from "../../audio/framer";
import type { TranscriptResult } from "../../transcript/result";
import { realScheduler, type Scheduler } from "../../util/scheduler";
import { mapTurn, turnEndMs } from "./mapping";
import { parseServerMessage, type ServerMessage, type TurnMessage } from "./messages";
import { bytesForMs, type StreamingParams } from "./params";
import { ReplayBuffer, type Frame } from "./replay";
import { classifyClose, DEFAULT_RETRY, retryDelay, type FailureKind, type RetryPolicy } from "./retry";

export type SessionState = "connecting" | "streaming" | "reconnecting" | "ending" | "closed" | "failed";

export type SessionEvent =
  | { event: "begin"; sessionId: string; serviceSessionId: string; expiresAt: number; connection: number }
  | { event: "reconnecting"; sessionId: string; code: number; attempt: number; delayMs: number }
  | { event: "warning"; sessionId: string; code: number; message: string }
  | { event: "error"; sessionId: string; code: number; kind: FailureKind; message: string }
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

export class AssemblyAiSession {
  private readonly o: Required<Omit<SessionOptions, "retry" | "openSocket" | "language">> & {
    retry: RetryPolicy;
    language: string;
    openSocket: (url: string, options: SocketOptions) => WebSocket;
  };
  private readonly framer: PcmFramer;
  private readonly replay: ReplayBuffer;
  private readonly timers = new Set<unknown>();
  private ws: WebSocket | undefined;
  private current: SessionState = "connecting";
  private pending: Frame[] = [];
  private nextStartMs = 0;
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
      healthyAfterMs: options.healthyAfterMs ?? 10000,
      scheduler: options.scheduler ?? realScheduler,
      sessionId: options.sessionId,
      url: options.url,
      apiKey: options.apiKey,
      params: options.params,
      retry: { ...DEFAULT_RETRY, ...options.retry },
      language: options.language ?? "en",
      openSocket: options.openSocket ?? ((url, opts) => new WebSocket(url, opts)),
    };
    this.framer = new PcmFramer(this.bytes(frameMs));
    this.replay = new ReplayBuffer(this.o.maxReplayMs);
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

  /** Queues audio; it leaves in whole frames at real-time pace. False once the session has ended. */
  write(audio: Buffer): boolean {
    if (this.endRequested || this.current === "closed" || this.current === "failed") return false;
    for (const bytes of this.framer.push(audio)) this.enqueue(bytes);
    this.pump();
    return true;
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

  /** Stops at once: no Terminate, every timer and the socket closed. */
  abort(): void {
    this.finish("closed");
  }

  /** ForceEndpoint: the service finalises the current turn now. False when no connection is open. */
  forceEndpoint(): boolean {
    return this.sendJson({ type: "ForceEndpoint" });
  }

  /** UpdateConfiguration mid-stream (snake_case fields, as on the wire). */
  updateConfiguration(fields: Record<string, unknown>): boolean {
    return this.sendJson({ ...fields, type: "UpdateConfiguration" });
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
    const ws = this.o.openSocket(this.o.url, { headers: { Authorization: this.o.apiKey } });
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
        this.pump();
        return;
      case "Turn":
        this.onTurn(message);
        return;
      case "Termination":
        this.handlers.event({
          event: "termination",
          sessionId: this.o.sessionId,
          audioDurationSeconds: message.audio_duration_seconds,
          sessionDurationSeconds: message.session_duration_seconds,
          connections: this.connection + 1,
        });
        this.finish("closed");
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

  private onTurn(turn: TurnMessage): void {
    const result = mapTurn(turn, {
      sessionId: this.o.sessionId,
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
    if (result) this.handlers.result(result, turn);
  }

  private onClose(code: number): void {
    this.ws = undefined;
    this.cancel(this.connectTimer);
    this.cancel(this.pumpTimer);
    if (this.current === "closed" || this.current === "failed") return;
    const errorText = this.lastError?.message ?? "";
    // A normal close after our Terminate ends the session even if Termination never came.
    const decision = classifyClose(code, errorText, this.terminateSent);
    if (decision.action === "done") {
      this.finish("closed");
      return;
    }
    if (decision.action === "fail") {
      this.fail(decision.kind, code, errorText);
      return;
    }
    // Reaching the maximum session duration is not a failure: it does not use up the retry budget.
    if (decision.action === "retry") this.attempts++;
    if (this.attempts > this.o.retry.maxRetries) {
      this.fail("retries-exhausted", code, errorText);
      return;
    }
    // Everything not yet covered by a final goes again, ahead of what is still queued.
    this.pending = [...this.replay.takeAll(), ...this.pending];
    this.terminateSent = false;
    this.cancel(this.endTimer);
    const delayMs = retryDelay(decision, Math.max(1, this.attempts), this.o.retry);
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

  private fail(kind: FailureKind, code: number, serverText: string): void {
    const detail = serverText ? ` (${code} ${serverText})` : ` (close ${code})`;
    const error = new AssemblyAiSessionError(kind, code, `${failureText[kind]}${detail}`);
    this.handlers.event({ event: "error", sessionId: this.o.sessionId, code, kind, message: error.message });
    this.finish("failed");
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
        this.finish("closed");
      }, this.o.terminationTimeoutMs);
    }
  }

  private finish(state: "closed" | "failed"): void {
    for (const handle of this.timers) this.o.scheduler.clearTimeout(handle);
    this.timers.clear();
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      // The error listener stays attached: a socket closing late can still emit one.
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    }
    this.pending = [];
    this.replay.takeAll();
    this.setState(state);
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
