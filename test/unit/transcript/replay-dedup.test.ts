import { strict as assert } from "node:assert";
import type { TranscriptResult, TranscriptWord } from "../../../src/transcript/result";
import { DeliveredWords, normaliseWord, textOfWords } from "../../../src/transcript/replay-dedup";
import { assertTranscriptResult } from "../../support/contract";

// Words already delivered are dropped from a replayed stream's results, by time and by words.

/**
 * A result from a compact spec: "Blood@1.0 pressure@1.3 ,@1.5" — each word at its start (seconds),
 * 0.25 s long; "," "." "?" alone are punctuation items (as Amazon Transcribe sends them).
 */
function result(spec: string, o: Partial<TranscriptResult> = {}): TranscriptResult {
  const words: TranscriptWord[] = spec
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map((token) => {
      const [text = "", at = "0"] = token.split("@");
      const start = Number(at);
      const punctuation = /^[.,?!]$/.test(text);
      return {
        text,
        startTime: start,
        endTime: punctuation ? start : Math.round((start + 0.25) * 1000) / 1000,
        confidence: punctuation ? null : 0.9,
        kind: punctuation ? "punctuation" : "word",
      };
    });
  return {
    provider: "test",
    sessionId: "s",
    segmentId: "seg",
    isFinal: true,
    text: textOfWords(words),
    confidence: 0.9,
    startTime: words[0]?.startTime ?? 0,
    endTime: words[words.length - 1]?.endTime ?? 0,
    words,
    language: "en",
    ...o,
  };
}

const texts = (r: TranscriptResult | null): string | null =>
  r ? r.words.map((w) => w.text).join(" ") : null;

interface Case {
  name: string;
  delivered: string[];
  replayed: string;
  /** The words that are new, as "a b c", or null when nothing is. */
  fresh: string | null;
  replayFrom?: number;
  tolerance?: number;
}

const CASES: Case[] = [
  {
    name: "exact repeat with the same times",
    delivered: ["Blood@1.0 pressure@1.3 stable.@1.6"],
    replayed: "Blood@1.0 pressure@1.3 stable.@1.6",
    fresh: null,
  },
  {
    name: "repeat shifted 300 ms later, then new words",
    delivered: ["Blood@1.0 pressure@1.3 stable.@1.6"],
    replayed: "Blood@1.3 pressure@1.6 stable.@1.9 No@2.5 edema.@2.8",
    fresh: "No edema.",
  },
  {
    name: "repeat shifted 400 ms earlier, then new words",
    delivered: ["Blood@1.0 pressure@1.3 stable.@1.6"],
    replayed: "blood@0.6 pressure@0.9 stable@1.2 no@2.1",
    fresh: "no",
  },
  {
    name: "case and punctuation do not make a word new",
    delivered: ["Patient denies chest pain."],
    replayed: "patient@0 DENIES@0 chest@0 pain@0 Today@0.9",
    fresh: "Today",
  },
  {
    name: "a word joined differently (blood pressure → bloodpressure)",
    delivered: ["blood@1.0 pressure@1.3 normal@1.6"],
    replayed: "bloodpressure@1.2 normal@1.8 today@2.4",
    fresh: "today",
  },
  {
    name: "a word split differently (hemoglobin → hemo globin)",
    delivered: ["hemoglobin@3.0 low@3.4"],
    replayed: "hemo@3.1 globin@3.3 low@3.6 recheck@4.2",
    fresh: "recheck",
  },
  {
    name: "a word split into three (electrocardiogram → electro cardio gram)",
    delivered: ["electrocardiogram@5.0 normal@5.6"],
    replayed: "electro@5.2 cardio@5.4 gram@5.6 normal@5.9 sinus@6.5",
    fresh: "sinus",
  },
  {
    name: "words split on one connection and joined on the next (hemog lobin elev ated → hemoglobinelevated)",
    delivered: ["hemog@6.05 lobin@6.17 elev@6.36 ated@6.48 creati@6.67 nine.@6.79"],
    replayed: "hemoglobinelevated@5.7 creatinine.@6.2 Potassium@7.3",
    fresh: "Potassium",
  },
  {
    name: "a joined repeat absorbs only as many new words as it spells (nono → no no, then no)",
    delivered: ["nono@10.0"],
    replayed: "no@10.1 no@10.35 no@10.7",
    fresh: "no",
  },
  {
    name: "a phrase genuinely spoken again after the delivered one (no, no … no, no)",
    delivered: ["No,@10.0 no.@10.3"],
    replayed: "no@10.2 no@10.5 no@10.8 no@11.1",
    fresh: "no no",
  },
  {
    name: "the same word again just after the replay's start is kept once replayFrom excludes older words",
    delivered: ["take@9.0 it@9.3 twice@9.6"],
    replayed: "twice@9.9 daily@10.3",
    replayFrom: 9.9,
    fresh: "twice daily",
  },
  {
    name: "…and without replayFrom the same word within the tolerance is taken for the repeat",
    delivered: ["take@9.0 it@9.3 twice@9.6"],
    replayed: "twice@9.9 daily@10.3",
    fresh: "daily",
  },
  {
    name: "a same word outside the tolerance is new",
    delivered: ["stable@1.0"],
    replayed: "stable@1.6",
    fresh: "stable",
  },
  {
    name: "a wider tolerance takes it for the repeat",
    delivered: ["stable@1.0"],
    replayed: "stable@1.6",
    tolerance: 0.8,
    fresh: null,
  },
  {
    name: "a different word at the same time is new (the service heard it differently)",
    delivered: ["pressure@1.3"],
    replayed: "pressures@1.3",
    fresh: "pressures",
  },
  {
    name: "results entirely after the delivered words pass unchanged",
    delivered: ["a@1.0 b@1.3"],
    replayed: "c@3.0 d@3.3",
    fresh: "c d",
  },
  {
    name: "a repeat across two delivered finals",
    delivered: ["Blood@1.0 pressure@1.3 stable.@1.6", "No@2.5 edema.@2.8"],
    replayed: "stable.@1.8 No@2.7 edema.@3.0 Plan@3.8",
    fresh: "Plan",
  },
  {
    name: "a delivered word the replay did not hear again is skipped, not matched to a later one",
    delivered: ["a@1.0 b@1.3 c@1.6"],
    replayed: "a@1.1 c@1.7 d@2.0",
    fresh: "d",
  },
  {
    name: "punctuation items follow the word before them",
    delivered: ["stable@1.0 .@1.25"],
    replayed: "stable@1.2 .@1.45 No@1.8 .@2.05",
    fresh: "No .",
  },
  {
    name: "a punctuation item after a repeat goes with it: the new part never starts with a mark",
    delivered: ["stable@1.0"],
    replayed: "stable@1.1 ,@1.35 later@1.6",
    fresh: "later",
  },
  {
    name: "new words between repeats stay (the new connection heard an extra word)",
    delivered: ["a@1.0 b@1.3"],
    replayed: "a@1.1 uh@1.25 b@1.4",
    fresh: "uh",
  },
  {
    name: "an empty delivered history keeps everything",
    delivered: [],
    replayed: "a@1.0",
    fresh: "a",
  },
];

describe("DeliveredWords (replay deduplication)", () => {
  for (const c of CASES) {
    it(c.name, () => {
      const dw = new DeliveredWords(c.tolerance ? { toleranceSeconds: c.tolerance } : {});
      for (const spec of c.delivered) dw.record(result(spec));
      if (c.replayFrom !== undefined) dw.replayFrom(c.replayFrom);
      const out = dw.fresh(result(c.replayed));
      assert.equal(texts(out), c.fresh);
      if (out) assertTranscriptResult(out);
    });
  }

  it("recomputes text, confidence and times of what is left, and keeps the result when all of it is new", () => {
    const dw = new DeliveredWords();
    dw.record(result("Blood@1.0 pressure@1.3"));
    const replayed = result("blood@1.2 pressure@1.5 stable@1.9 ,@2.15 today@2.4");
    replayed.words[2] = { ...replayed.words[2], confidence: 0.5 };
    const out = dw.fresh(replayed);
    assert.ok(out);
    assert.equal(out.text, "stable, today");
    assert.equal(out.startTime, 1.9);
    assert.equal(out.endTime, 2.65);
    assert.equal(out.confidence, (0.5 + 0.9) / 2);
    const later = result("next@5.0");
    assert.equal(dw.fresh(later), later, "the same object when nothing was delivered there");
  });

  it("works on partials: a partial of the replayed turn shows only its new words", () => {
    const dw = new DeliveredWords();
    dw.record(result("Blood@1.0 pressure@1.3 stable.@1.6"));
    const partial = result("blood@1.3 pressure@1.6", { isFinal: false });
    assert.equal(dw.fresh(partial), null);
    const longer = result("blood@1.3 pressure@1.6 stable@1.9 no@2.6", { isFinal: false });
    assert.equal(texts(dw.fresh(longer)), "no");
  });

  it("keeps channels apart", () => {
    const dw = new DeliveredWords();
    dw.record(result("hello@1.0", { channel: "ch_0" }));
    assert.equal(texts(dw.fresh(result("hello@1.1", { channel: "ch_1" }))), "hello");
    assert.equal(dw.fresh(result("hello@1.1", { channel: "ch_0" })), null);
    assert.equal(dw.coveredUntil("ch_0"), 1.25);
    assert.equal(dw.coveredUntil("ch_1"), 0);
    assert.equal(dw.coveredUntil(), 0);
  });

  it("forgets words older than the window, so memory stays bounded", () => {
    const dw = new DeliveredWords({ windowSeconds: 10 });
    for (let t = 0; t < 100; t += 1) dw.record(result(`w${t}@${t}`));
    // "w5" at 5 s lies 94 s behind the newest word: forgotten, so the same word at the same time is new.
    assert.equal(texts(dw.fresh(result("w5@5"))), "w5");
    assert.equal(dw.fresh(result("w95@95")), null);
  });

  it("bounds the words kept per channel whatever the window", () => {
    const dw = new DeliveredWords({ maxWords: 10 });
    dw.record(result(Array.from({ length: 50 }, (_, i) => `w${i}@${i * 0.01}`).join(" ")));
    assert.equal(texts(dw.fresh(result("w0@0"))), "w0");
    assert.equal(dw.fresh(result("w49@0.49")), null);
  });

  it("recognises a whole 20,000-word replay of look-alike words (its cost per word: bench/exactly-once.ts)", () => {
    const dw = new DeliveredWords({ windowSeconds: 1e6, maxWords: 1e6 });
    const spec = Array.from({ length: 20000 }, (_, i) => `w${i % 7}@${(i * 0.3).toFixed(2)}`).join(" ");
    dw.record(result(spec));
    assert.equal(dw.fresh(result(spec)), null);
  });

  it("normalises case and punctuation, keeping letters of any script and digits", () => {
    assert.equal(normaliseWord("Pain."), "pain");
    assert.equal(normaliseWord("10mg,"), "10mg");
    assert.equal(normaliseWord("Ödem"), "ödem");
    assert.equal(normaliseWord("—"), "");
  });
});
