import { strict as assert } from "node:assert";
import { readSessionContext, SegmentTimeCheck } from "../../../../src/providers/aws-scribe/session-context";
import { result } from "../../../support/results";

describe("scribe-medical: a session's context and its live times", () => {
  it("reads msg.scribe.patientPronouns: the accepted values, null for none, absent for the node's setting", () => {
    assert.deepEqual(readSessionContext({}), { ok: true, pronouns: undefined });
    assert.deepEqual(readSessionContext({ scribe: {} }), { ok: true, pronouns: undefined });
    assert.deepEqual(readSessionContext({ scribe: { patientPronouns: "HE_HIM" } }), {
      ok: true,
      pronouns: "HE_HIM",
    });
    assert.deepEqual(readSessionContext({ scribe: { patientPronouns: null } }), { ok: true, pronouns: null });
    for (const bad of [
      { patientPronouns: "toString" },
      { patientPronouns: "she_her" },
      { patientPronouns: 1 },
      [],
      "x",
    ]) {
      const r = readSessionContext({ scribe: bad });
      assert.ok(!r.ok);
      assert.match(
        r.problem,
        /Accepted: msg\.scribe = \{ patientPronouns: "HE_HIM", "SHE_HER", "THEY_THEM" or null \}/,
      );
      assert.ok(!r.problem.includes("she_her") && !r.problem.includes("toString"));
    }
    // An inherited property is not the message's.
    assert.deepEqual(readSessionContext({ scribe: Object.create({ patientPronouns: "HE_HIM" }) as object }), {
      ok: true,
      pronouns: undefined,
    });
  });

  it("notices times that run far beyond the audio, once", () => {
    const c = new SegmentTimeCheck(0);
    assert.equal(c.check(result({ startTime: 1, endTime: 3 }), 4), undefined);
    // Seconds read as milliseconds the other way round: a thousand times the audio.
    assert.equal(c.check(result({ startTime: 3000, endTime: 5000 }), 6), "beyond-audio");
    assert.equal(c.check(result({ startTime: 9000, endTime: 9500 }), 6), undefined, "once per session");
  });

  it("notices times that jump back on one channel, not the other channel's overlap, and ignores partials", () => {
    const c = new SegmentTimeCheck(100);
    assert.equal(c.check(result({ startTime: 110, endTime: 112, channel: "ch_0" }), 15), undefined);
    assert.equal(c.check(result({ startTime: 109, endTime: 111, channel: "ch_1" }), 15), undefined);
    assert.equal(
      c.check(result({ startTime: 101, endTime: 102, channel: "ch_0", isFinal: false }), 15),
      undefined,
    );
    assert.equal(c.check(result({ startTime: 101, endTime: 102, channel: "ch_0" }), 15), "backwards");
  });
});
