import type { AudioStream, TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import type { Message, MessageHeaders } from "@smithy/types";
import type { Agent } from "node:http";
import { createRequire } from "node:module";
import WebSocket from "ws";
import { guard, settleGuarded } from "../../util/guard";
import type { Scheduler } from "../../util/scheduler";
import { EndpointConnectError, EndpointTimeoutError } from "./http2-handler";
import { ProxyError } from "./proxy";
import type { ResultEvent } from "./stream-format";
import type { StreamFate } from "./stream-fate";

/**
 * Amazon Transcribe streaming over WebSocket (the service's second transport, for networks whose
 * proxies or inspection appliances break HTTP/2): a SigV4-presigned `wss://…:8443/…-websocket` URL
 * carrying the request's parameters as query parameters, opened with `ws`; audio and results as binary
 * event-stream messages. The SDK's own pieces do the signing (its SignatureV4 presigner) and the
 * framing (its EventStreamCodec), loaded through the Transcribe client's dependency tree as the HTTP/2
 * handler is. The SDK's WebSocket handler itself is not used: it needs a global WebSocket (Node 22),
 * cannot go through a proxy, reports no handshake status and ends silently on any close.
 */

type Codec = {
  encode(message: Message): Uint8Array;
  decode(message: Uint8Array): Message;
};
type Presigner = {
  presign(
    request: {
      method: string;
      protocol: string;
      hostname: string;
      port?: number;
      path: string;
      query: Record<string, string>;
      headers: Record<string, string>;
    },
    options: { expiresIn: number; signingDate?: Date },
  ): Promise<{ query?: Record<string, string | string[] | null> }>;
};

const sdkRequire = createRequire(require.resolve("@aws-sdk/client-transcribe-streaming"));
const { EventStreamCodec } = sdkRequire("@smithy/core/event-streams") as {
  EventStreamCodec: new (toUtf8: (b: Uint8Array) => string, fromUtf8: (s: string) => Uint8Array) => Codec;
};
const { SignatureV4 } = sdkRequire("@smithy/signature-v4") as {
  SignatureV4: new (options: {
    service: string;
    region: string;
    credentials: () => Promise<Credentials>;
    sha256: unknown;
  }) => Presigner;
};

interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const toUtf8 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("utf8");
const fromUtf8 = (s: string): Uint8Array => Buffer.from(s, "utf8");
export const codec: Codec = new EventStreamCodec(toUtf8, fromUtf8);

/** The service's WebSocket port (the AWS developer guide, "Setting up a WebSocket stream"). */
export const WEBSOCKET_PORT = 8443;
/**
 * Lifetime of a presigned URL. The service accepts up to 300 s; each URL is signed for one connection
 * just before it opens, so it only has to outlive the handshake (the SDK's browser path uses 60 s).
 */
export const PRESIGN_EXPIRES_S = 60;
export const MAX_PRESIGN_EXPIRES_S = 300;
/** A result message larger than this is refused (a transcript event is a few KiB). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Result messages queued but not yet read before the socket is paused (backpressure). */
const MAX_QUEUED = 64;
/** The body of an HTTP error answer to the handshake that is read (for its message). */
const MAX_ERROR_BODY = 8 * 1024;

/**
 * Request parameter → query parameter: the header of the HTTP/2 route without its
 * `x-amzn-transcribe-` prefix (what the SDK's WebSocket middleware does with those headers).
 */
const QUERY_NAMES = new Map<string, string>([
  ["LanguageCode", "language-code"],
  ["MediaSampleRateHertz", "sample-rate"],
  ["MediaEncoding", "media-encoding"],
  ["VocabularyName", "vocabulary-name"],
  ["Specialty", "specialty"],
  ["Type", "type"],
  ["ShowSpeakerLabel", "show-speaker-label"],
  ["SessionId", "session-id"],
  ["EnableChannelIdentification", "enable-channel-identification"],
  ["NumberOfChannels", "number-of-channels"],
  ["ContentIdentificationType", "content-identification-type"],
  ["ContentRedactionType", "content-redaction-type"],
  ["PiiEntityTypes", "pii-entity-types"],
  ["VocabularyFilterName", "vocabulary-filter-name"],
  ["VocabularyFilterMethod", "vocabulary-filter-method"],
  ["VocabularyNames", "vocabulary-names"],
  ["VocabularyFilterNames", "vocabulary-filter-names"],
  ["EnablePartialResultsStabilization", "enable-partial-results-stabilization"],
  ["PartialResultsStability", "partial-results-stability"],
  ["LanguageModelName", "language-model-name"],
  ["IdentifyLanguage", "identify-language"],
  ["IdentifyMultipleLanguages", "identify-multiple-languages"],
  ["LanguageOptions", "language-options"],
  ["PreferredLanguage", "preferred-language"],
]);

/** The query parameters of a stream request (the SDK command's input); the audio is not one. */
export function websocketQuery(input: object): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [field, value] of Object.entries(input)) {
    if (field === "AudioStream" || value === undefined || value === null) continue;
    const name = QUERY_NAMES.get(field);
    // A parameter without a known query name would be dropped silently: that is a bug, said loudly.
    if (name === undefined) throw new Error(`no WebSocket query parameter for the request field ${field}`);
    query[name] = String(value as string | number | boolean);
  }
  return query;
}

/** The WebSocket URL (scheme, host, port) of the endpoint setting, or of the region's AWS endpoint. */
export function websocketBase(region: string, endpoint: string | null): URL {
  if (endpoint === null)
    return new URL(`wss://transcribestreaming.${region}.amazonaws.com:${WEBSOCKET_PORT}`);
  const u = new URL(endpoint);
  // An https endpoint is a TLS one: wss; http (an emulator, a local gateway) is ws. An endpoint without
  // a port (a VPC endpoint's name) takes the service's WebSocket port; one with a port keeps it.
  const port = u.port !== "" ? u.port : String(WEBSOCKET_PORT);
  return new URL(`${u.protocol === "https:" ? "wss:" : "ws:"}//${u.hostname}:${port}`);
}

/** RFC 3986 encoding, as SigV4 canonicalises query parameters. */
const rfc3986 = (s: string): string =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

export interface PresignInput {
  base: URL;
  path: string;
  query: Record<string, string>;
  region: string;
  credentials: () => Promise<Credentials>;
  sha256: unknown;
  expiresS?: number;
  signingDate?: Date;
}

/**
 * A presigned URL for one connection (SigV4 query authentication; only `host` signed, as the service
 * asks). It carries the credential scope, the signature and a session token when there is one: it is
 * a credential itself, and never goes into a log or an error.
 */
export async function presignUrl(p: PresignInput): Promise<string> {
  const signer = new SignatureV4({
    service: "transcribe",
    region: p.region,
    credentials: p.credentials,
    sha256: p.sha256,
  });
  const signed = await signer.presign(
    {
      method: "GET",
      protocol: p.base.protocol,
      hostname: p.base.hostname,
      ...(p.base.port !== "" ? { port: Number(p.base.port) } : {}),
      path: p.path,
      query: p.query,
      headers: { host: p.base.host },
    },
    {
      expiresIn: Math.min(Math.max(1, p.expiresS ?? PRESIGN_EXPIRES_S), MAX_PRESIGN_EXPIRES_S),
      ...(p.signingDate ? { signingDate: p.signingDate } : {}),
    },
  );
  const pairs: string[] = [];
  for (const [k, v] of Object.entries(signed.query ?? {})) {
    if (typeof v === "string") pairs.push(`${rfc3986(k)}=${rfc3986(v)}`);
  }
  pairs.sort();
  return `${p.base.protocol}//${p.base.host}${p.path}?${pairs.join("&")}`;
}

/** One event-stream message of an audio chunk; an empty chunk is the end of the audio. */
export function audioEventMessage(chunk: Uint8Array): Uint8Array {
  return codec.encode({
    headers: {
      ":message-type": { type: "string", value: "event" },
      ":event-type": { type: "string", value: "AudioEvent" },
      ":content-type": { type: "string", value: "application/octet-stream" },
    },
    body: chunk,
  });
}

const header = (h: MessageHeaders[string] | undefined): string | undefined =>
  h?.type === "string" ? h.value : undefined;

/** An error the service reported (an exception message, an HTTP answer to the handshake). */
export class WebSocketServiceError extends Error {
  readonly $fault: "client" | "server";
  readonly $metadata: { httpStatusCode?: number };
  constructor(name: string, message: string, status?: number) {
    super(message);
    this.name = name;
    this.$fault = status !== undefined && status >= 500 ? "server" : "client";
    this.$metadata = status !== undefined ? { httpStatusCode: status } : {};
  }
}

/** A frame the transport could not make sense of (a broken or foreign peer). */
export class WebSocketProtocolError extends Error {
  override readonly name = "WebSocketProtocolError";
}

/**
 * A peer's text with every presigned-URL query parameter of SigV4 blanked: a service or proxy that
 * echoes the URL must not put its credential scope, signature or session token into an error.
 */
export function scrubPresigned(text: string): string {
  return text.replace(/(X-Amz-[A-Za-z-]+)(=|%3D)[^&\s"'<>]*/gi, "$1=[redacted]");
}

function jsonMessage(body: Uint8Array | string): string | undefined {
  try {
    const v: unknown = JSON.parse(typeof body === "string" ? body : toUtf8(body));
    if (typeof v === "object" && v !== null) {
      const m = (v as { Message?: unknown }).Message ?? (v as { message?: unknown }).message;
      if (typeof m === "string") return scrubPresigned(m);
    }
  } catch {
    // Not JSON: no message.
  }
  return undefined;
}

/**
 * One received event-stream message as the SDK would give it: a result event, nothing (a type the
 * client does not know is skipped, as the SDK does), or a thrown error (an exception, an error, a
 * message that is not an event).
 */
export function decodeResult(message: Message): ResultEvent | undefined {
  const type = header(message.headers[":message-type"]);
  if (type === "exception") {
    const name = header(message.headers[":exception-type"]) ?? "Exception";
    throw new WebSocketServiceError(name, jsonMessage(message.body) ?? "the service reported an error");
  }
  if (type === "error") {
    const code = header(message.headers[":error-code"]) ?? "Error";
    throw new WebSocketServiceError(code, scrubPresigned(header(message.headers[":error-message"]) ?? code));
  }
  if (type !== "event") throw new WebSocketProtocolError("the service sent a message that is not an event");
  if (header(message.headers[":event-type"]) !== "TranscriptEvent") return undefined;
  let body: unknown;
  try {
    body = JSON.parse(toUtf8(message.body));
  } catch {
    throw new WebSocketProtocolError("the service sent a transcript event that is not JSON");
  }
  const results = (body as { Transcript?: { Results?: unknown } } | null)?.Transcript?.Results;
  if (!Array.isArray(results)) {
    throw new WebSocketProtocolError("the service sent a transcript event without results");
  }
  return { TranscriptEvent: body as { Transcript: { Results: [] } } };
}

/** Error names of the service by HTTP status, when its answer to the handshake names none. */
const STATUS_ERRORS = new Map<number, string>([
  [400, "BadRequestException"],
  [401, "UnrecognizedClientException"],
  [403, "AccessDeniedException"],
  [409, "ConflictException"],
  [429, "LimitExceededException"],
  [500, "InternalFailureException"],
  [503, "ServiceUnavailableException"],
]);

/** The error of an HTTP answer (not 101) to the handshake: the service's name and message. */
export function handshakeError(status: number, errorType: string | undefined, body: string): Error {
  const named = errorType?.split(":")[0]?.trim();
  const name =
    named !== undefined && /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(named)
      ? named
      : (STATUS_ERRORS.get(status) ?? (status >= 500 ? "ServiceUnavailableException" : `Http${status}`));
  return new WebSocketServiceError(name, jsonMessage(body) ?? `HTTP ${status}`, status);
}

export interface WebSocketStreamOptions {
  url: string;
  audio: AsyncIterable<AudioStream>;
  signal: AbortSignal;
  connectTimeoutMs: number;
  scheduler: Scheduler;
  /** A proxy tunnel (see proxy.ts), or none. */
  agent?: Agent;
  /** Filled in as the connection ends (for the session's confirmed-end rule). */
  fate: StreamFate;
}

/**
 * Opens one stream: resolves once the handshake is answered, with the result events; sends the audio
 * as it comes, then the empty AudioEvent that ends it. The result iteration ends when the service
 * closes the socket (how, in `fate`), and throws what the service reported.
 */
export function openWebSocketStream(o: WebSocketStreamOptions): Promise<AsyncIterable<ResultEvent>> {
  return new Promise((resolve, reject) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(o.url, {
        ...(o.agent ? { agent: o.agent } : {}),
        maxPayload: MAX_MESSAGE_BYTES,
        perMessageDeflate: false,
        followRedirects: false,
      });
    } catch {
      // ws's text names the URL, which holds the signature: never shown.
      reject(new WebSocketProtocolError("the WebSocket URL of the endpoint is not valid"));
      return;
    }
    const queue: Array<ResultEvent | Error | null> = [];
    let waiting: (() => void) | undefined;
    let opened = false;
    let settled = false;
    let paused = false;
    let pending: Buffer = Buffer.alloc(0);
    // The pieces of a message whose length is known but which has not all arrived: joined once when it
    // has, so a message split into many small WebSocket messages costs linear, not quadratic, copying.
    let partial: Buffer[] = [];
    let partialBytes = 0;
    const wakeReader = (): void => {
      const w = waiting;
      waiting = undefined;
      w?.();
    };
    const push = (item: ResultEvent | Error | null): void => {
      queue.push(item);
      if (queue.length > MAX_QUEUED && !paused) {
        paused = true;
        ws.pause();
      }
      wakeReader();
    };
    const fail = (err: Error): void => {
      if (!settled) {
        settled = true;
        o.scheduler.clearTimeout(timer);
        reject(err);
      } else push(err);
      ws.terminate();
    };
    // Every handler of the socket is guarded: a throw in one ends this stream, never the process.
    const internal = (err: Error): void =>
      fail(new WebSocketProtocolError(`an internal ${err.name} in the WebSocket transport`));
    const safe = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) =>
      guard(fn, internal);
    const timer = o.scheduler.setTimeout(() => {
      if (!opened) fail(new EndpointTimeoutError("websocket", o.connectTimeoutMs));
    }, o.connectTimeoutMs);
    const onAbort = safe((): void => {
      o.fate.aborted = true;
      ws.terminate();
    });
    if (o.signal.aborted) onAbort();
    o.signal.addEventListener("abort", onAbort, { once: true });

    ws.on(
      "unexpected-response",
      safe((_req, res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const errorType = res.headers["x-amzn-errortype"];
        const done = (): void =>
          fail(
            handshakeError(
              res.statusCode ?? 0,
              typeof errorType === "string" ? errorType : undefined,
              Buffer.concat(chunks).toString("utf8"),
            ),
          );
        res.on(
          "data",
          safe((c: Buffer) => {
            if (size < MAX_ERROR_BODY) chunks.push(c.subarray(0, MAX_ERROR_BODY - size));
            size += c.length;
          }),
        );
        res.on("end", safe(done));
        res.on("error", safe(done));
      }),
    );
    ws.on(
      "error",
      safe((err: NodeJS.ErrnoException) => {
        // A proxy's refusal says what it is (proxy.ts: our own words, no URL).
        if (!opened && err instanceof ProxyError) {
          fail(err);
          return;
        }
        // Never err.message: ws names the URL in some of them.
        if (!opened && typeof err.code === "string" && /^E[A-Z]|CERT|TLS|SSL|SELF_SIGNED/.test(err.code)) {
          fail(new EndpointConnectError(err.code));
        } else if (!opened) {
          fail(new EndpointConnectError(typeof err.code === "string" ? err.code : "ERR_SOCKET"));
        } else {
          fail(
            new WebSocketProtocolError(
              `the WebSocket connection failed (${typeof err.code === "string" ? err.code : "a protocol error"})`,
            ),
          );
        }
      }),
    );
    ws.on(
      "message",
      safe((data: Buffer, isBinary: boolean) => {
        if (!isBinary) {
          fail(
            new WebSocketProtocolError("the service sent a text message (event-stream messages are binary)"),
          );
          return;
        }
        if (partial.length > 0) {
          partial.push(data);
          partialBytes += data.length;
          if (partialBytes < pending.readUInt32BE(0)) return;
          pending = Buffer.concat(partial, partialBytes);
          partial = [];
          partialBytes = 0;
        } else {
          pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
        }
        // A message per frame is what the service sends; split or joined ones are reassembled by length.
        while (pending.length >= 4) {
          const total = pending.readUInt32BE(0);
          if (total < 16 || total > MAX_MESSAGE_BYTES) {
            fail(new WebSocketProtocolError("the service sent a malformed event-stream message"));
            return;
          }
          if (pending.length < total) {
            partial = [pending];
            partialBytes = pending.length;
            break;
          }
          const frame = pending.subarray(0, total);
          pending = pending.subarray(total);
          let event: ResultEvent | undefined;
          try {
            // The codec checks both CRCs (prelude and message).
            event = decodeResult(codec.decode(frame));
          } catch (err) {
            if (err instanceof WebSocketServiceError || err instanceof WebSocketProtocolError) push(err);
            else push(new WebSocketProtocolError("the service sent a malformed event-stream message"));
            ws.close(1000);
            return;
          }
          if (event) push(event);
        }
      }),
    );
    ws.on(
      "close",
      safe((code: number) => {
        o.signal.removeEventListener("abort", onAbort);
        o.scheduler.clearTimeout(timer);
        o.fate.rstCode = code === 1000 ? 0 : code;
        // A normal close in the middle of an event-stream message cut that message (a final, perhaps)
        // short: not the end of a complete response, so the unconfirmed audio is replayed.
        o.fate.ended = code === 1000 && pending.length === 0 && partial.length === 0;
        if (code === 1006) o.fate.aborted = true;
        if (!settled) {
          settled = true;
          reject(new EndpointConnectError("ECONNRESET"));
          return;
        }
        push(null);
      }),
    );
    ws.on(
      "open",
      safe(() => {
        opened = true;
        settled = true;
        o.scheduler.clearTimeout(timer);
        settleGuarded(pump(), internal);
        resolve(results());
      }),
    );

    const send = (data: Uint8Array): Promise<void> =>
      new Promise((ok, no) => ws.send(data, { binary: true }, (err) => (err ? no(err) : ok())));

    const pump = async (): Promise<void> => {
      try {
        for await (const ev of o.audio) {
          if (ws.readyState !== WebSocket.OPEN) break;
          const chunk = ev.AudioEvent?.AudioChunk;
          if (!chunk || chunk.length === 0) continue;
          await send(audioEventMessage(chunk));
        }
        // The empty AudioEvent ends the audio; not after an abort (the stream is being cut).
        if (ws.readyState === WebSocket.OPEN && !o.signal.aborted)
          await send(audioEventMessage(new Uint8Array(0)));
      } catch {
        // The socket failed under a send: its close or error event ends the results.
        ws.terminate();
      }
    };

    async function* results(): AsyncGenerator<ResultEvent> {
      try {
        for (;;) {
          if (queue.length === 0) {
            await new Promise<void>((w) => (waiting = w));
            continue;
          }
          const item = queue.shift();
          if (paused && queue.length <= MAX_QUEUED / 2) {
            paused = false;
            ws.resume();
          }
          if (item === null || item === undefined) return;
          if (item instanceof Error) throw item;
          yield item;
        }
      } finally {
        if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
      }
    }
  });
}

/** The WebSocket transport of one node's client: opens streams on either route, and tells their fate. */
export interface WebSocketTransport {
  open(
    route: "medical" | "standard",
    input: object,
    audio: AsyncIterable<AudioStream>,
    signal: AbortSignal,
  ): Promise<AsyncIterable<ResultEvent>>;
  fateOf(signal: AbortSignal): StreamFate | undefined;
}

const ROUTES = new Map([
  ["medical", "/medical-stream-transcription-websocket"],
  ["standard", "/stream-transcription-websocket"],
]);

export interface WebSocketTransportOptions {
  region: string;
  endpoint: string | null;
  /** The client's credential provider (static credentials or the AWS default chain), asked per connection. */
  credentials: () => Promise<Credentials>;
  /** The client's SHA-256 (config.sha256). */
  sha256: unknown;
  connectTimeoutMs: number;
  scheduler: Scheduler;
  /** The proxy tunnel for a URL, or none (see proxy.ts). */
  agentFor?: (url: URL) => Agent | undefined;
}

export function webSocketTransport(t: WebSocketTransportOptions): WebSocketTransport {
  const fates = new WeakMap<AbortSignal, StreamFate>();
  const base = websocketBase(t.region, t.endpoint);
  return {
    fateOf: (signal) => fates.get(signal),
    open: async (route, input, audio, signal) => {
      // Signed for this connection only, just before it opens: a URL never outlives its handshake.
      const url = await presignUrl({
        base,
        path: ROUTES.get(route) ?? "/stream-transcription-websocket",
        query: websocketQuery(input),
        region: t.region,
        credentials: t.credentials,
        sha256: t.sha256,
      });
      const fate: StreamFate = { ended: false, aborted: false, rstCode: undefined, transport: "websocket" };
      fates.set(signal, fate);
      const agent = t.agentFor?.(base);
      return openWebSocketStream({
        url,
        audio,
        signal,
        connectTimeoutMs: t.connectTimeoutMs,
        scheduler: t.scheduler,
        fate,
        ...(agent ? { agent } : {}),
      });
    },
  };
}

/**
 * The WebSocket transport of a Transcribe client: its credentials (static, or the AWS default chain,
 * resolved and refreshed by the client) and its SHA-256, so that both transports sign alike.
 */
export function clientWebSocketTransport(
  client: TranscribeStreamingClient,
  s: { region: string; endpoint: string | null; connectTimeoutMs?: number },
  scheduler: Scheduler,
  agentFor?: (url: URL) => Agent | undefined,
): WebSocketTransport {
  return webSocketTransport({
    region: s.region,
    endpoint: s.endpoint,
    credentials: () => client.config.credentials(),
    sha256: client.config.sha256,
    connectTimeoutMs: s.connectTimeoutMs ?? 10_000,
    scheduler,
    ...(agentFor ? { agentFor } : {}),
  });
}
