import type { NodeHttp2Handler, NodeHttp2HandlerOptions } from "@smithy/node-http-handler";
import { createRequire } from "node:module";
import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Scheduler } from "../../util/scheduler";
import { openTunnel, proxyFor, type ProxySettings } from "./proxy";

type HttpRequest = Parameters<NodeHttp2Handler["handle"]>[0];
type HandleOptions = NonNullable<Parameters<NodeHttp2Handler["handle"]>[1]>;
type HandleResult = Awaited<ReturnType<NodeHttp2Handler["handle"]>>;
type OuterSignal = NonNullable<HandleOptions["abortSignal"]>;

/**
 * The SDK's own NodeHttp2Handler class, loaded from where the Transcribe streaming client finds it: it
 * is the client's dependency, so this package does not declare one of its own (the Node-RED flow
 * library asks packages to keep their dependencies few) and always drives the version the client was
 * built with.
 */
const SdkHttp2Handler = (
  createRequire(require.resolve("@aws-sdk/client-transcribe-streaming"))("@smithy/node-http-handler") as {
    NodeHttp2Handler: new (options?: NodeHttp2HandlerOptions) => NodeHttp2Handler;
  }
).NodeHttp2Handler;

/** How far a connection got: TCP connect, TLS handshake, or the HTTP/2 answer to the request. */
export type ConnectPhase = "tcp" | "tls" | "http2" | "websocket" | "proxy";

const PHASE_TEXT: Record<ConnectPhase, string> = {
  tcp: "no TCP connection (a firewall that drops packets, a wrong address or no route)",
  tls: "the TLS handshake did not complete (a proxy or firewall that holds TLS, or a server that does not speak TLS)",
  http2: "the connection was made but no HTTP/2 answer came (not an HTTP/2 server, or an overloaded one)",
  websocket:
    "no answer to the WebSocket handshake (a proxy or firewall that holds the connection, a wrong port, or an overloaded server)",
  proxy:
    "the proxy did not open a tunnel to the endpoint (a proxy that holds CONNECT requests, or a wrong proxy address)",
};

/** The endpoint did not answer a stream request within the connect timeout. Retried by the session. */
export class EndpointTimeoutError extends Error {
  // The SDK's own name for timeouts: the session's error classification retries it.
  override readonly name = "TimeoutError";
  readonly code = "ETIMEDOUT";
  constructor(
    readonly phase: ConnectPhase,
    timeoutMs: number,
  ) {
    super(
      `the endpoint did not answer within ${timeoutMs / 1000} s: ${PHASE_TEXT[phase]}; the connect timeout is set in the AWS configuration node`,
    );
  }
}

const CONNECT_ERRORS = new Map<string, string>([
  ["ECONNREFUSED", "connection refused (nothing listens at that address and port)"],
  ["ENOTFOUND", "host name not found (DNS)"],
  ["EAI_AGAIN", "host name lookup failed for now (DNS)"],
  ["EHOSTUNREACH", "no route to the host"],
  ["ENETUNREACH", "no route to the network"],
  ["ECONNRESET", "the connection was reset"],
  ["ETIMEDOUT", "the TCP connect timed out"],
  ["EPIPE", "the connection was closed"],
]);

/** The connection to the endpoint failed; names the reason by its system or TLS code only. */
export class EndpointConnectError extends Error {
  override readonly name = "ConnectionError";
  constructor(readonly code: string) {
    super(`could not connect to the endpoint: ${describeCode(code)}`);
  }
}

function describeCode(code: string): string {
  const known = CONNECT_ERRORS.get(code);
  if (known !== undefined) return known;
  if (/CERT|SELF_SIGNED|ALTNAME|TLS|SSL/.test(code)) {
    return `the server's TLS certificate was not accepted (${code}); for a private CA, start Node-RED with NODE_EXTRA_CA_CERTS`;
  }
  // Only a code-shaped value is shown: an error's message may carry addresses or more.
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : "a network error";
}

/** The socket of one stream request, as http2.connect would open it, with how far it got. */
interface Connection {
  socket: Socket;
  secured: boolean;
  error?: string;
}

/** A connection as http2.connect would open it; through `tunnel` (a proxy's, already open) when given. */
function openConnection(authority: URL, tunnel?: Socket): Connection {
  const https = authority.protocol === "https:";
  const port = authority.port !== "" ? Number(authority.port) : https ? 443 : 80;
  const host = authority.hostname.startsWith("[") ? authority.hostname.slice(1, -1) : authority.hostname;
  const servername = isIP(host) ? undefined : host;
  const socket: Socket = tunnel
    ? https
      ? tlsConnect({ socket: tunnel, ALPNProtocols: ["h2"], servername })
      : tunnel
    : https
      ? tlsConnect({ host, port, ALPNProtocols: ["h2"], servername })
      : netConnect({ host, port });
  const c: Connection = { socket, secured: !https };
  if (https) socket.once("secureConnect", () => (c.secured = true));
  socket.once("error", (err: NodeJS.ErrnoException) => {
    c.error ??= typeof err.code === "string" ? err.code : "ERR_SOCKET";
  });
  return c;
}

function phaseOf(c: Connection | undefined): ConnectPhase {
  if (!c || c.socket.connecting) return "tcp";
  return c.secured ? "http2" : "tls";
}

/** Calls `fn` once when `signal` aborts; returns the function that stops listening. */
function onAbort(signal: OuterSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => undefined;
  if ("addEventListener" in signal && typeof signal.addEventListener === "function") {
    signal.addEventListener("abort", fn, { once: true });
    return () => signal.removeEventListener("abort", fn);
  }
  const before = signal.onabort;
  signal.onabort = () => {
    if (typeof before === "function") (before as () => void)();
    fn();
  };
  return () => undefined;
}

/**
 * The HTTP/2 request handler of the Transcribe streaming client: the SDK's own (`NodeHttp2Handler`, one
 * isolated HTTP/2 session per event stream), plus what it lacks:
 * - a connect timeout: a stream request with no response headers after `connectTimeoutMs` (TCP
 *   connect, TLS handshake, HTTP/2 settings and the service's answer to the request headers, which the
 *   service sends before any audio) fails with an `EndpointTimeoutError` naming how far it got. Without
 *   it the SDK waits for its 300 s session idle timeout. Once the answer has come, no timeout of ours
 *   applies: a live stream may be silent for long (the session keeps it alive);
 * - an attempt that is aborted or fails frees its socket at once. The SDK destroys its HTTP/2 session,
 *   but Node ends (not destroys) a socket that is still connecting, and such a socket stays until the
 *   kernel gives up its connect (about two minutes);
 * - `destroy()` (the client's) cuts every stream still open; the SDK's leaves event streams running.
 * Each request gets a handler of its own, so that the socket it opens is known to be its own.
 */
export class StreamingHttp2Handler {
  readonly metadata = { handlerProtocol: "h2" };
  private readonly inFlight = new Set<() => void>();
  private config: NodeHttp2HandlerOptions = {};

  constructor(
    private readonly connectTimeoutMs: number,
    private readonly scheduler: Scheduler,
    /** The HTTP proxy to tunnel through (see proxy.ts), or none. */
    private readonly proxy: ProxySettings | null = null,
  ) {}

  async handle(request: HttpRequest, options: HandleOptions = {}): Promise<HandleResult> {
    const outer = options.abortSignal;
    let connection: Connection | undefined;
    let timedOut: ConnectPhase | null = null;
    let tunnel: Socket | undefined;
    let tunneling = false;
    const ac = new AbortController();
    const cut = (): void => {
      ac.abort();
      connection?.socket.destroy();
      tunnel?.destroy();
    };
    const inner = new SdkHttp2Handler({
      ...this.config,
      disableConcurrentStreams: true,
      nodeHttp2ConnectOptions: {
        createConnection: (authority: URL) => {
          connection = openConnection(authority, tunnel);
          return connection.socket;
        },
      },
    });
    const proxy = proxyFor(this.proxy, request.hostname);
    const stopListening = onAbort(outer, cut);
    const timer = this.scheduler.setTimeout(() => {
      timedOut = tunneling ? "proxy" : phaseOf(connection);
      cut();
    }, this.connectTimeoutMs);
    const finish = (): void => {
      stopListening();
      this.inFlight.delete(cut);
    };
    this.inFlight.add(cut);
    if (outer?.aborted) cut();
    try {
      if (proxy) {
        // The proxy's tunnel first (within the same connect timeout); the SDK's session then runs in it.
        tunneling = true;
        const https = request.protocol === "https:";
        tunnel = await openTunnel(proxy, request.hostname, request.port ?? (https ? 443 : 80), {
          timeoutMs: this.connectTimeoutMs,
          scheduler: this.scheduler,
          signal: ac.signal,
        });
        tunneling = false;
      }
      const result = await inner.handle(request, { ...options, abortSignal: ac.signal });
      this.scheduler.clearTimeout(timer);
      const body: unknown = result.response.body;
      // The stream stays cuttable (abort, destroy) until its response body closes.
      if (isEmitter(body)) body.once("close", finish);
      else finish();
      return result;
    } catch (err) {
      this.scheduler.clearTimeout(timer);
      finish();
      // A connect the SDK gave up on (its session only ends the socket): free it now.
      connection?.socket.destroy();
      if (timedOut !== null) throw new EndpointTimeoutError(timedOut, this.connectTimeoutMs);
      if (connection?.error !== undefined && !outer?.aborted) {
        throw new EndpointConnectError(connection.error);
      }
      throw err;
    }
  }

  /** Cuts every stream still open (the client's destroy()). */
  destroy(): void {
    for (const cut of [...this.inFlight]) cut();
    this.inFlight.clear();
  }

  updateHttpClientConfig(key: keyof NodeHttp2HandlerOptions, value: unknown): void {
    this.config = { ...this.config, [key]: value };
  }

  httpHandlerConfigs(): NodeHttp2HandlerOptions {
    return this.config;
  }
}

function isEmitter(v: unknown): v is { once(event: string, fn: () => void): unknown } {
  return typeof v === "object" && v !== null && typeof (v as { once?: unknown }).once === "function";
}
