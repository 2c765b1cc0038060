import { strict as assert } from "node:assert";
import { checkTranscriptDocument, gateMarkOf, SessionCollector } from "../../src/transcript/document";
import { DocumentSessions } from "../../src/transcript/document-sessions";
import type { TranscriptDocument } from "../../src/transcript/document";
import { ManualScheduler } from "../support/manual-scheduler";
import { result, words } from "../support/results";

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
    const sessions = new DocumentSessions({ idleTimeoutMs: 1000, onIdle: (d) => idle.push(d), scheduler });
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
});
