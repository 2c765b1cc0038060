import type http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import type tls from "node:tls";
import {
  CLOSED_AFTER_HANDSHAKE,
  ClientCertificateWatch,
  tlsConnectOptions,
  type ClientTlsSettings,
} from "../tls-options";

/**
 * A `fetch` for HTTPS with the package's own TLS settings: a custom CA, a server name and, for
 * mutual TLS, a client certificate and key. Node's global fetch takes none of these without the
 * undici package (not a dependency), so requests go through node:https with one Agent that holds
 * them, and the answer is handed back as a standard Response: FhirSender reads it (status, headers,
 * bounded body, abort) exactly as it reads global fetch's.
 */

/** Response bodies a status forbids (the Response constructor refuses a body with them). */
const NULL_BODY = new Set([101, 204, 205, 304]);

export function tlsFetch(settings: ClientTlsSettings, host: string): typeof fetch {
  // No keep-alive: nothing outlives a request, so closing the sender (a redeploy) leaves no socket
  // open; a handshake per transaction is small beside a clinical document.
  const agent = new https.Agent({ ...tlsConnectOptions(settings, host), keepAlive: false });
  const mutual = Boolean(settings.cert);
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      if (url.protocol !== "https:") {
        reject(new TypeError("TLS settings apply to https URLs only"));
        return;
      }
      const headers: Record<string, string> = {};
      new Headers(init?.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const body = typeof init?.body === "string" ? init.body : undefined;
      const request = https.request(url, {
        method: init?.method ?? "GET",
        headers,
        agent,
        ...(init?.signal ? { signal: init.signal } : {}),
      });
      // Presenting a certificate: a server may refuse it by closing, without an alert. (No keep-alive:
      // every request has a fresh socket, watched from its first byte.)
      let watch: ClientCertificateWatch | undefined;
      if (mutual) {
        request.once("socket", (socket) => {
          watch = new ClientCertificateWatch(socket as tls.TLSSocket);
        });
      }
      request.on("error", (err: Error & { code?: string }) => {
        if (watch?.closeIsRefusal && (err.code === "ECONNRESET" || err.code === "EPIPE")) {
          reject(
            Object.assign(new Error("the server closed the TLS connection"), {
              code: CLOSED_AFTER_HANDSHAKE,
            }),
          );
          return;
        }
        reject(err);
      });
      request.on("response", (res: http.IncomingMessage) => {
        watch?.answered();
        const status = res.statusCode ?? 0;
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value === undefined) continue;
          for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, v);
        }
        try {
          const stream = NULL_BODY.has(status) ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>);
          if (stream === null) res.resume();
          resolve(
            new Response(stream, { status, statusText: res.statusMessage ?? "", headers: responseHeaders }),
          );
        } catch (err) {
          // A status outside 200–599 cannot be a Response: treat it as a failed exchange.
          res.destroy();
          reject(err instanceof Error ? err : new Error("unreadable response"));
        }
      });
      request.end(body);
    });
}
