/**
 * The scripted transcript the AWS emulator "recognises". Words sit on a timeline of spoken content
 * (seconds). By default content time is the time of the stream itself (the script restarts on every
 * stream); with the embedded speech clock (see `speechClockPcm`) the audio itself says which
 * moment of the script it carries, so replayed audio is recognised again as the same words, as the
 * real service would recognise the same sound twice.
 */
export interface FixtureWord {
  text: string;
  start: number;
  end: number;
  /** Punctuation has no duration of its own and is attached to the word before it. */
  punctuation?: boolean;
  confidence: number;
  /** Flagged as PHI (Medical) or as PII of type NAME (standard) when the request asks for it. */
  phi?: boolean;
  /** A word of the vocabulary filter (standard): masked, removed or tagged when the request names a filter. */
  filtered?: boolean;
}

export interface FixtureSegment {
  words: FixtureWord[];
  speaker: string;
  channel: 0 | 1;
  /** The language spoken in this segment (language identification); default: the emulator's. */
  language?: string;
}

export type TranscriptFixture = FixtureSegment[];

/**
 * Lays out sentences one after another: each word lasts `wordSec`, with `gapSec` of silence
 * between segments. A token "[PHI]Name" marks a PHI word, "[VF]word" a word of the vocabulary
 * filter; ".", ",", "?" are punctuation.
 */
export function scriptedFixture(
  sentences: Array<{ text: string; speaker?: string; channel?: 0 | 1; language?: string }>,
  opts: { startSec?: number; wordSec?: number; gapSec?: number } = {},
): TranscriptFixture {
  const wordSec = opts.wordSec ?? 0.3;
  const gapSec = opts.gapSec ?? 0.4;
  let t = opts.startSec ?? 0.2;
  return sentences.map((s, si) => {
    const words: FixtureWord[] = [];
    const tokens = s.text.match(/\[(?:PHI|VF)\][^\s.,?]+|[^\s.,?]+|[.,?]/g) ?? [];
    tokens.forEach((tok, i) => {
      const confidence = 0.8 + ((si * 7 + i * 3) % 20) / 100;
      if (/^[.,?]$/.test(tok)) {
        const prev = words.at(-1);
        const at = prev ? prev.end : t;
        words.push({ text: tok, start: at, end: at, punctuation: true, confidence });
        return;
      }
      const phi = tok.startsWith("[PHI]");
      const filtered = tok.startsWith("[VF]");
      words.push({
        text: phi ? tok.slice(5) : filtered ? tok.slice(4) : tok,
        start: round(t),
        end: round(t + wordSec * 0.9),
        confidence,
        ...(phi ? { phi: true } : {}),
        ...(filtered ? { filtered: true } : {}),
      });
      t += wordSec;
    });
    t += gapSec;
    return {
      words,
      speaker: s.speaker ?? "0",
      channel: s.channel ?? 0,
      ...(s.language !== undefined ? { language: s.language } : {}),
    };
  });
}

const round = (s: number): number => Math.round(s * 1000) / 1000;

/** Content time is carried in the audio as one sample value per 10 ms tick. */
export const CLOCK_TICK_SEC = 0.01;

/**
 * PCM s16le whose every sample holds the "speech clock": 1 + the 10 ms tick of the session it
 * belongs to (0 stays silence). The emulator reads it back to know which moment of the script a
 * stream is hearing, so audio replayed after a reconnect is recognised as the same words.
 */
export function speechClockPcm(
  startSec: number,
  durationSec: number,
  sampleRate: number,
  channels: 1 | 2 = 1,
): Buffer {
  const frames = Math.round(durationSec * sampleRate);
  const buf = Buffer.alloc(frames * channels * 2);
  const first = Math.round(startSec * sampleRate);
  for (let i = 0; i < frames; i++) {
    const tick = Math.floor((first + i) / (sampleRate * CLOCK_TICK_SEC));
    const value = 1 + (tick % 32000);
    for (let c = 0; c < channels; c++) buf.writeInt16LE(value, (i * channels + c) * 2);
  }
  return buf;
}

/**
 * The speech clock with a voice: each 10 ms block starts with its clock sample (as `speechClockPcm`),
 * and the rest of the block is a 200 Hz tone at -12 dBFS while a word of `fixture` is spoken, digital
 * silence otherwise. The emulator reads the same script times; the session's speech detector hears
 * speech where the script has words, as it would in a real recording.
 */
export function voicedClockPcm(
  fixture: TranscriptFixture,
  startSec: number,
  durationSec: number,
  sampleRate: number,
  channels: 1 | 2 = 1,
): Buffer {
  const frames = Math.round(durationSec * sampleRate);
  const buf = Buffer.alloc(frames * channels * 2);
  const first = Math.round(startSec * sampleRate);
  const perTick = sampleRate * CLOCK_TICK_SEC;
  const spoken = fixture.flatMap((seg) =>
    seg.words.filter((w) => !w.punctuation).map((w) => [w.start, w.end, seg.channel] as const),
  );
  for (let i = 0; i < frames; i++) {
    const n = first + i;
    const t = n / sampleRate;
    for (let c = 0; c < channels; c++) {
      let value = 0;
      if (n % perTick === 0) value = 1 + (Math.floor(n / perTick) % 32000);
      else if (spoken.some(([s, e, ch]) => t >= s && t < e && (channels === 1 || ch === c))) {
        value = Math.round(8192 * Math.sin((2 * Math.PI * 200 * n) / sampleRate)) || 1;
      }
      buf.writeInt16LE(value, (i * channels + c) * 2);
    }
  }
  return buf;
}
