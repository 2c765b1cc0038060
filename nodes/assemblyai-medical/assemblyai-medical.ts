import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import {
  checkApiKey,
  classifyMessage,
  paramsFromFields,
  timingFromFields,
  type MedicalNodeFields,
  type TimingFields,
} from "../../src/providers/assemblyai/node-config";
import {
  baseUrl,
  bytesPerSecond,
  connectionUrl,
  type StreamingParams,
} from "../../src/providers/assemblyai/params";
import { AssemblyAiSession, type SessionEvent } from "../../src/providers/assemblyai/session";
import { settleGuarded } from "../../src/util/guard";
import { idTag } from "../../src/util/identifiers";
import { QuietTimer } from "../../src/util/quiet-timer";
import { repeatsText } from "../../src/util/repeated-reports";
import type { AssemblyAiConfigNode } from "../assemblyai-config/types";
import { internalErrorReporter, nodeScheduler, StatusReporter } from "../shared/node-red";
import { nodeRepeatedReports, refuseEveryInput } from "../shared/repeated-reports";
import { StopHandover } from "../shared/stop-handover";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { AUDIO_FIELDS, intake } from "../shared/intake";

interface AssemblyAiMedicalDef extends NodeDef, MedicalNodeFields, TimingFields {
  config: string;
  keepRaw: boolean;
}

interface OpenSession {
  session: AssemblyAiSession;
  /** A short tag of the session id for logs (the id itself may be an encounter or patient number). */
  tag: string;
  /** Ends a session whose source stopped without `audio.end` (absent when the idle time is 0). */
  idle: QuietTimer | undefined;
  ending: Promise<void> | undefined;
}

/** The key of refusals of audio of new sessions beyond the session limit (not a session id: never empty). */
const OVER_LIMIT = "";

/** Node-RED gives a close handler 15 s; everything must be finished well before. */
const CLOSE_BUDGET_MS = 10000;

/** Why audio counted as lost in an end that was not an error, for the report to Catch. */
function lostReason(event: Extract<SessionEvent, { event: "termination" | "ended" }>): string {
  if (event.event === "ended" && event.reason === "aborted") {
    return "the node stopped before AssemblyAI confirmed it";
  }
  return "it could not be sent again after a lost connection";
}

export = function register(RED: NodeAPI): void {
  function AssemblyAiMedicalNode(this: Node, def: AssemblyAiMedicalDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    // A flow written by hand or by an older version may leave settings out: the editor's defaults apply.
    const config = settingsOrRefuse(node, "assemblyai-medical", def, DEFAULTS);
    if (!config) return;
    const account = RED.nodes.getNode(config.config) as AssemblyAiConfigNode | null;
    const rawKey = account?.credentials?.apiKey;

    // One report per deploy, then every message refused: the first in full, repeats summarised.
    const misconfigured = (text: string): void =>
      refuseEveryInput(
        node,
        "assemblyai-medical",
        new Error(text),
        RED._("assemblyai-medical.status.misconfigured"),
      );
    if (!account) return misconfigured(RED._("assemblyai-medical.errors.noConfig"));
    if (!rawKey) return misconfigured(RED._("assemblyai-medical.errors.noKey"));
    const checkedKey = checkApiKey(rawKey);
    if (!checkedKey.ok) return misconfigured(`assemblyai-medical: ${checkedKey.error.message}`);
    const apiKey = checkedKey.value;
    const checkedParams = paramsFromFields(config);
    if (!checkedParams.ok) return misconfigured(checkedParams.error.message);
    const checkedTiming = timingFromFields(config);
    if (!checkedTiming.ok) return misconfigured(checkedTiming.error.message);
    const base = baseUrl(account.region, account.endpoint);
    if (!base.ok) return misconfigured(base.error.message);
    const params: StreamingParams = checkedParams.value;
    const timing = checkedTiming.value;
    const url = connectionUrl(base.value, params);

    const sessions = new Map<string, OpenSession>();
    const timers = nodeScheduler(node, "assemblyai-medical");
    const internalError = internalErrorReporter(node, "assemblyai-medical");
    let lastErrorCode: number | undefined;
    let closing = false;
    // What the sessions flush while the node stops goes to its next instance (see StopHandover).
    const out = new StopHandover(RED, node, "assemblyai-medical");

    const render = (): NodeStatus => {
      const states = [...sessions.values()].map((s) => s.session.state);
      const count = (s: string): number => states.filter((x) => x === s).length;
      if (count("reconnecting") > 0) {
        return { fill: "yellow", shape: "ring", text: RED._("assemblyai-medical.status.reconnecting") };
      }
      if (count("connecting") > 0) {
        return { fill: "yellow", shape: "dot", text: RED._("assemblyai-medical.status.connecting") };
      }
      const active = count("streaming") + count("ending");
      if (active > 0) {
        return {
          fill: "green",
          shape: "dot",
          text: RED._("assemblyai-medical.status.streaming", { n: active }),
        };
      }
      if (lastErrorCode !== undefined) {
        return {
          fill: "red",
          shape: "ring",
          text: RED._("assemblyai-medical.status.error", { code: lastErrorCode }),
        };
      }
      return { fill: "grey", shape: "ring", text: RED._("assemblyai-medical.status.idle") };
    };
    const status = new StatusReporter(node, render, 250);
    // Audio refused (a session that cannot take it, or beyond the session limit): the first chunk's
    // error in full through done(err), the repeats counted, with their seconds of audio, and summarised
    // to Catch once a minute and when the session ends.
    const refusals = nodeRepeatedReports<{ topic: string; text: string }>(
      node,
      "assemblyai-medical",
      (_key, repeats) =>
        node.error(new Error(repeatsText(repeats.last.text, repeats)), { topic: repeats.last.topic }),
    );
    const secondsOf = (audio: Buffer | undefined): number =>
      audio ? audio.length / bytesPerSecond(params.sample_rate, params.encoding) : 0;
    node.status({});

    const onEvent = (sessionId: string, tag: string, event: SessionEvent): void => {
      if (event.event === "begin") lastErrorCode = undefined;
      const msg = { topic: sessionId, payload: event };
      out.send([null, msg]);
      if (
        event.event === "error" &&
        (event.kind === "retries-exhausted" || event.kind === "inactivity" || event.kind === "internal")
      ) {
        // Not a configuration problem: the next chunk of this session opens a new session, its times
        // continuing from the chunk's msg.audio.offsetMs.
        const entry = sessions.get(sessionId);
        if (entry && !entry.ending) {
          entry.idle?.stop();
          sessions.delete(sessionId);
        }
      }
      if (event.event === "error") {
        lastErrorCode = event.code;
        // A Catch node sees it; the text names the cause, the close code and the seconds of audio not
        // transcribed, never the session id, audio or text (the tag tells sessions apart for support).
        node.error(`assemblyai-medical ${tag}: ${event.message}`, msg);
      } else if (
        (event.event === "termination" || event.event === "ended") &&
        event.account.lostSeconds > 0
      ) {
        // Never silent: audio lost in a session that otherwise ended goes to Catch, with how much.
        node.error(
          RED._("assemblyai-medical.errors.lost", {
            tag,
            seconds: event.account.lostSeconds.toFixed(1),
            reason: lostReason(event),
          }),
          msg,
        );
      } else if (event.event === "warning") {
        node.warn(`assemblyai-medical ${tag}: ${event.message}`);
      }
      status.update();
    };

    const open = (sessionId: string, startMs: number | undefined): OpenSession => {
      const tag = idTag(sessionId);
      const session = new AssemblyAiSession(
        {
          sessionId,
          url,
          apiKey,
          params,
          startMs,
          maxPendingMs: timing.maxPendingMs,
          frameMs: timing.frameMs,
          connectTimeoutMs: timing.connectTimeoutMs,
          terminationTimeoutMs: timing.terminationTimeoutMs,
          stallTimeoutMs: timing.stallTimeoutMs,
          probeTimeoutMs: timing.probeTimeoutMs,
          replayRate: timing.replayRate,
          retry: { maxRetries: timing.maxRetries, retryDelayMs: timing.retryDelayMs },
          // The session guards its own timers and sockets (a throw ends that session, with an error).
          scheduler: timers,
        },
        {
          result: (result, raw) => {
            const msg: NodeMessage & { raw?: unknown } = { topic: sessionId, payload: result };
            if (config.keepRaw && raw) msg.raw = raw;
            out.send([msg, null]);
          },
          event: (event) => onEvent(sessionId, tag, event),
          state: () => status.update(),
        },
      );
      const entry: OpenSession = {
        session,
        tag,
        idle: undefined,
        ending: undefined,
      };
      if (timing.idleMs > 0)
        entry.idle = new QuietTimer(timers, timing.idleMs, () => void finish(sessionId, entry));
      sessions.set(sessionId, entry);
      session.start();
      status.update();
      return entry;
    };

    const finish = (sessionId: string, entry: OpenSession): Promise<void> => {
      entry.idle?.stop();
      if (!entry.ending) {
        entry.ending = entry.session.end().then(() => {
          // The chunks refused since the last report are still reported, once, with how many.
          refusals.flush(sessionId);
          if (sessions.get(sessionId) === entry) sessions.delete(sessionId);
          status.update();
        });
        settleGuarded(entry.ending, (err) => internalError(err));
      }
      return entry.ending;
    };

    /** Refused audio: the first of its key through done(err) in full, repeats counted (see `refusals`). */
    const refuse = (
      key: string,
      topic: string,
      text: string,
      audio: Buffer | undefined,
      done: (err?: Error) => void,
    ): void => done(refusals.occurred(key, { topic, text }, secondsOf(audio)) ? new Error(text) : undefined);

    const onInput = (msg: NodeMessage, done: (err?: Error) => void): void => {
      if (closing) return done();
      const input = classifyMessage(msg, params);
      if (input.kind === "invalid") return done(input.error);
      if (input.kind === "control") {
        const entry = sessions.get(input.sessionId);
        const { command } = input;
        const sent =
          entry &&
          (command.type === "ForceEndpoint"
            ? entry.session.forceEndpoint()
            : entry.session.updateConfiguration(command.fields));
        if (!sent) return done(new Error(RED._("assemblyai-medical.errors.noSession")));
        return done();
      }
      const { sessionId, audio, end } = input;
      let entry = sessions.get(sessionId);
      if (entry?.ending) {
        // Audio after the end of a session starts a new one only once the old one has finished.
        if (!end) return done(new Error(RED._("assemblyai-medical.errors.sessionEnding")));
        return done();
      }
      if (!entry) {
        // Every session holds a socket and up to two audio buffers: the limit keeps a flow from
        // exhausting the process (or the account's rate of new sessions).
        if (sessions.size >= timing.maxSessions) {
          const text = RED._("assemblyai-medical.errors.tooManySessions", { n: sessions.size });
          return refuse(OVER_LIMIT, sessionId, text, audio, done);
        }
        entry = open(sessionId, input.offsetMs);
      }
      // Nothing is dropped silently: audio a session cannot take (it failed on the key or a parameter, or
      // too much audio is already waiting) is refused through done(err), rate-limited per session.
      const written = audio ? entry.session.push(audio) : undefined;
      if (end) void finish(sessionId, entry);
      else entry.idle?.touch();
      if (written && !written.ok) {
        const text = RED._("assemblyai-medical.errors.refused", { tag: entry.tag, reason: written.message });
        return refuse(sessionId, sessionId, text, audio, done);
      }
      done();
    };

    node.on("input", (msg, _send, nodeRedDone) => {
      const done = intake(node, "assemblyai-medical", msg, nodeRedDone, AUDIO_FIELDS);
      if (!done) return;
      try {
        onInput(msg, done);
      } catch (e) {
        // Never leave a message without done(): a Catch node should see any unexpected failure.
        done(e instanceof Error ? e : new Error(String(e)));
      }
    });

    node.on("close", (removed: boolean, done: () => void) => {
      closing = true;
      out.stop(removed);
      const endings = [...sessions.entries()].map(([id, entry]) => finish(id, entry));
      const budget = Math.min(CLOSE_BUDGET_MS, timing.terminationTimeoutMs + 2000);
      let timer: unknown;
      const bounded = new Promise<void>((resolve) => (timer = timers.setTimeout(resolve, budget)));
      const closed = Promise.race([Promise.all(endings), bounded]).then(() => {
        timers.clearTimeout(timer);
        // Sessions still open are stopped; their unconfirmed audio is reported as lost (see onEvent).
        for (const entry of sessions.values()) {
          entry.idle?.stop();
          entry.session.abort();
        }
        sessions.clear();
        refusals.close();
        status.close();
        out.close();
        done();
      });
      settleGuarded(closed, (err) => {
        internalError(err);
        done();
      });
    });
  }

  RED.nodes.registerType("assemblyai-medical", AssemblyAiMedicalNode);
};
