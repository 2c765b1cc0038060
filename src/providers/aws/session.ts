import type { AudioStream, TranscriptEvent } from "@aws-sdk/client-transcribe-streaming";
import { randomUUID } from "node:crypto";
import { SpeechEnergy } from "../../audio/speech-energy";
import { DeliveredWords } from "../../transcript/replay-dedup";
import { withdrawal, type TranscriptResult } from "../../transcript/result";
import { QuietTimer } from "../../util/quiet-timer";
import { guardedScheduler, type Scheduler } from "../../util/scheduler";
import { accountSeconds, type SessionAccount } from "../session-account";
import {
  backoffMs,
  classifyError,
  internalFailure,
  noAnswer,
  stalled,
  unconfirmedEnd,
  unexpectedEnd,
  type StreamFailure,
} from "./errors";
import { mapTranscriptEvent } from "./mapping";
import { pcmBytesPerSecond } from "./params";
import type { StreamService } from "./service";
import { endedCleanly } from "./stream-fate";
import { AudioLedger, StreamTimeline } from "./timeline";
import { RetainedAudio } from "../retained-audio";

export interface SessionTuning {
  /** Audio not yet sent that a session may hold (bytes); beyond it push() refuses. */
  maxQueueSeconds: number;
  /** Audio kept for replay when no final covers it for this long (seconds). */
  maxReplaySeconds: number;
  /** Silence is sent after this long without audio; the service ends a stream after 15 s. */
  keepaliveMs: number;
  /** Audio went out but no event came back for this long: the stream is stalled. */
  watchdogMs: number;
  /**
   * Audio that could carry speech went out and no event came back for this long: the stream is
   * stalled. The service answers speech with partials every few hundred milliseconds of audio, so this
   * can be short; over silence it says little (`watchdogMs` covers that). 0 turns it off.
   */
  speechStallMs: number;
  /** A stream request with no event at all after this long is given up (connect, headers, first event). */
  openTimeoutMs: number;
  /** After the end of the audio, the service must end the stream within this long. */
  endAnswerMs: number;
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
  /**
   * Audio behind real time (a replay after a reconnect) goes at most this many times real time, so the
   * session catches up without sending faster than the service takes audio in (docs/reliability.md).
   */
  replaySpeed: number;
  /** Audio behind real time up to this much goes at once (what queued while a stream connected). */
  replayBurstSeconds: number;
}

export const DEFAULT_TUNING: SessionTuning = {
  maxQueueSeconds: 30,
  maxReplaySeconds: 120,
  keepaliveMs: 10_000,
  watchdogMs: 20_000,
  speechStallMs: 6_000,
  openTimeoutMs: 15_000,
  endAnswerMs: 5_000,
  maxStreamMs: (4 * 60 - 5) * 60_000,
  maxAttempts: 5,
  backoffBaseMs: 500,
  backoffMaxMs: 10_000,
  healthyMs: 10_000,
  keepaliveFrameMs: 100,
  replaySpeed: 2,
  replayBurstSeconds: 2,
};

export interface SessionErrorInfo {
  code: string;
  /** Our own words (or a known message of the service): fit for logs and Catch errors. */
  message: string;
  /** What the service said, scrubbed of credentials; may repeat what it was sent, so never logged. */
  serviceMessage?: string;
}

export type SessionEvent =
  | { event: "started"; sessionId: string }
  | { event: "reconnecting"; sessionId: string; attempt: number; delayMs: number; error: SessionErrorInfo }
  /**
   * Audio a replay could not carry (it had left the bounded replay buffer unconfirmed): the session
   * goes on, and these seconds are not transcribed.
   */
  | { event: "gap"; sessionId: string; fromSeconds: number; toSeconds: number; lostSeconds: number }
  | { event: "ended"; sessionId: string; audioSeconds: number; account: SessionAccount }
  /** `resumable`: the service may well accept a new stream (the session gave up while no audio came). */
  | {
      event: "error";
      sessionId: string;
      error: SessionErrorInfo;
      resumable: boolean;
      /** Seconds of the session's audio never transcribed. */
      lostSeconds: number;
    };

export type SessionState = "connecting" | "streaming" | "reconnecting" | "ended";

export interface SessionHandlers {
  /** A result; `raw` is the service's event (absent for a withdrawal, which the session makes itself). */
  result(result: TranscriptResult, raw?: TranscriptEvent): void;
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
  /** The provider session to resume (HealthScribe, after a redeploy paused it); absent: a new one. */
  providerSessionId?: string;
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
  events: number;
  reason?: StreamFailure;
  /** Partials delivered for segments whose final has not come: withdrawn if the stream is lost. */
  open: Map<string, TranscriptResult>;
  /** Audio went out and no event came back for `watchdogMs` (touched by unanswered audio, paused by events). */
  watchdog: QuietTimer;
  /** The same for audio that could carry speech, with `speechStallMs`. */
  speechWatch: QuietTimer | undefined;
  /** No event at all within `openTimeoutMs` of the request, or no end within `endAnswerMs` of the audio's. */
  deadline: unknown;
}

/**
 * One audio session streamed to Amazon Transcribe (Medical or standard): one provider stream at a
 * time, reconnected with bounded backoff when the service or the network fails, replaying the audio
 * no delivered final covers yet, with session-relative times and every final delivered once.
 *
 * A stream counts as complete only when the service confirmed the end of the audio: its response
 * ended cleanly (END_STREAM, no reset: `StreamService.fateOf`) after our end-of-audio frame, with no
 * segment left open. Any other end, however quiet, is a failure that reconnects and replays.
 */
export class AwsStreamSession {
  readonly done: Promise<void>;
  private readonly tuning: SessionTuning;
  private readonly ledger: AudioLedger;
  private readonly bytesPerSecond: number;
  private readonly pcm: boolean;
  private readonly startSeconds: number;
  private readonly maxFrameBytes: number;
  private readonly scheduler: Scheduler;
  /** Words of the finals delivered, so that a replay's repeats are dropped (by time and by words). */
  private readonly deliveredWords = new DeliveredWords();
  /** Which frames could carry speech (PCM only): they owe an answer from the service. */
  private readonly speech: SpeechEnergy | undefined;
  /** Calls of push() (accepted or not): the source is alive while this grows. */
  private pushes = 0;
  private awsSessionId: string = randomUUID();
  private current: Attempt | undefined;
  private inputEnded = false;
  /** The input ended by end(true): no stream ends the provider's session. */
  private pausing = false;
  private aborted = false;
  private started = false;
  private attempts = 0;
  private highestSent = 0;
  /** Bytes sent on a stream that answered afterwards: the service has them (or a replay will resend them). */
  private acked = 0;
  /**
   * Session bytes up to which the audio is accounted for: covered by delivered finals (every channel
   * that spoke), or passed over by a gap. Everything at the end once the service confirmed the end.
   */
  private confirmedBytes = 0;
  /** Speech a replay could not carry (see the `gap` event): lost, below `confirmedBytes`. */
  private gapBytes = 0;
  private ended = false;
  private keepaliveDue = false;
  /** Silence goes out after `keepaliveMs` without audio (PCM only), and every `keepaliveMs` after that. */
  private readonly keepalive: QuietTimer;
  private backoffTimer: unknown;
  private wake: (() => void) | undefined;
  private stateNow: SessionState = "connecting";
  /** Replay pacing: a token bucket of bytes, refilled at `replaySpeed` times real time. */
  private tokens = 0;
  private tokensAt = 0;
  /** Set when a throw inside the session's own machinery ends it. */
  private internal: StreamFailure | undefined;

  constructor(private readonly opts: SessionOptions) {
    this.tuning = { ...DEFAULT_TUNING, ...opts.tuning };
    // A throw in any of the session's timers ends this session, never the process.
    this.scheduler = guardedScheduler(opts.scheduler, (err) => this.failInternally(err));
    const format = opts.service.format;
    this.pcm = format.mediaEncoding === "pcm";
    this.bytesPerSecond = pcmBytesPerSecond(format);
    // PCM audio stays until a final covers it: kept in slabs of 1 s, as long as the longest frame (see
    // retained-audio.ts). Compressed audio is forgotten as it is sent: its chunks die young as they are.
    this.ledger = new AudioLedger(
      this.bytesPerSecond,
      this.tuning.maxReplaySeconds * this.bytesPerSecond,
      this.pcm ? new RetainedAudio(this.bytesPerSecond) : undefined,
    );
    this.startSeconds = Math.max(0, opts.startSeconds ?? 0);
    if (opts.providerSessionId !== undefined) this.awsSessionId = opts.providerSessionId;
    if (this.pcm && this.tuning.speechStallMs > 0) {
      // Interleaved channels are measured as one signal at the combined rate: blocks keep their length.
      this.speech = new SpeechEnergy({
        sampleRate: format.sampleRate * format.channels,
        encoding: "pcm_s16le",
      });
    }
    // PCM frames stay whole samples of every channel; compressed bytes may be cut anywhere.
    const align = this.pcm ? format.channels * 2 : 1;
    const cap = this.pcm ? Math.min(MAX_FRAME_BYTES, this.bytesPerSecond) : MAX_FRAME_BYTES;
    this.maxFrameBytes = Math.max(align, cap - (cap % align));
    this.keepalive = new QuietTimer(this.scheduler, this.tuning.keepaliveMs, () => this.keepaliveDueNow());
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

  /** What became of the session's audio so far (final once the session has ended). */
  get account(): SessionAccount {
    const received = this.ledger.receivedBytes;
    const position = Math.min(received, this.confirmedBytes);
    // Until the session ends, audio past the confirmed position is in flight, not lost.
    const lost = this.gapBytes + (this.ended ? received - position : 0);
    const confirmed = Math.max(0, position - this.gapBytes);
    return {
      receivedSeconds: accountSeconds(this.ledger.seconds(received)),
      confirmedSeconds: accountSeconds(this.ledger.seconds(confirmed)),
      lostSeconds: accountSeconds(this.ledger.seconds(lost)),
      reconnects: Math.max(0, this.attempts - 1),
    };
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
      if (audio.length > 0) this.ledger.add(audio, this.speech?.frame(audio) ?? false);
    } else {
      for (let at = 0; at < audio.length; at += this.maxFrameBytes) {
        const piece = audio.subarray(at, Math.min(audio.length, at + this.maxFrameBytes));
        this.ledger.add(piece, this.speech?.frame(piece) ?? false);
      }
    }
    this.armKeepalive();
    this.notify();
    return { ok: true };
  }

  /** The provider's id of the session (every stream of it uses it unless a conflict forces a new one). */
  get providerSessionId(): string {
    return this.awsSessionId;
  }

  /**
   * Ends the audio: the stream sends its last finals and closes; resolves when the session has ended.
   * With `pause`, the stream ends without telling the service that the session ended (see OpenStream's
   * `endsSession`): a service that keeps sessions (HealthScribe) can resume it under the same id.
   */
  end(pause = false): Promise<void> {
    if (pause && !this.inputEnded) this.pausing = true;
    this.inputEnded = true;
    this.notify();
    return this.done;
  }

  /** Tears the session down now (node close after the grace period, or a redeploy). */
  abort(): Promise<void> {
    this.aborted = true;
    this.inputEnded = true;
    this.scheduler.clearTimeout(this.backoffTimer);
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

  /** A throw inside the session's machinery (a timer, a result handler): the session ends with it. */
  private failInternally(err: Error): void {
    if (this.internal) return;
    this.internal = internalFailure(err);
    this.aborted = true;
    this.inputEnded = true;
    this.scheduler.clearTimeout(this.backoffTimer);
    if (this.current) {
      this.current.stopped = true;
      this.current.ac.abort();
    }
    this.notify();
    this.wakeBackoff?.();
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
        if (outcome.kind === "completed") {
          // The service confirmed the end of the audio: all of it that was not lost is transcribed.
          this.confirmedBytes = this.ledger.receivedBytes;
          break;
        }
        if (outcome.kind === "aborted") {
          if (this.internal) this.reportError(this.internal, false);
          break;
        }
        if (outcome.kind === "rollover") {
          failures = 0;
          quietFailures = 0;
          continue;
        }
        const { failure } = outcome;
        last = errorInfo(failure);
        if (failure.kind === "fatal" || !this.pcm) {
          // Only PCM can be replayed from any frame; a flac or ogg stream restarts only from its header.
          const reason =
            failure.kind === "fatal"
              ? failure
              : {
                  ...failure,
                  message: `${failure.message} (no reconnect: ${this.opts.service.format.mediaEncoding} audio cannot be resumed)`,
                };
          this.reportError(reason, false);
          break;
        }
        failures = outcome.healthy ? 1 : failures + 1;
        // A live source (audio arrived since the last failure) keeps the session retrying: an outage
        // longer than the backoff budget must not end an encounter. Only a quiet or ended source gives up.
        const audioArrived = this.pushes !== pushesAtLastFailure && !this.inputEnded;
        pushesAtLastFailure = this.pushes;
        quietFailures = outcome.healthy || audioArrived ? 0 : quietFailures + 1;
        if (quietFailures >= this.tuning.maxAttempts) {
          this.reportError(
            {
              ...failure,
              message: `gave up after ${this.tuning.maxAttempts} attempts without new audio: ${failure.message}`,
            },
            true,
          );
          break;
        }
        if (failure.newSessionId && this.opts.service.resumesSession !== true)
          this.awsSessionId = randomUUID();
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
        if (this.aborted) {
          if (this.internal) this.reportError(this.internal, false);
          break;
        }
      }
    } catch (err) {
      // Nothing above should throw; if it does, this session ends with it, and only this session.
      this.reportError(internalFailure(err instanceof Error ? err : new Error(String(err))), false);
    } finally {
      this.state_ = "ended";
      this.keepalive.stop();
      this.scheduler.clearTimeout(this.backoffTimer);
      // What was not confirmed when the session ended is lost (it was reported with the error, if any).
      this.ended = true;
      this.opts.handlers.event({
        event: "ended",
        sessionId: this.sessionId,
        audioSeconds: this.audioSeconds,
        account: this.account,
      });
    }
  }

  /** The session stops on `failure`: one `error` event that names the seconds not transcribed. */
  private reportError(failure: StreamFailure, resumable: boolean): void {
    const unconfirmed = Math.max(0, this.ledger.receivedBytes - this.confirmedBytes);
    const lostSeconds = accountSeconds(this.ledger.seconds(unconfirmed + this.gapBytes));
    this.opts.handlers.event({
      event: "error",
      sessionId: this.sessionId,
      resumable,
      lostSeconds,
      error: {
        ...errorInfo(failure),
        message:
          unconfirmed > 0
            ? `${failure.message} (${this.ledger.seconds(unconfirmed).toFixed(1)} s of audio not transcribed)`
            : failure.message,
      },
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeBackoff = () => {
        this.wakeBackoff = undefined;
        resolve();
      };
      this.backoffTimer = this.scheduler.setTimeout(() => this.wakeBackoff?.(), ms);
    });
  }

  private async attempt(): Promise<Outcome> {
    const sched = this.scheduler;
    this.attempts++;
    const cursor = this.pcm ? this.replayStart() : this.highestSent;
    const a: Attempt = {
      ac: new AbortController(),
      timeline: new StreamTimeline(),
      cursor,
      stopped: false,
      audioDone: false,
      rollingOver: false,
      startedAt: sched.now(),
      results: 0,
      events: 0,
      open: new Map(),
      watchdog: new QuietTimer(sched, this.tuning.watchdogMs, () =>
        this.stall(a, stalled(this.tuning.watchdogMs)),
      ),
      speechWatch:
        this.speech && this.tuning.speechStallMs > 0
          ? new QuietTimer(sched, this.tuning.speechStallMs, () =>
              this.stall(a, stalled(this.tuning.speechStallMs, "audio that carries speech")),
            )
          : undefined,
      deadline: undefined,
    };
    a.deadline = sched.setTimeout(
      () => this.stall(a, noAnswer(this.tuning.openTimeoutMs)),
      this.tuning.openTimeoutMs,
    );
    this.current = a;
    if (this.state_ !== "reconnecting") this.state_ = "connecting";
    const healthy = (): boolean => a.results > 0 || sched.now() - a.startedAt >= this.tuning.healthyMs;
    try {
      const events = await this.opts.service.open(
        this.audio(a),
        this.awsSessionId,
        a.ac.signal,
        () => a.audioDone && !a.rollingOver && !a.stopped && !this.pausing && !this.aborted,
      );
      this.state_ = "streaming";
      if (!this.started) {
        this.started = true;
        this.opts.handlers.event({ event: "started", sessionId: this.sessionId });
      }
      for await (const ev of events ?? []) {
        this.heard(a);
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
      if (a.audioDone && (a.rollingOver || this.inputEnded)) {
        const unconfirmed = this.endNotConfirmed(a);
        if (unconfirmed) return { kind: "failed", failure: unconfirmedEnd(unconfirmed), healthy: healthy() };
        return { kind: a.rollingOver ? "rollover" : "completed" };
      }
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
      a.speechWatch?.stop();
      sched.clearTimeout(a.deadline);
      this.notify();
      if (!a.ac.signal.aborted && !a.audioDone) a.ac.abort();
      // A segment shown as a partial and cut off with its stream is transcribed again under a new id.
      this.withdrawOpen(a);
    }
  }

  /**
   * Why a stream that ended after our end-of-audio frame did not confirm it, or undefined when it did:
   * the response must have ended cleanly (END_STREAM, no reset or abort) with no segment left open.
   */
  private endNotConfirmed(a: Attempt): string | undefined {
    if (a.open.size > 0) return "a segment was still open";
    const fate = this.opts.service.fateOf?.(a.ac.signal);
    if (fate && !endedCleanly(fate)) {
      if (fate.transport === "websocket") {
        return `the WebSocket closed with code ${fate.rstCode ?? 1006} (not a normal close)`;
      }
      return fate.rstCode !== undefined && fate.rstCode !== 0
        ? `the stream was reset (HTTP/2 code ${fate.rstCode})`
        : "the connection closed before the response ended";
    }
    return undefined;
  }

  /** The stream stopped answering: cut it (the run loop reconnects and replays). */
  private stall(a: Attempt, failure: StreamFailure): void {
    if (a.stopped || a.reason) return;
    a.reason = failure;
    a.stopped = true;
    a.ac.abort();
    this.notify();
  }

  /** An event came back: the stream is alive, and the service has what was sent before it. */
  private heard(a: Attempt): void {
    a.events++;
    a.watchdog.pause();
    a.speechWatch?.pause();
    if (a.events === 1 || a.audioDone) this.scheduler.clearTimeout(a.deadline);
    // After the end of the audio the service may take a while to finish (it works through a replay
    // in real time): it owes an answer within `endAnswerMs` of its last one, not of our end.
    if (a.audioDone) this.armEndDeadline(a);
    this.acked = Math.max(this.acked, a.cursor);
  }

  /**
   * Where a new stream starts: the first retained frame not covered by a delivered final. Audio that
   * left the bounded buffer before a final covered it cannot be replayed: that gap is reported.
   */
  private replayStart(): number {
    const from = this.ledger.replayFrom;
    const covered = Math.min(this.confirmedBytes, this.ledger.receivedBytes);
    if (this.attempts > 1 && from > covered) {
      // The gap is passed over: its speech is lost (reported), its silence needed no transcript.
      const lost = this.ledger.takeDroppedSpeech(covered, from);
      this.confirmedBytes = from;
      if (lost > 0) {
        this.gapBytes += lost;
        this.opts.handlers.event({
          event: "gap",
          sessionId: this.sessionId,
          fromSeconds: accountSeconds(this.startSeconds + this.ledger.seconds(covered)),
          toSeconds: accountSeconds(this.startSeconds + this.ledger.seconds(from)),
          lostSeconds: accountSeconds(this.ledger.seconds(lost)),
        });
      }
    }
    // Words delivered before the replay's start cannot come back; those after it can, once.
    this.deliveredWords.replayFrom(this.startSeconds + this.ledger.seconds(from));
    return from;
  }

  private deliver(a: Attempt, event: TranscriptEvent): void {
    const base = this.startSeconds;
    const toSession = this.pcm ? (t: number) => base + a.timeline.toSession(t) : (t: number) => base + t;
    for (const mapped of mapTranscriptEvent(event, this.sessionId, toSession, this.opts.service.mapping)) {
      // After a replay the service hears delivered audio again: what was delivered is not sent twice.
      const r = this.deliveredWords.fresh(mapped);
      const shown = a.open.get(mapped.segmentId);
      if (r === null) {
        // Nothing new; a partial shown for it with words that turned out to be repeats is withdrawn.
        if (mapped.isFinal && shown) {
          a.open.delete(mapped.segmentId);
          this.opts.handlers.result(withdrawal(shown));
        }
        continue;
      }
      if (r.isFinal) {
        a.open.delete(r.segmentId);
        this.deliveredWords.record(r);
        this.confirm();
      } else {
        a.open.set(r.segmentId, r);
      }
      a.results++;
      this.opts.handlers.result(r, event);
    }
  }

  /** Delivered finals cover the audio up to the earliest channel that spoke: forget what they cover. */
  private confirm(): void {
    const channels = this.opts.service.format.channelIdentification ? ["ch_0", "ch_1"] : [undefined];
    let until = Infinity;
    for (const ch of channels) {
      const c = this.deliveredWords.coveredUntil(ch);
      // A channel that has not spoken yet holds nothing back (a silent party must not pin the buffer).
      if (c > 0) until = Math.min(until, c);
    }
    if (!Number.isFinite(until)) return;
    const bytes = Math.min(this.ledger.receivedBytes, this.ledger.bytesAt(until - this.startSeconds));
    if (bytes <= this.confirmedBytes) return;
    this.confirmedBytes = bytes;
    if (this.pcm) this.ledger.forgetBefore(bytes);
  }

  /** Withdraws every partial still shown for a segment of this stream (its final will not come). */
  private withdrawOpen(a: Attempt): void {
    const open = [...a.open.values()];
    a.open.clear();
    for (const partial of open) this.opts.handlers.result(withdrawal(partial));
  }

  /** Waits `ms` on the session's clock, or less when the stream stops. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = this.scheduler.setTimeout(() => this.notify(), ms);
      this.wake = () => {
        this.scheduler.clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * How long `bytes` of audio behind real time must wait before they go out: none while the stream is
   * live, else what the bucket (holding at most `replayBurstSeconds`, refilled at `replaySpeed`) lacks.
   */
  private paceDelay(frameOffset: number, bytes: number): number {
    const now = this.scheduler.now();
    const rate = this.tuning.replaySpeed * this.bytesPerSecond;
    const cap = this.tuning.replayBurstSeconds * this.bytesPerSecond;
    this.tokens = Math.min(cap, this.tokens + ((now - this.tokensAt) / 1000) * rate);
    this.tokensAt = now;
    // Live audio (at most half a second queued: a frame or two) is never held back.
    const behind = this.ledger.receivedBytes - frameOffset;
    if (behind <= this.bytesPerSecond / 2 || this.tokens >= bytes) return 0;
    return Math.ceil(((bytes - this.tokens) / rate) * 1000);
  }

  /** The stream's audio: session audio from the attempt's cursor, silence in long pauses. */
  private async *audio(a: Attempt): AsyncGenerator<AudioStream> {
    this.tokens = this.tuning.replayBurstSeconds * this.bytesPerSecond;
    this.tokensAt = this.scheduler.now();
    for (;;) {
      if (a.stopped) return;
      if (a.rollingOver) {
        this.audioDone(a);
        return;
      }
      const frame = this.ledger.frameAt(a.cursor);
      if (frame) {
        const wait = this.pcm ? this.paceDelay(frame.offset, frame.data.length) : 0;
        if (wait > 0) {
          await this.pause(wait);
          continue;
        }
        this.tokens -= frame.data.length;
        a.cursor = frame.offset + frame.data.length;
        this.highestSent = Math.max(this.highestSent, a.cursor);
        a.timeline.append(this.ledger.seconds(frame.data.length), this.ledger.seconds(frame.offset));
        // Compressed audio cannot be replayed (no reconnect): what went out is no longer needed.
        if (!this.pcm) this.ledger.forgetBefore(a.cursor);
        // From the first frame the service has not answered yet.
        if (!a.stopped && !a.watchdog.active) a.watchdog.touch();
        if (frame.speech && a.speechWatch && !a.speechWatch.active) a.speechWatch.touch();
        if (this.pcm && a.timeline.duration * 1000 >= this.tuning.maxStreamMs) a.rollingOver = true;
        yield { AudioEvent: { AudioChunk: frame.data } };
        continue;
      }
      if (this.inputEnded || a.rollingOver) {
        this.audioDone(a);
        // Ending by return (never by throwing) makes the SDK send the signed empty end frame.
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

  /** The audio of this stream is all sent: the service now owes the end of the response. */
  private audioDone(a: Attempt): void {
    a.audioDone = true;
    this.scheduler.clearTimeout(a.deadline);
    this.armEndDeadline(a);
  }

  private armEndDeadline(a: Attempt): void {
    a.deadline = this.scheduler.setTimeout(
      () => this.stall(a, noAnswer(this.tuning.endAnswerMs, "to the end of the audio")),
      this.tuning.endAnswerMs,
    );
  }
}

function errorInfo(failure: StreamFailure): SessionErrorInfo {
  return {
    code: failure.code,
    message: failure.message,
    ...(failure.serviceMessage !== undefined ? { serviceMessage: failure.serviceMessage } : {}),
  };
}

function messageOf(v: unknown): string {
  if (typeof v === "object" && v !== null) {
    const m = (v as { Message?: unknown; message?: unknown }).Message ?? (v as { message?: unknown }).message;
    if (typeof m === "string") return m;
  }
  return "the service reported an error";
}
