import type { NodeMessage } from "node-red";
import { buildHl7, DEFAULT_HL7_OPTIONS } from "../../src/hospital/hl7/build";
import { speechClockPcm } from "../emulators/aws/fixture";
import { documentWithText, syntheticPatient } from "./documents";
import { delay } from "./node-red";

/**
 * Contract-1 audio chunks (`msg.audio`) of one session: `count` frames of 100 ms. `payload` gives each
 * frame's PCM (default: the AWS emulator's speech clock at `rate`); `end` marks the last one.
 */
export function audioChunks(
  sessionId: string,
  count: number,
  opts: { rate?: number; end?: boolean; payload?: (i: number) => Buffer } = {},
): NodeMessage[] {
  const rate = opts.rate ?? 16000;
  return Array.from({ length: count }, (_, i) => ({
    topic: sessionId,
    payload: opts.payload?.(i) ?? speechClockPcm(i / 10, 0.1, rate),
    audio: {
      sessionId,
      seq: i,
      sampleRate: rate,
      channels: 1,
      encoding: "pcm_s16le",
      offsetMs: i * 100,
      durationMs: 100,
      ...(opts.end && i === count - 1 ? { end: true } : {}),
    },
  }));
}

/** Sends the messages `gapMs` apart, as a live source does. */
export async function play(
  send: (msg: NodeMessage) => void,
  msgs: NodeMessage[],
  gapMs: number,
): Promise<void> {
  for (const m of msgs) {
    send(m);
    await delay(gapMs);
  }
}

/** A synthetic MDM^T02 (no patient data) as mllp-out takes it. */
export function hl7Text(text = "Patient denies chest pain."): string {
  return buildHl7(documentWithText(text), syntheticPatient, {}, DEFAULT_HL7_OPTIONS, new Date()).message;
}
