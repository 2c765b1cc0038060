import { strict as assert } from "node:assert";
import { deidentify, phiLabel } from "../../../../src/providers/comprehend/deidentify";
import { mergeEntities, entitiesOfAnswer } from "../../../../src/providers/comprehend/entities";
import { classifyServiceError } from "../../../../src/providers/comprehend/errors";
import { classifyInput } from "../../../../src/providers/comprehend/input";
import { limitOf } from "../../../../src/providers/comprehend/limits";
import { backoffMs, withRetry, DEFAULT_RETRY } from "../../../../src/providers/comprehend/retry";
import {
  codePointLength,
  offsetMapper,
  splitText,
  wellFormed,
} from "../../../../src/providers/comprehend/text";
import { alignWords, timingOf } from "../../../../src/providers/comprehend/words";
import { documentWithText } from "../../../support/documents";
import { ManualScheduler } from "../../../support/manual-scheduler";

const sentence = (i: number): string => `Sentence number ${i} says the patient is stable. `;

describe("comprehend text splitting", () => {
  it("keeps a short text whole", () => {
    assert.deepEqual(splitText("Patient denies chest pain.", limitOf("entities")), [
      { text: "Patient denies chest pain.", start: 0 },
    ]);
  });

  it("cuts a long text after sentence ends, within the byte limit, and the pieces make up the text", () => {
    const text = Array.from({ length: 1000 }, (_, i) => sentence(i)).join("");
    const limit = limitOf("entities");
    const chunks = splitText(text, limit);
    assert.ok(chunks.length > 1);
    for (const c of chunks) {
      assert.ok(Buffer.byteLength(c.text) <= 19_999, "within fewer than 20,000 bytes");
      assert.equal(text.slice(c.start, c.start + c.text.length), c.text);
    }
    for (const c of chunks.slice(0, -1)) assert.match(c.text, /\. $/, "cut after a sentence end");
    assert.equal(chunks.map((c) => c.text).join(""), text);
  });

  it("counts UTF-8 bytes, not characters, for the detect operations", () => {
    // 3 bytes per character: 20,000 characters are 60,000 bytes.
    const text = "€ ".repeat(10_000);
    const chunks = splitText(text, limitOf("phi"));
    assert.ok(chunks.length >= 3);
    for (const c of chunks) assert.ok(Buffer.byteLength(c.text) <= 19_999);
  });

  it("counts code points for the infer operations and never cuts a surrogate pair", () => {
    const text = "😀".repeat(25_000);
    const chunks = splitText(text, limitOf("icd10cm"));
    for (const c of chunks) {
      assert.ok(codePointLength(c.text) <= 10_000);
      assert.equal(wellFormed(c.text), c.text, "no lone surrogate at a cut");
    }
    assert.equal(chunks.map((c) => c.text).join(""), text);
  });

  it("cuts a text without any white space between code points", () => {
    const chunks = splitText("x".repeat(25_000), limitOf("rxnorm"));
    assert.deepEqual(
      chunks.map((c) => c.text.length),
      [10_000, 10_000, 5_000],
    );
  });

  it("maps code-point offsets to string indexes past astral characters", () => {
    const text = "😀 metformin";
    const map = offsetMapper({ text, start: 100 });
    // The service counts 😀 as one code point: "metformin" is at code points 2..11.
    assert.equal(map(2), 103);
    assert.equal(map(11), 112);
    assert.equal(map(999), 112, "clamped to the end");
  });

  it("replaces lone surrogates keeping the length", () => {
    const t = "a\uD800b";
    assert.equal(wellFormed(t), "a\uFFFDb");
    assert.equal(wellFormed(t).length, t.length);
  });
});

describe("comprehend de-identification", () => {
  it("replaces each PHI span by its type, overlapping spans once", () => {
    const text = "Mr. Smith, 54-year-old, seen on March 3.";
    const out = deidentify(text, [
      { type: "NAME", beginOffset: 4, endOffset: 9 },
      { type: "AGE", beginOffset: 11, endOffset: 13 },
      { type: "DATE", beginOffset: 32, endOffset: 39 },
      { type: "NAME", beginOffset: 5, endOffset: 9 },
    ]);
    assert.equal(out, "Mr. [NAME], [AGE]-year-old, seen on [DATE].");
  });

  it("labels an odd type [PHI], never with text from the answer", () => {
    assert.equal(phiLabel("Zz patient"), "[PHI]");
    assert.equal(phiLabel("PHONE_OR_FAX"), "[PHONE_OR_FAX]");
  });
});

describe("comprehend answers and merging", () => {
  it("reads an answer defensively and merges codes of the same span", () => {
    const map = (o: number): number => o;
    const detected = entitiesOfAnswer(
      "entities",
      {
        Entities: [
          {
            BeginOffset: 0,
            EndOffset: 9,
            Category: "MEDICATION",
            Type: "GENERIC_NAME",
            Text: "metformin",
            Score: 0.9,
          },
          { Text: "no span" },
          7,
        ],
      },
      map,
    );
    const coded = entitiesOfAnswer(
      "rxnorm",
      {
        Entities: [
          {
            BeginOffset: 0,
            EndOffset: 9,
            Category: "MEDICATION",
            Type: "GENERIC_NAME",
            Text: "metformin",
            RxNormConcepts: [{ Code: "6809", Description: "metformin", Score: 0.8 }],
          },
        ],
      },
      map,
    );
    assert.equal(detected.length, 1);
    const merged = mergeEntities([...detected, ...coded]);
    assert.equal(merged.length, 1);
    assert.deepEqual(merged[0]?.codes, [
      { system: "RxNorm", code: "6809", description: "metformin", score: 0.8 },
    ]);
    assert.deepEqual(merged[0]?.sources, ["entities", "rxnorm"]);
  });
});

describe("comprehend errors and retry", () => {
  it("never passes the service's message on", () => {
    const err = Object.assign(new Error("Invalid text: Zzphimarker"), { name: "InvalidEncodingException" });
    const e = classifyServiceError(err);
    assert.equal(e.code, "InvalidEncodingException");
    assert.ok(!e.message.includes("Zzphimarker"));
    const unknown = Object.assign(new Error("Zzphimarker"), {
      name: "Weird Zzphimarker",
      $metadata: { httpStatusCode: 502 },
    });
    const u = classifyServiceError(unknown);
    assert.equal(u.code, "SERVICE_ERROR");
    assert.ok(!u.message.includes("Zzphimarker"));
    assert.equal(u.retryable, true);
  });

  it("backs off with full jitter under a cap", () => {
    assert.equal(backoffMs(DEFAULT_RETRY, 1, 0.999999), 499);
    assert.equal(backoffMs(DEFAULT_RETRY, 10, 0.5), 2000);
    assert.equal(backoffMs(DEFAULT_RETRY, 3, 0), 0);
  });

  it("retries throttling up to the bound, then reports it", async () => {
    const scheduler = new ManualScheduler();
    let tries = 0;
    const throttled = Object.assign(new Error("slow down"), { name: "TooManyRequestsException" });
    const run = withRetry(
      () => {
        tries++;
        return Promise.reject(throttled);
      },
      {
        policy: { maxAttempts: 3, baseMs: 100, capMs: 1000 },
        scheduler,
        signal: new AbortController().signal,
        random: () => 0.5,
      },
    );
    const outcome = run.then(
      () => "resolved",
      (e: { code?: string }) => e.code,
    );
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setImmediate(r));
      scheduler.advance(1000);
    }
    assert.equal(await outcome, "TooManyRequestsException");
    assert.equal(tries, 3);
  });

  it("does not retry a client error", async () => {
    let tries = 0;
    await assert.rejects(
      withRetry(
        () => {
          tries++;
          return Promise.reject(Object.assign(new Error("x"), { name: "InvalidRequestException" }));
        },
        { policy: DEFAULT_RETRY, scheduler: new ManualScheduler(), signal: new AbortController().signal },
      ),
      { code: "InvalidRequestException" },
    );
    assert.equal(tries, 1);
  });

  it("stops a pause when the node stops", async () => {
    const scheduler = new ManualScheduler();
    const ac = new AbortController();
    const run = withRetry(() => Promise.reject(Object.assign(new Error(), { name: "ThrottlingException" })), {
      policy: DEFAULT_RETRY,
      scheduler,
      signal: ac.signal,
      random: () => 0.5,
    });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await assert.rejects(run, { code: "ABORTED" });
    assert.equal(scheduler.pendingTimers, 0);
  });
});

describe("comprehend input and word mapping", () => {
  it("classifies results, documents, strings and refuses the rest by kind", () => {
    assert.equal(classifyInput("text").kind, "text");
    assert.equal(classifyInput({ isFinal: false, text: "x", words: [] }).kind, "skip");
    assert.equal(classifyInput(documentWithText("Patient denies chest pain.")).kind, "text");
    assert.throws(
      () => classifyInput(Buffer.from("Zzphimarker")),
      (e: Error) => /Buffer/.test(e.message) && !e.message.includes("Zzphimarker"),
    );
    assert.throws(() => classifyInput(42), /a number/);
    assert.throws(
      () => classifyInput({ toString: "Zzphimarker" }),
      (e: Error) => !e.message.includes("Zzphimarker"),
    );
  });

  it("maps a span to the words, times and speaker that said it", () => {
    const words = [
      { text: "Start", startTime: 0, endTime: 0.4, speaker: "spk_0" },
      { text: "metformin", startTime: 0.5, endTime: 1.1, speaker: "spk_1" },
      { text: "500", startTime: 1.2, endTime: 1.4, speaker: "spk_1" },
      { text: "mg", startTime: 1.4, endTime: 1.6, speaker: "spk_1" },
    ];
    const text = "spk_0: Start\nspk_1: metformin 500 mg";
    const spans = alignWords(text, words);
    assert.deepEqual(spans[1], { beginOffset: 20, endOffset: 29 });
    assert.deepEqual(timingOf({ beginOffset: 20, endOffset: 36 }, words, spans), {
      firstWord: 1,
      lastWord: 3,
      startTime: 0.5,
      endTime: 1.6,
      speaker: "spk_1",
    });
    assert.equal(
      timingOf({ beginOffset: 0, endOffset: 5 }, words, spans),
      undefined,
      "a speaker label is no word",
    );
  });
});
