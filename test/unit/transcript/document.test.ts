import { strict as assert } from "node:assert";
import {
  checkTranscriptDocument,
  DOCUMENT_LIMITS,
  gateMarkOf,
  SessionCollector,
} from "../../../src/transcript/document";
import type { DocumentBuildError } from "../../../src/transcript/document-sessions";
import { DocumentSessions } from "../../../src/transcript/document-sessions";
import type { TranscriptWord } from "../../../src/transcript/result";
import type { TranscriptDocument } from "../../../src/transcript/document";
import { ManualScheduler } from "../../support/manual-scheduler";
import { result, words } from "../../support/results";

describe("transcript document assembly", () => {
  it("keeps one document id per session, so a document built twice (a retry) has the same id", () => {
    const c = new SessionCollector("s");
    c.add(result(), undefined, 1000);
    assert.equal(c.build("flush", 2000).documentId, c.build("flush", 3000).documentId);
    assert.notEqual(new SessionCollector("s").documentId, c.documentId);
  });

  it("estimates the wall-clock start from the first arrival and its session time", () => {
    const c = new SessionCollector("s");
    c.add(result({ startTime: 10, endTime: 12 }), undefined, Date.parse("2026-01-15T14:30:12Z"));
    const doc = c.build("flush", Date.parse("2026-01-15T14:31:00Z"));
    assert.equal(doc.startedAt, "2026-01-15T14:30:00.000Z");
    assert.equal(doc.completedAt, "2026-01-15T14:31:00.000Z");
    assert.equal(doc.durationSeconds, 2);
  });

  it("labels channels when a provider separates channels instead of speakers", () => {
    const c = new SessionCollector("s");
    c.add(result({ segmentId: "1", channel: "0", text: "Hello.", startTime: 0, endTime: 1 }), undefined, 0);
    c.add(result({ segmentId: "2", channel: "1", text: "Hi.", startTime: 1, endTime: 2 }), undefined, 0);
    assert.equal(c.build("flush", 0).text, "ch_0: Hello.\nch_1: Hi.");
  });

  it("reads a gate mark defensively", () => {
    assert.equal(gateMarkOf(undefined), undefined);
    assert.equal(gateMarkOf({ passed: "no" }), undefined);
    assert.deepEqual(gateMarkOf({ passed: false, lowConfidenceWords: [{ text: 1 }] }), {
      passed: false,
      reason: undefined,
      lowConfidenceWords: [],
    });
  });

  it("emits on idle per session, and close() drops the rest with their timers", () => {
    const scheduler = new ManualScheduler();
    const idle: TranscriptDocument[] = [];
    const sessions = new DocumentSessions({
      idleTimeoutMs: 1000,
      onIdle: (d) => idle.push(d),
      onError: (err) => assert.fail(err),
      scheduler,
    });
    sessions.add(result({ sessionId: "a", words: words([["x", 0.9]]) }), undefined);
    scheduler.advance(500);
    sessions.add(result({ sessionId: "b" }), undefined);
    scheduler.advance(600);
    assert.deepEqual(
      idle.map((d) => [d.sessionId, d.endReason]),
      [["a", "idle"]],
    );
    assert.equal(sessions.close(), 1);
    assert.equal(scheduler.pendingTimers, 0);
  });

  it("checks the fields delivery relies on, naming the field", () => {
    const doc = new SessionCollector("s").build("flush", 0);
    assert.ok(checkTranscriptDocument(doc).ok);
    const bad = checkTranscriptDocument({ ...doc, startedAt: "yesterday" });
    assert.equal(
      !bad.ok && bad.error.message.startsWith("msg.payload is not a transcript document: payload.startedAt"),
      true,
    );
    const none = checkTranscriptDocument("text");
    assert.equal(!none.ok && none.error.field, "documentId");
  });

  it("refuses times, durations, ids, languages and text sizes a builder cannot use, naming the field", () => {
    const doc = new SessionCollector("s").build("flush", Date.parse("2026-01-15T14:31:00Z"));
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ startedAt: "+275760-09-13T00:00:00.000Z" }, "startedAt"],
      [{ startedAt: "1" }, "startedAt"],
      [{ completedAt: "1899-12-31T23:59:59Z" }, "completedAt"],
      [{ completedAt: "2026-01-15" }, "completedAt"],
      [{ durationSeconds: Number.POSITIVE_INFINITY }, "durationSeconds"],
      [{ durationSeconds: Number.NaN }, "durationSeconds"],
      [{ durationSeconds: -1 }, "durationSeconds"],
      [{ durationSeconds: 1e300 }, "durationSeconds"],
      [{ documentId: "x".repeat(129) }, "documentId"],
      [{ provider: "" }, "provider"],
      [{ language: "not a tag" }, "language"],
      [{ text: "é".repeat(DOCUMENT_LIMITS.bytes / 2 + 1) }, "text"],
    ];
    for (const [change, field] of cases) {
      const checked = checkTranscriptDocument({ ...doc, ...change });
      assert.equal(!checked.ok && checked.error.field, field, JSON.stringify(change).slice(0, 60));
      assert.ok(!checked.ok && !checked.error.message.includes("275760"), "never echoes the value");
    }
    assert.ok(checkTranscriptDocument({ ...doc, startedAt: "2026-01-15T15:30:00+01:00" }).ok);
    assert.ok(checkTranscriptDocument({ ...doc, text: "x".repeat(DOCUMENT_LIMITS.bytes) }).ok);
  });
});

/** `n` synthetic words, `seconds` apart, starting at `from`. */
function manyWords(n: number, from = 0, text = "word"): TranscriptWord[] {
  const out: TranscriptWord[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      text,
      startTime: from + i * 0.3,
      endTime: from + i * 0.3 + 0.25,
      confidence: 0.9,
      kind: "word",
    });
  }
  return out;
}

describe("transcript document sessions: errors and limits", () => {
  const noError = (value: unknown): never => assert.fail(`unexpected ${String(value)}`);

  it("reports a document the idle timer cannot build through onError, and the other sessions go on", () => {
    const scheduler = new ManualScheduler();
    const idle: TranscriptDocument[] = [];
    const errors: DocumentBuildError[] = [];
    const sessions = new DocumentSessions({
      idleTimeoutMs: 1000,
      onIdle: (d) => idle.push(d),
      onError: (err) => errors.push(err),
      scheduler,
    });
    sessions.add(result({ sessionId: "a" }), undefined);
    scheduler.advance(500);
    // A clock gone past what a Date can hold: building session a's document throws a RangeError.
    const now = scheduler.now.bind(scheduler);
    scheduler.now = () => 8.64e15 + 1;
    assert.doesNotThrow(() => scheduler.advance(600), "nothing escapes the timer");
    scheduler.now = now;
    sessions.add(result({ sessionId: "b" }), undefined);
    scheduler.advance(1000);
    assert.deepEqual(
      errors.map((e) => [e.code, e.segments, e.message]),
      [["DOCUMENT_BUILD_FAILED", 1, "a session's document of 1 segment(s) could not be built (RangeError)"]],
    );
    assert.deepEqual(
      idle.map((d) => d.sessionId),
      ["b"],
    );
    assert.equal(sessions.openSessions, 0);
  });

  it("emits a session's document at the word limit and goes on in a new one, losing no word", () => {
    const sessions = new DocumentSessions({ idleTimeoutMs: 0, onIdle: noError, onError: noError });
    const perResult = 7000;
    const outcomes = [];
    for (let i = 0; i < 10; i++) {
      outcomes.push(
        sessions.add(
          result({ segmentId: `seg-${i}`, words: manyWords(perResult, i * 3000), text: "words" }),
          undefined,
        ),
      );
    }
    const split = outcomes.filter((o) => o.kind === "split");
    assert.equal(split.length, 1);
    const first = split[0]?.kind === "split" ? split[0].document : undefined;
    assert.equal(first?.endReason, "limit");
    assert.equal(first?.words.length, 7 * perResult, "as many results as fit in 50,000 words");
    const rest = sessions.flush("session-1");
    assert.equal(rest?.words.length, 3 * perResult);
    assert.notEqual(rest?.documentId, first?.documentId, "a new document");
    assert.equal(split[0]?.kind === "split" && split[0].limit, "words");
  });

  it("emits at the byte limit, counting text and word texts", () => {
    const sessions = new DocumentSessions({ idleTimeoutMs: 0, onIdle: noError, onError: noError });
    const text = "x".repeat(200 * 1024);
    const kinds = [0, 1, 2, 3, 4, 5].map(
      (i) => sessions.add(result({ segmentId: `s${i}`, text, words: [] }), undefined).kind,
    );
    assert.deepEqual(kinds, ["added", "added", "added", "added", "added", "split"]);
    const doc = sessions.flush("session-1");
    assert.ok(doc && Buffer.byteLength(doc.text) <= DOCUMENT_LIMITS.bytes);
  });

  it("refuses a result that alone exceeds a document limit, and a session past the session limit", () => {
    const sessions = new DocumentSessions({
      idleTimeoutMs: 0,
      maxSessions: 2,
      onIdle: noError,
      onError: noError,
    });
    const huge = sessions.add(result({ words: manyWords(DOCUMENT_LIMITS.words + 1) }), undefined);
    assert.deepEqual(huge.kind === "refused" && [huge.error.code, huge.error.message], [
      "DOCUMENT_RESULT_TOO_LARGE",
      "the result alone exceeds the limit of 50000 words per document: it was refused",
    ]);
    assert.equal(sessions.openSessions, 0, "nothing kept");
    sessions.add(result({ sessionId: "a" }), undefined);
    sessions.add(result({ sessionId: "b" }), undefined);
    const third = sessions.add(result({ sessionId: "c" }), undefined);
    assert.equal(third.kind === "refused" && third.error.code, "DOCUMENT_SESSIONS_FULL");
    assert.equal(sessions.add(result({ sessionId: "a", segmentId: "2" }), undefined).kind, "added");
    assert.deepEqual(sessions.ids(), ["a", "b"]);
  });

  it("keeps only the fields a document uses, and no more flagged words than the result has", () => {
    const c = new SessionCollector("s");
    const word = { ...manyWords(1)[0], extra: "x".repeat(1_000_000) } as TranscriptWord;
    c.add({ ...result({ words: [word] }), extra: "y".repeat(1_000_000) } as never, undefined, 0);
    const doc = c.build("flush", 0);
    assert.ok(JSON.stringify(doc).length < 10_000, "the extra properties were not kept");
    assert.ok(c.size.bytes < 1000);
    const low = { text: "w", startTime: 0, endTime: 1, confidence: 0.1 };
    const mark = gateMarkOf(
      { passed: false, lowConfidenceWords: [low, low, low, { ...low, startTime: 1e300 }] },
      2,
    );
    assert.equal(mark?.lowConfidenceWords?.length, 2);
    assert.equal(
      gateMarkOf({ passed: false, lowConfidenceWords: [{ ...low, startTime: 1e300 }] })?.lowConfidenceWords
        ?.length,
      0,
    );
  });
});
