import http2, { type ServerHttp2Stream } from "node:http2";
import type { Socket } from "node:net";
import type { WebSocket } from "ws";

/**
 * The connection of one emulated stream, as the faults see it: the HTTP/2 stream of
 * `POST /…-transcription`, or the WebSocket of `GET /…-transcription-websocket`. Every fault of the
 * HTTP/2 routes has its WebSocket form, as a failing network or service would show it there.
 */
export interface Wire {
  readonly transport: "http2" | "websocket";
  /** The connection can still carry messages. */
  readonly writable: boolean;
  write(message: Uint8Array): void;
  /** The service's clean end: END_STREAM / a close frame with code 1000. */
  end(): void;
  /** The stream is cut by the service: RST_STREAM INTERNAL_ERROR / close code 1011. */
  reset(): void;
  /** The connection is being shut down: GOAWAY with an error / close code 1001, then the socket goes. */
  goaway(): void;
  /** TCP RST. */
  tcpReset(): void;
  /** The whole connection goes without a word (a failing load balancer). */
  destroy(): void;
}

export function http2Wire(stream: ServerHttp2Stream): Wire {
  return {
    transport: "http2",
    get writable() {
      return !stream.destroyed && !stream.closed;
    },
    write: (m) => {
      if (!stream.destroyed && !stream.closed) stream.write(m);
    },
    end: () => stream.end(),
    reset: () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR),
    goaway: () => {
      stream.session?.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR);
      stream.session?.destroy();
    },
    tcpReset: () => stream.session?.socket.resetAndDestroy(),
    destroy: () => stream.session?.destroy(),
  };
}

export function websocketWire(ws: WebSocket, socket: Socket): Wire {
  const open = (): boolean => ws.readyState === ws.OPEN;
  return {
    transport: "websocket",
    get writable() {
      return open();
    },
    write: (m) => {
      if (open()) ws.send(m, { binary: true });
    },
    end: () => {
      if (open()) ws.close(1000);
    },
    reset: () => {
      if (open()) ws.close(1011);
    },
    goaway: () => {
      if (open()) ws.close(1001);
      socket.destroy();
    },
    tcpReset: () => socket.resetAndDestroy(),
    destroy: () => socket.destroy(),
  };
}
