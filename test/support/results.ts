import type { TranscriptResult, TranscriptWord } from "../../src/transcript/result";

/** Synthetic words with given confidences (null = not scored), 0.4 s apart. */
export function words(spec: Array<[string, number | null]>): TranscriptWord[] {
  return spec.map(([text, confidence], i) => ({
    text,
    startTime: round(i * 0.4),
    endTime: round(i * 0.4 + 0.35),
    confidence,
    kind: /^[.,;:?!]$/.test(text) ? "punctuation" : "word",
  }));
}

/** A transcript result as a provider node would emit it; override any field. */
export function result(overrides: Partial<TranscriptResult> = {}): TranscriptResult {
  const w =
    overrides.words ??
    words([
      ["Patient", 0.98],
      ["denies", 0.95],
      ["chest", 0.97],
      ["pain", 0.96],
      [".", null],
    ]);
  const scored = w.filter((x) => x.kind === "word" && typeof x.confidence === "number") as Array<{
    confidence: number;
  }>;
  return {
    provider: "aws-transcribe-medical",
    sessionId: "session-1",
    segmentId: "seg-1",
    isFinal: true,
    text: w
      .map((x) => x.text)
      .join(" ")
      .replace(/ ([.,;:?!])/g, "$1"),
    confidence: scored.length ? scored.reduce((s, x) => s + x.confidence, 0) / scored.length : null,
    startTime: w[0]?.startTime ?? 0,
    endTime: w[w.length - 1]?.endTime ?? 0,
    words: w,
    language: "en-US",
    ...overrides,
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
