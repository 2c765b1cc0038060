import { strict as assert } from "node:assert";
import type { NodeMessage } from "node-red";
import { collect, delay, helper, statusTexts, until } from "./node-red";
import type { TlsPeer } from "./tls-peers";

/**
 * A durable destination held by a TLS certificate (the receiver's rejected here, or ours refused
 * there): two messages go to the sender node, and a second later Catch has heard of it, the peer
 * has seen at most one handshake (a 50 ms backoff without the hold would make some 20), and both
 * messages stay queued in the config node's queue. Answers what Catch heard and the last status.
 */
export async function heldTwice(
  p: TlsPeer,
  ids: { sender: string; config: string },
  message: () => NodeMessage,
): Promise<{ told: string[]; status: string }> {
  const caught = collect("caught");
  const sender = helper.getNode(ids.sender);
  sender.receive(message());
  sender.receive(message());
  await until(() => caught.length > 0, 4000);
  await delay(1000);
  assert.ok(p.refused <= 1, `${p.refused} handshakes`);
  assert.equal(p.received.length, 0);
  const config = helper.getNode(ids.config) as unknown as { destination?: { current?: { depth: number } } };
  assert.equal(config.destination?.current?.depth, 2, "both messages stay queued");
  return {
    told: caught.map((m) => (m as NodeMessage & { error: { message: string } }).error.message),
    status: statusTexts(sender).at(-1) ?? "",
  };
}
