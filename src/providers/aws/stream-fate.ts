import type { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";

/**
 * How the HTTP/2 stream of one request ended, as far as the transport can tell.
 *
 * The SDK cannot be trusted with this: a result stream whose connection was destroyed, or which a
 * proxy cut with a TCP reset after the audio ended, ends its `for await` loop exactly as a complete one
 * does (docs/reliability.md). Only the stream itself knows: a complete response ends with END_STREAM
 * (`end`), no `aborted` event and reset code 0.
 */
export interface StreamFate {
  /** The response's last DATA frame carried END_STREAM. */
  ended: boolean;
  /** The peer closed while our side was still sending (Node's `aborted`). */
  aborted: boolean;
  /**
   * The stream's HTTP/2 reset code once closed (0: none, or NO_ERROR); over WebSocket, the close code
   * (0 for 1000, a normal close).
   */
  rstCode: number | undefined;
  /** Absent: HTTP/2. Over WebSocket `ended` means the service closed the socket normally (code 1000). */
  transport?: "websocket";
}

/** The response ended as the service ends a complete one (END_STREAM, no reset, no abort). */
export function endedCleanly(fate: StreamFate): boolean {
  return fate.ended && !fate.aborted && (fate.rstCode ?? 0) === 0;
}

/** Tells how the stream sent under an abort signal ended; undefined when unknown. */
export type FateOf = (signal: AbortSignal) => StreamFate | undefined;

type RequestHandler = TranscribeStreamingClient["config"]["requestHandler"];

/** The rest of the SDK's HttpHandler interface, which its NodeHttp2Handler implements. */
interface ConfigurableHandler {
  updateHttpClientConfig(key: unknown, value: unknown): void;
  httpHandlerConfigs(): unknown;
  destroy?(): void;
}

interface Observable {
  once(event: "end" | "aborted" | "close", listener: () => void): unknown;
  rstCode?: number;
}

function isObservable(body: unknown): body is Observable {
  return typeof body === "object" && body !== null && typeof (body as Observable).once === "function";
}

/**
 * Makes the client's request handler (the SDK's own NodeHttp2Handler) watch the HTTP/2 stream of every
 * response, filed under the request's abort signal (one per stream attempt), and returns how to ask.
 * The SDK reads `config.requestHandler` at every `send()`, so wrapping it in place reaches every request.
 */
export function observeStreamFates(client: TranscribeStreamingClient): FateOf {
  const fates = new WeakMap<AbortSignal, StreamFate>();
  const inner: RequestHandler = client.config.requestHandler;
  const configurable = inner as unknown as ConfigurableHandler;
  const handle: RequestHandler["handle"] = async (request, options) => {
    const out: { response: { body?: unknown } } = await inner.handle(request, options);
    const signal = (options as { abortSignal?: AbortSignal } | undefined)?.abortSignal;
    const body: unknown = out.response.body;
    if (signal && isObservable(body)) {
      const fate: StreamFate = { ended: false, aborted: false, rstCode: undefined };
      body.once("end", () => (fate.ended = true));
      body.once("aborted", () => (fate.aborted = true));
      body.once("close", () => (fate.rstCode = body.rstCode));
      fates.set(signal, fate);
    }
    return out;
  };
  // Everything else goes to the SDK's handler itself (its config updates must reach its own state).
  const observed = {
    metadata: inner.metadata,
    handle,
    updateHttpClientConfig: (key: unknown, value: unknown) => configurable.updateHttpClientConfig(key, value),
    httpHandlerConfigs: () => configurable.httpHandlerConfigs(),
    destroy: () => configurable.destroy?.(),
  } as unknown as RequestHandler;
  (client.config as { requestHandler: RequestHandler }).requestHandler = observed;
  return (signal) => fates.get(signal);
}
