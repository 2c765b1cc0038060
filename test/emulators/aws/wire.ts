import type { EventStreamCodec } from "@smithy/eventstream-codec";
import { fromUtf8 } from "@smithy/util-utf8";
import { randomUUID } from "node:crypto";
import http2, {
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from "node:http2";
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

export function websocketWire(ws: WebSocket, socket: Socket, pieceBytes = Infinity): Wire {
  const open = (): boolean => ws.readyState === ws.OPEN;
  return {
    transport: "websocket",
    get writable() {
      return open();
    },
    write: (m) => {
      for (let at = 0; at < m.length && open(); at += pieceBytes) {
        ws.send(m.subarray(at, at + pieceBytes), { binary: true });
      }
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

/**
 * The answering side of one event stream: events are held until the first answer is due (the real service
 * answers after a short delay), then written in order; an exception event ends the response.
 */
export class EventWriter {
  private released = false;
  private held: Uint8Array[] = [];

  constructor(
    private readonly codec: EventStreamCodec,
    private readonly wire: Wire,
    private readonly eventType: string,
  ) {}

  get isReleased(): boolean {
    return this.released;
  }

  /** One JSON event of `eventType`: written now, or held until `release()`. */
  event(body: unknown): void {
    const frame = this.codec.encode({
      headers: {
        ":message-type": { type: "string", value: "event" },
        ":event-type": { type: "string", value: this.eventType },
        ":content-type": { type: "string", value: "application/json" },
      },
      body: fromUtf8(JSON.stringify(body)),
    });
    if (this.released) this.wire.write(frame);
    else this.held.push(frame);
  }

  /** Writes what was held; from now on events go out at once. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.wire.writable) return;
    for (const m of this.held) this.wire.write(m);
    this.held = [];
  }

  /** An exception event, as the service sends one mid-stream, and the end of the response. */
  exception(type: string, message: string): void {
    this.release();
    if (!this.wire.writable) return;
    this.wire.write(
      this.codec.encode({
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
}

/** The service's HTTP error answer to a request, before any stream (`x-amzn-errortype` names the error). */
export function refuseHttp2(stream: ServerHttp2Stream, status: number, type: string, message: string): void {
  if (stream.destroyed) return;
  stream.respond({
    ":status": status,
    "content-type": "application/json",
    "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazonaws.transcribe.streaming/`,
    "x-amzn-requestid": randomUUID(),
  });
  stream.end(JSON.stringify({ Message: message }));
}

/** The connection faults every streaming route injects the same way. */
export type CutKind = "reset" | "goaway" | "tcp-reset" | "end" | "destroy";

/**
 * Data right before an RST_STREAM or GOAWAY keeps the server session up until that frame is out: without it
 * the session (already closing on the client's GOAWAY) tears the socket down first, and the client never
 * sees the reset at all. The caller sends an event first when this is true.
 */
export const cutNeedsData = (kind: CutKind): boolean => kind === "reset" || kind === "goaway";

export function cutWire(wire: Wire, kind: CutKind): void {
  if (kind === "reset") wire.reset();
  else if (kind === "goaway") wire.goaway();
  else if (kind === "tcp-reset") wire.tcpReset();
  else if (kind === "end") wire.end();
  else wire.destroy();
}

/** Event-stream messages arrive split anywhere across DATA frames: reassembled by their length prefix. */
export class FrameSplitter {
  private pending = Buffer.alloc(0);

  /** The messages this chunk completes, in order. */
  push(chunk: Buffer): Buffer[] {
    this.pending = Buffer.concat([this.pending, chunk]);
    const frames: Buffer[] = [];
    while (this.pending.length >= 4) {
      const total = this.pending.readUInt32BE(0);
      if (this.pending.length < total) break;
      frames.push(this.pending.subarray(0, total));
      this.pending = this.pending.subarray(total);
    }
    return frames;
  }
}

/** An h2c server whose sessions are tracked (to destroy them on stop) and whose socket errors are ignored. */
export function h2cServer(
  sessions: Set<Http2Session>,
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void,
): Http2Server {
  const server = http2.createServer();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => undefined);
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => undefined);
    onStream(stream, headers);
  });
  return server;
}
