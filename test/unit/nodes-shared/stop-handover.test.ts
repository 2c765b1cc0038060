import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import type { Node, NodeAPI, NodeMessage } from "node-red";
import {
  carryOver,
  forgetHeldMessages,
  StopHandover,
  takeOver,
  type Outgoing,
} from "../../../nodes/shared/stop-handover";

/** Just what StopHandover uses of Node-RED: its event bus, its log and its catalog. */
function runtime() {
  const events = new EventEmitter();
  const warnings: string[] = [];
  const RED = {
    events,
    log: { warn: (m: string) => warnings.push(m) },
    _: (key: string, vars: Record<string, unknown>) => `${key} ${JSON.stringify(vars)}`,
  } as unknown as NodeAPI;
  return { RED, events, warnings };
}

function node(id: string) {
  const sent: Outgoing[] = [];
  return { node: { id, send: (m: Outgoing) => sent.push(m) } as unknown as Node, sent };
}

const msg = (text: string): NodeMessage => ({ topic: "s", payload: text });

describe("stop hand-over (what a transcriber sends while Node-RED stops it)", () => {
  afterEach(() => forgetHeldMessages());

  it("sends at once while running; keeps while stopping; the next instance sends it, in order, once the flows started", () => {
    const { RED, events, warnings } = runtime();
    const a = node("tm");
    const first = new StopHandover(RED, a.node, "transcribe-medical");
    events.emit("flows:started");
    first.send(msg("live"));
    first.stop(false);
    first.send([msg("final 1"), null]);
    first.send([null, msg("ended")]);
    first.close();
    assert.deepEqual(a.sent, [msg("live")]);
    const b = node("tm");
    new StopHandover(RED, b.node, "transcribe-medical");
    assert.deepEqual(b.sent, [], "not before the new flows have started");
    events.emit("flows:started");
    assert.deepEqual(b.sent, [
      [msg("final 1"), null],
      [null, msg("ended")],
    ]);
    events.emit("flows:started");
    assert.equal(b.sent.length, 2, "once");
    assert.deepEqual(warnings, []);
  });

  it("passes a message that arrives after the close handler finished to the running next instance", () => {
    const { RED, events } = runtime();
    const a = node("aai");
    const first = new StopHandover(RED, a.node, "assemblyai-medical");
    first.stop(false);
    first.close();
    const b = node("aai");
    new StopHandover(RED, b.node, "assemblyai-medical");
    events.emit("flows:started");
    first.send([null, msg("late end")]);
    assert.deepEqual(b.sent, [[null, msg("late end")]]);
  });

  it("counts what it cannot deliver when its node was deleted, without the messages' text", () => {
    const { RED, warnings } = runtime();
    const a = node("gone");
    const first = new StopHandover(RED, a.node, "transcribe-medical");
    first.stop(true);
    first.send([msg("Patient text"), null]);
    first.close();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? "", /transcribe-medical\.errors\.undelivered \{"id":"gone","count":1\}/);
    assert.doesNotMatch(warnings[0] ?? "", /Patient/);
  });

  it("carries state over to the next instance of the same node, once", () => {
    carryOver("doc", ["collector"], () => assert.fail("not expired"));
    assert.equal(takeOver("other"), undefined);
    assert.deepEqual(takeOver("doc"), ["collector"]);
    assert.equal(takeOver("doc"), undefined);
  });
});
