/** MLLP (release 1) framing: <VT> message <FS><CR>. */
export const START_BLOCK = 0x0b;
export const END_BLOCK = 0x1c;
export const CARRIAGE_RETURN = 0x0d;

export function frame(message: string): Buffer {
  return Buffer.concat([
    Buffer.from([START_BLOCK]),
    Buffer.from(message, "utf8"),
    Buffer.from([END_BLOCK, CARRIAGE_RETURN]),
  ]);
}

export class FrameTooLargeError extends Error {
  override readonly name = "FrameTooLargeError";
}

/**
 * Reassembles frames from a TCP stream: a frame may arrive in many chunks, several frames in
 * one chunk. Bytes outside a frame (noise before <VT>) are dropped. A frame that grows past
 * `maxBytes` without ending throws, so a peer cannot make us buffer without bound.
 */
export class FrameDecoder {
  private buffer: Buffer = Buffer.alloc(0);

  constructor(private readonly maxBytes = 16 * 1024 * 1024) {}

  push(chunk: Buffer): string[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const messages: string[] = [];
    for (;;) {
      const start = this.buffer.indexOf(START_BLOCK);
      if (start < 0) {
        this.buffer = Buffer.alloc(0);
        break;
      }
      const end = this.findEnd(start + 1);
      if (end < 0) {
        this.buffer = this.buffer.subarray(start);
        if (this.buffer.length > this.maxBytes) {
          this.buffer = Buffer.alloc(0);
          throw new FrameTooLargeError(`an MLLP frame exceeded ${this.maxBytes} bytes`);
        }
        break;
      }
      messages.push(this.buffer.subarray(start + 1, end).toString("utf8"));
      this.buffer = this.buffer.subarray(end + 2);
    }
    return messages;
  }

  private findEnd(from: number): number {
    let i = this.buffer.indexOf(END_BLOCK, from);
    while (i >= 0) {
      if (i + 1 >= this.buffer.length) return -1; // <FS> seen, <CR> not yet arrived
      if (this.buffer[i + 1] === CARRIAGE_RETURN) return i;
      i = this.buffer.indexOf(END_BLOCK, i + 1);
    }
    return -1;
  }

  reset(): void {
    this.buffer = Buffer.alloc(0);
  }
}
