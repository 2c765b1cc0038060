/**
 * Cuts a stream of PCM bytes that arrives in pieces of any size into frames of a fixed size.
 * A caller's Buffer is copied exactly once, into the frames it belongs to, and never kept past the
 * call; unless the caller hands over bytes it owns (see `push`), whose whole frames leave as views.
 */
export class PcmFramer {
  // The frame being filled; allocated when its first byte arrives.
  private frame: Buffer | undefined;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0)
      throw new RangeError("frameBytes must be a positive integer");
  }

  /**
   * Adds bytes; returns the whole frames now complete, in order, each a Buffer of its own that no
   * later push writes into.
   * @param owned the bytes are the caller's to give away (it made them for this call, and neither it
   *   nor anyone else writes to them or hands them on): a whole frame inside them leaves as a view
   *   (`subarray`) instead of a copy. A view keeps its whole parent alive; the parent is one push's
   *   bytes, which its frames cover but for less than a frame at either end.
   */
  push(chunk: Buffer, owned = false): Buffer[] {
    const frames: Buffer[] = [];
    this.pushTo(chunk, owned, frames);
    return frames;
  }

  /**
   * As `push`, with each whole frame handed to `sink.push` as it is complete: the hot path's form, with
   * no array per call (a session passes a sink it made once).
   */
  pushTo(chunk: Buffer, owned: boolean, sink: { push(frame: Buffer): unknown }): void {
    const size = this.frameBytes;
    let at = 0;
    if (this.filled > 0) at = this.fill(chunk, 0, sink);
    if (owned) {
      for (; chunk.length - at >= size; at += size) sink.push(chunk.subarray(at, at + size));
    }
    while (at < chunk.length) at = this.fill(chunk, at, sink);
  }

  /** Copies from `chunk[at]` into the frame being filled; queues it when complete; returns the new `at`. */
  private fill(chunk: Buffer, at: number, frames: { push(frame: Buffer): unknown }): number {
    // allocUnsafe: a frame leaves only once every byte of it has been written.
    const frame = (this.frame ??= Buffer.allocUnsafe(this.frameBytes));
    const copied = chunk.copy(frame, this.filled, at, at + this.frameBytes - this.filled);
    this.filled += copied;
    if (this.filled === this.frameBytes) {
      frames.push(frame);
      this.frame = undefined;
      this.filled = 0;
    }
    return at + copied;
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
