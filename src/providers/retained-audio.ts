/**
 * Where a streaming session keeps the audio it may have to replay: copied into a few long-lived slabs
 * of its own instead of holding on to every incoming chunk.
 *
 * Why: audio kept until a final covers it (a few seconds) outlives two young-generation collections,
 * so every chunk's Buffer was promoted to V8's old generation and stayed there, counted against the
 * old generation's limit, until a full mark-compact freed it. At 100 sessions in Node-RED, whose heap
 * is two to three times the bare client's, that meant a mark-compact of the whole heap every second or
 * two (30–180 ms each): the GC share and the p99 latency the pipeline bench showed against the bare
 * clients (docs/performance.md, "Why the Node-RED process paid more"). A slab lives as long as its
 * session and is reused once every frame in it has been released, so the chunks die young.
 */

/** One slab: `live` frames in it are still held; bytes before `used` are taken. */
export interface Slab {
  readonly buffer: Buffer;
  used: number;
  live: number;
}

/** A kept frame's bytes (a view into its slab) and the slab to release it to. */
export interface Kept {
  bytes: Buffer;
  /** Undefined for a frame larger than a slab: it got a copy of its own. */
  slab: Slab | undefined;
}

/**
 * Free slabs kept for reuse: what one final frees in the steady state, not a burst. With slabs of 1 s
 * (the sessions' choice) a session holds less than 6 s of audio beyond what it retains: the free part
 * of the slab being filled, four free ones, and the released part of the oldest slab that a retained
 * frame still keeps (under 192 kB at 16 kHz mono, 1.15 MB at 48 kHz stereo).
 */
const MAX_FREE_SLABS = 4;

export class RetainedAudio {
  private current: Slab | undefined;
  private readonly free: Slab[] = [];

  /** `slabBytes`: the size of a slab; frames up to this size are kept in slabs. */
  constructor(private readonly slabBytes: number) {}

  /** A copy of `bytes` that stays valid until released. */
  keep(bytes: Buffer): Kept {
    if (bytes.length > this.slabBytes) return { bytes: Buffer.from(bytes), slab: undefined };
    let slab = this.current;
    if (!slab || slab.used + bytes.length > slab.buffer.length) {
      if (slab) this.retire(slab);
      slab = this.free.pop() ?? { buffer: Buffer.allocUnsafeSlow(this.slabBytes), used: 0, live: 0 };
      this.current = slab;
    }
    const view = slab.buffer.subarray(slab.used, slab.used + bytes.length);
    bytes.copy(view);
    slab.used += bytes.length;
    slab.live++;
    return { bytes: view, slab };
  }

  /**
   * The frame kept in `slab` is no longer needed (a final covers it, it left the replay window, or the
   * session ended): its bytes may be overwritten once every frame of its slab is released.
   */
  release(slab: Slab | undefined): void {
    if (!slab) return;
    slab.live--;
    if (slab.live === 0 && slab !== this.current) this.recycle(slab);
  }

  /** The slab being filled is full: it is reused (or dropped) once its last frame is released. */
  private retire(slab: Slab): void {
    if (slab.live === 0) this.recycle(slab);
  }

  private recycle(slab: Slab): void {
    slab.used = 0;
    // Past the steady state's needs a slab is left to the garbage collector.
    if (this.free.length < MAX_FREE_SLABS) this.free.push(slab);
  }
}
