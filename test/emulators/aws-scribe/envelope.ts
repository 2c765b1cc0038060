/**
 * One signed event-stream envelope of an HTTP/2 streaming request, opened as the service opens it: both
 * CRCs, the `:date` / `:chunk-signature` headers and the signature chained on the previous one
 * (research/aws.md §3.3–3.4). Shared shape with the Medical route, for the HealthScribe route.
 */
import type { EventStreamCodec } from "@smithy/eventstream-codec";
import type { Message } from "@smithy/types";
import { eventSignature } from "../aws/signing";

export type Envelope =
  /** The inner event message, and the signature the next envelope chains on. */
  | { kind: "event"; inner: Message; signature: string }
  /** The signed empty envelope: the end of the client's input. */
  | { kind: "end"; signature: string }
  | { kind: "bad"; message: string; framing: boolean };

export function openEnvelope(
  codec: EventStreamCodec,
  frame: Uint8Array,
  key: { secretAccessKey: string; region: string; priorSignature: string },
): Envelope {
  let outer: Message;
  try {
    outer = codec.decode(frame);
  } catch {
    return { kind: "bad", message: "Could not decode the event-stream message.", framing: true };
  }
  const date = outer.headers[":date"];
  const sig = outer.headers[":chunk-signature"];
  if (date?.type !== "timestamp" || sig?.type !== "binary") {
    return { kind: "bad", message: "Missing event signature headers.", framing: false };
  }
  const expected = eventSignature({
    secretAccessKey: key.secretAccessKey,
    region: key.region,
    service: "transcribe",
    date: date.value,
    priorSignature: key.priorSignature,
    encodedDateHeader: codec.formatHeaders({ ":date": date }),
    body: outer.body,
  });
  const got = Buffer.from(sig.value).toString("hex");
  if (got !== expected)
    return { kind: "bad", message: "The event signature does not match.", framing: false };
  if (outer.body.length === 0) return { kind: "end", signature: got };
  try {
    return { kind: "event", inner: codec.decode(outer.body), signature: got };
  } catch {
    return { kind: "bad", message: "Could not decode the event-stream message.", framing: true };
  }
}
