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
 * that closes the connection at once, never; <FS> cannot occur inside HL7 text.
 *
 * Linear in the bytes received: each chunk is scanned once and kept by reference, and a frame's
 * pieces are joined once, when it ends (joining the whole buffer again for every chunk would be
 * quadratic for a frame that arrives in many small chunks). A frame that grows past `maxBytes`
 * without ending throws, so a peer cannot make us buffer without bound.
 */
export class FrameDecoder {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;

  constructor(private readonly maxBytes = MAX_ACK_FRAME_BYTES) {}

  push(chunk: Buffer): string[] {
    const messages: string[] = [];
    let i = 0;
    while (i < chunk.length) {
      if (!this.inFrame) {
        const start = chunk.indexOf(START_BLOCK, i);
        if (start < 0) break;
        this.inFrame = true;
        i = start + 1;
        continue;
      }
      const end = chunk.indexOf(END_BLOCK, i);
      if (end < 0) {
        this.append(chunk.subarray(i));
        break;
      }
      this.append(chunk.subarray(i, end));
      messages.push(this.finish());
      i = end + 1;
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
