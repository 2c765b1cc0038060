import type { Node, NodeAPI, NodeDef } from "node-red";
import { AudioInputError, INPUT_RATE, type PcmFormat, type SampleFormat } from "../../src/audio/format";
import { AudioSessions, type AudioInOptions } from "../../src/audio/sessions";
import { settleGuarded } from "../../src/util/guard";
import { asError, internalErrorReporter, nodeScheduler, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { shownValue } from "../../src/util/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { AUDIO_FIELDS, intake } from "../shared/intake";

interface AudioInDef extends NodeDef {
  sampleRate: string | number;
  channels: "mono" | "keep";
  frameMs: string | number;
  pace: "realtime" | "fast";
  endAfterRecording: boolean;
  compressed: "files" | "stream";
  idleTimeout: string | number;
  maxSessions: string | number;
  rawRate: string | number;
  rawEncoding: SampleFormat;
  rawChannels: string | number;
}

const OUTPUT_RATES = [8000, 16000, 22050, 24000, 32000, 44100, 48000];
const RAW_ENCODINGS: readonly SampleFormat[] = ["s16le", "f32le", "s24le", "s32le", "u8", "mulaw", "alaw"];
// Live audio may queue this far ahead of real time before it is refused (bounded memory).
const MAX_AHEAD_MS = 60_000;

/** Reads and checks the node's configuration; throws with the field, its value and what is accepted. */
function optionsFrom(config: AudioInDef): AudioInOptions {
  const sampleRate = Number(config.sampleRate);
  if (!OUTPUT_RATES.includes(sampleRate)) {
    throw new Error(
      `audio-in: output sample rate ${shownValue(config.sampleRate)} Hz is not offered; accepted: ${OUTPUT_RATES.join(", ")}`,
    );
  }
  const frameMs = Number(config.frameMs);
  if (!Number.isInteger(frameMs) || frameMs < 50 || frameMs > 1000) {
    throw new Error(
      `audio-in: frame length ${shownValue(config.frameMs)} ms is out of range; accepted: whole milliseconds from 50 to 1000`,
    );
  }
  const idleS = Number(config.idleTimeout ?? 30);
  if (!Number.isFinite(idleS) || idleS < 0) {
    throw new Error(
      `audio-in: idle timeout ${shownValue(config.idleTimeout)} s is invalid; accepted: seconds, 0 or more (0 = never)`,
    );
  }
  const maxSessions = Number(config.maxSessions ?? 100);
  if (!Number.isInteger(maxSessions) || maxSessions < 1) {
    throw new Error(
      `audio-in: session limit ${shownValue(config.maxSessions)} is invalid; accepted: a whole number, 1 or more`,
    );
  }
  return {
    sampleRate,
    channels: config.channels === "keep" ? "keep" : "mono",
    frameMs,
    realTime: config.pace !== "fast",
    maxAheadMs: MAX_AHEAD_MS,
    idleTimeoutMs: idleS * 1000,
    maxSessions,
    endAfterRecording: config.endAfterRecording !== false,
    rawDefault: rawFormatFrom(config),
    compressedStream: config.compressed === "stream",
  };
}

function rawFormatFrom(config: AudioInDef): PcmFormat | undefined {
  if (config.rawRate === "" || config.rawRate === undefined) return undefined;
  const sampleRate = Number(config.rawRate);
  const channels = Number(config.rawChannels ?? 1);
  if (!Number.isInteger(sampleRate) || sampleRate < INPUT_RATE.min || sampleRate > INPUT_RATE.max) {
    throw new Error(
      `audio-in: raw input rate ${shownValue(config.rawRate)} Hz is invalid; accepted: ${INPUT_RATE.min} to ${INPUT_RATE.max}, or empty for none`,
    );
  }
  if (!RAW_ENCODINGS.includes(config.rawEncoding)) {
    throw new Error(`audio-in: raw input encoding is invalid; accepted: ${RAW_ENCODINGS.join(", ")}`);
  }
  if (channels !== 1 && channels !== 2) throw new Error("audio-in: raw input channels must be 1 or 2");
  return { sampleRate, channels, sampleFormat: config.rawEncoding };
}

export = function register(RED: NodeAPI): void {
  function AudioInNode(this: Node, given: AudioInDef): void {
    RED.nodes.createNode(this, given);
    const node = this;
    const config = settingsOrRefuse(node, "audio-in", given, DEFAULTS);
    if (!config) return;

    let options: AudioInOptions;
    try {
      options = optionsFrom(config);
    } catch (err) {
      const error = asError(err);
      refuseEveryInput(node, "audio-in", error);
      return;
    }

    // The count is of sessions open or still sending: what the session limit counts.
    const status = new StatusReporter(node, () =>
      sessions.active
        ? { fill: "green", shape: "dot", text: RED._("audio-in.status.sessions", { count: sessions.active }) }
        : { fill: "grey", shape: "ring", text: RED._("audio-in.status.idle") },
    );
    const internal = internalErrorReporter(node, "audio-in");
    // A session's own failure that no message waits for (one ended by its idle timeout): to Catch, as
    // an AudioInputError says it (its text names no identifier), anything else by its class only.
    const report = (err: Error): void =>
      err instanceof AudioInputError ? node.error(err, {}) : internal(err);
    // Frames leave on the pacer's clock, not in answer to one input, so they go out through node.send.
    const sessions = new AudioSessions(
      options,
      (chunk) => {
        // The chunk is contract 1's message already ({ topic, payload, audio, _session? }), new per frame.
        node.send(chunk);
        if (chunk.audio.end) status.update();
      },
      nodeScheduler(node, "audio-in"),
      report,
    );
    node.status({});

    // An AudioInputError's text says what was wrong and what is accepted, and names no identifier;
    // any other error's text could quote what a flow sent (a path, a session id): only its class goes.
    const failed = (err: unknown, done: (err?: Error) => void): void => {
      status.update();
      done(
        err instanceof AudioInputError
          ? err
          : new Error(`audio-in: internal error (${asError(err).name}); the message was not processed`),
      );
    };
    node.on("input", (msg, _send, nodeRedDone) => {
      const done = intake(node, "audio-in", msg, nodeRedDone, AUDIO_FIELDS);
      if (!done) return;
      let handled: Promise<void> | undefined;
      try {
        handled = sessions.handle(msg);
      } catch (err) {
        failed(err, done);
        return;
      }
      status.update();
      if (handled === undefined) done();
      else
        settleGuarded(
          handled.then(
            () => done(),
            (err: unknown) => failed(err, done),
          ),
          internal,
        );
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      sessions.close();
      status.close();
      done();
    });
  }

  RED.nodes.registerType("audio-in", AudioInNode);
};
