/** MLLP (release 1) framing: <VT> message <FS><CR>. */
export const START_BLOCK = 0x0b;
export const END_BLOCK = 0x1c;
export const CARRIAGE_RETURN = 0x0d;

/** The largest frame a receiver may answer with (an ACK is a few hundred bytes): 1 MiB. */
export const MAX_ACK_FRAME_BYTES = 1024 * 1024;

export function frame(message: string): Buffer {
  const body = Buffer.from(message, "utf8");
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = START_BLOCK;
  body.copy(out, 1);
  out[body.length + 1] = END_BLOCK;
  out[body.length + 2] = CARRIAGE_RETURN;
  return out;
}

export class FrameTooLargeError extends Error {
  override readonly name = "FrameTooLargeError";
}

/**
 * Reassembles frames from a TCP stream: a frame may arrive in many chunks, several frames in one
 * chunk. Bytes outside a frame (noise before <VT>, the <CR> after <FS>) are dropped. <FS> ends a
 * frame whether or not its <CR> follows: the <CR> may come in a later chunk or, from a lax receiver
 * that closes the connection at once, never; <FS> cannot occur inside HL7 text. Neither can <VT>:
 * one inside a frame starts the frame again (what came before it was noise or a frame broken off),
 * and a frame with nothing but blanks in it (a keep-alive some engines send) is no message.
 *
 * Linear in the bytes received: each chunk is scanned once (the next <VT> and <FS> are looked up
 * again only once passed) and kept by reference, and a frame's pieces are joined once, when it ends
 * (joining the whole buffer again for every chunk would be quadratic for a frame that arrives in many
 * small chunks). A frame that grows past `maxBytes` without ending throws, so a peer cannot make us
 * buffer without bound.
 */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;

  constructor(private readonly maxBytes = MAX_ACK_FRAME_BYTES) {}

  push(chunk: Buffer): string[] {
    const messages: string[] = [];
    let i = 0;
    // Positions of the next <VT> / <FS> at or after i: -2 not looked up yet, -1 none in the chunk.
    let nextStart = -2;
    let nextEnd = -2;
    const next = (byte: number, known: number): number =>
      known === -1 || known >= i ? known : chunk.indexOf(byte, i);
    while (i < chunk.length) {
      nextStart = next(START_BLOCK, nextStart);
      if (!this.inFrame) {
        if (nextStart < 0) break;
        this.inFrame = true;
        i = nextStart + 1;
        continue;
      }
      nextEnd = next(END_BLOCK, nextEnd);
      if (nextStart >= 0 && (nextEnd < 0 || nextStart < nextEnd)) {
        this.reset();
        this.inFrame = true;
        i = nextStart + 1;
        continue;
      }
      if (nextEnd < 0) {
        this.append(chunk.subarray(i));
        break;
      }
      this.append(chunk.subarray(i, nextEnd));
      const text = this.finish();
      if (text.trim() !== "") messages.push(text);
      i = nextEnd + 1;
    }
    return messages;
  }

  reset(): void {
    this.parts = [];
    this.size = 0;
    this.inFrame = false;
  }

  private append(piece: Buffer): void {
    if (piece.length === 0) return;
    this.size += piece.length;
    if (this.size > this.maxBytes) {
      this.reset();
      throw new FrameTooLargeError(`an MLLP frame exceeded ${this.maxBytes} bytes`);
    }
    this.parts.push(piece);
  }

  private finish(): string {
    const text = Buffer.concat(this.parts, this.size).toString("utf8");
    this.reset();
    return text;
  }
}
