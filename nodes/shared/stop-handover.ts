import type { Node, NodeAPI, NodeMessage } from "node-red";
import { backstop } from "../../src/util/backstop";
import { runGuarded } from "../../src/util/guard";
import { backgroundTimeout } from "../../src/util/scheduler";

/** What a node hands to node.send(): one message, or one per output. */
export type Outgoing = NodeMessage | Array<NodeMessage | null>;

interface Held {
  messages: Outgoing[];
  expiry: NodeJS.Timeout;
}

/** How long messages wait for the next instance of their node before they are given up. */
export const HOLD_MS = 60_000;

// Module-wide: the instance that stops and the one that starts after it are two objects.
const held = new Map<string, Held>();
// The instance that owns each node id now (the newest one created).
const running = new Map<string, StopHandover>();
// One flows:started listener per runtime for every instance (a listener each would pass the event
// emitter's limit of ten in a flow with many transcribers).
const listening = new WeakSet<object>();
function flowsStarted(): void {
  // A runtime event handler: a throw here would reach Node-RED's event emitter, and from there the process.
  for (const instance of running.values()) runGuarded(() => instance.flowsStarted(), backstop);
}

/**
 * Carries what a transcriber sends while Node-RED stops it over to the next instance of the same node.
 *
 * A deploy takes every node it stops out of Node-RED's routing before it runs their close handlers, so
 * the finals a provider flushes while a stream ends cleanly (the last words of every open session)
 * would reach nothing. They are kept under the node's id and sent by the node's next instance once the
 * new flows have started (or at once, if it is running already: a stream the close handler had to cut
 * may report its end late). If no instance starts within HOLD_MS (the node was deleted or disabled),
 * they are dropped with a warning that counts them; a deleted node says so at once.
 */
export class StopHandover {
  private stopping = false;
  private closed = false;
  private removed = false;
  private started = false;
  private readonly kept: Outgoing[] = [];

  constructor(
    private readonly RED: NodeAPI,
    private readonly node: Node,
    private readonly nodeType: string,
  ) {
    running.set(node.id, this);
    // The nodes downstream may not exist yet while this one is being created: held messages wait for
    // the flows to start.
    if (!listening.has(RED.events)) {
      listening.add(RED.events);
      RED.events.on("flows:started", flowsStarted);
    }
  }

  /**
   * The new flows have started (the runtime's flows:started, for every instance): the nodes downstream
   * exist, and what the previous instance held goes out.
   */
  flowsStarted(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    const carried = held.get(this.node.id);
    if (!carried) return;
    held.delete(this.node.id);
    clearTimeout(carried.expiry);
    for (const m of carried.messages) this.node.send(m);
  }

  /** Sends now, or keeps the messages for the next instance while the node is stopping. */
  send(msg: Outgoing): void {
    if (!this.stopping) this.node.send(msg);
    else if (!this.closed) this.kept.push(msg);
    else this.passOn([msg]);
  }

  /** The close handler has begun: from now on messages are kept. */
  stop(removed: boolean): void {
    this.stopping = true;
    this.removed = removed;
  }

  /** The close handler is done: hands what was kept to the next instance (or reports it lost). */
  close(): void {
    this.closed = true;
    if (running.get(this.node.id) === this) running.delete(this.node.id);
    const messages = this.kept.splice(0);
    if (messages.length > 0) this.passOn(messages);
  }

  private passOn(messages: Outgoing[]): void {
    if (this.removed) {
      this.reportLost(messages.length);
      return;
    }
    const next = running.get(this.node.id);
    if (next?.started && !next.stopping) {
      for (const m of messages) next.node.send(m);
      return;
    }
    const earlier = held.get(this.node.id);
    if (earlier) clearTimeout(earlier.expiry);
    const all = [...(earlier?.messages ?? []), ...messages];
    const expiry = backgroundTimeout(() => {
      held.delete(this.node.id);
      this.reportLost(all.length);
    }, HOLD_MS);
    held.set(this.node.id, { messages: all, expiry });
  }

  // A count and the node's id only: the messages themselves hold transcript text.
  private reportLost(count: number): void {
    this.RED.log.warn(this.RED._(`${this.nodeType}.errors.undelivered`, { id: this.node.id, count }));
  }
}

const carried = new Map<string, { value: unknown; expiry: NodeJS.Timeout }>();

/**
 * Keeps state a node gives up as Node-RED stops it (not deleted: a deploy) for the next instance of the
 * same node, which takes it with `takeOver` as it starts. `onExpire` runs if none does within HOLD_MS.
 */
export function carryOver<T>(nodeId: string, value: T, onExpire: (value: T) => void): void {
  const expiry = backgroundTimeout(() => {
    carried.delete(nodeId);
    onExpire(value);
  }, HOLD_MS);
  carried.set(nodeId, { value, expiry });
}

/** What the previous instance of this node carried over (see `carryOver`), once. */
export function takeOver<T>(nodeId: string): T | undefined {
  const c = carried.get(nodeId);
  if (!c) return undefined;
  carried.delete(nodeId);
  clearTimeout(c.expiry);
  return c.value as T;
}

/**
 * Forgets every held message and carried state. Node-RED never needs this; a test run that starts
 * fresh flows with the same node ids for every case does, so that one case's flushed messages never
 * reach the next case.
 */
export function forgetHeldMessages(): void {
  for (const h of [...held.values(), ...carried.values()]) clearTimeout(h.expiry);
  held.clear();
  carried.clear();
  running.clear();
}
