import { strict as assert } from "node:assert";
import {
  MAX_SESSION_ID_LENGTH,
  sessionIdCandidate,
  sessionIdFault,
  sessionIdProblem,
} from "../../../src/util/session-id";

describe("session ids: one bound for the package", () => {
  it("accepts up to 256 characters of any script and refuses longer ones, naming the limit", () => {
    assert.equal(sessionIdFault("Ä".repeat(MAX_SESSION_ID_LENGTH)), undefined);
    assert.equal(sessionIdFault("call-☎-🏥-42"), undefined);
    assert.equal(sessionIdFault("x".repeat(257)), "is 257 characters long, over the limit of 256");
    const text = sessionIdProblem("M".repeat(1 << 20), "msg.topic") ?? "";
    assert.match(text, /^msg\.topic is 1048576 characters long, over the limit of 256\. Accepted: a string/);
    assert.ok(!text.includes("MM"), "the id is not echoed");
  });

  it("refuses control characters and lone surrogates", () => {
    for (const id of ["a\u0000b", "a\nb", "a\u0085b", "a\ud800b"]) {
      assert.equal(sessionIdFault(id), "holds a control character");
    }
  });

  it("takes a candidate that names a session, passes over a blank one, and refuses a bad one", () => {
    assert.equal(sessionIdCandidate("bed-7", "c"), "bed-7");
    assert.equal(sessionIdCandidate(undefined, "a"), undefined);
    assert.equal(sessionIdCandidate(42, "a"), undefined);
    assert.equal(sessionIdCandidate("  ", "b"), undefined);
    const long = sessionIdCandidate("x".repeat(300), "msg.audio.sessionId");
    assert.match((long as { problem: string }).problem, /^msg\.audio\.sessionId is 300 characters long/);
    // A blank id over the bound is refused too: trim never runs on a huge string.
    const blank = sessionIdCandidate(" ".repeat(1 << 20), "msg.topic");
    assert.match((blank as { problem: string }).problem, /over the limit of 256/);
  });
});
