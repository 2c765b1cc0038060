/**
 * A local AWS HealthScribe streaming endpoint for tests: `POST /medical-scribe-stream` (StartMedicalScribeStream,
 * HTTP/2 event streams) and `GET /medical-scribe-stream/{SessionId}` (GetMedicalScribeStream), h2c on 127.0.0.1,
 * spoken to by the real SDK client through its `endpoint` override, as the service serves both from the
 * transcribestreaming endpoint. It checks what the service checks (SigV4 request and event signatures, the
 * headers, the configuration event first on every stream, a resumed stream's configuration unchanged, chunk
 * size, idle time, the session's audio limit and resume window), answers per-channel transcript segments from
 * a scripted fixture, keeps the session across streams (ending the input without END_OF_SESSION pauses it; the
 * same session id resumes it), runs the post-stream analytics after END_OF_SESSION and writes the clinical note
 * and the transcript to S3 at the documented prefix. Faults: those of the Medical emulator (drop, stall,
 * exceptions) plus analytics failures, a role that cannot write to the bucket, slow analytics.
 * Facts and what is not verified: /work/shared/research/healthscribe.md; usage: docs/healthscribe-emulator.md.
 */
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import type { Message, MessageHeaders } from "@smithy/types";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import { randomUUID } from "node:crypto";
import http2, {
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import {
  clockOf,
  DEFAULT_CREDENTIALS,
  defaultMessage,
  epochMs,
  joinWords,
  MESSAGES,
  type ExceptionType,
} from "../aws/emulator";
import { CLOCK_TICK_SEC, type FixtureWord, type TranscriptFixture } from "../aws/fixture";
import { parseAuthorization, verifyRequestSignature } from "../aws/signing";
import { validateSessionId } from "../aws/validation";
import { http2Wire, type Wire } from "../aws/wire";
import { openEnvelope } from "./envelope";
import {
  buildSummary,
  buildTranscript,
  outputKeys,
  type ParticipantRole,
  type SessionItem,
  type SessionSegment,
} from "./note";
import { classifyConfiguration, validateScribeRequest, type ScribeConfiguration } from "./validation";

export const SCRIBE_PATH = "/medical-scribe-stream";

/**
 * The emulator's messages. The service documents the rules but not these texts, except those taken from the
 * Medical route (idle, tooBig, conflict, concurrency): research/healthscribe.md §2.
 */
export const SCRIBE_MESSAGES = {
  configurationFirst: "The first event of the stream must be a MedicalScribeConfigurationEvent.",
  configurationAgain: "A MedicalScribeConfigurationEvent is accepted only as the first event of a stream.",
  resumeChanged:
    "A resumed session must send the same MedicalScribeConfigurationEvent that started it. Resume with the original configuration and try your request again.",
  resumeHeaders:
    "A resumed session must use the language code, sample rate and media encoding that started it.",
  ended: "The session has already ended with END_OF_SESSION and can't be resumed.",
  expired: "The session can't be resumed more than 5 hours after it was created.",
  afterEnd: "No events are accepted after the END_OF_SESSION event.",
  sessionControl:
    "1 validation error detected: Value at 'type' failed to satisfy constraint: Member must satisfy enum value set: [END_OF_SESSION]",
  unexpectedEvent: "Unexpected event type in the input stream.",
  maxAudio:
    "Your client has exceeded one of the Amazon Transcribe limits. This is typically the audio length limit. Break your audio stream into smaller chunks and try your request again.",
  notFound: "The requested resource couldn't be found. Check the session ID and try your request again.",
  idle: MESSAGES.idle,
  tooBig: MESSAGES.tooBig,
  conflict: MESSAGES.conflict,
  concurrency: MESSAGES.concurrency,
  badSignature: MESSAGES.badSignature,
  unknownKey: MESSAGES.unknownKey,
} as const;

/** The FailureReason of analytics whose role may not write to the output bucket (wording not verified). */
export const accessDeniedReason = (roleArn: string, bucket: string): string =>
  `The role ${roleArn} is not authorized to perform s3:PutObject on the output bucket ${bucket}. Grant the role write access to the bucket and try again.`;

/** When a fault strikes one stream: after this much of its audio, at the client's end frame, or at END_OF_SESSION. */
interface FaultMoment {
  afterAudioSec?: number;
  atEndFrame?: boolean;
  atEndOfSession?: boolean;
}

/**
 * A fault applied to one stream, as in the Medical emulator (`reset`, `end`, `destroy`, `goaway`, `tcp-reset`,
 * `stall`, `exception`), plus the request-time `reject-auth` and `throttle`. An `exception` with
 * `failSession` also marks the session FAILED (it cannot be resumed); otherwise every fault leaves it PAUSED.
 */
export type ScribeFault =
  | ({ kind: "reset" | "end" | "destroy" | "goaway" | "tcp-reset" | "stall" } & FaultMoment)
  | ({ kind: "exception"; type: ExceptionType; message?: string; failSession?: boolean } & FaultMoment)
  | { kind: "reject-auth" }
  | { kind: "throttle" };

/** A fault of the post-stream analytics of the next session that sends END_OF_SESSION. */
export type AnalyticsFault =
  | { kind: "fail"; reason: string }
  /** The ResourceAccessRoleArn cannot write to the bucket. */
  | { kind: "access-denied" }
  /** The analytics take this long (instead of `analyticsDelayMs`). */
  | { kind: "slow"; delayMs: number };

export interface ScribeEmulatorOptions {
  fixture: TranscriptFixture;
  /** "stream": the script is the session's audio time (it goes on across resumes); "clock": the audio carries it. */
  clock?: "stream" | "clock";
  /** Access key id → secret key, for signature checks. */
  credentials?: Record<string, string>;
  /** Where the analytics write (s3rver, see ../aws-batch/s3.ts); without it the outputs stay in `outputs` only. */
  s3?: { endpoint: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  region?: string;
  idleTimeoutMs?: number;
  /** Audio a session may stream across all its streams (documented: 2 hours). */
  maxAudioMs?: number;
  /** A session may be resumed this long after it was created (documented: 5 hours). */
  resumeWindowMs?: number;
  maxConcurrentStreams?: number;
  /** Delay before the first answer of a stream (the SDK's send() resolves on the first event). */
  firstEventDelayMs?: number;
  /** END_OF_SESSION → analytics COMPLETED (or FAILED). */
  analyticsDelayMs?: number;
  /** Role ARNs that may not write to their bucket: their analytics fail. */
  deniedRoles?: string[];
  /** The ChannelId string of a channel in live segments (not verified; default `CHANNEL_<n>`). */
  channelLabel?: (channel: 0 | 1) => string;
  /** Empty TranscriptEvents while audio flows and nothing is heard, as the Medical route sends (default true). */
  emptyEvents?: boolean;
}

export type StreamStatus = "IN_PROGRESS" | "PAUSED" | "COMPLETED" | "FAILED";

export interface AnalyticsResult {
  status: "IN_PROGRESS" | "COMPLETED" | "FAILED";
  failureReason?: string;
  noteLocation?: string;
  transcriptLocation?: string;
}

/** What the service keeps of one session, across its streams. */
export interface ScribeSession {
  readonly id: string;
  readonly language: string;
  readonly rate: number;
  readonly encoding: string;
  readonly config: ScribeConfiguration;
  readonly createdAt: number;
  endedAt?: number;
  status: StreamStatus;
  analytics?: AnalyticsResult;
  /** Audio heard across all streams (seconds). */
  heardSec: number;
  /** Every segment the service finalised, in order (sent live, or finalised when a stream was cut). */
  finals: SessionSegment[];
  streams: number;
}

export interface ScribeStreamRecord {
  index: number;
  headers: Record<string, string>;
  sessionId: string;
  /** The configuration event body, when one came first. */
  configuration?: unknown;
  audioEvents: number;
  audioBytes: number;
  endOfSession: boolean;
  endFrameSeen: boolean;
  /** Every TranscriptEvent body sent, in order. */
  events: unknown[];
  closedBy: "open" | "end-frame" | "fault" | "exception" | "client" | "conflict";
  exceptions: Array<{ type: string; message: string }>;
}

interface SegmentState {
  segmentId: string;
  heard: number;
  done: boolean;
}

const ms = (sec: number): number => Math.round(sec * 1000);
const round3 = (sec: number): number => Math.round(sec * 1000) / 1000;
const str = (h: MessageHeaders[string] | undefined): string | undefined =>
  h?.type === "string" ? h.value : undefined;

/** One StartMedicalScribeStream request. */
class ScribeStream {
  readonly record: ScribeStreamRecord;
  session: ScribeSession | undefined;
  private pending = Buffer.alloc(0);
  private priorSignature: string;
  private idleTimer: NodeJS.Timeout | undefined;
  private firstTimer: NodeJS.Timeout | undefined;
  private released = false;
  private held: Uint8Array[] = [];
  private stalled = false;
  private finished = false;
  private streamSec = 0;
  private lastEventSec = 0;
  private blockRemainder = Buffer.alloc(0);
  private firstContent: number | null = null;
  private readonly segments = new Map<number, SegmentState>();

  constructor(
    private readonly emu: AwsScribeEmulator,
    private readonly wire: Wire,
    index: number,
    headers: Record<string, string>,
    sessionId: string,
    private readonly secret: string,
    private readonly region: string,
    requestSignature: string,
    private readonly faults: ScribeFault[],
  ) {
    this.priorSignature = requestSignature;
    this.record = {
      index,
      headers,
      sessionId,
      audioEvents: 0,
      audioBytes: 0,
      endOfSession: false,
      endFrameSeen: false,
      events: [],
      closedBy: "open",
      exceptions: [],
    };
    this.armIdle();
  }

  get open(): boolean {
    return !this.finished;
  }

  private get opts(): ScribeEmulatorOptions {
    return this.emu.options;
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.stalled) return;
    this.idleTimer = setTimeout(
      () => this.fail("BadRequestException", SCRIBE_MESSAGES.idle, "exception"),
      this.opts.idleTimeoutMs ?? 15000,
    );
  }

  /** Bytes of the request body: event-stream messages split anywhere across DATA frames. */
  onData(chunk: Buffer): void {
    if (this.finished) return;
    this.pending = Buffer.concat([this.pending, chunk]);
    while (this.pending.length >= 4 && !this.finished) {
      const total = this.pending.readUInt32BE(0);
      if (this.pending.length < total) break;
      const frame = this.pending.subarray(0, total);
      this.pending = this.pending.subarray(total);
      const env = openEnvelope(this.emu.codec, frame, {
        secretAccessKey: this.secret,
        region: this.region,
        priorSignature: this.priorSignature,
      });
      if (env.kind === "bad") {
        this.fail("BadRequestException", env.message, "exception");
        return;
      }
      this.priorSignature = env.signature;
      if (env.kind === "end") this.onEndFrame();
      else this.onEvent(env.inner);
    }
  }

  private onEvent(inner: Message): void {
    const type = str(inner.headers[":event-type"]);
    if (str(inner.headers[":message-type"]) !== "event") {
      this.fail("BadRequestException", SCRIBE_MESSAGES.unexpectedEvent, "exception");
      return;
    }
    if (this.session === undefined) {
      if (type !== "ConfigurationEvent") {
        this.fail("BadRequestException", SCRIBE_MESSAGES.configurationFirst, "exception");
        return;
      }
      this.onConfiguration(inner.body);
      return;
    }
    switch (type) {
      case "ConfigurationEvent":
        this.fail("BadRequestException", SCRIBE_MESSAGES.configurationAgain, "exception");
        return;
      case "AudioEvent":
        if (this.record.endOfSession) this.fail("BadRequestException", SCRIBE_MESSAGES.afterEnd, "exception");
        else this.onAudio(Buffer.from(inner.body));
        return;
      case "SessionControlEvent":
        this.onSessionControl(inner.body);
        return;
      default:
        this.fail("BadRequestException", SCRIBE_MESSAGES.unexpectedEvent, "exception");
    }
  }

  private onConfiguration(body: Uint8Array): void {
    let json: unknown;
    try {
      json = JSON.parse(toUtf8(body));
    } catch {
      json = undefined;
    }
    this.record.configuration = json;
    const config = classifyConfiguration(json);
    if ("message" in config) {
      this.fail("BadRequestException", config.message, "exception");
      return;
    }
    const attached = this.emu.attach(this, config);
    if (typeof attached === "string") {
      this.fail("BadRequestException", attached, "exception");
      return;
    }
    this.session = attached;
    this.armIdle();
    // The service answers once the stream is configured; the SDK's send() resolves on that first event.
    this.firstTimer = setTimeout(() => this.release(), this.opts.firstEventDelayMs ?? 10);
    if (this.opts.emptyEvents ?? true) this.send({});
  }

  private onSessionControl(body: Uint8Array): void {
    let type: unknown;
    try {
      type = (JSON.parse(toUtf8(body)) as { Type?: unknown }).Type;
    } catch {
      type = undefined;
    }
    if (type !== "END_OF_SESSION") {
      this.fail("BadRequestException", SCRIBE_MESSAGES.sessionControl, "exception");
      return;
    }
    if (this.record.endOfSession) {
      this.fail("BadRequestException", SCRIBE_MESSAGES.afterEnd, "exception");
      return;
    }
    const at = this.faults.findIndex((f) => "atEndOfSession" in f && f.atEndOfSession === true);
    if (at >= 0) {
      const [fault] = this.faults.splice(at, 1);
      this.apply(fault);
      return;
    }
    if (this.stalled) return;
    this.record.endOfSession = true;
    this.flushFinals(true);
    this.release();
    this.emu.endOfSession(this.session);
  }

  private onAudio(audio: Buffer): void {
    const session = this.session;
    if (!session) return;
    this.record.audioEvents++;
    this.record.audioBytes += audio.length;
    this.armIdle();
    const channels = session.config.channels.size === 2 ? 2 : 1;
    if (audio.length > session.rate * channels * 2) {
      this.fail("BadRequestException", SCRIBE_MESSAGES.tooBig, "exception");
      return;
    }
    this.recognise(audio, channels);
    if (this.finished) return;
    if ((this.opts.emptyEvents ?? true) && this.streamSec - this.lastEventSec >= 0.3) this.send({});
    if (session.heardSec * 1000 > (this.opts.maxAudioMs ?? 7_200_000)) {
      this.fail("LimitExceededException", SCRIBE_MESSAGES.maxAudio, "exception");
      return;
    }
    this.applyFaults();
  }

  private applyFaults(): void {
    while (this.faults.length > 0 && !this.finished) {
      const f = this.faults[0];
      if (f.kind === "reject-auth" || f.kind === "throttle") {
        this.faults.shift();
        continue;
      }
      // Faults waiting for the end frame or END_OF_SESSION hold back those planned after them.
      if (f.atEndFrame === true || f.atEndOfSession === true) return;
      if (this.streamSec + 1e-9 < (f.afterAudioSec ?? 0)) return;
      this.faults.shift();
      this.apply(f);
    }
  }

  apply(f: ScribeFault): void {
    switch (f.kind) {
      case "reset":
      case "goaway":
        this.release();
        // Data right before the RST/GOAWAY keeps the session up until the frame is out (see ../aws/emulator.ts).
        this.send({});
        this.finish("fault");
        if (f.kind === "reset") this.wire.reset();
        else this.wire.goaway();
        return;
      case "tcp-reset":
      case "end":
      case "destroy":
        this.release();
        this.finish("fault");
        if (f.kind === "tcp-reset") this.wire.tcpReset();
        else if (f.kind === "end") this.wire.end();
        else this.wire.destroy();
        return;
      case "stall":
        this.stalled = true;
        clearTimeout(this.idleTimer);
        return;
      case "exception":
        if (f.failSession === true && this.session) this.session.status = "FAILED";
        this.fail(f.type, f.message ?? defaultMessage(f.type), "fault");
        return;
      default:
        return;
    }
  }

  private onEndFrame(): void {
    this.record.endFrameSeen = true;
    if (this.stalled) return;
    const at = this.faults.findIndex((f) => "atEndFrame" in f && f.atEndFrame === true);
    if (at >= 0) {
      const [fault] = this.faults.splice(at, 1);
      this.apply(fault);
      return;
    }
    // Without END_OF_SESSION this pauses the session; either way what was heard is final now.
    this.flushFinals(true);
    this.release();
    this.finish("end-frame");
    this.wire.end();
  }

  /** Finalises every segment heard in part: sent live when the stream can still carry it. */
  private flushFinals(live: boolean): void {
    for (const [i, st] of this.segments) {
      if (!st.done && st.heard > 0) this.emitSegment(i, st, true, live);
    }
  }

  /** Content time of each 10 ms block of audio, and the words of the script it completes. */
  private recognise(audio: Buffer, channels: number): void {
    const session = this.session;
    if (!session) return;
    const blockBytes = Math.round(session.rate * CLOCK_TICK_SEC) * channels * 2;
    let buf = Buffer.concat([this.blockRemainder, audio]);
    while (buf.length >= blockBytes) {
      const block = buf.subarray(0, blockBytes);
      buf = buf.subarray(blockBytes);
      const content = this.opts.clock === "clock" ? clockOf(block) : session.heardSec;
      this.streamSec += CLOCK_TICK_SEC;
      session.heardSec += CLOCK_TICK_SEC;
      if (content === null) continue;
      this.firstContent ??= content;
      this.hear(content);
      if (this.finished) return;
    }
    this.blockRemainder = buf;
  }

  private hear(content: number): void {
    const until = content + CLOCK_TICK_SEC;
    this.opts.fixture.forEach((seg, i) => {
      let st = this.segments.get(i);
      if (st?.done) return;
      const first = seg.words[0];
      // A segment whose start this stream never heard is not recognised (cut off).
      if (!first || first.start + 1e-9 < (this.firstContent ?? 0) - CLOCK_TICK_SEC) return;
      let grew = false;
      while ((st?.heard ?? 0) < seg.words.length) {
        const w = seg.words[st?.heard ?? 0];
        if (w.end > until + 1e-9) break;
        st ??= { segmentId: randomUUID(), heard: 0, done: false };
        this.segments.set(i, st);
        st.heard++;
        grew = true;
      }
      if (st && grew) this.emitSegment(i, st, st.heard === seg.words.length, true);
    });
  }

  private emitSegment(i: number, st: SegmentState, final: boolean, live: boolean): void {
    const session = this.session;
    const seg = this.opts.fixture[i];
    if (!session || !seg) return;
    const words = seg.words.slice(0, st.heard);
    const content = joinWords(words);
    const channels = session.config.channels;
    const segment: Record<string, unknown> = {
      SegmentId: st.segmentId,
      BeginAudioTime: ms(words[0]?.start ?? 0),
      EndAudioTime: ms(words.at(-1)?.end ?? 0),
      Content: content,
      Items: words.map((w) => itemOf(w, final)),
      IsPartial: !final,
    };
    if (channels.size > 0) {
      segment.ChannelId = (this.opts.channelLabel ?? ((c: 0 | 1) => `CHANNEL_${c}`))(seg.channel);
    }
    if (final) {
      st.done = true;
      // Without channel definitions the service diarizes: the script's channel 0 is the clinician.
      const role: ParticipantRole =
        channels.get(seg.channel) ?? (seg.channel === 0 ? "CLINICIAN" : "PATIENT");
      session.finals.push(sessionSegment(st.segmentId, words, content, role));
    }
    if (live) this.send({ TranscriptSegment: segment });
  }

  private send(body: unknown): void {
    if (this.stalled || this.finished) return;
    this.lastEventSec = this.streamSec;
    this.record.events.push(body);
    const frame = this.emu.codec.encode({
      headers: {
        ":message-type": { type: "string", value: "event" },
        ":event-type": { type: "string", value: "TranscriptEvent" },
        ":content-type": { type: "string", value: "application/json" },
      },
      body: fromUtf8(JSON.stringify(body)),
    });
    if (!this.released) this.held.push(frame);
    else this.wire.write(frame);
  }

  private release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.firstTimer);
    for (const m of this.held) this.wire.write(m);
    this.held = [];
  }

  /** An exception event, as the service sends one mid-stream, and the end of the response. */
  fail(type: string, message: string, closedBy: ScribeStreamRecord["closedBy"]): void {
    if (this.finished) return;
    this.release();
    this.record.exceptions.push({ type, message });
    if (this.wire.writable) {
      this.wire.write(
        this.emu.codec.encode({
          headers: {
            ":message-type": { type: "string", value: "exception" },
            ":exception-type": { type: "string", value: type },
            ":content-type": { type: "string", value: "application/json" },
          },
          body: fromUtf8(JSON.stringify({ Message: message })),
        }),
      );
      this.wire.end();
    }
    this.finish(closedBy);
  }

  private finish(closedBy: ScribeStreamRecord["closedBy"]): void {
    if (this.finished) return;
    // What the service heard of a cut stream still belongs to the session's transcript.
    this.flushFinals(false);
    this.finished = true;
    this.record.closedBy = closedBy;
    clearTimeout(this.idleTimer);
    clearTimeout(this.firstTimer);
    this.emu.streamFinished(this);
  }

  onClose(): void {
    this.finish("client");
  }
}

function itemOf(w: FixtureWord, final: boolean): Record<string, unknown> {
  const item: Record<string, unknown> = {
    BeginAudioTime: ms(w.start),
    EndAudioTime: ms(w.end),
    Type: w.punctuation ? "punctuation" : "pronunciation",
    Content: w.text,
  };
  if (final) {
    item.Confidence = w.confidence;
    item.VocabularyFilterMatch = false;
  }
  return item;
}

function sessionSegment(
  segmentId: string,
  words: readonly FixtureWord[],
  content: string,
  role: ParticipantRole,
): SessionSegment {
  const items: SessionItem[] = words.map((w) => ({
    begin: round3(w.start),
    end: round3(w.end),
    type: w.punctuation ? "punctuation" : "pronunciation",
    content: w.text,
    confidence: w.confidence,
  }));
  return {
    segmentId,
    begin: round3(words[0]?.start ?? 0),
    end: round3(words.at(-1)?.end ?? 0),
    content,
    role,
    items,
  };
}

export class AwsScribeEmulator {
  readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  readonly streams: ScribeStreamRecord[] = [];
  readonly sessions = new Map<string, ScribeSession>();
  /** Requests refused before a stream (HTTP status ≠ 200), in order, both operations. */
  readonly rejected: Array<{ status: number; type: string; message: string; path: string }> = [];
  /** Objects the analytics wrote, by `bucket/key` (also in S3 when `s3` is set). */
  readonly outputs = new Map<string, unknown>();
  /** GetMedicalScribeStream calls answered (any status). */
  gets = 0;
  /** Faults for the coming streams: each new request takes the next list (empty = healthy). */
  readonly plannedFaults: ScribeFault[][] = [];
  /** Faults for the coming analytics runs, in END_OF_SESSION order. */
  readonly analyticsFaults: AnalyticsFault[] = [];
  /** Errors for the coming GetMedicalScribeStream calls. */
  readonly getFaults: ExceptionType[] = [];
  private readonly server: Http2Server;
  private readonly h2sessions = new Set<Http2Session>();
  private readonly active = new Set<ScribeStream>();
  private readonly openById = new Map<string, ScribeStream>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly s3: S3Client | null;
  port = 0;

  constructor(readonly options: ScribeEmulatorOptions) {
    this.s3 = options.s3
      ? new S3Client({
          region: options.region ?? "us-east-1",
          endpoint: options.s3.endpoint,
          forcePathStyle: true,
          credentials: options.s3.credentials,
          requestChecksumCalculation: "WHEN_REQUIRED",
          responseChecksumValidation: "WHEN_REQUIRED",
        })
      : null;
    this.server = http2.createServer();
    this.server.on("session", (s) => {
      this.h2sessions.add(s);
      s.on("close", () => this.h2sessions.delete(s));
      s.on("error", () => undefined);
    });
    this.server.on("stream", (stream, headers) => {
      stream.on("error", () => undefined);
      void this.onRequest(stream, headers);
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get activeStreams(): number {
    return this.active.size;
  }

  /** Faults for the next stream (after those already planned). */
  planFaults(...faults: ScribeFault[]): void {
    this.plannedFaults.push(faults);
  }

  /** A fault for the next analytics run. */
  planAnalytics(fault: AnalyticsFault): void {
    this.analyticsFaults.push(fault);
  }

  /** Applies a fault now to every open stream. */
  faultOpenStreams(fault: ScribeFault): void {
    for (const s of [...this.active]) s.apply(fault);
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of [...this.active]) s.onClose();
    for (const s of this.h2sessions) s.destroy();
    await Promise.allSettled([...this.running]);
    this.s3?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** A configured stream joins its session: a new one, or the paused one it resumes. A string refuses it. */
  attach(stream: ScribeStream, config: ScribeConfiguration): ScribeSession | string {
    const h = stream.record.headers;
    const id = stream.record.sessionId;
    let session = this.sessions.get(id);
    if (session === undefined) {
      session = {
        id,
        language: h["x-amzn-transcribe-language-code"] ?? "",
        rate: Number(h["x-amzn-transcribe-sample-rate"]),
        encoding: h["x-amzn-transcribe-media-encoding"] ?? "",
        config,
        createdAt: Date.now(),
        status: "IN_PROGRESS",
        heardSec: 0,
        finals: [],
        streams: 0,
      };
      this.sessions.set(id, session);
    } else if (session.config.canonical !== config.canonical) {
      return SCRIBE_MESSAGES.resumeChanged;
    }
    session.status = "IN_PROGRESS";
    session.streams++;
    return session;
  }

  streamFinished(s: ScribeStream): void {
    this.active.delete(s);
    if (this.openById.get(s.record.sessionId) === s) this.openById.delete(s.record.sessionId);
    const session = s.session;
    // Ending the input without END_OF_SESSION (or losing the connection) pauses the session.
    if (session?.status === "IN_PROGRESS" && ![...this.active].some((o) => o.session === session)) {
      session.status = "PAUSED";
    }
  }

  /** END_OF_SESSION processed: the stream is COMPLETED and the analytics start. */
  endOfSession(session: ScribeSession | undefined): void {
    if (!session) return;
    session.status = "COMPLETED";
    session.endedAt = Date.now();
    session.analytics = { status: "IN_PROGRESS" };
    const fault = this.analyticsFaults.shift();
    const delay = fault?.kind === "slow" ? fault.delayMs : (this.options.analyticsDelayMs ?? 100);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      const run = this.runAnalytics(session, fault).finally(() => this.running.delete(run));
      this.running.add(run);
    }, delay);
    this.timers.add(timer);
  }

  private async runAnalytics(session: ScribeSession, fault: AnalyticsFault | undefined): Promise<void> {
    const { roleArn, bucket, template } = session.config;
    if (fault?.kind === "fail") {
      session.analytics = { status: "FAILED", failureReason: fault.reason };
      return;
    }
    if (fault?.kind === "access-denied" || (this.options.deniedRoles ?? []).includes(roleArn)) {
      session.analytics = { status: "FAILED", failureReason: accessDeniedReason(roleArn, bucket) };
      return;
    }
    const keys = outputKeys(session.id);
    const summary = buildSummary(session.id, template, session.finals);
    const transcript = buildTranscript(session.id, session.language, session.finals);
    try {
      for (const [key, body] of [
        [keys.transcript, transcript],
        [keys.summary, summary],
      ] as const) {
        await this.s3?.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: JSON.stringify(body),
            ContentType: "application/json",
          }),
        );
        this.outputs.set(`${bucket}/${key}`, body);
      }
    } catch (err) {
      // The bucket is missing or refuses the write: the role cannot write there.
      session.analytics = {
        status: "FAILED",
        failureReason: `${accessDeniedReason(roleArn, bucket)} (${(err as Error).name})`,
      };
      return;
    }
    session.analytics = {
      status: "COMPLETED",
      noteLocation: `s3://${bucket}/${keys.summary}`,
      transcriptLocation: `s3://${bucket}/${keys.transcript}`,
    };
  }

  private reject(
    stream: ServerHttp2Stream,
    status: number,
    type: string,
    message: string,
    path: string,
  ): void {
    this.rejected.push({ status, type, message, path });
    if (stream.destroyed) return;
    stream.respond({
      ":status": status,
      "content-type": "application/json",
      "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazonaws.transcribe.streaming/`,
      "x-amzn-requestid": randomUUID(),
    });
    stream.end(JSON.stringify({ Message: message }));
  }

  /** SigV4 of either operation: the secret and the parsed Authorization, or null when refused. */
  private async authenticate(
    stream: ServerHttp2Stream,
    raw: IncomingHttpHeaders,
    path: string,
  ): Promise<{ secret: string; region: string; signature: string } | null> {
    const auth = parseAuthorization(String(raw.authorization ?? ""));
    const creds = this.options.credentials ?? DEFAULT_CREDENTIALS;
    const secret = auth ? creds[auth.accessKeyId] : undefined;
    if (!auth || secret === undefined) {
      this.reject(stream, 403, "UnrecognizedClientException", SCRIBE_MESSAGES.unknownKey, path);
      return null;
    }
    if (!(await verifyRequestSignature(raw, auth, secret))) {
      this.reject(stream, 403, "InvalidSignatureException", SCRIBE_MESSAGES.badSignature, path);
      return null;
    }
    return { secret, region: auth.region, signature: auth.signature };
  }

  private async onRequest(stream: ServerHttp2Stream, raw: IncomingHttpHeaders): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : String(v);
    }
    const path = headers[":path"] ?? "";
    const method = headers[":method"];
    if (method === "GET" && path.startsWith(`${SCRIBE_PATH}/`)) {
      await this.onGet(stream, raw, path);
      return;
    }
    if (method !== "POST" || path !== SCRIBE_PATH) {
      this.reject(stream, 404, "UnknownOperationException", "Unknown operation.", path);
      return;
    }
    const faults = this.plannedFaults.shift() ?? [];
    if (faults.some((f) => f.kind === "reject-auth")) {
      this.reject(stream, 403, "InvalidSignatureException", SCRIBE_MESSAGES.badSignature, path);
      return;
    }
    const auth = await this.authenticate(stream, raw, path);
    if (auth === null) return;
    if (headers["x-amz-content-sha256"] !== "STREAMING-AWS4-HMAC-SHA256-EVENTS") {
      this.reject(stream, 403, "InvalidSignatureException", SCRIBE_MESSAGES.badSignature, path);
      return;
    }
    const refused = this.admit(headers, faults);
    if (refused !== null) {
      this.reject(stream, refused.status, refused.type, refused.message, path);
      return;
    }
    const sessionId = headers["x-amzn-transcribe-session-id"] ?? randomUUID();
    this.openById.get(sessionId)?.fail("ConflictException", SCRIBE_MESSAGES.conflict, "conflict");
    if (stream.destroyed) return;
    const echo: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k.startsWith("x-amzn-transcribe-")) echo[k] = v;
    stream.respond({
      ":status": 200,
      "content-type": "application/json",
      "x-amzn-request-id": randomUUID(),
      ...echo,
      "x-amzn-transcribe-session-id": sessionId,
    });
    const s = new ScribeStream(
      this,
      http2Wire(stream),
      this.streams.length,
      headers,
      sessionId,
      auth.secret,
      auth.region,
      auth.signature,
      faults,
    );
    stream.on("data", (chunk: Buffer) => s.onData(chunk));
    stream.on("close", () => s.onClose());
    this.streams.push(s.record);
    this.active.add(s);
    this.openById.set(sessionId, s);
  }

  /** Request-time checks of a stream (throttling, headers, concurrency, a known session); null admits it. */
  private admit(
    headers: Record<string, string>,
    faults: ScribeFault[],
  ): { status: number; type: string; message: string } | null {
    const limit = (message: string) => ({ status: 429, type: "LimitExceededException", message });
    const bad = (message: string) => ({ status: 400, type: "BadRequestException", message });
    if (faults.some((f) => f.kind === "throttle")) return limit(SCRIBE_MESSAGES.concurrency);
    const invalid = validateScribeRequest(headers);
    if (invalid !== null) return bad(invalid);
    if (this.active.size >= (this.options.maxConcurrentStreams ?? 25))
      return limit(SCRIBE_MESSAGES.concurrency);
    const id = headers["x-amzn-transcribe-session-id"];
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (session === undefined) return null;
    if (session.status === "COMPLETED" || session.status === "FAILED") return bad(SCRIBE_MESSAGES.ended);
    if (Date.now() - session.createdAt > (this.options.resumeWindowMs ?? 5 * 3600_000)) {
      return bad(SCRIBE_MESSAGES.expired);
    }
    if (
      headers["x-amzn-transcribe-language-code"] !== session.language ||
      Number(headers["x-amzn-transcribe-sample-rate"]) !== session.rate ||
      headers["x-amzn-transcribe-media-encoding"] !== session.encoding
    ) {
      return bad(SCRIBE_MESSAGES.resumeHeaders);
    }
    return null;
  }

  /** GetMedicalScribeStream: the session's details, or the service's error. */
  private async onGet(stream: ServerHttp2Stream, raw: IncomingHttpHeaders, path: string): Promise<void> {
    this.gets++;
    const auth = await this.authenticate(stream, raw, path);
    if (auth === null) return;
    const fault = this.getFaults.shift();
    if (fault !== undefined) {
      const status = fault === "LimitExceededException" ? 429 : fault === "BadRequestException" ? 400 : 500;
      this.reject(stream, status, fault, defaultMessage(fault), path);
      return;
    }
    const id = decodeURIComponent(path.slice(SCRIBE_PATH.length + 1));
    const invalid = validateSessionId({ "x-amzn-transcribe-session-id": id });
    if (invalid !== null) {
      this.reject(stream, 400, "BadRequestException", invalid, path);
      return;
    }
    const session = this.sessions.get(id);
    if (!session) {
      this.reject(stream, 404, "ResourceNotFoundException", SCRIBE_MESSAGES.notFound, path);
      return;
    }
    if (stream.destroyed) return;
    stream.respond({ ":status": 200, "content-type": "application/json", "x-amzn-requestid": randomUUID() });
    stream.end(JSON.stringify({ MedicalScribeStreamDetails: details(session) }));
  }
}

/** MedicalScribeStreamDetails as the REST answer carries it (timestamps in epoch seconds). */
function details(s: ScribeSession): Record<string, unknown> {
  const event = JSON.parse(s.config.canonical) as Record<string, unknown>;
  const a = s.analytics;
  return {
    SessionId: s.id,
    StreamCreatedAt: s.createdAt / 1000,
    ...(s.endedAt !== undefined ? { StreamEndedAt: s.endedAt / 1000 } : {}),
    LanguageCode: s.language,
    MediaSampleRateHertz: s.rate,
    MediaEncoding: s.encoding,
    ResourceAccessRoleArn: s.config.roleArn,
    ...(event.ChannelDefinitions !== undefined ? { ChannelDefinitions: event.ChannelDefinitions } : {}),
    ...(event.EncryptionSettings !== undefined ? { EncryptionSettings: event.EncryptionSettings } : {}),
    ...(event.VocabularyName !== undefined ? { VocabularyName: event.VocabularyName } : {}),
    StreamStatus: s.status,
    PostStreamAnalyticsSettings: event.PostStreamAnalyticsSettings,
    ...(a
      ? {
          PostStreamAnalyticsResult: {
            ClinicalNoteGenerationResult: {
              Status: a.status,
              ...(a.noteLocation !== undefined ? { ClinicalNoteOutputLocation: a.noteLocation } : {}),
              ...(a.transcriptLocation !== undefined
                ? { TranscriptOutputLocation: a.transcriptLocation }
                : {}),
              ...(a.failureReason !== undefined ? { FailureReason: a.failureReason } : {}),
            },
          },
        }
      : {}),
    MedicalScribeContextProvided: event.MedicalScribeContext !== undefined,
  };
}

/** Arrival time helper for latency tests, the same clock as the Medical emulator's. */
export { epochMs };
