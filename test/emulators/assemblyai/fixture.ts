/**
 * Transcript fixtures and test audio for the AssemblyAI emulator.
 *
 * The test audio carries its own position: every PCM sample holds (ms / 10) + 1, the 10 ms block of
 * the session it belongs to (0 is silence, as the zero padding a client adds). So the emulator knows
 * which part of the session each received frame is, and transcribes replayed audio after a reconnect as
 * the real service would transcribe the same speech again, with times on the new connection's clock.
 */

export interface FixtureWord {
  /** The formatted word as a final carries it (punctuation attached, as AssemblyAI sends it). */
  text: string;
  /** Milliseconds from the start of the session's audio. */
  startMs: number;
  endMs: number;
  confidence: number;
  speaker?: string;
}

export interface FixtureTurn {
  words: FixtureWord[];
}

export interface Fixture {
  turns: FixtureTurn[];
}

/** Builds a turn from words laid out one after another from `startMs`, each `wordMs` long with `gapMs` between. */
export function turn(
  startMs: number,
  text: string,
  options: { wordMs?: number; gapMs?: number; confidence?: number; speaker?: string } = {},
): FixtureTurn {
  const wordMs = options.wordMs ?? 200;
  const gapMs = options.gapMs ?? 50;
  return {
    words: text.split(/\s+/).map((w, i) => {
      const start = startMs + i * (wordMs + gapMs);
      const word: FixtureWord = {
        text: w,
        startMs: start,
        endMs: start + wordMs,
        confidence: options.confidence ?? Math.round((0.9 + ((i * 7) % 10) / 100) * 1000) / 1000,
      };
      if (options.speaker) word.speaker = options.speaker;
      return word;
    }),
  };
}

/** A short dictation: three turns in 4.5 s, each followed by silence long enough to end a turn. */
export const DICTATION: Fixture = {
  turns: [
    turn(200, "Patient denies chest pain.", { speaker: "A" }),
    turn(1800, "Start lisinopril ten milligrams daily.", { speaker: "B" }),
    turn(3400, "Follow up in two weeks.", { speaker: "A" }),
  ],
};

/** Tagged mono PCM s16le for `durationMs` of session audio starting at `startMs` (see the file comment). */
export function taggedPcm(startMs: number, durationMs: number, sampleRate = 16000): Buffer {
  const firstSample = Math.round((startMs * sampleRate) / 1000);
  const samples = Math.round((durationMs * sampleRate) / 1000);
  const buf = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    const ms = ((firstSample + i) * 1000) / sampleRate;
    buf.writeInt16LE(Math.min(32767, Math.floor(ms / 10) + 1), i * 2);
  }
  return buf;
}

/**
 * Session milliseconds at which a tagged s16le frame starts, or undefined for silence. Exact to the
 * sample: it finds where the 10 ms tag changes inside the frame.
 */
export function contentStartMs(frame: Buffer, sampleRate: number): number | undefined {
  const samples = Math.floor(frame.length / 2);
  if (samples === 0) return undefined;
  const first = frame.readInt16LE(0);
  if (first <= 0) return undefined;
  for (let i = 1; i < samples; i++) {
    const tag = frame.readInt16LE(i * 2);
    if (tag !== first) {
      if (tag <= 0) break;
      return (tag - 1) * 10 - (i * 1000) / sampleRate;
    }
  }
  return (first - 1) * 10;
}
