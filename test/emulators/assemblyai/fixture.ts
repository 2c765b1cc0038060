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

/**
 * Voiced test audio: like `taggedPcm`, it says where it belongs in the session, and it also sounds like
 * speech where the fixture has words, so that a client's speech-energy detector hears what the service
 * would. Every sample is `(amplitude << 4) | nibble`:
 * - the amplitude (high 12 bits) is the sound: a 200 Hz tone inside the fixture's words, room noise (or
 *   nothing) outside them;
 * - the nibble (low 4 bits) is the clock: every 10 ms block starts with the nibble 0xA, then the block's
 *   index in six decimal digits (one per nibble, never 0xA), then zeros. A frame cut anywhere finds the
 *   next 0xA and knows its place, exact to the sample.
 * Zero padding a client adds has no 0xA, so it reads as silence, as with `taggedPcm`.
 */
export interface VoicedOptions {
  sampleRate?: number;
  /** Peak amplitude of the speech tone, in units of 16 (default 600: about -14 dBFS RMS). */
  speechAmplitude?: number;
  /** Peak amplitude of uniform room noise between words, in units of 16 (default 0: silence). */
  noiseAmplitude?: number;
}

const SYNC = 0xa;
const DIGITS = 6;

/** Deterministic noise in ±1 by sample index, so that a replay sends exactly the same samples. */
function noiseAt(sample: number): number {
  const x = Math.sin(sample * 12.9898 + 78.233) * 43758.5453;
  return (x - Math.floor(x)) * 2 - 1;
}

export function voicedPcm(
  fixture: Fixture,
  startMs: number,
  durationMs: number,
  options: VoicedOptions = {},
): Buffer {
  const rate = options.sampleRate ?? 16000;
  const speech = options.speechAmplitude ?? 600;
  const noise = options.noiseAmplitude ?? 0;
  const blockSamples = rate / 100;
  const firstSample = Math.round((startMs * rate) / 1000);
  const samples = Math.round((durationMs * rate) / 1000);
  const words = fixture.turns.flatMap((t) => t.words);
  const buf = Buffer.alloc(samples * 2);
  let w = 0;
  for (let i = 0; i < samples; i++) {
    const s = firstSample + i;
    const ms = (s * 1000) / rate;
    while (w < words.length && (words[w]?.endMs ?? 0) <= ms) w++;
    const inWord = w < words.length && (words[w]?.startMs ?? Infinity) <= ms;
    const amplitude = Math.round(
      inWord ? speech * Math.sin((2 * Math.PI * 200 * s) / rate) : noise * noiseAt(s),
    );
    const block = Math.floor(s / blockSamples);
    const k = s - block * blockSamples;
    let nibble = 0;
    if (k === 0) nibble = SYNC;
    else if (k <= DIGITS) nibble = Math.floor(block / 10 ** (DIGITS - k)) % 10;
    buf.writeInt16LE(Math.max(-2048, Math.min(2047, amplitude)) * 16 + nibble, i * 2);
  }
  return buf;
}

/** Session milliseconds at which a voiced s16le frame starts, or undefined when it carries no clock. */
export function voicedStartMs(frame: Buffer, sampleRate: number): number | undefined {
  const samples = Math.floor(frame.length / 2);
  const blockSamples = sampleRate / 100;
  for (let k = 0; k + DIGITS < samples; k++) {
    if ((frame.readInt16LE(k * 2) & 0xf) !== SYNC) continue;
    let block = 0;
    for (let d = 1; d <= DIGITS; d++) {
      const digit = frame.readInt16LE((k + d) * 2) & 0xf;
      if (digit > 9) return undefined;
      block = block * 10 + digit;
    }
    return ((block * blockSamples - k) * 1000) / sampleRate;
  }
  return undefined;
}

/** A fixture word's identity in the emulator's ledger: "turn/word". */
export const wordId = (turnIndex: number, wordIndex: number): string => `${turnIndex}/${wordIndex}`;
