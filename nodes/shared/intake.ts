import type { Node, NodeMessage } from "node-red";
import { types } from "node:util";
import { plainDataFault } from "../../src/util/plain-data";

/** The `done` a node gets from Node-RED for one message. */
export type Done = (err?: Error) => void;

/**
 * The one guard every node with an input runs first: the message fields the node reads (`fields`) must
 * be plain data (src/util/plain-data.ts), checked once, here, inside the input handler where Node-RED's
 * own try/catch still stands. A message that is a Proxy, or whose fields hold getters, proxies, functions,
 * cycles, 10^5 levels, an array of length 2^32-1 or shared memory, is answered at once with
 * `done(err)`, an error naming the field and the kind of problem (never a value: it may be PHI). Every
 * later read of those fields, in a timer or a promise continuation, then runs no code of the flow's.
 *
 * Returns the `done` to use from here on, or undefined when the message was refused (and answered). That
 * `done` survives Node-RED failing to copy the message for a Catch or Complete node (its copy reads every
 * field, those the node never reads too): the node's answer is then logged without the message.
 */
export function intake(
  node: Node,
  nodeType: string,
  msg: NodeMessage,
  done: Done,
  fields: readonly string[],
): Done | undefined {
  const safeDone = answerSafely(node, nodeType, done);
  const fault = messageFault(msg, fields);
  if (fault === undefined) return safeDone;
  safeDone(new Error(`${nodeType}: ${fault}; accepted: plain data (what JSON holds) and Buffers`));
  return undefined;
}

/** Why the message's `fields` are not plain data, or undefined. */
export function messageFault(msg: NodeMessage, fields: readonly string[]): string | undefined {
  if (types.isProxy(msg)) return "msg is a Proxy";
  for (const field of fields) {
    let descriptor: PropertyDescriptor | undefined;
    try {
      descriptor = Reflect.getOwnPropertyDescriptor(msg, field);
    } catch {
      return `msg.${field} cannot be read`;
    }
    if (!descriptor) continue;
    if (descriptor.get !== undefined || descriptor.set !== undefined)
      return `msg.${field} is a getter or setter`;
    const fault = plainDataFault(descriptor.value);
    if (fault !== undefined) return `msg.${field} ${fault}`;
  }
  return undefined;
}

/**
 * The root of a TypedInput property path that reads the message ("patient" of "patient.id",
 * "a" of "a[0]"), so that a node checks the field its configuration points at.
 */
export function msgRoot(type: string, path: string): string[] {
  if (type !== "msg") return [];
  const root = /^[^.[]+/.exec(path.trim())?.[0];
  return root ? [root] : [];
}

/**
 * A `done` that cannot throw into the node: Node-RED copies the message for every Catch and Complete
 * node in scope, and that copy throws on a message that holds a hostile object where the node never
 * looks (a getter in msg.other). The answer is then logged without the message, so it is not lost.
 */
export function answerSafely(node: Node, nodeType: string, done: Done): Done {
  return (err?: Error) => {
    try {
      done(err);
    } catch {
      node.error(
        `${nodeType}: ${err ? err.message : "handled a message"}; Node-RED could not pass the message to Catch or Complete nodes (it holds a value Node-RED cannot copy)`,
      );
    }
  };
}

/**
 * A copy of the message for a second output, made with Node-RED's `clone` (RED.util.cloneMessage) when
 * every field is plain data. Otherwise Node-RED's deep copy would run the flow's getters or walk an
 * array of 2^32-1 holes until the process runs out of memory, so the copy is shallow: a new message
 * object whose fields (writable, even from a frozen message) share their values with the original.
 */
export function copyMessage(clone: (msg: NodeMessage) => NodeMessage, msg: NodeMessage): NodeMessage {
  const fields = Object.keys(msg).filter((k) => k !== "req" && k !== "res");
  if (messageFault(msg, fields) === undefined) return clone(msg);
  const copy: Record<string, unknown> = {};
  for (const [key, d] of Object.entries(Object.getOwnPropertyDescriptors(msg))) {
    if (!d.enumerable) continue;
    // Writable even when the flow froze the original: the node adds its results to the copy.
    Object.defineProperty(copy, key, {
      ...d,
      configurable: true,
      ...("value" in d ? { writable: true } : {}),
    });
  }
  return copy;
}

/**
 * The message to add the node's results to and send on: the one received, or a copy when the flow
 * froze or sealed it (a write to it would throw, in strict mode, from wherever the node writes: a
 * promise continuation after a delivery, where no try/catch of Node-RED's stands).
 */
export function outgoing(clone: (msg: NodeMessage) => NodeMessage, msg: NodeMessage): NodeMessage {
  return Object.isExtensible(msg) && !Object.isFrozen(msg) ? msg : copyMessage(clone, msg);
}

/** The fields the audio nodes read: contract 1, the sox-style flat fields, controls, scribe options. */
export const AUDIO_FIELDS: readonly string[] = [
  "topic",
  "payload",
  "audio",
  "_session",
  "control",
  "rate",
  "bits",
  "channels",
  "encoding",
  "scribe",
];

/** The fields a document node (hl7-mdm, fhir-document) reads, with its patient and encounter TypedInputs' roots. */
export function documentFields(patient: [string, string], encounter: [string, string]): string[] {
  return [
    "topic",
    "payload",
    "entities",
    ...msgRoot(patient[0], patient[1]),
    ...msgRoot(encounter[0], encounter[1]),
  ];
}
