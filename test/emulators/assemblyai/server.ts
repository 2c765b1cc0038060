/**
 * A local AssemblyAI v3 streaming server (research/assemblyai.md §6) for tests: the real handshake,
 * auth and parameter errors, the 50–1000 ms frame rule, real-time rate check, scripted U3 Pro turns
 * from a fixture, Terminate/Termination, and fault injection. It records what it received.
 */
import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import { createServer as createHttpsServer, Server as HttpsServer } from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type RawData, type WebSocket } from "ws";
import { contentStartMs, voicedStartMs, wordId, type Fixture, type FixtureWord } from "./fixture";

export const SPEECH_MODEL_ENUM = [
  "universal-streaming-english",
  "universal-streaming-multilingual",
  "whisper-rt",
  "u3-rt-pro",
  "u3-rt-pro-beta-1",
  "u3-rt-agent",
  "universal-3-5-pro",
  "universal-3-6-pro",
  "universal-3-6",
  "universal-3-7-preview",
  "_universal-3-5-notetaker",
];

/** The Error texts the service sends with each injectable close code. */
export const FAULT_MESSAGES: Record<number, string> = {
  1008: "Unauthorized connection: Too many concurrent sessions",
  3005: "Session Cancelled: An error occurred",
  3008: "Session Expired: Maximum session duration exceeded",
  3009: "Too many concurrent sessions",
};

const SEE_ERROR = "See Error message for details";

export interface EmulatorOptions {
  fixture: Fixture;
  /**
   * Whether s16le audio is the tagged test audio that carries its own session position (default), or
   * ordinary audio (a microphone, a recording) whose position is simply how much this connection has
   * received: the demo's mode, in which the fixture is a script spoken over any audio.
   */
  taggedAudio?: boolean;
  apiKeys?: string[];
  tokens?: string[];
  expiredTokens?: string[];
  beginDelayMs?: number;
  /**
   * How far received audio may run ahead of wall time before 3007. The real tolerance is undocumented;
   * 3007 was observed at about 310 s ahead (research-liveness §6). Default 300 s; tests of a client's
   * real-time pacing set a small one.
   */
  rateToleranceMs?: number;
  /** Length of one inactivity_timeout "second" (shortened in tests so a 5 s timeout takes 5 × this). */
  inactivitySecondMs?: number;
  /** Delay before the final that ForceEndpoint produces (the service takes about 270 ms). */
  forceEndpointDelayMs?: number;
  /** Delay before Termination after Terminate (the service takes 0.5–1.3 s). */
  terminationDelayMs?: number;
  /**
   * How s16le audio says where it belongs: "clock" (`taggedPcm`, the default) or "voiced" (`voicedPcm`:
   * the same, plus speech energy inside the fixture's words, for clients that listen to the audio).
   */
  audioTags?: "clock" | "voiced";
  /**
   * When a turn's partials come: "every-word" (default: a partial per word heard), or "at-pauses" (U3 Pro
   * with continuous partials off, research/assemblyai.md §2.4: one partial per pause of at least
   * min_turn_silence that does not end the turn, so fluent speech gets none until it pauses).
   */
  partials?: "every-word" | "at-pauses";
  /**
   * How connection `n` (0-based) re-derives what it hears, as a real service does for replayed audio:
   * word times shifted by `shiftMs`, words split ("hemoglobin" → "hemog lobin") or joined
   * ("blood pressure" → "bloodpressure") differently. Default: none.
   */
  retime?: (connection: number) => Retiming | undefined;
}

export interface Retiming {
  shiftMs?: number;
  respell?: "split" | "join";
}

/** One final Turn the emulator sent: the service's ledger, word by word, by fixture identity. */
export interface LedgerFinal {
  connection: number;
  turnOrder: number;
  /** Each word of the final as sent, with the fixture words ("turn/word") it stands for. */
  words: Array<{ text: string; fixture: string[] }>;
}

/** A certificate and key (PEM) for serving wss://; the client must trust the certificate. */
export interface EmulatorTls {
  key: string | Buffer;
  cert: string | Buffer;
}

/** What the next connection meets, for tests of connection-time faults. */
export type ConnectionPlan =
  | { reject: number; message?: string }
  | { beginDelayMs: number }
  | { stall: true }
  /** The upgrade succeeds, then the TCP connection drops before Begin. */
  | { drop: true };

export interface ReceivedFrame {
  bytes: number;
  ms: number;
  /** Wall milliseconds since the connection opened. */
  atMs: number;
  /** Session milliseconds of the audio (tagged test audio), undefined for silence. */
  contentMs: number | undefined;
  /** The frame's first two samples (s16le), where test audio may carry marks of its own. */
  head: [number, number] | undefined;
  /** Arrival time (epoch ms, sub-millisecond), comparable across processes: for latency measurements. */
  at: number;
}

interface Segment {
  connStartMs: number;
  contentStartMs: number;
  durationMs: number;
}

interface HeardWord {
  word: FixtureWord;
  id: string;
  start: number;
  end: number;
}

interface OpenTurn {
  fixtureTurn: number;
  words: HeardWord[];
  /** A partial went out for the current pause (partials "at-pauses"). */
  pausePartial: boolean;
}

type ConnectionOptions = Required<
  Omit<EmulatorOptions, "apiKeys" | "tokens" | "expiredTokens" | "retime">
> & { retiming: Retiming | undefined; index: number; ledger: LedgerFinal[] };

type Json = Record<string, unknown>;

export class EmulatedConnection {
  readonly headers: IncomingMessage["headers"];
  readonly params: Record<string, string>;
  readonly frames: ReceivedFrame[] = [];
  /** Client text messages, parsed when they were JSON, otherwise the raw text. */
  readonly messages: unknown[] = [];
  /** Every JSON message the server sent. */
  readonly sent: Json[] = [];
  /** Every final Turn sent: when (epoch ms), and the fixture start time of each of its words (ms). */
  readonly finals: Array<{ at: number; wordStartsMs: number[] }> = [];
  receivedMs = 0;
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  config: { min_turn_silence: number; max_turn_silence: number; keyterms_prompt: string[]; prompt?: string };

  private readonly openedAt = Date.now();
  private beginAt: number | undefined;
  private stalled = false;
  private ended = false;
  private readonly segments: Segment[] = [];
  private readonly heard = new Set<string>();
  private open: OpenTurn | undefined;
  private turnOrder = 0;
  private inactivity: NodeJS.Timeout | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly audioHooks: Array<{ ms: number; fn: () => void }> = [];
  private readonly contentHooks: Array<{ ms: number; fn: () => void }> = [];
  /** Replaces the answer to Terminate (a fault after the end of audio). */
  private terminateHook: (() => void) | undefined;
  /** Connection audio (ms) up to which silence was acknowledged (acknowledge_silence). */
  private silenceAckedMs = 0;
  private resolveClosed: (code: number) => void = () => undefined;
  /** Delay before Termination on this connection (default: the emulator's). */
  terminationDelayMs: number;

  constructor(
    private readonly socket: WebSocket,
    request: IncomingMessage,
    private readonly options: ConnectionOptions,
  ) {
    this.headers = request.headers;
    const url = new URL(request.url ?? "/", "http://localhost");
    this.params = Object.fromEntries(url.searchParams);
    this.config = {
      min_turn_silence: intParam(this.params.min_turn_silence) ?? 100,
      max_turn_silence: intParam(this.params.max_turn_silence) ?? 1000,
      keyterms_prompt: [],
    };
    this.terminationDelayMs = options.terminationDelayMs;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.on("error", () => undefined);
    socket.on("close", (code) => {
      this.closeCode ??= code;
      this.clearTimers();
      this.resolveClosed(this.closeCode);
    });
  }

  get sampleRate(): number {
    return intParam(this.params.sample_rate) ?? 16000;
  }

  get bytesPerSample(): number {
    return this.params.encoding === "pcm_mulaw" ? 1 : 2;
  }

  /** Server messages of one type. */
  sentOf(type: string): Json[] {
    return this.sent.filter((m) => m.type === type);
  }

  /** Calls `fn` once this connection has received `ms` of audio. */
  whenAudio(ms: number, fn: () => void): void {
    this.audioHooks.push({ ms, fn });
  }

  /** Calls `fn` once the received audio reaches session millisecond `ms` (test audio only). */
  whenContent(ms: number, fn: () => void): void {
    this.contentHooks.push({ ms, fn });
  }

  /** On Terminate, calls `fn` instead of answering (a fault after the end of audio). */
  onTerminate(fn: () => void): void {
    this.terminateHook = fn;
  }

  /** Whether this connection stalled (answers pings, nothing else). */
  get isStalled(): boolean {
    return this.stalled;
  }

  /** Drops the TCP connection without a close frame: the client sees 1006. */
  drop(): void {
    this.closeCode = 1006;
    this.socket.terminate();
  }

  /** Error frame then close with the same code, as the service ends a session on an error. */
  fail(code: number, message = FAULT_MESSAGES[code] ?? "Session Cancelled: An error occurred"): void {
    if (this.closeCode !== undefined) return;
    this.send({ type: "Error", error_code: code, error: message });
    this.closeWith(code, SEE_ERROR);
  }

  /**
   * Sends one text message of `bytes` bytes (a Turn whose words run on: a hostile or broken peer), to
   * meet the client's bound on the size of a message.
   */
  sendOversized(bytes: number): void {
    if (this.closeCode !== undefined) return;
    const head = '{"type":"Turn","turn_order":0,"end_of_turn":false,"transcript":"';
    this.socket.send(`${head}${"x".repeat(Math.max(0, bytes - head.length - 2))}"}`);
  }

  /** A close with no Error frame before it (1011, 1013: transport-level conditions). */
  closeBare(code: number): void {
    this.closeWith(code, "");
  }

  /** Stops answering: no Turns, no Termination, input ignored. */
  stall(): void {
    this.stalled = true;
    this.clearTimers();
  }

  /**
   * A half-open connection: stalls and stops reading the socket too, so no pong answers a ping and no
   * close frame answers a close, while the client's sends still succeed (the kernel buffers them).
   */
  freeze(): void {
    this.stall();
    (this.socket as unknown as { _socket?: { pause(): void } })._socket?.pause();
  }

  start(plan: ConnectionPlan | undefined, auth: { code: number; message: string } | undefined): void {
    this.socket.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    if (auth) return this.fail(auth.code, auth.message);
    if (plan && "reject" in plan) return this.fail(plan.reject, plan.message);
    const invalid = validateQuery(this.params);
    if (invalid) return this.fail(3006, `User Input Validation Error: ${invalid}`);
    if (plan && "stall" in plan) return this.stall();
    if (plan && "drop" in plan) return this.drop();
    const delay = plan && "beginDelayMs" in plan ? plan.beginDelayMs : this.options.beginDelayMs;
    this.later(() => this.begin(), delay);
  }

  private begin(): void {
    this.beginAt = Date.now();
    this.send({
      type: "Begin",
      id: randomUUID(),
      expires_at: Math.floor(Date.now() / 1000) + 10800,
      configuration: {
        model: this.params.speech_model ?? "universal-3-5-pro",
        mode: this.params.mode ?? "balanced",
        api_version: "2025-05-12",
        speaker_labels: this.params.speaker_labels === "true",
        redact_pii: this.params.redact_pii === "true",
        filter_profanity: this.params.filter_profanity === "true",
        domain: this.params.domain ?? null,
        voice_focus: this.params.voice_focus ?? null,
      },
    });
    this.touch();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (this.stalled && !isBinary) {
      // A stalled service still reads its socket: what the client sent is recorded, never answered.
      const text = (Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer)).toString("utf8");
      try {
        this.messages.push(JSON.parse(text));
      } catch {
        this.messages.push(text);
      }
    }
    if (this.stalled || this.ended || this.closeCode !== undefined) return;
    this.touch();
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    if (isBinary) return this.onAudio(buf);
    const text = buf.toString("utf8");
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch (err) {
      this.messages.push(text);
      return this.fail(3006, `User Input Validation Error: Invalid JSON: ${(err as Error).message}`);
    }
    this.messages.push(message);
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return this.fail(3006, "Invalid Message: Input should be a valid dictionary");
    }
    const m = message as Json;
    switch (m.type) {
      case "Terminate":
        return this.terminate();
      case "ForceEndpoint":
        this.later(() => this.finalize(), this.options.forceEndpointDelayMs);
        return;
      case "KeepAlive":
        return;
      case "UpdateConfiguration":
        return this.update(m);
      default:
        return this.fail(3006, `Invalid Message Type: ${String(m.type)}`);
    }
  }

  private update(m: Json): void {
    if (m.prompt !== undefined && (typeof m.prompt !== "string" || m.prompt.length > 1750)) {
      return this.fail(
        3006,
        "User Input Validation Error: Invalid 'prompt': String should have at most 1750 characters",
      );
    }
    if (typeof m.prompt === "string") this.config.prompt = m.prompt;
    if (typeof m.min_turn_silence === "number") this.config.min_turn_silence = m.min_turn_silence;
    if (typeof m.max_turn_silence === "number") this.config.max_turn_silence = m.max_turn_silence;
    if (Array.isArray(m.keyterms_prompt)) {
      if (m.keyterms_prompt.length > 100) {
        return this.fail(3006, "User Input Validation Error: Invalid 'keyterms_prompt': Max 100 items");
      }
      this.config.keyterms_prompt = m.keyterms_prompt.filter((t): t is string => typeof t === "string");
    }
  }

  private onAudio(buf: Buffer): void {
    const ms = (buf.length / (this.sampleRate * this.bytesPerSample)) * 1000;
    const atMs = Date.now() - this.openedAt;
    const tagged = this.bytesPerSample === 2 && this.options.taggedAudio;
    const read = this.options.audioTags === "voiced" ? voicedStartMs : contentStartMs;
    const contentMs = tagged ? read(buf, this.sampleRate) : this.receivedMs;
    const head: ReceivedFrame["head"] =
      this.bytesPerSample === 2 && buf.length >= 4 ? [buf.readInt16LE(0), buf.readInt16LE(2)] : undefined;
    const at = performance.timeOrigin + performance.now();
    this.frames.push({ bytes: buf.length, ms, atMs, contentMs, head, at });
    if (ms < 50 || ms > 1000) {
      return this.fail(
        3007,
        `Input Duration Error: Input Duration Violation: ${ms.toFixed(1)} ms. Expected between 50 and 1000 ms`,
      );
    }
    const connStart = this.receivedMs;
    this.receivedMs += ms;
    const elapsed = Date.now() - (this.beginAt ?? this.openedAt);
    if (this.receivedMs - elapsed > this.options.rateToleranceMs) {
      return this.fail(
        3007,
        `Input Duration Error: Audio Transmission Rate Exceeded: Received ${(this.receivedMs / 1000).toFixed(1)} sec. audio in ${(elapsed / 1000).toFixed(6)} sec`,
      );
    }
    if (contentMs !== undefined) this.addSegment(connStart, contentMs, ms);
    this.recognise();
    for (const hook of this.audioHooks.filter((h) => h.ms <= this.receivedMs)) {
      this.audioHooks.splice(this.audioHooks.indexOf(hook), 1);
      hook.fn();
    }
    const contentEnd = contentMs === undefined ? undefined : contentMs + ms;
    for (const hook of this.contentHooks.filter(
      (h) => contentEnd !== undefined && h.ms <= contentEnd + 0.5,
    )) {
      this.contentHooks.splice(this.contentHooks.indexOf(hook), 1);
      hook.fn();
    }
  }

  private addSegment(connStartMs: number, contentStart: number, durationMs: number): void {
    const last = this.segments[this.segments.length - 1];
    const contiguous =
      last &&
      Math.abs(last.connStartMs + last.durationMs - connStartMs) < 1 &&
      Math.abs(last.contentStartMs + last.durationMs - contentStart) < 1;
    if (last && contiguous) last.durationMs += durationMs;
    else this.segments.push({ connStartMs, contentStartMs: contentStart, durationMs });
  }

  /** Where a stretch of session audio lies on this connection's clock, if it was received whole. */
  private locate(startMs: number, endMs: number): { start: number; end: number } | undefined {
    for (const s of this.segments) {
      if (s.contentStartMs <= startMs + 0.5 && endMs <= s.contentStartMs + s.durationMs + 0.5) {
        const shift = s.connStartMs - s.contentStartMs;
        return { start: startMs + shift, end: endMs + shift };
      }
    }
    return undefined;
  }

  /** Hears the fixture words the received audio now holds, and ends turns on silence, as U3 Pro does. */
  private recognise(): void {
    this.options.fixture.turns.forEach((t, ti) =>
      t.words.forEach((word, wi) => {
        const key = wordId(ti, wi);
        if (this.heard.has(key)) return;
        const at = this.locate(word.startMs, word.endMs);
        if (!at) return;
        this.heard.add(key);
        if (this.open && this.open.fixtureTurn !== ti) this.finalize();
        if (!this.open) {
          this.open = { fixtureTurn: ti, words: [], pausePartial: false };
          this.send({ type: "SpeechStarted", timestamp: Math.round(at.start), confidence: 0.98 });
        }
        this.open.words.push({ word, id: key, start: at.start, end: at.end });
        this.open.pausePartial = false;
        if (this.options.partials === "every-word") this.sendTurn(false);
      }),
    );
    const open = this.open;
    const last = open?.words[open.words.length - 1];
    if (!open || !last) return this.acknowledgeSilence();
    const fixtureWords = this.options.fixture.turns[open.fixtureTurn]?.words ?? [];
    const complete = last.word === fixtureWords[fixtureWords.length - 1];
    // The pause lasts until the next word begins, even before that word has been heard whole.
    const next = this.nextWord(last.word);
    const nextAt = next ? this.locate(next.startMs, next.startMs + 1)?.start : undefined;
    const silence = Math.min(this.receivedMs, nextAt ?? Infinity) - last.end;
    if ((complete && silence >= this.config.min_turn_silence) || silence >= this.config.max_turn_silence) {
      this.finalize();
    } else if (
      this.options.partials === "at-pauses" &&
      silence >= this.config.min_turn_silence &&
      !open.pausePartial
    ) {
      open.pausePartial = true;
      this.sendTurn(false);
    }
  }

  /** The fixture word spoken after `word`, if any. */
  private nextWord(word: FixtureWord): FixtureWord | undefined {
    const all = this.options.fixture.turns.flatMap((t) => t.words);
    return all[all.indexOf(word) + 1];
  }

  /**
   * acknowledge_silence=true on a U3 Pro model: a Silence message about once a second of audio while no
   * speech is being transcribed (research-liveness §5).
   */
  private acknowledgeSilence(): void {
    if (this.params.acknowledge_silence !== "true") return;
    if (this.params.speech_model?.startsWith("universal-streaming")) return;
    if (this.receivedMs - this.silenceAckedMs < 1000) return;
    this.send({
      type: "Silence",
      start_ms: Math.round(this.silenceAckedMs),
      end_ms: Math.round(this.receivedMs),
    });
    this.silenceAckedMs = this.receivedMs;
  }

  private sendTurn(final: boolean, formatted = final): void {
    const open = this.open;
    if (!open) return;
    const diarize = final && this.params.speaker_labels === "true";
    const tokens = respell(open.words, this.options.retiming?.respell);
    const shift = this.options.retiming?.shiftMs ?? 0;
    const words = tokens.map((h) => ({
      text: formatted ? h.text : unformatted(h.text),
      start: Math.max(0, Math.round(h.start + shift)),
      end: Math.max(0, Math.round(h.end + shift)),
      confidence: h.word.confidence,
      word_is_final: final,
      ...(diarize && h.word.speaker ? { speaker: h.word.speaker } : {}),
    }));
    const transcript = words.map((w) => w.text).join(" ");
    if (final && this.closeCode === undefined && this.socket.readyState === this.socket.OPEN) {
      this.finals.push({
        at: performance.timeOrigin + performance.now(),
        wordStartsMs: open.words.map((h) => h.word.startMs),
      });
      this.options.ledger.push({
        connection: this.options.index,
        turnOrder: this.turnOrder,
        words: tokens.map((t, i) => ({ text: words[i]?.text ?? t.text, fixture: t.ids })),
      });
    }
    this.send({
      type: "Turn",
      turn_order: this.turnOrder,
      turn_is_formatted: formatted,
      end_of_turn: final,
      transcript,
      end_of_turn_confidence: final ? 1 : 0,
      words,
      utterance: final ? transcript : "",
      ...(diarize ? { speaker_label: open.words[0]?.word.speaker ?? "UNKNOWN" } : {}),
      ...(final && this.params.language_detection === "true"
        ? { language_code: "en", language_confidence: 0.99 }
        : {}),
    });
  }

  /** Ends the open turn with its final; the next heard word starts a new turn. */
  private finalize(): void {
    if (!this.open || this.closeCode !== undefined || this.stalled) return;
    // Universal-Streaming with format_turns=true: the unformatted final, then the same turn formatted.
    if (this.params.format_turns === "true" && this.params.speech_model?.startsWith("universal-streaming")) {
      this.sendTurn(true, false);
    }
    this.sendTurn(true);
    this.open = undefined;
    this.turnOrder++;
    // Silence is acknowledged from the end of the turn on.
    this.silenceAckedMs = this.receivedMs;
  }

  private terminate(): void {
    this.ended = true;
    if (this.terminateHook) return this.terminateHook();
    this.later(() => {
      if (this.stalled) return;
      this.finalize();
      this.send({
        type: "Termination",
        audio_duration_seconds: Math.round(this.receivedMs / 1000),
        session_duration_seconds: Math.round((Date.now() - this.openedAt) / 1000),
      });
      this.closeWith(1000, "Session Ended");
    }, this.terminationDelayMs);
  }

  private touch(): void {
    const seconds = intParam(this.params.inactivity_timeout);
    if (seconds === undefined) return;
    if (this.inactivity) this.timers.delete(this.inactivity);
    clearTimeout(this.inactivity);
    this.inactivity = this.later(
      () =>
        this.fail(3006, `Session terminated due to inactivity: No messages received for ${seconds} seconds`),
      seconds * this.options.inactivitySecondMs,
    );
  }

  private send(message: Json): void {
    if (this.closeCode !== undefined || this.socket.readyState !== this.socket.OPEN) return;
    this.sent.push(message);
    this.socket.send(JSON.stringify(message));
  }

  private closeWith(code: number, reason: string): void {
    if (this.closeCode !== undefined) return;
    this.closeCode = code;
    this.clearTimers();
    this.socket.close(code, reason);
  }

  private later(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

function intParam(v: string | undefined): number | undefined {
  if (v === undefined || !/^-?\d+$/.test(v)) return undefined;
  return Number(v);
}

interface Token {
  text: string;
  word: FixtureWord;
  ids: string[];
  start: number;
  end: number;
}

/** The heard words as the connection spells them: as in the fixture, or split or joined differently. */
function respell(words: HeardWord[], how: Retiming["respell"]): Token[] {
  const plain = words.map((h) => ({
    text: h.word.text,
    word: h.word,
    ids: [h.id],
    start: h.start,
    end: h.end,
  }));
  if (how === "split") {
    return plain.flatMap((t) => {
      const letters = t.text.replace(/[^\p{L}]/gu, "");
      if (letters.length < 8) return [t];
      const cut = Math.ceil(t.text.length / 2);
      const mid = (t.start + t.end) / 2;
      return [
        { ...t, text: t.text.slice(0, cut), end: mid },
        { ...t, text: t.text.slice(cut), start: mid },
      ];
    });
  }
  if (how === "join") {
    const out: Token[] = [];
    for (let i = 0; i < plain.length; i++) {
      const a = plain[i];
      const b = plain[i + 1];
      if (!a) continue;
      if (b && i % 2 === 0 && /\p{L}$/u.test(a.text)) {
        out.push({ ...a, text: a.text + b.text.toLowerCase(), ids: [...a.ids, ...b.ids], end: b.end });
        i++;
      } else out.push(a);
    }
    return out;
  }
  return plain;
}

/** What a partial carries before formatting: lower case, no punctuation. */
function unformatted(text: string): string {
  return text.toLowerCase().replace(/[.,!?;:]/g, "");
}

/** The service's 3006 text for the first invalid known parameter; unknown parameters are ignored. */
export function validateQuery(p: Record<string, string>): string | undefined {
  const invalid = (field: string, detail: string): string => `Invalid '${field}': ${detail}`;
  if (p.speech_model !== undefined && !SPEECH_MODEL_ENUM.includes(p.speech_model)) {
    return invalid("speech_model", `Input should be ${SPEECH_MODEL_ENUM.map((m) => `'${m}'`).join(", ")}`);
  }
  if (p.sample_rate !== undefined) {
    const rate = Number(p.sample_rate);
    if (!Number.isInteger(rate)) return invalid("sample_rate", "Input should be a valid integer");
    if (rate < 8000) return invalid("sample_rate", "sample_rate must be at least 8,000 Hz");
  }
  if (p.encoding !== undefined && p.encoding !== "pcm_s16le" && p.encoding !== "pcm_mulaw") {
    return invalid("encoding", `'${p.encoding}' is not a valid Encoding`);
  }
  if (p.keyterms_prompt !== undefined) {
    let terms: unknown;
    try {
      terms = JSON.parse(p.keyterms_prompt);
    } catch {
      terms = undefined;
    }
    if (!Array.isArray(terms)) return invalid("keyterms_prompt", "Input should be a valid list");
    if (terms.length > 100) return invalid("keyterms_prompt", "Max 100 items");
  }
  if (p.prompt !== undefined && p.prompt.length > 1750) {
    return invalid("prompt", "String should have at most 1750 characters");
  }
  if (p.inactivity_timeout !== undefined) {
    const t = Number(p.inactivity_timeout);
    if (!Number.isInteger(t)) return invalid("inactivity_timeout", "Input should be a valid integer");
    if (t < 5) return invalid("inactivity_timeout", "Input should be greater than or equal to 5");
    if (t > 3600) return invalid("inactivity_timeout", "Input should be less than or equal to 3600");
  }
  return undefined;
}

export class AssemblyAiEmulator extends EventEmitter {
  readonly connections: EmulatedConnection[] = [];
  /** Every final Turn sent, on any connection, in order: what the service transcribed. */
  readonly ledger: LedgerFinal[] = [];
  private readonly plans: ConnectionPlan[] = [];
  private readonly options: Required<
    Omit<EmulatorOptions, "apiKeys" | "tokens" | "expiredTokens" | "retime">
  >;
  private readonly retime: EmulatorOptions["retime"];
  private readonly keys: Set<string>;
  private readonly tokens: Set<string>;
  private readonly expired: Set<string>;

  private constructor(
    private readonly server: WebSocketServer,
    options: EmulatorOptions,
  ) {
    super();
    this.options = {
      fixture: options.fixture,
      beginDelayMs: options.beginDelayMs ?? 0,
      rateToleranceMs: options.rateToleranceMs ?? 300000,
      inactivitySecondMs: options.inactivitySecondMs ?? 1000,
      forceEndpointDelayMs: options.forceEndpointDelayMs ?? 0,
      terminationDelayMs: options.terminationDelayMs ?? 0,
      taggedAudio: options.taggedAudio ?? true,
      audioTags: options.audioTags ?? "clock",
      partials: options.partials ?? "every-word",
    };
    this.retime = options.retime;
    this.keys = new Set(options.apiKeys ?? ["test-api-key"]);
    this.tokens = new Set(options.tokens ?? []);
    this.expired = new Set(options.expiredTokens ?? []);
    server.on("connection", (socket, request) => this.accept(socket, request));
  }

  static start(options: EmulatorOptions & { tls?: EmulatorTls }): Promise<AssemblyAiEmulator> {
    if (options.tls) return AssemblyAiEmulator.startTls(options, options.tls);
    return new Promise((resolve, reject) => {
      // Only /v3/ws upgrades; any other path is refused by ws with HTTP 400.
      const server = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/v3/ws" });
      server.once("error", reject);
      server.once("listening", () => resolve(new AssemblyAiEmulator(server, options)));
    });
  }

  /** The same emulator on wss:// (an https server on loopback), for clients that insist on TLS, as the SDK does. */
  private static startTls(options: EmulatorOptions, tls: EmulatorTls): Promise<AssemblyAiEmulator> {
    return new Promise((resolve, reject) => {
      const https = createHttpsServer({ key: tls.key, cert: tls.cert });
      https.once("error", reject);
      https.listen(0, "127.0.0.1", () => {
        const server = new WebSocketServer({ server: https, path: "/v3/ws" });
        resolve(new AssemblyAiEmulator(server, options));
      });
    });
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `${this.server.options.server instanceof HttpsServer ? "wss" : "ws"}://127.0.0.1:${port}/v3/ws`;
  }

  /** Faults for the next connections, one plan per connection, in order. */
  plan(...plans: ConnectionPlan[]): void {
    this.plans.push(...plans);
  }

  /** Resolves with connection `index` (0-based) once it exists. */
  connection(index: number, timeoutMs = 5000): Promise<EmulatedConnection> {
    const existing = this.connections[index];
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off("connection", check);
        reject(new Error(`no connection #${index} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (): void => {
        const c = this.connections[index];
        if (!c) return;
        clearTimeout(timer);
        this.off("connection", check);
        resolve(c);
      };
      this.on("connection", check);
    });
  }

  private accept(socket: WebSocket, request: IncomingMessage): void {
    const index = this.connections.length;
    const connection = new EmulatedConnection(socket, request, {
      ...this.options,
      index,
      retiming: this.retime?.(index),
      ledger: this.ledger,
    });
    this.connections.push(connection);
    connection.start(this.plans.shift(), this.authFailure(request, connection.params));
    this.emit("connection", connection);
  }

  /** Auth is checked after the upgrade, as the service does: an Error frame and close 1008. */
  private authFailure(
    request: IncomingMessage,
    params: Record<string, string>,
  ): { code: number; message: string } | undefined {
    const header = request.headers.authorization;
    const token = params.token;
    if (token !== undefined) {
      if (this.expired.has(token))
        return { code: 1008, message: "Unauthorized Connection: Signature has expired" };
      return this.tokens.has(token)
        ? undefined
        : { code: 1008, message: "Unauthorized Connection: Invalid API key" };
    }
    if (!header) return { code: 1008, message: "Unauthorized Connection: Missing Authorization header" };
    if (/^Bearer\s/i.test(header) || !this.keys.has(header)) {
      return { code: 1008, message: "Unauthorized Connection: Invalid API key" };
    }
    return undefined;
  }

  async close(): Promise<void> {
    for (const client of this.server.clients) client.terminate();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // ws leaves a server it was given open (the TLS mode's https server).
    const https = this.server.options.server;
    if (https instanceof HttpsServer) await new Promise<void>((resolve) => https.close(() => resolve()));
  }
}
