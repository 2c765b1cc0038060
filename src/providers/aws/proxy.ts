import { Agent, type AgentOptions, type ClientRequestArgs } from "node:http";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import type { Duplex } from "node:stream";
import { guard } from "../../util/guard";
import type { Scheduler } from "../../util/scheduler";

/**
 * An HTTP proxy for the connections to Amazon Transcribe (both transports): the connection to the
 * endpoint goes through an HTTP CONNECT tunnel, inside which TLS runs end to end (the proxy sees the
 * host name and port, never the traffic). The proxy is the config node's setting, else HTTPS_PROXY
 * (or https_proxy); NO_PROXY (or no_proxy) names hosts reached directly.
 */
export interface ProxySettings {
  /** host:port of the proxy. */
  host: string;
  port: number;
  /** `Basic …` from user:password in HTTPS_PROXY (never from the flow: it would be a credential there). */
  authorization?: string;
  /** NO_PROXY entries, lower case: a host, a domain suffix (".example.org" or "example.org"), or "*". */
  noProxy: string[];
}

export type ProxyCheck = { proxy: ProxySettings | null; problems: string[] };

/** The longest answer header a proxy may send to CONNECT. */
const MAX_CONNECT_ANSWER = 16 * 1024;

/**
 * The proxy of the config node's `proxy` setting (empty: HTTPS_PROXY from `env`). Problems name the
 * setting and what is accepted, never its value (it may hold a password).
 */
export function checkProxy(setting: unknown, env: NodeJS.ProcessEnv = process.env): ProxyCheck {
  const problems: string[] = [];
  if (setting !== undefined && setting !== null && typeof setting !== "string") {
    return { proxy: null, problems: ["proxy must be text: http://host:port, or empty for HTTPS_PROXY"] };
  }
  const field = (setting ?? "").trim();
  const fromEnv = (env.HTTPS_PROXY ?? env.https_proxy ?? "").trim();
  const raw = field !== "" ? field : fromEnv;
  const what = field !== "" ? "proxy" : "HTTPS_PROXY";
  if (raw === "") return { proxy: null, problems };
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    return { proxy: null, problems: [`${what} must be a URL such as http://proxy.example.org:3128`] };
  }
  if (url.protocol !== "http:") {
    problems.push(`${what} must be an http:// proxy (the tunnel to the endpoint is TLS of its own)`);
  }
  if (field !== "" && (url.username !== "" || url.password !== "")) {
    problems.push(
      "proxy must not contain a user name or password (it would be stored in the flow): give them in HTTPS_PROXY",
    );
  }
  if (url.pathname !== "/" && url.pathname !== "") problems.push(`${what} must be http://host:port only`);
  if (problems.length > 0) return { proxy: null, problems };
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  return {
    proxy: {
      host: url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname,
      port: url.port !== "" ? Number(url.port) : 80,
      ...(user !== "" ? { authorization: `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}` } : {}),
      noProxy,
    },
    problems,
  };
}

/** The proxy to use for `host`, or null (no proxy, or NO_PROXY names it). */
export function proxyFor(p: ProxySettings | null, host: string): ProxySettings | null {
  if (!p) return null;
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  for (const entry of p.noProxy) {
    if (entry === "*") return null;
    const bare = entry.replace(/:\d+$/, "");
    const domain = bare.startsWith(".") ? bare.slice(1) : bare.startsWith("*.") ? bare.slice(2) : bare;
    if (h === domain || h.endsWith(`.${domain}`)) return null;
  }
  return p;
}

/** The proxy refused or failed the tunnel; `status` is its HTTP answer (0: none). */
export class ProxyError extends Error {
  override readonly name: string;
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(`the proxy did not open a tunnel to the endpoint: ${reason}`);
    // 407 and 403 are the proxy's settings or policy: retrying repeats them (errors.ts, AUTH_ERRORS).
    this.name =
      status === 407 ? "ProxyAuthenticationRequired" : status === 403 ? "ProxyForbidden" : "ProxyError";
  }
}

export interface TunnelOptions {
  timeoutMs: number;
  scheduler: Scheduler;
  signal?: AbortSignal;
}

/**
 * Opens a CONNECT tunnel to `host:port` through the proxy: resolves with the socket, carrying the
 * endpoint's bytes from then on. Fails with a ProxyError (a refusal, a proxy that closed), or a
 * network error with the proxy's system code; within `timeoutMs` in any case.
 */
export function openTunnel(p: ProxySettings, host: string, port: number, o: TunnelOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: p.host, port: p.port });
    let answer = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null): void => {
      if (done) return;
      done = true;
      o.scheduler.clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      socket.removeListener("data", onData);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(socket);
    };
    const onAbort = (): void => finish(new ProxyError(0, "the connection attempt was given up"));
    const timer = o.scheduler.setTimeout(
      () => finish(new ProxyError(0, `no answer from the proxy within ${o.timeoutMs / 1000} s`)),
      o.timeoutMs,
    );
    if (o.signal?.aborted) onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    // A throw in a handler ends this tunnel, never the process.
    const safe = <A extends unknown[]>(fn: (...args: A) => void): ((...args: A) => void) =>
      guard(fn, (err) => finish(new ProxyError(0, `an internal ${err.name}`)));
    const onData = safe((chunk: Buffer): void => {
      answer = Buffer.concat([answer, chunk]);
      const end = answer.indexOf("\r\n\r\n");
      if (end < 0) {
        if (answer.length > MAX_CONNECT_ANSWER) finish(new ProxyError(0, "the proxy's answer was too long"));
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer.subarray(0, end).toString("latin1"));
      const code = status ? Number(status[1]) : 0;
      if (code !== 200) {
        finish(new ProxyError(code, code === 0 ? "the proxy did not answer in HTTP" : `HTTP ${code}`));
        return;
      }
      finish(null);
      // Bytes past the answer already belong to the endpoint (an h2c server speaks first): they are
      // put back, held until the connection's reader takes the socket.
      const rest = answer.subarray(end + 4);
      if (rest.length > 0) {
        socket.pause();
        socket.unshift(rest);
      }
    });
    socket.on("data", onData);
    // Kept (not once): a second error of a failing socket must find a listener too.
    socket.on(
      "error",
      safe((err: NodeJS.ErrnoException) => {
        const code =
          typeof err.code === "string" && /^[A-Z][A-Z0-9_]{0,63}$/.test(err.code) ? err.code : undefined;
        finish(
          Object.assign(new ProxyError(0, `could not reach the proxy (${code ?? "a network error"})`), {
            code,
          }),
        );
      }),
    );
    socket.once(
      "close",
      safe(() => finish(new ProxyError(0, "the proxy closed the connection"))),
    );
    socket.once(
      "connect",
      safe(() => {
        const target = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
        socket.write(
          `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n` +
            (p.authorization ? `Proxy-Authorization: ${p.authorization}\r\n` : "") +
            "\r\n",
        );
      }),
    );
  });
}

/**
 * An HTTP agent whose connections go through the proxy's tunnel (TLS inside it for wss): what the
 * WebSocket client connects with. One connection per request, none kept.
 */
export class TunnelAgent extends Agent {
  constructor(
    private readonly proxy: ProxySettings,
    private readonly secure: boolean,
    private readonly tunnel: Omit<TunnelOptions, "signal">,
    options: AgentOptions = {},
  ) {
    super({ ...options, keepAlive: false });
    // https.request refuses an agent of another protocol.
    (this as unknown as { protocol: string }).protocol = secure ? "https:" : "http:";
  }

  override createConnection(
    options: ClientRequestArgs & { servername?: string },
    callback?: (err: Error | null, socket: Duplex) => void,
  ): Duplex | undefined {
    const host = String(options.hostname ?? options.host ?? "");
    const port = Number(options.port ?? (this.secure ? 443 : 80));
    const fail = (err: Error): void => callback?.(err, undefined as unknown as Duplex);
    openTunnel(this.proxy, host, port, this.tunnel).then(
      guard((socket: Socket) => {
        if (!this.secure) {
          callback?.(null, socket);
          return;
        }
        const tls = tlsConnect({
          socket,
          servername: options.servername ?? (/^[\d.]+$|:/.test(host) ? undefined : host),
          ALPNProtocols: ["http/1.1"],
        });
        callback?.(null, tls);
      }, fail),
      // Node's agent takes the error alone (no socket) in this callback.
      guard(fail, () => undefined),
    );
    return undefined;
  }
}
