import { strict as assert } from "node:assert";
import type { StreamReport } from "../../../bench/support/emulator-process";
import { newSession, SoakLedger, type SoakSession } from "../../../bench/support/soak-ledger";
import { readMark, sessionChunk, sessionMark } from "../../../bench/support/tagged-audio";

const WORDS = [0, 400, 900];

const session = (n: number): SoakSession => {
  const s = newSession(n, "aws", `aws-${n}`, 10);
  s.sent = 10;
  return s;
};

function stream(n: number, words: number[], open = false): StreamReport {
  return {
    session: n,
    audio: [],
    finals: [{ at: 1000, wordStartsMs: words }],
    open,
    closedBy: open ? "open" : "client",
  };
}

const ledger = (): SoakLedger => new SoakLedger(() => WORDS);

describe("soak ledger (the bench's account, settled as sessions end)", () => {
  it("holds only the sessions in flight over 2 000 sessions, and accounts every word", () => {
    const l = ledger();
    let peak = 0;
    let peakProduced = 0;
    const live: SoakSession[] = [];
    for (let n = 1; n <= 2000; n++) {
      const s = session(n);
      l.add(s);
      live.push(s);
      if (live.length < 40) continue;
      // The oldest session ends: its words delivered, its stream closed, its end reported at time n.
      const done = live.shift() as SoakSession;
      for (const w of WORDS) l.deliver(done.topic, w);
      done.terminal = "ended";
      done.terminalAt = n;
      l.fold([stream(done.n, WORDS), ...live.map((o) => stream(o.n, [], true))]);
      l.settleEnded(n, 0);
      peak = Math.max(peak, l.size);
      peakProduced = Math.max(peakProduced, l.producedFor);
    }
    assert.ok(peak <= 40, `${peak} sessions held at once`);
    assert.ok(peakProduced <= 40, `produced words held for ${peakProduced} sessions`);
    assert.equal(l.settled, 2000 - 39);
    for (const s of live) {
      for (const w of WORDS) l.deliver(s.topic, w);
      s.terminal = "ended";
      s.terminalAt = 2001;
    }
    l.fold(live.map((s) => stream(s.n, WORDS)));
    l.settleAll(0);
    assert.equal(l.size, 0);
    assert.equal(l.deliveredWords, 2000 * WORDS.length);
    assert.deepEqual([l.lost.count, l.duplicated.count, l.phantom.count, l.hung.count], [0, 0, 0, 0]);
  });

  it("still finds lost, duplicated, phantom and late words, and sessions that never end", () => {
    const l = ledger();
    const [a, b, c] = [session(1), session(2), session(3)];
    for (const s of [a, b, c]) l.add(s);
    l.deliver(a.topic, 0);
    l.deliver(a.topic, 0);
    l.deliver(a.topic, 400);
    l.deliver(a.topic, 700);
    a.terminal = "ended";
    a.terminalAt = 5;
    // b ended, but a stream of it is still open: not settled yet.
    b.terminal = "ended";
    b.terminalAt = 5;
    l.fold([stream(1, [0, 400, 700]), stream(2, [0], true)]);
    l.settleEnded(10, 0);
    assert.equal(l.size, 2);
    assert.equal(l.duplicated.count, 1);
    assert.equal(l.lost.count, 1, "word 900 of the script never transcribed");
    l.deliver(a.topic, 900);
    assert.equal(l.phantom.count, 1, "a word after the account is a failure, not ignored");
    l.settleAll(0);
    assert.equal(l.hung.count, 1, "c never ended");
    assert.match(l.hung.examples[0], /^aws-3/);
  });
  it("accounts sessions numbered past the 16-bit mark (a soak of more than ~4 hours)", () => {
    const n = 40_000;
    const chunk = sessionChunk(n, 3);
    assert.deepEqual(readMark(chunk), { session: sessionMark(n), seq: 3 });
    assert.equal(sessionMark(n), n - 32767);
    assert.equal(sessionMark(32767), 32767);
    const l = ledger();
    const s = session(n);
    l.add(s);
    for (const w of WORDS) l.deliver(s.topic, w);
    s.terminal = "ended";
    s.terminalAt = 1;
    // The emulator knows the session only by the mark in its audio.
    l.fold([stream(sessionMark(n), WORDS)]);
    assert.equal(l.settleEnded(1, 0), 1);
    assert.deepEqual([l.lost.count, l.phantom.count, l.deliveredWords], [0, 0, WORDS.length]);
  });
});
