/**
 * Cuts a stream of PCM bytes that arrives in pieces of any size into frames of a fixed size.
 * Every byte is copied exactly once, into the frame it belongs to; nothing else is held, and no
 * caller's Buffer is kept past the call.
 */
export class PcmFramer {
  // The frame being filled; allocated when its first byte arrives.
  private frame: Buffer | undefined;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0)
      throw new RangeError("frameBytes must be a positive integer");
  }

  /** Adds bytes; returns the whole frames now complete, in order (each a new Buffer). */
  push(chunk: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    for (let at = 0; at < chunk.length;) {
      // allocUnsafe: a frame leaves only once every byte of it has been written.
      const frame = (this.frame ??= Buffer.allocUnsafe(this.frameBytes));
      const copied = chunk.copy(frame, this.filled, at, at + this.frameBytes - this.filled);
      at += copied;
      this.filled += copied;
      if (this.filled === this.frameBytes) {
        frames.push(frame);
        this.frame = undefined;
        this.filled = 0;
      }
    }
    return frames;
  }

  /**
   * Returns what is left as a last frame, padded with silence (zero bytes) to at least
   * `minBytes` so that it is never dropped for being too short; undefined when nothing is left.
   */
  flush(minBytes = 0): Buffer | undefined {
    const frame = this.frame;
    if (frame === undefined || this.filled === 0) return undefined;
    const size = Math.max(this.filled, minBytes);
    let last: Buffer;
    if (size <= frame.length) last = frame.subarray(0, size);
    else {
      last = Buffer.alloc(size);
      frame.copy(last, 0, 0, this.filled);
    }
    last.fill(0, this.filled);
    this.frame = undefined;
    this.filled = 0;
    return last;
  }
}
