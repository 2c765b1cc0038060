import type { AudioStream, TranscriptEvent } from "@aws-sdk/client-transcribe-streaming";
import { randomUUID } from "node:crypto";
import { meanConfidence } from "../../transcript/confidence";
import type { TranscriptResult } from "../../transcript/result";
import { QuietTimer } from "../../util/quiet-timer";
import type { Scheduler } from "../../util/scheduler";
import { backoffMs, classifyError, stalled, unexpectedEnd, type StreamFailure } from "./errors";
import { mapTranscriptEvent, roundSeconds } from "./mapping";
import { pcmBytesPerSecond } from "./params";
import type { StreamService } from "./service";
import { AudioLedger, StreamTimeline } from "./timeline";

export interface SessionTuning {
  /** Audio not yet sent that a session may hold (bytes); beyond it push() refuses. */
  maxQueueSeconds: number;
  /** Audio kept for replay when no final covers it for this long (seconds). */
  maxReplaySeconds: number;
  /** Silence is sent after this long without audio; the service ends a stream after 15 s. */
  keepaliveMs: number;
  /** Audio went out but no event came back for this long: the stream is stalled. */
  watchdogMs: number;
  /** Roll over to a new stream after this much stream audio (the service's limit is 4 h). */
  maxStreamMs: number;
  /**
   * Consecutive failed attempts, with no audio arriving meanwhile, before the session gives up. While
   * audio keeps arriving the session keeps retrying at the capped backoff (the bounded queue refuses
   * what it cannot hold), so an outage of any length loses nothing silently.
   */
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A stream that lived this long (or delivered results) counts as healthy and resets the attempts. */
  healthyMs: number;
  /** Length of one keepalive silence frame. */
  keepaliveFrameMs: number;
}

export const DEFAULT_TUNING: SessionTuning = {
  maxQueueSeconds: 30,
  maxReplaySeconds: 120,
  keepaliveMs: 10_000,
  watchdogMs: 20_000,
  maxStreamMs: (4 * 60 - 5) * 60_000,
  maxAttempts: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 10_000,
  healthyMs: 10_000,
  keepaliveFrameMs: 100,
};

export interface SessionErrorInfo {
  code: string;
  message: string;
}

export type SessionEvent =
  | { event: "started"; sessionId: string }
  | { event: "reconnecting"; sessionId: string; attempt: number; delayMs: number; error: SessionErrorInfo }
  | { event: "ended"; sessionId: string; audioSeconds: number }
  /** `resumable`: the service may well accept a new stream (the session gave up while no audio came). */
  | { event: "error"; sessionId: string; error: SessionErrorInfo; resumable: boolean };

export type SessionState = "connecting" | "streaming" | "reconnecting" | "ended";

export interface SessionHandlers {
  result(result: TranscriptResult, raw: TranscriptEvent): void;
  event(event: SessionEvent): void;
  /** Every change of `state`, for status displays. */
  state?(state: SessionState): void;
}

export type PushResult = { ok: true } | { ok: false; reason: "ended" | "queue-full" };

export interface SessionOptions {
  sessionId: string;
  /** Which service (medical or standard), its audio format and how to open a stream. */
  service: StreamService;
  scheduler: Scheduler;
  handlers: SessionHandlers;
  tuning?: Partial<SessionTuning>;
  /** Strings that must never appear in an error message (credentials). */
  secrets?: readonly string[];
  /**
   * Session time (seconds) of the session's first audio: a session reopened after an earlier one of the
   * same id ended continues that one's times (contract 1 `audio.offsetMs`).
   */
  startSeconds?: number;
}

/** Largest audio event sent to the service: research/aws.md recommends at most 16 KiB (and 1 s). */
export const MAX_FRAME_BYTES = 16 * 1024;

type Outcome =
  | { kind: "completed" }
  | { kind: "aborted" }
  | { kind: "rollover" }
  | { kind: "failed"; failure: StreamFailure; healthy: boolean };

/** One provider stream of the session. */
interface Attempt {
  ac: AbortController;
  timeline: StreamTimeline;
  cursor: number;
  stopped: boolean;
  audioDone: boolean;
  rollingOver: boolean;
  startedAt: number;
  results: number;
  reason?: StreamFailure;
  /**
   * The stream is stalled when audio has gone out for `watchdogMs` with no event back: touched when
   * audio goes out unanswered, paused by every event.
   */
  watchdog: QuietTimer;
}

/**
 * One audio session streamed to Amazon Transcribe (Medical or standard): one provider stream at a
 * time, reconnected with bounded backoff when the service or the network fails, replaying the audio
 * no delivered final covers yet, with session-relative times and no final delivered twice.
 */
export class AwsStreamSession {
  readonly done: Promise<void>;
  private readonly tuning: SessionTuning;
  private readonly ledger: AudioLedger;
  private readonly bytesPerSecond: number;
  private readonly pcm: boolean;
  private readonly startSeconds: number;
  private readonly maxFrameBytes: number;
  /** Calls of push() (accepted or not): the source is alive while this grows. */
  private pushes = 0;
  private awsSessionId = randomUUID();
  private current: Attempt | undefined;
  private inputEnded = false;
  private aborted = false;
  private started = false;
  private highestSent = 0;
  /** Bytes sent on a stream that answered afterwards: the service has them (or a replay will resend them). */
  private acked = 0;
  private keepaliveDue = false;
  /** Silence goes out after `keepaliveMs` without audio (PCM only), and every `keepaliveMs` after that. */
  private readonly keepalive: QuietTimer;
  private backoffTimer: unknown;
  private wake: (() => void) | undefined;
  /** End time of the last delivered final, per channel ("" without channel identification). */
  private readonly delivered = new Map<string, number>();
  private stateNow: SessionState = "connecting";

  constructor(private readonly opts: SessionOptions) {
    this.tuning = { ...DEFAULT_TUNING, ...opts.tuning };
    this.pcm = opts.service.format.mediaEncoding === "pcm";
    this.bytesPerSecond = pcmBytesPerSecond(opts.service.format);
    this.ledger = new AudioLedger(this.bytesPerSecond, this.tuning.maxReplaySeconds * this.bytesPerSecond);
    this.startSeconds = Math.max(0, opts.startSeconds ?? 0);
    // PCM frames stay whole samples of every channel; compressed bytes may be cut anywhere.
    const align = this.pcm ? opts.service.format.channels * 2 : 1;
    const cap = this.pcm ? Math.min(MAX_FRAME_BYTES, this.bytesPerSecond) : MAX_FRAME_BYTES;
    this.maxFrameBytes = Math.max(align, cap - (cap % align));
    this.keepalive = new QuietTimer(opts.scheduler, this.tuning.keepaliveMs, () => this.keepaliveDueNow());
    this.done = this.run();
  }

  get state(): SessionState {
    return this.stateNow;
  }

  private set state_(next: SessionState) {
    if (next === this.stateNow) return;
    this.stateNow = next;
    this.opts.handlers.state?.(next);
  }

  private get state_(): SessionState {
    return this.stateNow;
  }

  get sessionId(): string {
    return this.opts.sessionId;
  }

  /** Seconds of audio received for this session. */
  get audioSeconds(): number {
    return this.ledger.seconds(this.ledger.receivedBytes);
  }

  push(audio: Buffer): PushResult {
    if (this.inputEnded || this.aborted || this.state_ === "ended") return { ok: false, reason: "ended" };
    this.pushes++;
    // Measured from what reached a live stream: during an outage every attempt pulls audio into a
    // dead connection, and that audio must stay queued (and counted) until a stream answers.
    if (this.ledger.receivedBytes - this.acked > this.tuning.maxQueueSeconds * this.bytesPerSecond) {
      return { ok: false, reason: "queue-full" };
    }
    // The common chunk (at most one frame) is queued as it is, without a view of it; an empty one
    // (an end marker) adds nothing, since an empty audio event would end the stream.
    if (audio.length <= this.maxFrameBytes) {
      if (audio.length > 0) this.ledger.add(audio);
    } else {
      for (let at = 0; at < audio.length; at += this.maxFrameBytes) {
        this.ledger.add(audio.subarray(at, Math.min(audio.length, at + this.maxFrameBytes)));
      }
    }
    this.armKeepalive();
    this.notify();
    return { ok: true };
  }

  /** Ends the audio: the stream sends its last finals and closes; resolves when the session has ended. */
  end(): Promise<void> {
    this.inputEnded = true;
    this.notify();
    return this.done;
  }

  /** Tears the session down now (node close after the grace period, or a redeploy). */
  abort(): Promise<void> {
    this.aborted = true;
    this.inputEnded = true;
    this.opts.scheduler.clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    if (this.current) {
      this.current.stopped = true;
      this.current.ac.abort();
    }
    this.notify();
    this.wakeBackoff?.();
    return this.done;
  }

  private wakeBackoff: (() => void) | undefined;

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * Notes that audio arrived. One timer runs per keep-alive interval and looks at when audio last came,
   * instead of being cleared and set again for every chunk of every session.
   */
  private armKeepalive(): void {
    // Silence can only be made for PCM; other encodings accept the service's idle timeout.
    if (this.pcm && !this.inputEnded) this.keepalive.touch();
  }

  private keepaliveDueNow(): void {
    if (this.inputEnded || this.state_ === "ended") return;
    this.keepaliveDue = true;
    this.notify();
    this.keepalive.touch();
  }

  private async run(): Promise<void> {
    let failures = 0;
    /** Consecutive failures during which no audio arrived: only these count towards giving up. */
    let quietFailures = 0;
    let pushesAtLastFailure = this.pushes;
    let last: SessionErrorInfo | undefined;
    try {
      for (;;) {
        const outcome = await this.attempt();
        if (outcome.kind === "completed" || outcome.kind === "aborted") break;
        if (outcome.kind === "rollover") {
          failures = 0;
          quietFailures = 0;
          continue;
        }
        const { failure } = outcome;
        last = { code: failure.code, message: failure.message };
        if (failure.kind === "fatal" || !this.pcm) {
          if (failure.kind !== "fatal") {
            // Only PCM can be replayed from any frame; a flac or ogg stream restarts only from its header.
            last = {
              ...last,
              message: `${last.message} (no reconnect: ${this.opts.service.format.mediaEncoding} audio cannot be resumed)`,
            };
          }
          this.opts.handlers.event({
            event: "error",
            sessionId: this.sessionId,
            error: last,
            resumable: false,
          });
          break;
        }
        failures = outcome.healthy ? 1 : failures + 1;
        // A live source (audio arrived since the last failure) keeps the session retrying: an outage
        // longer than the backoff budget must not end an encounter. Only a quiet or ended source gives up.
        const audioArrived = this.pushes !== pushesAtLastFailure && !this.inputEnded;
        pushesAtLastFailure = this.pushes;
        quietFailures = outcome.healthy || audioArrived ? 0 : quietFailures + 1;
        if (quietFailures >= this.tuning.maxAttempts) {
          // Audio no live stream took: attempts during an outage pull it into dead connections.
          const unsent = this.ledger.seconds(Math.max(0, this.ledger.receivedBytes - this.acked));
          this.opts.handlers.event({
            event: "error",
            sessionId: this.sessionId,
            resumable: true,
            error: {
              code: failure.code,
              message: `gave up after ${this.tuning.maxAttempts} attempts without new audio: ${failure.message}${
                unsent > 0 ? ` (${unsent.toFixed(1)} s of audio not transcribed)` : ""
              }`,
            },
          });
          break;
        }
        if (failure.newSessionId) this.awsSessionId = randomUUID();
        const delayMs = backoffMs(failures, this.tuning.backoffBaseMs, this.tuning.backoffMaxMs);
        this.state_ = "reconnecting";
        this.opts.handlers.event({
          event: "reconnecting",
          sessionId: this.sessionId,
          attempt: failures,
          delayMs,
          error: last,
        });
        await this.sleep(delayMs);
        if (this.aborted) break;
      }
    } finally {
      this.state_ = "ended";
      this.keepalive.stop();
      this.opts.scheduler.clearTimeout(this.backoffTimer);
      this.opts.handlers.event({
        event: "ended",
        sessionId: this.sessionId,
        audioSeconds: this.audioSeconds,
      });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeBackoff = () => {
        this.wakeBackoff = undefined;
        resolve();
      };
      this.backoffTimer = this.opts.scheduler.setTimeout(() => this.wakeBackoff?.(), ms);
    });
  }

  private async attempt(): Promise<Outcome> {
    const sched = this.opts.scheduler;
    const a: Attempt = {
      ac: new AbortController(),
      timeline: new StreamTimeline(),
      cursor: this.pcm ? this.ledger.replayFrom : this.highestSent,
      stopped: false,
      audioDone: false,
      rollingOver: false,
      startedAt: sched.now(),
      results: 0,
      watchdog: new QuietTimer(sched, this.tuning.watchdogMs, () => {
        if (a.stopped) return;
        a.reason = stalled(this.tuning.watchdogMs);
        a.stopped = true;
        a.ac.abort();
        this.notify();
      }),
    };
    this.current = a;
    if (this.state_ !== "reconnecting") this.state_ = "connecting";
    const healthy = (): boolean => a.results > 0 || sched.now() - a.startedAt >= this.tuning.healthyMs;
    try {
      const events = await this.opts.service.open(this.audio(a), this.awsSessionId, a.ac.signal);
      this.state_ = "streaming";
      if (!this.started) {
        this.started = true;
        this.opts.handlers.event({ event: "started", sessionId: this.sessionId });
      }
      for await (const ev of events ?? []) {
        a.watchdog.pause();
        this.acked = Math.max(this.acked, a.cursor);
        if (ev.TranscriptEvent) this.deliver(a, ev.TranscriptEvent);
        else {
          // Exceptions normally come as thrown errors; a member that slips through is one too.
          const entries: Array<[string, unknown]> = Object.entries(ev);
          const entry = entries.find(([, v]) => v !== undefined) ?? ["Unknown", {}];
          const [name, value] = entry;
          if (name !== "$unknown") throw Object.assign(new Error(messageOf(value)), { name });
        }
        if (this.aborted) break;
      }
      if (a.reason) return { kind: "failed", failure: a.reason, healthy: healthy() };
      if (this.aborted) return { kind: "aborted" };
      if (a.audioDone && a.rollingOver) return { kind: "rollover" };
      if (a.audioDone && this.inputEnded) return { kind: "completed" };
      // The SDK reports resets and server-side closes as a normal end: that is a failure.
      return { kind: "failed", failure: unexpectedEnd(), healthy: healthy() };
    } catch (err) {
      if (a.reason) return { kind: "failed", failure: a.reason, healthy: healthy() };
      if (this.aborted) return { kind: "aborted" };
      return { kind: "failed", failure: classifyError(err, this.opts.secrets), healthy: healthy() };
    } finally {
      // The SDK does not stop our iterable when the result loop ends: stop it ourselves.
      a.stopped = true;
      a.watchdog.stop();
      this.notify();
      if (!a.ac.signal.aborted && !a.audioDone) a.ac.abort();
    }
  }

  private deliver(a: Attempt, event: TranscriptEvent): void {
    const base = this.startSeconds;
    const toSession = this.pcm ? (t: number) => base + a.timeline.toSession(t) : (t: number) => base + t;
    for (const mapped of mapTranscriptEvent(event, this.sessionId, toSession, this.opts.service.mapping)) {
      const key = mapped.channel ?? "";
      const deliveredUntil = this.delivered.get(key);
      // After a replay the service hears covered audio again: what was delivered is not sent twice.
      const r = deliveredUntil === undefined ? mapped : afterDelivered(mapped, deliveredUntil);
      if (r === null) continue;
      if (r.isFinal) {
        this.delivered.set(key, r.endTime);
        if (this.pcm) this.ledger.coverUntil(this.coverage() - base);
      }
      a.results++;
      this.opts.handlers.result(r, event);
    }
  }

  /** Session time up to which every channel's audio is covered by delivered finals. */
  private coverage(): number {
    if (!this.opts.service.format.channelIdentification) return this.delivered.get("") ?? 0;
    return Math.min(this.delivered.get("ch_0") ?? 0, this.delivered.get("ch_1") ?? 0);
  }

  /** The stream's audio: session audio from the attempt's cursor, silence in long pauses. */
  private async *audio(a: Attempt): AsyncGenerator<AudioStream> {
    for (;;) {
      if (a.stopped) return;
      if (a.rollingOver) {
        a.audioDone = true;
        return;
      }
      const frame = this.ledger.frameAt(a.cursor);
      if (frame) {
        a.cursor = frame.offset + frame.data.length;
        this.highestSent = Math.max(this.highestSent, a.cursor);
        a.timeline.append(this.ledger.seconds(frame.data.length), this.ledger.seconds(frame.offset));
        // Compressed audio cannot be replayed (no reconnect): what went out is no longer needed.
        if (!this.pcm) this.ledger.forgetBefore(a.cursor);
        // From the first frame the service has not answered yet.
        if (!a.stopped && !a.watchdog.active) a.watchdog.touch();
        if (this.pcm && a.timeline.duration * 1000 >= this.tuning.maxStreamMs) a.rollingOver = true;
        yield { AudioEvent: { AudioChunk: frame.data } };
        continue;
      }
      if (this.inputEnded || a.rollingOver) {
        // Ending by return (never by throwing) makes the SDK send the signed empty end frame.
        a.audioDone = true;
        return;
      }
      if (this.keepaliveDue) {
        this.keepaliveDue = false;
        const bytes =
          Math.round((this.tuning.keepaliveFrameMs / 1000) * this.opts.service.format.sampleRate) *
          this.opts.service.format.channels *
          2;
        a.timeline.append(this.ledger.seconds(bytes), null);
        yield { AudioEvent: { AudioChunk: Buffer.alloc(bytes) } };
        continue;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }
}

/**
 * A result as far as it is new after `deliveredUntil` (session seconds): words that start before it
 * were delivered already (a replay hears them again). Null when nothing new is left.
 */
export function afterDelivered(r: TranscriptResult, deliveredUntil: number): TranscriptResult | null {
  const eps = 0.001;
  if (r.endTime <= deliveredUntil + eps) return null;
  if (r.startTime >= deliveredUntil - eps) return r;
  const words = r.words.filter((w) => w.startTime >= deliveredUntil - eps);
  // Punctuation belongs to the word before it: never start with a stray mark.
  while (words[0]?.kind === "punctuation") words.shift();
  if (!words.some((w) => w.kind === "word")) return null;
  const out: TranscriptResult = {
    ...r,
    words,
    text: words.reduce((t, w) => (w.kind === "punctuation" || t === "" ? t + w.text : `${t} ${w.text}`), ""),
    confidence: meanConfidence(words),
    startTime: roundSeconds(words[0]?.startTime ?? r.startTime),
  };
  if (r.entities) {
    const entities = r.entities.filter((e) => e.startTime >= deliveredUntil - eps);
    if (entities.length > 0) out.entities = entities;
    else delete out.entities;
  }
  return out;
}

function messageOf(v: unknown): string {
  if (typeof v === "object" && v !== null) {
    const m = (v as { Message?: unknown; message?: unknown }).Message ?? (v as { message?: unknown }).message;
    if (typeof m === "string") return m;
  }
  return "the service reported an error";
}
