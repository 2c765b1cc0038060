/**
 * A local Amazon Transcribe streaming endpoint for tests, Medical (`/medical-stream-transcription`) and
 * standard (`/stream-transcription`, its extras in ./standard.ts): h2c on 127.0.0.1, spoken to by
 * the real SDK client through its `endpoint` override. It checks what the service checks (SigV4
 * request and chunk signatures, request parameters, concurrency, session ids, chunk size, idle
 * time, maximum duration), answers from a scripted transcript, records what it received, and
 * injects the faults a client must survive. Facts: ../../../../shared/research/aws.md.
 */
import { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8, toUtf8 } from "@smithy/util-utf8";
import type { Message, MessageHeaders } from "@smithy/types";
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage } from "node:http";
import http2, {
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo, Socket } from "node:net";
import { WebSocketServer } from "ws";
import { MISSING_SIGNATURE, openEnvelope } from "./envelope";
import { CLOCK_TICK_SEC, type TranscriptFixture } from "./fixture";
import { parseAuthorization, verifyPresignedUrl, verifyRequestSignature, type PresignCheck } from "./signing";
import { identifiedLanguage, STANDARD_PATH, standardFeatures, validateStandardRequest } from "./standard";
import {
  enumMessage,
  patternMessage,
  SAMPLE_RATE_MESSAGE,
  validateChannels,
  validateSessionId,
} from "./validation";
import {
  cutNeedsData,
  cutWire,
  EventWriter,
  FrameSplitter,
  h2cServer,
  http2Wire,
  refuseHttp2,
  websocketWire,
  type Wire,
} from "./wire";

export const PATH = "/medical-stream-transcription";
export { STANDARD_PATH };
/** The WebSocket routes (GET, presigned URL, parameters as query parameters). */
export const WS_PATH = `${PATH}-websocket`;
export const STANDARD_WS_PATH = `${STANDARD_PATH}-websocket`;

/** The service's own messages (research/aws.md §1.4). */
export const MESSAGES = {
  idle: "Your request timed out because no new audio was received for 15 seconds.",
  tooBig: "Your stream is too big. Reduce the frame size and try your request again.",
  conflict: "A new stream started with the same session ID. The current stream has been terminated.",
  sampleRate: SAMPLE_RATE_MESSAGE,
  // The API reference's text for LimitExceededException (audio length limit).
  maxDuration:
    "Your client has exceeded one of the Amazon Transcribe limits. This is typically the audio length limit. Break your audio stream into smaller chunks and try your request again.",
  concurrency:
    "You have reached your limit of concurrent streams. Wait for a stream to end and try your request again.",
  badSignature:
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
  unknownKey: "The security token included in the request is invalid.",
  // Not verified against the service: the API reference says both together are a BadRequest.
  speakerAndChannel:
    "You can't set both ShowSpeakerLabel and EnableChannelIdentification in the same request. Remove one and try your request again.",
} as const;

export type ExceptionType =
  | "BadRequestException"
  | "LimitExceededException"
  | "InternalFailureException"
  | "ConflictException"
  | "ServiceUnavailableException";

/**
 * When a fault strikes one stream: once it has received `afterAudioSec` seconds of audio (default 0), or,
 * with `atEndFrame`, when the client's end-of-audio frame arrives (instead of the flush of the last finals).
 */
interface FaultMoment {
  afterAudioSec?: number;
  atEndFrame?: boolean;
}

/**
 * A fault applied to one stream. `reset`: RST_STREAM with INTERNAL_ERROR; `end`: the response ends
 * cleanly but early (the service's silent end); `destroy`: the whole connection goes (the session is
 * destroyed and its socket ended, as a failing load balancer does); `goaway`: GOAWAY with an error code;
 * `tcp-reset`: the socket is reset (TCP RST); `stall`: nothing more is answered while the connection stays
 * up (HTTP/2 pings still answered); `exception` / `error`: an exception or error message, then the end.
 * What each looks like to the SDK: /work/shared/research and docs/reliability.md.
 */
export type Fault =
  | ({ kind: "reset" } & FaultMoment)
  | ({ kind: "end" } & FaultMoment)
  | ({ kind: "destroy" } & FaultMoment)
  | ({ kind: "goaway" } & FaultMoment)
  | ({ kind: "tcp-reset" } & FaultMoment)
  | ({ kind: "stall" } & FaultMoment)
  | ({ kind: "exception"; type: ExceptionType; message?: string } & FaultMoment)
  | ({ kind: "error"; code: string; message: string } & FaultMoment)
  /** Request-time faults: answered before any audio, instead of HTTP 200. */
  | { kind: "reject-auth" }
  | { kind: "throttle" };

export interface EmulatorOptions {
  fixture: TranscriptFixture;
  /**
   * WebSocket route: send each event-stream message in WebSocket messages of at most this many bytes
   * (a proxy or service that splits them; the client reassembles by length). Default: one message each.
   */
  websocketPieceBytes?: number;
  /** "stream": the script restarts on every stream; "clock": the audio carries the script time. */
  clock?: "stream" | "clock";
  /** Access key id → secret key, for signature checks. */
  credentials?: Record<string, string>;
  idleTimeoutMs?: number;
  maxDurationMs?: number;
  maxConcurrentStreams?: number;
  /** Delay before the first event of every stream (the SDK's send() waits for it). */
  firstEventDelayMs?: number;
  /** What the standard endpoint hears (default: `fixture`), for tests that speak one language to each. */
  standardFixture?: TranscriptFixture;
  /** The language spoken in the audio, for language identification (default en-US; a segment may say its own). */
  spokenLanguage?: string;
  /** Keep only this many leading bytes of each audio event in `audio` (long benchmarks: bounded memory). */
  keepAudioBytes?: number;
  /**
   * A real service re-derives timestamps when it hears audio again: with this, every stream after the
   * first of a session id reports its word times shifted by this many seconds (alternating in sign from
   * stream to stream), as a replay after a reconnect would be heard. Default 0.
   */
  retimeSec?: number;
  /**
   * A segment's final comes once this much audio past its last word was heard (a real service waits
   * for a pause); until then its partial holds every word. Default 0: final with the last word.
   */
  finalAfterSec?: number;
}

export interface StreamRecord {
  index: number;
  transport: "http2" | "websocket";
  /** Messages refused for their checksums or framing. */
  badFrames: number;
  /** WebSocket AudioEvents sent without an event signature (the route's documented form). */
  unsignedFrames: number;
  headers: Record<string, string>;
  sessionId: string;
  status: number;
  requestSignatureOk: boolean;
  chunkSignaturesOk: boolean;
  audioEvents: number;
  audio: Buffer[];
  /** Arrival time of each audio event (epoch ms, sub-ms precision), for latency measurements. */
  audioAt: number[];
  endFrameSeen: boolean;
  /** How the stream ended on the emulator's side. */
  closedBy: "open" | "end-frame" | "fault" | "exception" | "client" | "conflict";
  /** Every TranscriptEvent body sent, in order. */
  events: unknown[];
  /** When each event was written (epoch ms). */
  eventsAt: number[];
  /** Every final result sent: when, and the script (content) start time of each of its words, in ms. */
  finals: Array<{ at: number; wordStartsMs: number[] }>;
  exceptions: Array<{ type: string; message: string }>;
}

export const DEFAULT_CREDENTIALS: Record<string, string> = {
  AKIDEMULATOR00000000: "emulator-secret-key-0000000000000000000000",
};

interface SegmentState {
  resultId: string;
  heard: number;
  stream: Array<{ start: number; end: number }>;
  done: boolean;
}

/** One request's state. */
class EmulatedStream {
  readonly record: StreamRecord;
  private readonly frames = new FrameSplitter();
  private priorSignature: string;
  private idleTimer: NodeJS.Timeout | undefined;
  private firstTimer: NodeJS.Timeout | undefined;
  private readonly out: EventWriter;
  private stalled = false;
  private finished = false;
  private streamSec = 0;
  private blockRemainder = Buffer.alloc(0);
  private firstContent: number | null = null;
  private readonly segments: Map<number, SegmentState> = new Map();
  private lastSpeaker: string | undefined;
  private readonly bytesPerSec: number;
  private readonly channels: number;
  private readonly rate: number;
  private audioSeen = false;
  private lastEventSec = 0;
  private readonly standard: boolean;
  private readonly fixture: TranscriptFixture;
  /** Stream time at which this stream first heard speech (language identification needs about 1 s of it). */
  private firstSpeechAt: number | null = null;
  /** Shift of every reported word time: a stream that hears a session's audio again re-derives them. */
  private readonly retime: number;

  constructor(
    private readonly emu: AwsTranscribeEmulator,
    private readonly wire: Wire,
    index: number,
    headers: Record<string, string>,
    sessionId: string,
    private readonly secret: string,
    private readonly region: string,
    requestSignature: string,
    private readonly faults: Fault[],
  ) {
    this.priorSignature = requestSignature;
    this.out = new EventWriter(emu.codec, wire, "TranscriptEvent");
    this.standard = headers[":path"] === STANDARD_PATH || headers[":path"] === STANDARD_WS_PATH;
    this.fixture = this.standard ? (emu.options.standardFixture ?? emu.options.fixture) : emu.options.fixture;
    this.rate = Number(headers["x-amzn-transcribe-sample-rate"]);
    this.channels = headers["x-amzn-transcribe-enable-channel-identification"] === "true" ? 2 : 1;
    this.bytesPerSec = this.rate * this.channels * 2;
    const earlier = emu.streams.filter((r) => r.sessionId === sessionId).length;
    this.retime = earlier === 0 ? 0 : (emu.options.retimeSec ?? 0) * (earlier % 2 === 1 ? 1 : -1);
    this.record = {
      index,
      transport: wire.transport,
      badFrames: 0,
      unsignedFrames: 0,
      headers,
      sessionId,
      status: 200,
      requestSignatureOk: true,
      chunkSignaturesOk: true,
      audioEvents: 0,
      audio: [],
      audioAt: [],
      endFrameSeen: false,
      closedBy: "open",
      events: [],
      eventsAt: [],
      finals: [],
      exceptions: [],
    };
    this.armIdle();
  }

  get open(): boolean {
    return !this.finished;
  }

  private get opts(): EmulatorOptions {
    return this.emu.options;
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.stalled) return;
    this.idleTimer = setTimeout(
      () => this.fail("BadRequestException", MESSAGES.idle, "exception"),
      this.opts.idleTimeoutMs ?? 15000,
    );
  }

  /** Bytes of the HTTP/2 request body (event-stream messages split anywhere). */
  onData(chunk: Buffer): void {
    if (this.finished) return;
    for (const frame of this.frames.push(chunk)) {
      this.onEnvelope(frame);
      if (this.finished) return;
    }
  }

  /** One WebSocket message: one event-stream message. */
  onMessage(frame: Buffer): void {
    if (this.finished) return;
    this.onEnvelope(frame);
  }

  private onEnvelope(frame: Buffer): void {
    const env = openEnvelope(this.emu.codec, frame, {
      secretAccessKey: this.secret,
      region: this.region,
      priorSignature: this.priorSignature,
    });
    if (env.kind === "unsigned" && this.wire.transport === "websocket") {
      // The WebSocket route takes unsigned AudioEvents (the presigned URL authenticates the connection),
      // as the developer guide sends them; signed envelopes (the SDK's browser path) are checked below.
      this.record.unsignedFrames++;
      this.onAudioMessage(env.outer);
      return;
    }
    if (env.kind === "bad" || env.kind === "unsigned") {
      if (env.kind === "bad" && env.framing) this.record.badFrames++;
      else this.record.chunkSignaturesOk = false;
      this.fail("BadRequestException", env.kind === "bad" ? env.message : MISSING_SIGNATURE, "exception");
      return;
    }
    this.priorSignature = env.signature;
    if (env.kind === "end") this.onEndFrame();
    else this.onAudioMessage(env.inner);
  }

  /** An AudioEvent message; an empty one (on the WebSocket route) ends the audio. */
  private onAudioMessage(inner: Message): void {
    if (
      str(inner.headers[":event-type"]) !== "AudioEvent" ||
      str(inner.headers[":message-type"]) !== "event"
    ) {
      this.fail("BadRequestException", "Unexpected event type in the audio stream.", "exception");
      return;
    }
    if (inner.body.length === 0 && this.wire.transport === "websocket") {
      this.onEndFrame();
      return;
    }
    this.onAudio(Buffer.from(inner.body));
  }

  private onAudio(audio: Buffer): void {
    this.record.audioEvents++;
    const keep = this.opts.keepAudioBytes;
    this.record.audio.push(keep === undefined ? audio : Buffer.from(audio.subarray(0, keep)));
    this.record.audioAt.push(epochMs());
    this.armIdle();
    if (audio.length > this.bytesPerSec) {
      this.fail("BadRequestException", MESSAGES.tooBig, "exception");
      return;
    }
    if (!this.audioSeen) {
      this.audioSeen = true;
      // The real service answers soon after the first audio, often with an empty event.
      this.firstTimer = setTimeout(() => this.release(), this.opts.firstEventDelayMs ?? 10);
      this.send(transcriptEvent([]));
    }
    this.recognise(audio);
    if (this.finished) return;
    // Like the real service, keep answering while audio flows, with empty events when nothing is heard.
    if (this.streamSec - this.lastEventSec >= 0.3) this.send(transcriptEvent([]));
    if (this.streamSec * 1000 > (this.opts.maxDurationMs ?? 14_400_000)) {
      this.fail("LimitExceededException", MESSAGES.maxDuration, "exception");
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
      if (f.atEndFrame === true) {
        // Waits for the end frame; faults planned after it wait too.
        return;
      }
      if (this.streamSec + 1e-9 < (f.afterAudioSec ?? 0)) return;
      this.faults.shift();
      this.apply(f);
    }
  }

  apply(f: Fault): void {
    switch (f.kind) {
      case "reset":
      case "goaway":
      case "tcp-reset":
      case "end":
      case "destroy":
        this.release();
        if (cutNeedsData(f.kind)) this.send(transcriptEvent([]));
        this.finish("fault");
        cutWire(this.wire, f.kind);
        return;
      case "stall":
        this.stalled = true;
        clearTimeout(this.idleTimer);
        return;
      case "exception":
        this.fail(f.type, f.message ?? defaultMessage(f.type), "fault");
        return;
      case "error":
        this.release();
        this.wire.write(
          this.emu.codec.encode({
            headers: {
              ":message-type": { type: "string", value: "error" },
              ":error-code": { type: "string", value: f.code },
              ":error-message": { type: "string", value: f.message },
            },
            body: new Uint8Array(0),
          }),
        );
        this.finish("fault");
        this.wire.end();
        return;
      default:
        return;
    }
  }

  private onEndFrame(): void {
    this.record.endFrameSeen = true;
    // A stalled service answers nothing, not even the end of the audio.
    if (this.stalled) return;
    const atEnd = this.faults.findIndex((f) => "atEndFrame" in f && f.atEndFrame === true);
    if (atEnd >= 0) {
      const [fault] = this.faults.splice(atEnd, 1);
      this.apply(fault);
      return;
    }
    if (!this.out.isReleased && this.audioSeen) {
      // Keep the scripted delay before the first event even when the audio is already over.
      clearTimeout(this.firstTimer);
      this.firstTimer = setTimeout(() => this.flushAndEnd(), this.opts.firstEventDelayMs ?? 10);
      return;
    }
    this.flushAndEnd();
  }

  private flushAndEnd(): void {
    if (this.finished) return;
    // The service flushes what it heard as final results, then ends the response.
    for (const [i, st] of this.segments) {
      if (!st.done && st.heard > 0) this.emitSegment(i, st, true);
    }
    this.release();
    this.finish("end-frame");
    this.wire.end();
  }

  /** Content time of each 10 ms block of audio, and the words of the script it completes. */
  private recognise(audio: Buffer): void {
    const blockBytes = Math.round(this.rate * CLOCK_TICK_SEC) * this.channels * 2;
    let buf = Buffer.concat([this.blockRemainder, audio]);
    while (buf.length >= blockBytes) {
      const block = buf.subarray(0, blockBytes);
      buf = buf.subarray(blockBytes);
      const t = this.streamSec;
      this.streamSec += CLOCK_TICK_SEC;
      const content = this.opts.clock === "clock" ? clockOf(block) : t;
      if (content === null) continue;
      if (this.firstContent === null) this.firstContent = content;
      this.hear(content, t);
      if (this.finished) return;
    }
    this.blockRemainder = buf;
  }

  private hear(content: number, streamTime: number): void {
    const until = content + CLOCK_TICK_SEC;
    this.fixture.forEach((seg, i) => {
      let st = this.segments.get(i);
      if (st?.done) return;
      const first = seg.words[0];
      if (!first) return;
      // A segment whose start this stream never heard is not recognised (cut off).
      if (first.start + 1e-9 < (this.firstContent ?? 0) - CLOCK_TICK_SEC) return;
      let grew = false;
      while ((st?.heard ?? 0) < seg.words.length) {
        const w = seg.words[st?.heard ?? 0];
        if (w.end > until + 1e-9) break;
        if (!st) {
          st = { resultId: randomUUID(), heard: 0, stream: [], done: false };
          this.segments.set(i, st);
        }
        st.stream.push({
          start: round(Math.max(0, streamTime + (w.start - content) + this.retime)),
          end: round(Math.max(0, streamTime + (w.end - content) + this.retime)),
        });
        this.firstSpeechAt ??= streamTime;
        st.heard++;
        grew = true;
      }
      if (!st) return;
      const complete = st.heard === seg.words.length;
      // Like the service, a segment ends only after a pause: `finalAfterSec` of audio past its last word.
      const paused = until + 1e-9 >= (seg.words.at(-1)?.end ?? 0) + (this.opts.finalAfterSec ?? 0);
      if (grew || (complete && paused)) this.emitSegment(i, st, complete && paused);
    });
  }

  private emitSegment(i: number, st: SegmentState, final: boolean): void {
    const seg = this.fixture[i];
    const h = this.record.headers;
    const speakers = h["x-amzn-transcribe-show-speaker-label"] === "true";
    const channelId = h["x-amzn-transcribe-enable-channel-identification"] === "true";
    const phi = h["x-amzn-transcribe-content-identification-type"] === "PHI";
    const words = seg.words.slice(0, st.heard);
    const times = st.stream;
    const items: Array<Record<string, unknown>> = [];
    if (final && speakers && this.lastSpeaker !== undefined && this.lastSpeaker !== seg.speaker) {
      items.push({ StartTime: times[0]?.start, EndTime: times[0]?.start, Type: "speaker-change" });
    }
    const wordItems = words.map((w, k) => {
      const item: Record<string, unknown> = {
        StartTime: times[k]?.start,
        EndTime: times[k]?.end,
        Type: w.punctuation ? "punctuation" : "pronunciation",
        Content: w.text,
      };
      if (final) item.Confidence = w.confidence;
      if (final && speakers) item.Speaker = seg.speaker;
      return { word: w, item };
    });
    items.push(...wordItems.map((w) => w.item));
    const alt: Record<string, unknown> = { Transcript: joinWords(words.map((w) => w)), Items: items };
    if (final && phi) {
      alt.Entities = words
        .map((w, k) => ({ w, k }))
        .filter(({ w }) => w.phi)
        .map(({ w, k }) => ({
          StartTime: times[k]?.start,
          EndTime: times[k]?.end,
          Category: "PHI",
          Content: w.text,
          Confidence: w.confidence,
        }));
    }
    const result: Record<string, unknown> = {
      ResultId: st.resultId,
      StartTime: times[0]?.start ?? 0,
      EndTime: times[times.length - 1]?.end ?? 0,
      IsPartial: !final,
      Alternatives: [alt],
    };
    if (channelId) result.ChannelId = `ch_${seg.channel}`;
    if (this.standard) {
      const spoken = seg.language ?? this.opts.spokenLanguage ?? "en-US";
      const kept = standardFeatures(
        {
          headers: h,
          final,
          words: wordItems,
          language: identifiedLanguage(h, spoken),
          languageKnown:
            h["x-amzn-transcribe-language-code"] !== undefined ||
            final ||
            this.streamSec - (this.firstSpeechAt ?? this.streamSec) >= 1,
        },
        result,
        alt,
      );
      alt.Items = items.filter((it) => it.Type === "speaker-change" || kept.includes(it));
      alt.Transcript = joinWords(
        kept.map((it) => ({ text: String(it.Content), punctuation: it.Type === "punctuation" })),
      );
    }
    if (final) {
      st.done = true;
      if (speakers) this.lastSpeaker = seg.speaker;
    }
    this.send(transcriptEvent([result]));
    if (final && !this.stalled && !this.finished) {
      const starts = words.filter((w) => !w.punctuation).map((w) => Math.round(w.start * 1000));
      this.record.finals.push({
        at: this.record.eventsAt[this.record.eventsAt.length - 1] ?? epochMs(),
        wordStartsMs: starts,
      });
    }
  }

  private send(body: unknown): void {
    if (this.stalled || this.finished) return;
    this.lastEventSec = this.streamSec;
    this.record.events.push(body);
    this.record.eventsAt.push(epochMs());
    this.out.event(body);
  }

  private release(): void {
    clearTimeout(this.firstTimer);
    this.out.release();
  }

  /** Sends an exception event (as the service does mid-stream) and ends the response. */
  fail(type: string, message: string, closedBy: StreamRecord["closedBy"]): void {
    if (this.finished) return;
    this.release();
    this.record.exceptions.push({ type, message });
    this.out.exception(type, message);
    this.finish(closedBy);
  }

  private finish(closedBy: StreamRecord["closedBy"]): void {
    if (this.finished) return;
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

const str = (h: MessageHeaders[string] | undefined): string | undefined =>
  h?.type === "string" ? h.value : undefined;

const round = (s: number): number => Math.round(s * 1000) / 1000;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const epochMs = (): number => performance.timeOrigin + performance.now();

export function clockOf(block: Buffer): number | null {
  const v = block.readInt16LE(0);
  return v > 0 ? (v - 1) * CLOCK_TICK_SEC : null;
}

export function joinWords(words: Array<{ text: string; punctuation?: boolean }>): string {
  return words.reduce((s, w) => (w.punctuation || s === "" ? s + w.text : `${s} ${w.text}`), "");
}

const transcriptEvent = (results: unknown[]): unknown => ({ Transcript: { Results: results } });

export function defaultMessage(type: ExceptionType): string {
  switch (type) {
    case "BadRequestException":
      return MESSAGES.idle;
    case "LimitExceededException":
      return MESSAGES.maxDuration;
    case "InternalFailureException":
      return "A problem occurred while processing the audio. Amazon Transcribe terminated processing.";
    case "ConflictException":
      return MESSAGES.conflict;
    case "ServiceUnavailableException":
      return "The service is currently unavailable. Try your request later.";
  }
}

const SPECIALTIES = ["PRIMARYCARE", "CARDIOLOGY", "NEUROLOGY", "ONCOLOGY", "RADIOLOGY", "UROLOGY"];
const TYPES = ["CONVERSATION", "DICTATION"];
const ENCODINGS = ["pcm", "ogg-opus", "flac"];
/** Start-time validation as the service does it (research/aws.md §3.5); null when valid. */
export function validateRequest(h: Record<string, string>): string | null {
  const language = h["x-amzn-transcribe-language-code"] ?? "";
  const rate = Number(h["x-amzn-transcribe-sample-rate"]);
  if (language !== "en-US" || !Number.isInteger(rate) || rate < 16000 || rate > 48000) {
    return MESSAGES.sampleRate;
  }
  const encoding = h["x-amzn-transcribe-media-encoding"] ?? "";
  if (!ENCODINGS.includes(encoding)) return enumMessage(encoding, "mediaEncoding", ENCODINGS);
  const specialty = h["x-amzn-transcribe-specialty"] ?? "";
  if (!SPECIALTIES.includes(specialty)) return enumMessage(specialty, "specialty", SPECIALTIES);
  const type = h["x-amzn-transcribe-type"] ?? "";
  if (!TYPES.includes(type)) return enumMessage(type, "type", TYPES);
  const channels = validateChannels(h);
  if (channels !== null) return channels;
  const channelId = h["x-amzn-transcribe-enable-channel-identification"] === "true";
  if (channelId && h["x-amzn-transcribe-show-speaker-label"] === "true") return MESSAGES.speakerAndChannel;
  const session = validateSessionId(h);
  if (session !== null) return session;
  const vocab = h["x-amzn-transcribe-vocabulary-name"];
  if (vocab !== undefined && !/^[0-9a-zA-Z._-]{1,200}$/.test(vocab))
    return patternMessage(vocab, "vocabularyName");
  const content = h["x-amzn-transcribe-content-identification-type"];
  if (content !== undefined && content !== "PHI")
    return enumMessage(content, "contentIdentificationType", ["PHI"]);
  return null;
}

export class AwsTranscribeEmulator {
  readonly codec = new EventStreamCodec(toUtf8, fromUtf8);
  readonly streams: StreamRecord[] = [];
  /** Rejected requests (HTTP status ≠ 200), in order. */
  readonly rejected: Array<{
    status: number;
    type: string;
    message: string;
    headers: Record<string, string>;
  }> = [];
  /** Faults for the coming streams: each new request takes the next list (empty = healthy). */
  readonly plannedFaults: Fault[][] = [];
  private readonly server: Http2Server;
  /** HTTP/1.1 on a port of its own (the service's is 8443): the WebSocket routes. */
  private readonly http1 = http.createServer();
  private readonly wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 1 << 20,
  });
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private readonly active = new Set<EmulatedStream>();
  private readonly bySessionId = new Map<string, EmulatedStream>();
  private outage: "reset" | "unavailable" | null = null;
  /** Requests refused during outages. */
  outageRequests = 0;
  port = 0;
  wsPort = 0;

  constructor(readonly options: EmulatorOptions) {
    this.server = h2cServer(this.sessions, (stream, headers) => void this.onRequest(stream, headers));
    this.http1.on("request", (_req: IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(404, { "content-type": "application/json" }).end('{"Message":"Unknown operation."}');
    });
    this.http1.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on("error", () => undefined);
      void this.onUpgrade(req, socket, head);
    });
    this.http1.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      socket.on("error", () => undefined);
    });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The endpoint of the WebSocket routes (the service's is the same host on port 8443). */
  get wsEndpoint(): string {
    return `http://127.0.0.1:${this.wsPort}`;
  }

  get activeStreams(): number {
    return this.active.size;
  }

  /** Faults for the next stream (appended after those already planned). */
  planFaults(...faults: Fault[]): void {
    this.plannedFaults.push(faults);
  }

  /** Applies a fault now to the open stream at `index` (in the order they opened); false when there is none. */
  faultOpenStream(index: number, fault: Fault): boolean {
    const stream = [...this.active][index];
    stream?.apply(fault);
    return stream !== undefined;
  }

  /** Applies a fault now to every open stream. */
  faultOpenStreams(fault: Fault): void {
    for (const s of [...this.active]) s.apply(fault);
  }

  /**
   * Starts an outage (a firewall failover, a regional incident): open streams are reset, and every
   * new request is reset before its response ("reset") or answered HTTP 503 ServiceUnavailableException
   * ("unavailable") until `endOutage()`.
   */
  startOutage(mode: "reset" | "unavailable" = "reset"): void {
    this.outage = mode;
    this.faultOpenStreams({ kind: "reset" });
  }

  endOutage(): void {
    this.outage = null;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => this.http1.listen(0, "127.0.0.1", resolve));
    this.wsPort = (this.http1.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    for (const c of this.wss.clients) c.terminate();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await new Promise<void>((resolve) => this.http1.close(() => resolve()));
  }

  streamFinished(s: EmulatedStream): void {
    this.active.delete(s);
    if (this.bySessionId.get(s.record.sessionId) === s) this.bySessionId.delete(s.record.sessionId);
  }

  private reject(
    stream: ServerHttp2Stream,
    status: number,
    type: string,
    message: string,
    headers: Record<string, string>,
  ): void {
    this.rejected.push({ status, type, message, headers });
    refuseHttp2(stream, status, type, message);
  }

  /**
   * What both transports check once the caller is authenticated (throttling, parameters, concurrency,
   * the session id): the session id to stream under, or null when the request was refused.
   */
  private admit(
    headers: Record<string, string>,
    faults: Fault[],
    standard: boolean,
    refuse: (status: number, type: string, message: string) => void,
  ): string | null {
    if (faults.some((f) => f.kind === "throttle")) {
      refuse(429, "LimitExceededException", MESSAGES.concurrency);
      return null;
    }
    const invalid = standard ? validateStandardRequest(headers) : validateRequest(headers);
    if (invalid !== null) {
      refuse(400, "BadRequestException", invalid);
      return null;
    }
    if (this.active.size >= (this.options.maxConcurrentStreams ?? 25)) {
      refuse(429, "LimitExceededException", MESSAGES.concurrency);
      return null;
    }
    const sessionId = headers["x-amzn-transcribe-session-id"] ?? randomUUID();
    const older = this.bySessionId.get(sessionId);
    if (older) older.fail("ConflictException", MESSAGES.conflict, "conflict");
    return sessionId;
  }

  private opened(s: EmulatedStream): void {
    this.streams.push(s.record);
    this.active.add(s);
    this.bySessionId.set(s.record.sessionId, s);
  }

  private async onRequest(stream: ServerHttp2Stream, raw: IncomingHttpHeaders): Promise<void> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(",") : String(v);
    const path = headers[":path"];
    if (headers[":method"] !== "POST" || (path !== PATH && path !== STANDARD_PATH)) {
      this.reject(stream, 404, "UnknownOperationException", "Unknown operation.", headers);
      return;
    }
    if (this.outage !== null) {
      this.outageRequests++;
      if (this.outage === "unavailable") {
        this.reject(
          stream,
          503,
          "ServiceUnavailableException",
          defaultMessage("ServiceUnavailableException"),
          headers,
        );
      } else stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const faults = this.plannedFaults.shift() ?? [];
    if (faults.some((f) => f.kind === "reject-auth")) {
      this.reject(stream, 403, "InvalidSignatureException", MESSAGES.badSignature, headers);
      return;
    }
    const auth = parseAuthorization(headers.authorization);
    const creds = this.options.credentials ?? DEFAULT_CREDENTIALS;
    const secret = auth ? creds[auth.accessKeyId] : undefined;
    if (!auth || secret === undefined) {
      this.reject(stream, 403, "UnrecognizedClientException", MESSAGES.unknownKey, headers);
      return;
    }
    const ok = await verifyRequestSignature(raw, auth, secret);
    if (!ok || headers["x-amz-content-sha256"] !== "STREAMING-AWS4-HMAC-SHA256-EVENTS") {
      this.reject(stream, 403, "InvalidSignatureException", MESSAGES.badSignature, headers);
      return;
    }
    const sessionId = this.admit(headers, faults, path === STANDARD_PATH, (status, type, message) =>
      this.reject(stream, status, type, message, headers),
    );
    if (sessionId === null || stream.destroyed) return;
    const echo: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) if (k.startsWith("x-amzn-transcribe-")) echo[k] = v;
    stream.respond({
      ":status": 200,
      "content-type": "application/json",
      "x-amzn-request-id": randomUUID(),
      ...echo,
      "x-amzn-transcribe-session-id": sessionId,
    });
    const s = new EmulatedStream(
      this,
      http2Wire(stream),
      this.streams.length,
      headers,
      sessionId,
      secret,
      auth.region,
      auth.signature,
      faults,
    );
    stream.on("data", (chunk: Buffer) => s.onData(chunk));
    stream.on("close", () => s.onClose());
    this.opened(s);
  }

  /** An HTTP error answer to a WebSocket handshake, as the service gives one. */
  private refuseUpgrade(
    socket: Socket,
    status: number,
    type: string,
    message: string,
    headers: Record<string, string>,
  ): void {
    this.rejected.push({ status, type, message, headers });
    const body = JSON.stringify({ Message: message });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}\r\n` +
        "Content-Type: application/json\r\n" +
        `x-amzn-ErrorType: ${type}:http://internal.amazon.com/coral/com.amazonaws.transcribe.streaming/\r\n` +
        `x-amzn-RequestId: ${randomUUID()}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Connection: close\r\n\r\n" +
        body,
    );
  }

  /** `GET /…-transcription-websocket?…` with a presigned URL: the WebSocket routes. */
  private async onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? "/", "http://emulator");
    const path = url.pathname;
    // The parameters as the HTTP/2 route has them (its headers), for the same checks and records.
    const headers: Record<string, string> = { ":path": path, ":method": req.method ?? "GET" };
    for (const [k, v] of url.searchParams) {
      if (!k.startsWith("X-Amz-") && k !== "user-agent") headers[`x-amzn-transcribe-${k}`] = v;
    }
    const refuse = (status: number, type: string, message: string): void =>
      this.refuseUpgrade(socket, status, type, message, headers);
    if (req.method !== "GET" || (path !== WS_PATH && path !== STANDARD_WS_PATH)) {
      refuse(404, "UnknownOperationException", "Unknown operation.");
      return;
    }
    if (this.outage !== null) {
      this.outageRequests++;
      if (this.outage === "unavailable") {
        refuse(503, "ServiceUnavailableException", defaultMessage("ServiceUnavailableException"));
      } else socket.resetAndDestroy();
      return;
    }
    const faults = this.plannedFaults.shift() ?? [];
    if (faults.some((f) => f.kind === "reject-auth")) {
      refuse(403, "InvalidSignatureException", MESSAGES.badSignature);
      return;
    }
    const check: PresignCheck = await verifyPresignedUrl(
      url,
      String(req.headers.host ?? ""),
      this.options.credentials ?? DEFAULT_CREDENTIALS,
      new Date(),
    );
    if (!check.ok) {
      refuse(403, check.type, check.message);
      return;
    }
    const sessionId = this.admit(headers, faults, path === STANDARD_WS_PATH, refuse);
    if (sessionId === null || socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const s = new EmulatedStream(
        this,
        websocketWire(ws, socket, this.options.websocketPieceBytes),
        this.streams.length,
        headers,
        sessionId,
        check.secret,
        check.region,
        check.signature,
        faults,
      );
      ws.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) s.onMessage(data);
        else s.fail("BadRequestException", "Unexpected WebSocket frame received.", "exception");
      });
      ws.on("close", () => s.onClose());
      ws.on("error", () => undefined);
      this.opened(s);
    });
  }
}

/** Static credentials the emulator accepts. */
export const EMULATOR_CREDENTIALS = {
  accessKeyId: Object.keys(DEFAULT_CREDENTIALS)[0],
  secretAccessKey: Object.values(DEFAULT_CREDENTIALS)[0],
};

const silentLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** The real SDK client, pointed at the emulator, with its logging silenced (tests read the errors). */
export function emulatorClient(
  emu: Pick<AwsTranscribeEmulator, "endpoint">,
  credentials = EMULATOR_CREDENTIALS,
): TranscribeStreamingClient {
  return new TranscribeStreamingClient({
    region: "us-east-1",
    endpoint: emu.endpoint,
    credentials,
    logger: silentLogger,
  });
}
