/**
 * One audio session streamed to AssemblyAI v3 over one WebSocket at a time, with reconnects.
 *
 * Audio is cut into fixed frames (50–1000 ms, the service's rule), paced at real time, and kept until
 * the service confirms it, so that a reconnect can replay it; times stay session-relative across
 * connections. No Node-RED here: the node owns one of these per session id.
 *
 * Exactly once at every edge (issue #18):
 * - A ledger (`AudioLedger`) says which audio the service confirmed (a final's words, a Silence
 *   acknowledgement, Termination), which is in flight and which is not sent yet. Any end of a connection
 *   while audio is unconfirmed is unexpected, whatever its reason (a drop, a close code, no Termination
 *   after Terminate, a stall): the session reconnects, replays the unconfirmed audio, and ends with
 *   Terminate again, within the retry policy. When it cannot, the error and the account name the
 *   seconds of audio not transcribed.
 * - Liveness (`Liveness`): a connection that answers pings but sends nothing for audio that could carry
 *   speech is probed with ForceEndpoint, and terminated (then replayed) when the probe gets no answer.
 * - A replay is sent faster than real time (`replayRate`) until the connection has caught up.
 * - Finals are delivered once: the words a replay transcribes again are dropped (`DeliveredWords`), and a
 *   segment whose partials were shown but whose final will never come is withdrawn.
 */
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { PcmFramer } from "../../audio/framer";
import { SpeechEnergy } from "../../audio/speech-energy";
import { DeliveredWords } from "../../transcript/replay-dedup";
import { withdrawal, type TranscriptResult } from "../../transcript/result";
import { guard, runGuarded } from "../../util/guard";
import { guardedScheduler, realScheduler, type Scheduler } from "../../util/scheduler";
import type { SessionAccount } from "../session-account";
import { AudioLedger } from "./ledger";
import { Liveness } from "./liveness";
import { mapTurn, PROVIDER } from "./mapping";
import { parseServerMessage, type ServerMessage, type TurnMessage } from "./messages";
import { bytesForMs, connectionUrl, type StreamingParams } from "./params";
import { ReplayBuffer, type Frame } from "./replay";
import { TurnSegments } from "./turn-segments";
import { RetainedAudio } from "../retained-audio";
import { knownServiceText } from "./service-messages";
import { classifyClose, DEFAULT_RETRY, retryDelay, type FailureKind, type RetryPolicy } from "./retry";

/** Why a session ended without a Termination message. */
export type EndReason = "no-termination" | "closed" | "aborted";

/** Why the session reconnects when the close code alone does not say it. */
export type ReconnectReason =
  | "stalled"
  | "no-termination"
  | "oversized-message"
  /** A Termination the session had not asked for (no Terminate sent): the audio goes on, on a new connection. */
  | "unrequested-termination";

/**
 * The largest message accepted from the service. The largest real one is a Turn with its words (about
 * 150–200 bytes of JSON per word, with speaker labels; the transcript and utterance beside them): 4 MiB
 * holds a turn of some 20,000 words, hours of speech without a pause that ends a turn. ws's default
 * (100 MiB) would let one message from a broken or hostile peer hold that much memory per session.
 */
export const MAX_SERVICE_MESSAGE_BYTES = 4 * 2 ** 20;

/**
 * How the session opens its socket by default. No permessage-deflate: audio is PCM, which barely
 * compresses, and a server that accepted the offer would send every frame through zlib's thread pool
 * (CPU and latency per chunk for nothing); the service's JSON is small. A message over
 * MAX_SERVICE_MESSAGE_BYTES ends the connection (ws closes it with 1009), which the session reports and
 * replaces with a new one, replaying the unconfirmed audio, as for any dropped connection.
 */
export function openServiceSocket(url: string, options: SocketOptions): WebSocket {
  return new WebSocket(url, {
    ...options,
    perMessageDeflate: false,
    maxPayload: MAX_SERVICE_MESSAGE_BYTES,
  });
}

/** What happened to a chunk of audio given to the session. */
export type WriteResult =
  { readonly ok: true } | { ok: false; reason: "ended" | "failed" | "full"; message: string };

/** The answer to every accepted write: one object, not one per chunk. */
const ACCEPTED: WriteResult = Object.freeze({ ok: true });

export type SessionState = "connecting" | "streaming" | "reconnecting" | "ending" | "closed" | "failed";

export type SessionEvent =
  | { event: "begin"; sessionId: string; serviceSessionId: string; expiresAt: number; connection: number }
  | {
      event: "reconnecting";
      sessionId: string;
      code: number;
      attempt: number;
      delayMs: number;
      /** Set when the session ended the connection itself: no answer (stalled) or no Termination. */
      reason?: ReconnectReason;
    }
  /** `message` is fit for logs; `serviceMessage` is what the service said, for the payload only. */
  | { event: "warning"; sessionId: string; code: number; message: string; serviceMessage?: string }
  | {
      event: "error";
      sessionId: string;
      code: number;
      kind: FailureKind;
      /** Our own words (or a known service text): fit for logs and Catch errors. */
      message: string;
      /** The service's Error text, when it sent one: it may repeat what it was sent, so payload only. */
      serviceMessage?: string;
      account: SessionAccount;
    }
  /**
   * The session ended without AssemblyAI's Termination (a normal close with nothing left unconfirmed,
   * or stopped at once by abort): every session ends with exactly one of termination, error or ended.
   */
  | { event: "ended"; sessionId: string; reason: EndReason; connections: number; account: SessionAccount }
  | {
      event: "termination";
      sessionId: string;
      audioDurationSeconds: number;
      sessionDurationSeconds: number;
      connections: number;
      account: SessionAccount;
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
  /** A result; `raw` is the service's Turn message (absent on a withdrawal, which the session makes). */
  result(result: TranscriptResult, raw: TurnMessage | undefined): void;
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
  /**
   * How much faster than real time a connection that starts behind (a replay after a reconnect, audio
   * queued while connecting) sends until it has caught up (default 2). AssemblyAI documents no
   * tolerance; see DEFAULT_REPLAY_RATE.
   */
  replayRate?: number;
  connectTimeoutMs?: number;
  terminationTimeoutMs?: number;
  /** Bound on audio kept for replay when nothing confirms it (default 60 s). */
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
  /**
   * Audio that could carry speech, due this long with no message from the service: probe with
   * ForceEndpoint (default 5000 ms; 0: no stall watchdog). See liveness.ts.
   */
  stallTimeoutMs?: number;
  /** No message within this after the probe: the connection is stalled (default 2000 ms). */
  probeTimeoutMs?: number;
  /** How long a closing socket may wait for the service's close frame before it is terminated (default 1000 ms). */
  closeGraceMs?: number;
  /** Words of finals already delivered are recognised in a replay this far apart in time (default 0.5 s). */
  dedupToleranceSeconds?: number;
  retry?: Partial<RetryPolicy>;
  language?: string;
  scheduler?: Scheduler;
  /** Opens the socket; replaceable in tests. */
  openSocket?: (url: string, options: SocketOptions) => WebSocket;
}

const MIN_FRAME_MS = 50;
const MAX_FRAME_MS = 1000;

/**
 * Replay speed. AssemblyAI documents no tolerance for audio sent faster than real time: it asks for
 * real-time pace and warns that a tight loop "can produce inconsistent Turn messages"; the 3007 error
 * was observed at about 310 s of audio ahead of wall time, and 7.3 s sent at 10x was accepted
 * (research-liveness §6, research/assemblyai.md §4.1). A reconnected connection is always ahead of
 * wall time by the replayed backlog, whatever the speed, so the backlog is what the bounds keep small
 * (maxReplayMs + maxPendingMs, 120 s at most); the speed is kept conservative, at twice real time.
 */
export const DEFAULT_REPLAY_RATE = 2;

/**
 * Audio kept for replay before the point a confirmation names: a replay then starts with whole words
 * (the last delivered word, the start of a word a Silence acknowledgement cut into), which the
 * deduplication recognises, instead of the tail of a word the service would hear as a fragment.
 */
const REPLAY_MARGIN_MS = 1000;

const failureText: Record<FailureKind, string> = {
  auth: "AssemblyAI refused the connection (check the API key in the assemblyai-config node)",
  validation: "AssemblyAI refused a session parameter or message",
  inactivity: "AssemblyAI ended the session because it received nothing for the inactivity timeout",
  framing: "AssemblyAI refused the audio framing or pacing",
  "retries-exhausted": "AssemblyAI connection kept failing; gave up after the configured retries",
  internal: "the AssemblyAI session stopped on an internal error",
};

/** Node's ws refuses a header value holding a character HTTP does not allow (ERR_INVALID_CHAR). */
const isHeaderError = (e: unknown): boolean =>
  e instanceof Error &&
  ((e as NodeJS.ErrnoException).code === "ERR_INVALID_CHAR" || /header/i.test(e.message));

const seconds = (ms: number): string => (ms / 1000).toFixed(1);

/** What the live display shows of the segment whose final has not come yet. */
type OpenSegment = Pick<
  TranscriptResult,
  "provider" | "sessionId" | "segmentId" | "startTime" | "endTime" | "language"
>;

export class AssemblyAiSession {
  private readonly o: Required<Omit<SessionOptions, "retry" | "openSocket" | "language" | "scheduler">> & {
    retry: RetryPolicy;
    language: string;
    openSocket: (url: string, options: SocketOptions) => WebSocket;
  };
  /** Every timer goes through this: a throw in one ends the session (internal error), never the process. */
  private readonly clock: Scheduler;
  private readonly framer: PcmFramer;
  private readonly replay: ReplayBuffer;
  private readonly energy: SpeechEnergy;
  private readonly ledger: AudioLedger;
  private readonly liveness: Liveness;
  private readonly delivered: DeliveredWords;
  /** Segment keys of this connection's turns: a reused turn_order never takes a delivered final's id. */
  private readonly turnSegments = new TurnSegments();
  /** Frames of this connection the session could not read (not JSON, no message type, binary). */
  private unreadable = 0;
  /** This connection's Begin came: a second one must not move its clock. */
  private begun = false;
  private readonly timers = new Set<unknown>();
  // Whole frames from the framer go straight to the queue (made once: no array or closure per chunk).
  private readonly frameSink = { push: (bytes: Buffer): void => this.enqueue(bytes) };
  /** Random per session instance: part of every segmentId (see mapping.segmentId). */
  private readonly instance = randomBytes(4).toString("hex");
  /** The connection URL; accepted UpdateConfiguration fields are merged into it for the next connection. */
  private url: string;
  /** Updates accepted while no connection was streaming and not part of the current connection's URL. */
  private unsentUpdate: Partial<StreamingParams> | undefined;
  private ws: WebSocket | undefined;
  private current: SessionState = "connecting";
  private pending: Frame[] = [];
  private pendingMs = 0;
  private nextStartMs = 0;
  /** End of the latest audio ever sent: what lies beyond it counts against maxPendingMs. */
  private sentUntilMs = 0;
  /** Whether audio was written since the last failed connection (keeps an outage retrying). */
  private audioSinceFailure = false;
  private terminalSent = false;
  private failure: string | undefined;
  private awaitingPong = false;
  private pingTimer: unknown;
  private pongTimer: unknown;
  private livenessTimer: unknown;
  private livenessAt = Number.POSITIVE_INFINITY;
  private heldFinal: TurnMessage | undefined;
  /** The segment whose partials were delivered and whose final has not come. */
  private openSegment: OpenSegment | undefined;
  /** A turn is open on the service (SpeechStarted or a partial, no final yet): Silence does not confirm. */
  private turnOpen = false;
  private connection = -1;
  private connOffsetMs = 0;
  private connStartedAt = 0;
  private connSentMs = 0;
  /** Audio queued when the connection began: it may run this far ahead of wall time to catch up. */
  private connBacklogMs = 0;
  private attempts = 0;
  private lastError: { code: number; message: string } | undefined;
  /** Why the session itself ended the current connection, for the reconnecting event. */
  private endedBySession: ReconnectReason | undefined;
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
    const frameMs = Math.min(MAX_FRAME_MS, Math.max(MIN_FRAME_MS, finite(options.frameMs, 100)));
    this.o = {
      frameMs,
      leadMs: Math.max(finite(options.leadMs, 500), frameMs),
      replayRate: Math.max(1, finite(options.replayRate, DEFAULT_REPLAY_RATE)),
      connectTimeoutMs: finite(options.connectTimeoutMs, 10000),
      terminationTimeoutMs: finite(options.terminationTimeoutMs, 5000),
      maxReplayMs: finite(options.maxReplayMs, 60000),
      maxPendingMs: finite(options.maxPendingMs, 60000),
      startMs: Math.max(0, finite(options.startMs, 0)),
      pingIntervalMs: finite(options.pingIntervalMs, 5000),
      pongTimeoutMs: finite(options.pongTimeoutMs, 5000),
      stallTimeoutMs: finite(options.stallTimeoutMs, 5000),
      probeTimeoutMs: finite(options.probeTimeoutMs, 2000),
      closeGraceMs: finite(options.closeGraceMs, 1000),
      dedupToleranceSeconds: finite(options.dedupToleranceSeconds, 0.5),
      sessionId: options.sessionId,
      url: options.url,
      apiKey: options.apiKey,
      params: { ...options.params },
      retry: { ...DEFAULT_RETRY, ...options.retry },
      language: options.language ?? "en",
      openSocket: options.openSocket ?? openServiceSocket,
    };
    this.clock = guardedScheduler(options.scheduler ?? realScheduler, (err) => this.internalFailure(err));
    this.framer = new PcmFramer(this.bytes(frameMs));
    // Slabs of 1 s of audio (at least a frame): see retained-audio.ts for what they cost in memory.
    this.replay = new ReplayBuffer(
      this.o.maxReplayMs,
      new RetainedAudio(Math.max(this.bytes(frameMs), this.bytes(1000))),
    );
    this.energy = new SpeechEnergy({
      sampleRate: this.o.params.sample_rate,
      encoding: this.o.params.encoding,
    });
    this.ledger = new AudioLedger(this.o.startMs);
    this.liveness = new Liveness({ stallMs: this.o.stallTimeoutMs, probeMs: this.o.probeTimeoutMs });
    this.delivered = new DeliveredWords({ toleranceSeconds: this.o.dedupToleranceSeconds });
    this.url = this.o.url;
    this.nextStartMs = this.sentUntilMs = this.o.startMs;
  }

  get state(): SessionState {
    return this.current;
  }

  get sessionId(): string {
    return this.o.sessionId;
  }

  /** The account of the session's audio so far (final once the session ended). */
  get account(): SessionAccount {
    return this.ledger.account(Math.max(0, this.connection));
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
    this.ledger.receive(durationMs);
    // Like the AWS session, the session keeps the caller's audio as it is, without a copy: contract 1
    // has a Buffer handed on never written again (audio-in makes a new one per chunk; Node-RED copies
    // the message for every wire after the first). Whole frames inside it are views of it.
    this.framer.pushTo(audio, true, this.frameSink);
    this.pump();
    return ACCEPTED;
  }

  /** Session milliseconds up to which audio was written. */
  get positionMs(): number {
    return this.nextStartMs;
  }

  /**
   * Ends the session: the last partial frame is padded to 50 ms (never dropped), every queued frame
   * is sent, then Terminate; resolves once Termination arrived (every Turn before it delivered), the
   * session failed, or it ended otherwise (see the terminal events).
   */
  end(): Promise<void> {
    const done = new Promise<void>((resolve) => {
      if (this.current === "closed" || this.current === "failed") resolve();
      else this.endWaiters.push(resolve);
    });
    if (!this.endRequested && this.current !== "closed" && this.current !== "failed") {
      this.endRequested = true;
      const tail = this.framer.flush(this.bytes(MIN_FRAME_MS));
      if (tail) this.enqueue(tail);
      this.pump();
    }
    return done;
  }

  /**
   * Stops at once: no Terminate, every timer and the socket closed (terminated), an `ended` event whose
   * account counts the unconfirmed audio as lost.
   */
  abort(): void {
    if (this.current === "closed" || this.current === "failed") return;
    this.ledger.loseUnconfirmed();
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
    // Judged once, in order, as the frame is made: a replay keeps the verdict.
    const speech = this.energy.frame(bytes);
    this.pending.push({ bytes, startMs: this.nextStartMs, durationMs, speech, receivedAt: this.clock.now() });
    this.pendingMs += durationMs;
    this.nextStartMs += durationMs;
  }

  private setState(state: SessionState): void {
    if (this.current === state) return;
    this.current = state;
    this.handlers.state?.(state);
  }

  private later(fn: () => void, ms: number): unknown {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
    return handle;
  }

  private cancel(handle: unknown): void {
    if (handle === undefined) return;
    this.clock.clearTimeout(handle);
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
    this.unreadable = 0;
    this.begun = false;
    this.turnSegments.reset();
    this.endedBySession = undefined;
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
    const onError = (err: Error): void => this.internalFailure(err);
    // Always listen for errors: ws emits them asynchronously, and an unheard one crashes the process.
    ws.on(
      "error",
      guard((err: Error) => {
        if (ws !== this.ws || (err as NodeJS.ErrnoException).code !== "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH")
          return;
        // ws ends the connection (1009) after this; its close reconnects with replay like any drop.
        this.endedBySession = "oversized-message";
        this.handlers.event({
          event: "warning",
          sessionId: this.o.sessionId,
          code: 1009,
          message: `AssemblyAI sent a message over the ${MAX_SERVICE_MESSAGE_BYTES / 2 ** 20} MiB limit; the connection was ended and its unconfirmed audio is sent again on a new one`,
        });
      }, onError),
    );
    ws.on(
      "message",
      guard((data: WebSocket.RawData, isBinary: boolean) => {
        if (ws !== this.ws) return;
        const message = isBinary ? undefined : parseServerMessage(rawText(data));
        // A frame nobody can read is no evidence of a working service (a proxy's error page, a broken
        // peer answering junk would otherwise hide a stall for ever): said once, then left to the watchdog.
        if (!message) {
          this.onUnreadable(isBinary);
          return;
        }
        // Anything the service says is evidence that it is alive.
        this.liveness.heard(message.type === "Silence" ? "silence" : "other");
        this.onMessage(message);
        this.armLiveness();
      }, onError),
    );
    ws.on(
      "close",
      guard((code: number, reason: Buffer) => {
        if (ws === this.ws) this.onClose(code, reason.toString("utf8"));
      }, onError),
    );
    ws.on(
      "pong",
      guard(() => {
        if (ws !== this.ws) return;
        this.awaitingPong = false;
        this.cancel(this.pongTimer);
        this.schedulePing(ws);
      }, onError),
    );
    // The service takes about 1.3 s to send Begin; no Begin at all means a stalled connection.
    this.connectTimer = this.later(() => {
      if (ws === this.ws && this.current !== "streaming") ws.terminate();
    }, this.o.connectTimeoutMs);
  }

  /** A frame that is not a message of the service: one warning per connection, without its content. */
  private onUnreadable(binary: boolean): void {
    if (this.unreadable++ > 0) return;
    this.handlers.event({
      event: "warning",
      sessionId: this.o.sessionId,
      code: 0,
      message: `AssemblyAI sent a ${binary ? "binary frame" : "text frame that is not a message of its protocol (not JSON, or no message type)"} the node could not read; ignored, and not taken as an answer to the audio`,
    });
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "Begin":
        // Once per connection: a repeated Begin would restart the connection's clock mid-stream and
        // shift every later result's times.
        if (this.begun) return;
        this.begun = true;
        this.onBegin(message.id, message.expires_at);
        return;
      case "Turn":
        if (!message.end_of_turn) this.turnOpen = true;
        this.onTurn(message);
        return;
      case "Termination":
        this.deliverHeldFinal();
        if (!this.terminateSent) {
          this.onUnrequestedTermination();
          return;
        }
        // Every audio this connection was sent is processed: nothing is left to replay.
        this.ledger.confirm(this.sentUntilMs);
        this.replay.clear();
        this.terminalSent = true;
        this.withdrawOpenSegment();
        this.handlers.event({
          event: "termination",
          sessionId: this.o.sessionId,
          audioDurationSeconds: message.audio_duration_seconds,
          sessionDurationSeconds: message.session_duration_seconds,
          connections: this.connection + 1,
          account: this.account,
        });
        this.finish("closed", "closed");
        return;
      case "Error":
        // The close that follows carries the same code; its reason is only "See Error message for details".
        this.lastError = { code: message.error_code, message: this.scrub(message.error) };
        return;
      case "Warning": {
        const said = this.scrub(message.warning);
        this.handlers.event({
          event: "warning",
          sessionId: this.o.sessionId,
          code: message.warning_code,
          message: `AssemblyAI warning ${message.warning_code}: ${knownServiceText(said) ?? UNKNOWN_TEXT}`,
          serviceMessage: said,
        });
        return;
      }
      case "Silence":
        this.onSilence(message.start_ms, message.end_ms);
        return;
      case "Other":
        if (message.serverType === "SpeechStarted") this.turnOpen = true;
        return;
      default:
        return;
    }
  }

  /**
   * The service ended the session though the node had not sent Terminate (the audio goes on). Nothing
   * says what it processed: this connection is ended and its unconfirmed audio replayed into a new one,
   * where the words already delivered are left out.
   */
  private onUnrequestedTermination(): void {
    this.handlers.event({
      event: "warning",
      sessionId: this.o.sessionId,
      code: 0,
      message: `AssemblyAI ended the session before the node asked it to; ${seconds(this.ledger.unconfirmedMs)} s of unconfirmed audio are sent again on a new connection`,
    });
    this.dropConnection("unrequested-termination");
  }

  private onBegin(id: string, expiresAt: number): void {
    this.cancel(this.connectTimer);
    this.connStartedAt = this.clock.now();
    this.connSentMs = 0;
    this.turnOpen = false;
    // The new connection's clock starts at the first frame it is sent: replayed audio, or the next new frame.
    this.connOffsetMs = this.pending[0]?.startMs ?? this.nextStartMs;
    // The queue is behind live by the age of its oldest frame (at most its length: a source that wrote
    // faster than real time is not behind): that much may be sent faster, until it has caught up.
    const oldest = this.pending[0]?.receivedAt;
    this.connBacklogMs =
      oldest === undefined ? 0 : Math.min(this.pendingMs, Math.max(0, this.connStartedAt - oldest));
    this.liveness.reset();
    this.setState(this.terminateSent ? "ending" : "streaming");
    this.handlers.event({
      event: "begin",
      sessionId: this.o.sessionId,
      serviceSessionId: id,
      expiresAt,
      connection: this.connection,
    });
    if (this.unsentUpdate) {
      const update = this.unsentUpdate;
      this.unsentUpdate = undefined;
      this.sendJson({ ...update, type: "UpdateConfiguration" });
    }
    if (this.ws) this.schedulePing(this.ws);
    this.pump();
  }

  /**
   * A Silence acknowledgement: the service heard no speech in this stretch of the connection's audio,
   * so everything up to its end is confirmed, unless a turn is open (its words come before it).
   */
  private onSilence(_startMs: number, endMs: number): void {
    if (this.turnOpen) return;
    this.confirm(this.connOffsetMs + endMs, this.connOffsetMs + endMs);
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
    const mapped = mapTurn(turn, {
      sessionId: this.o.sessionId,
      instance: this.instance,
      connection: this.connection,
      offsetMs: this.connOffsetMs,
      language: this.o.language,
      turnKey: this.turnSegments.key(turn.turn_order, turn.end_of_turn),
    });
    // What a replay transcribes again was delivered already: only the new words go out.
    const result = mapped && this.delivered.fresh(mapped);
    if (turn.end_of_turn) {
      this.turnOpen = false;
      const last = turn.words[turn.words.length - 1];
      if (last) this.confirm(this.connOffsetMs + last.end, this.connOffsetMs + last.start);
      if (result) this.delivered.record(result);
      // A segment left open (its words all repeats now, or another turn's) will not get its final.
      if (this.openSegment && this.openSegment.segmentId !== result?.segmentId) this.withdrawOpenSegment();
      this.openSegment = undefined;
    } else if (result) {
      this.openSegment = {
        provider: PROVIDER,
        sessionId: result.sessionId,
        segmentId: result.segmentId,
        startTime: result.startTime,
        endTime: result.endTime,
        language: result.language,
      };
    }
    if (result) this.handlers.result(result, raw);
  }

  /**
   * The service confirmed the audio up to `untilMs`; the replay keeps audio from `keepFromMs` less a
   * margin, so that a later replay starts with whole words.
   */
  private confirm(untilMs: number, keepFromMs: number): void {
    const before = this.ledger.confirmedUntil;
    this.ledger.confirm(untilMs);
    this.replay.confirm(Math.min(untilMs, keepFromMs - REPLAY_MARGIN_MS));
    // Progress: the retry budget starts again.
    if (this.ledger.confirmedUntil > before) this.attempts = 0;
  }

  /** A result that removes what was shown of the open segment: its final will not come under that id. */
  private withdrawOpenSegment(ending = false): void {
    const open = this.openSegment;
    this.openSegment = undefined;
    if (!open) return;
    // While the session ends (perhaps because the handler threw), a throw must not stop its end event.
    if (ending)
      runGuarded(
        () => this.handlers.result(withdrawal(open), undefined),
        () => undefined,
      );
    else this.handlers.result(withdrawal(open), undefined);
  }

  private onClose(code: number, reason = ""): void {
    this.ws = undefined;
    this.cancel(this.connectTimer);
    this.cancel(this.pumpTimer);
    this.cancel(this.pingTimer);
    this.cancel(this.pongTimer);
    this.cancel(this.endTimer);
    this.cancelLiveness();
    this.awaitingPong = false;
    // Its turn is not covered yet: the replay on the next connection transcribes it again.
    this.heldFinal = undefined;
    this.turnOpen = false;
    if (this.current === "closed" || this.current === "failed") return;
    // What the live display shows of a turn cut off here is transcribed again, under a new segment.
    this.withdrawOpenSegment();
    // The Error frame's text, else the close reason: a peer may give only the reason ("Too many
    // concurrent sessions" on a 1008, which is not an auth failure).
    const errorText = this.lastError?.message ?? this.scrub(reason);
    let decision = classifyClose(code, errorText, this.terminateSent);
    if (decision.action === "done") {
      // A normal close after our Terminate ends the session, unless audio is left unconfirmed (no
      // Termination came, so nothing says the service processed it): then it is replayed.
      if (this.ledger.unconfirmedMs <= 0) {
        this.finish("closed", "closed");
        return;
      }
      decision = { action: "retry", backoff: false };
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
      this.fail("retries-exhausted", code, errorText);
      return;
    }
    this.audioSinceFailure = false;
    // Everything not yet confirmed goes again, ahead of what is still queued.
    const replayed = this.replay.takeAll();
    const replayFrom = replayed[0]?.startMs ?? this.pending[0]?.startMs ?? this.nextStartMs;
    // Audio that fell out of a full replay buffer cannot be replayed: counted, and said at once.
    const lostMs = this.ledger.lose(this.ledger.confirmedUntil, replayFrom);
    if (lostMs > 0) {
      this.handlers.event({
        event: "warning",
        sessionId: this.o.sessionId,
        code: 0,
        message: `${seconds(lostMs)} s of audio could not be replayed after the connection was lost (the replay buffer holds ${seconds(this.o.maxReplayMs)} s) and were not transcribed`,
      });
    }
    if (replayed.length > 0) {
      for (const f of replayed) this.pendingMs += f.durationMs;
      this.pending = replayed.concat(this.pending);
    }
    this.delivered.replayFrom(replayFrom / 1000);
    this.terminateSent = false;
    const backoffMs = retryDelay(decision, Math.max(1, this.attempts), this.o.retry);
    const delayMs = outage ? Math.min(backoffMs, this.o.retry.outageDelayMs) : backoffMs;
    this.setState("reconnecting");
    this.handlers.event({
      event: "reconnecting",
      sessionId: this.o.sessionId,
      code,
      attempt: this.attempts,
      delayMs,
      ...(this.endedBySession ? { reason: this.endedBySession } : {}),
    });
    this.later(() => {
      if (this.current === "reconnecting") this.connect();
    }, delayMs);
  }

  /** Ends the current connection from our side; its close reconnects with replay like any drop. */
  private dropConnection(reason: ReconnectReason): void {
    const ws = this.ws;
    if (!ws) return;
    this.endedBySession = reason;
    ws.terminate();
  }

  private fail(kind: FailureKind, code: number, serverText: string): void {
    if (this.current === "closed" || this.current === "failed") return;
    const lostMs = this.ledger.loseUnconfirmed();
    // A service text goes into the message only when it is a known one (see service-messages).
    // Code 0 marks our own text (a refused header, an internal error's class), shown as it is.
    const fromService = code !== 0 && serverText !== "";
    const shown = fromService ? (knownServiceText(serverText) ?? UNKNOWN_TEXT) : serverText;
    const detail = !shown ? ` (close ${code})` : code === 0 ? ` (${shown})` : ` (${code} ${shown})`;
    const lost = lostMs > 0 ? `; ${seconds(lostMs)} s of audio were not transcribed` : "";
    const error = new AssemblyAiSessionError(kind, code, `${failureText[kind]}${detail}${lost}`);
    this.failure = error.message;
    this.terminalSent = true;
    this.withdrawOpenSegment(true);
    this.handlers.event({
      event: "error",
      sessionId: this.o.sessionId,
      code,
      kind,
      message: error.message,
      ...(fromService ? { serviceMessage: serverText } : {}),
      account: this.account,
    });
    this.finish("failed", "closed");
  }

  /** A throw inside the session's own machinery (a socket or timer callback): this session ends, clearly. */
  private internalFailure(err: Error): void {
    runGuarded(
      () => this.fail("internal", 0, err.name),
      () => {
        // Reporting failed too: still stop every timer and the socket.
        this.finish("failed", "closed", true);
      },
    );
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
        if (ws === this.ws && this.awaitingPong) this.dropConnection("stalled");
      }, this.o.pongTimeoutMs);
    }, this.o.pingIntervalMs);
  }

  /** Runs the stall watchdog: probe, or end a connection that owes an answer and gives none. */
  private checkLiveness(): void {
    this.livenessAt = Number.POSITIVE_INFINITY;
    this.livenessTimer = undefined;
    if (this.current !== "streaming" || !this.ws) return;
    const verdict = this.liveness.check(this.clock.now());
    if (verdict === "stalled") {
      this.dropConnection("stalled");
      return;
    }
    if (verdict === "probe") {
      // An alive service with a turn open answers with its final in about 270 ms.
      if (this.sendJson({ type: "ForceEndpoint" })) this.liveness.probed(this.clock.now());
    }
    this.armLiveness();
  }

  /** Arms one timer for the watchdog's next verdict (kept when an earlier one is armed already). */
  private armLiveness(): void {
    if (this.current !== "streaming") return this.cancelLiveness();
    const at = this.liveness.nextCheckAt();
    if (at === undefined || at >= this.livenessAt) return;
    this.cancel(this.livenessTimer);
    this.livenessAt = at;
    this.livenessTimer = this.later(() => this.checkLiveness(), Math.max(0, at - this.clock.now()));
  }

  private cancelLiveness(): void {
    this.cancel(this.livenessTimer);
    this.livenessTimer = undefined;
    this.livenessAt = Number.POSITIVE_INFINITY;
  }

  /**
   * Sends queued frames while they stay within the allowance, then Terminate once everything left.
   * The allowance is real time plus the lead; a connection that began behind (a replay, audio queued
   * while connecting) may go up to `replayRate` times faster until it has caught up with its backlog.
   */
  private pump(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.current !== "streaming" && this.current !== "ending") return;
    this.cancel(this.pumpTimer);
    this.pumpTimer = undefined;
    const now = this.clock.now();
    const elapsed = now - this.connStartedAt;
    const catchingUp = this.o.replayRate * elapsed < elapsed + this.connBacklogMs;
    const allowance = Math.min(this.o.replayRate * elapsed, elapsed + this.connBacklogMs) + this.o.leadMs;
    for (let frame = this.pending[0]; frame; frame = this.pending[0]) {
      const ahead = this.connSentMs + frame.durationMs - allowance;
      if (ahead > 0) {
        const waitMs = catchingUp ? ahead / this.o.replayRate : ahead;
        this.pumpTimer = this.later(() => this.pump(), Math.max(1, Math.ceil(waitMs)));
        break;
      }
      ws.send(frame.bytes);
      this.pending.shift();
      this.pendingMs -= frame.durationMs;
      this.connSentMs += frame.durationMs;
      const endMs = frame.startMs + frame.durationMs;
      this.sentUntilMs = Math.max(this.sentUntilMs, endMs);
      this.ledger.sent(endMs);
      this.replay.add(frame);
      // Due when a service transcribing at real time could have heard it, and not before it was sent.
      this.liveness.sent(
        Math.max(now, this.connStartedAt + this.connSentMs),
        frame.durationMs,
        frame.speech === true,
      );
    }
    if (this.pending.length === 0 && this.endRequested && !this.terminateSent) {
      ws.send(JSON.stringify({ type: "Terminate" }));
      this.terminateSent = true;
      this.cancelLiveness();
      this.setState("ending");
      this.endTimer = this.later(() => this.onNoTermination(), this.o.terminationTimeoutMs);
    }
    this.armLiveness();
  }

  /**
   * No Termination within the wait. With audio unconfirmed, nothing says the service processed it: the
   * connection is ended and the audio replayed into a new one (within the retry policy). With
   * everything confirmed, the session ends here.
   */
  private onNoTermination(): void {
    if (this.ledger.unconfirmedMs > 0 && this.ws) {
      this.handlers.event({
        event: "warning",
        sessionId: this.o.sessionId,
        code: 0,
        message: `no Termination within ${this.o.terminationTimeoutMs} ms; ${seconds(this.ledger.unconfirmedMs)} s of audio are unconfirmed and are sent again on a new connection`,
      });
      this.dropConnection("no-termination");
      return;
    }
    this.handlers.event({
      event: "warning",
      sessionId: this.o.sessionId,
      code: 0,
      message: `no Termination within ${this.o.terminationTimeoutMs} ms; closed the connection`,
    });
    this.finish("closed", "no-termination");
  }

  /**
   * Ends the session for good. Every end emits one terminal event: termination or error where they
   * happened, otherwise `ended` with the reason, so that a document collecting the session can close.
   */
  private finish(state: "closed" | "failed", reason: EndReason, hard = false): void {
    if (this.current === "closed" || this.current === "failed") return;
    for (const handle of this.timers) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.livenessAt = Number.POSITIVE_INFINITY;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      // The error listener stays attached: a socket closing late can still emit one.
      if (ws.readyState === WebSocket.OPEN && !hard) {
        ws.close(1000);
        // A peer that never answers the close would keep the socket (and ws's 30 s close timer) alive.
        const grace = this.clock.setTimeout(() => ws.terminate(), this.o.closeGraceMs);
        ws.once("close", () => this.clock.clearTimeout(grace));
      } else if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
    }
    // Nothing unconfirmed may go unreported: at an ordinary end this is zero.
    this.ledger.loseUnconfirmed();
    this.pending = [];
    this.pendingMs = 0;
    this.replay.clear();
    if (!this.terminalSent) {
      this.terminalSent = true;
      this.withdrawOpenSegment(true);
      this.setState(state);
      this.handlers.event({
        event: "ended",
        sessionId: this.o.sessionId,
        reason,
        connections: this.connection + 1,
        account: this.account,
      });
    } else this.setState(state);
    for (const resolve of this.endWaiters.splice(0)) resolve();
  }

  /** Server texts are shown to users: make sure the key can never be among them. */
  private scrub(text: string): string {
    return this.o.apiKey ? text.split(this.o.apiKey).join("***") : text;
  }
}

/** In place of a service text that is not a known one (it may repeat what the service was sent). */
const UNKNOWN_TEXT = "the service's text is not shown here: see msg.payload.serviceMessage";

function finite(v: number | undefined, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : fallback;
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data).toString("utf8");
  return Buffer.from(data).toString("utf8");
}
