/**
 * Test audio that says where it belongs. Every 10 ms block starts with the speech clock both emulators
 * read (sample 0 = 1 + the block's tick in the session, see test/emulators/aws/fixture.ts and
 * test/emulators/assemblyai/fixture.ts), so the emulators transcribe what was actually sent, replays
 * included. Sample 1 of every block carries the session number, negated: the AWS emulator reads only
 * sample 0 of a block, and the AssemblyAI emulator stops looking for the next tag at a sample <= 0, so
 * the mark changes nothing they hear, and lets a benchmark tell which session a connection carries
 * (the providers' own session ids are random). A sample holds marks 1–32767: session numbers beyond
 * that wrap (`sessionMark`), which is safe while fewer than 32,767 sessions are in flight at once (a
 * one-hour soak runs about 7,400 in all, a few hundred at a time).
 */
export const RATE = 16000;
export const CHUNK_MS = 100;
const BLOCK_MS = 10;
const SAMPLES_PER_BLOCK = (RATE * BLOCK_MS) / 1000;

/** The speech clock of one chunk (no session mark yet): the same for every session. */
function clockChunk(seq: number): Buffer {
  const samples = (RATE * CHUNK_MS) / 1000;
  const buf = Buffer.alloc(samples * 2);
  const firstTick = (seq * CHUNK_MS) / BLOCK_MS;
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(1 + ((firstTick + Math.floor(i / SAMPLES_PER_BLOCK)) % 32000), i * 2);
  }
  return buf;
}

const clocks = new Map<number, Buffer>();

const MAX_MARK = 32767;

/** The mark session `n` (1, 2, …) carries in its audio: 1–32767, wrapping after that. */
export function sessionMark(n: number): number {
  return ((n - 1) % MAX_MARK) + 1;
}

/**
 * Chunk `seq` (100 ms, 16 kHz mono s16le) of session `session` (1, 2, …; marked with
 * `sessionMark(session)`), as a new Buffer: a source hands on a new Buffer per chunk, and so does this.
 */
export function sessionChunk(session: number, seq: number): Buffer {
  let clock = clocks.get(seq);
  if (!clock) {
    clock = clockChunk(seq);
    clocks.set(seq, clock);
  }
  const out = Buffer.alloc(clock.length);
  clock.copy(out);
  const mark = sessionMark(session);
  for (let at = 2; at < out.length; at += SAMPLES_PER_BLOCK * 2) out.writeInt16LE(-mark, at);
  return out;
}

/** Session mark (`sessionMark`) and chunk number of a received frame that starts on a chunk boundary. */
export function readMark(frame: Buffer): { session: number; seq: number } | undefined {
  if (frame.length < 4) return undefined;
  const tick = frame.readInt16LE(0) - 1;
  const mark = -frame.readInt16LE(2);
  if (tick < 0 || mark <= 0) return undefined;
  return { session: mark, seq: Math.floor((tick * BLOCK_MS) / CHUNK_MS) };
}
