/**
 * Cuts a stream of PCM bytes that arrives in pieces of any size into frames of a fixed size.
 * Bytes are copied once into each frame; nothing is held beyond one unfinished frame.
 */
export class PcmFramer {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0)
      throw new RangeError("frameBytes must be a positive integer");
  }

  /** Adds bytes; returns the whole frames now complete, in order (each a new Buffer). */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes < this.frameBytes) return [];
    const all = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    const frames: Buffer[] = [];
    let offset = 0;
    for (; offset + this.frameBytes <= all.length; offset += this.frameBytes) {
      frames.push(Buffer.from(all.subarray(offset, offset + this.frameBytes)));
    }
    const rest = all.subarray(offset);
    this.pending = rest.length ? [Buffer.from(rest)] : [];
    this.pendingBytes = rest.length;
    return frames;
  }

  /**
   * Returns what is left as a last frame, padded with silence (zero bytes) to at least
   * `minBytes` so that it is never dropped for being too short; undefined when nothing is left.
   */
  flush(minBytes = 0): Buffer | undefined {
    if (this.pendingBytes === 0) return undefined;
    const size = Math.max(this.pendingBytes, minBytes);
    const frame = Buffer.alloc(size);
    let offset = 0;
    for (const piece of this.pending) {
      piece.copy(frame, offset);
      offset += piece.length;
    }
    this.pending = [];
    this.pendingBytes = 0;
    return frame;
  }
}
