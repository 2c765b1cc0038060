import type { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import {
  createTranscribeClient,
  createWebSocketTransport,
  secretsOf,
  type AwsClientSettings,
} from "../../src/providers/aws/client";
import { peerCode, scrubPeerText } from "../../src/providers/aws/peer-text";
import { checkAudioInput } from "../../src/providers/aws/input";
import { checkMaxSessions, pcmBytesPerSecond } from "../../src/providers/aws/params";
import type { StreamService } from "../../src/providers/aws/service";
import type { WebSocketTransport } from "../../src/providers/aws/websocket";
import { AwsStreamSession, type SessionEvent, type SessionTuning } from "../../src/providers/aws/session";
import type { TranscriptResult } from "../../src/transcript/result";
import { boundedTuning } from "../../src/providers/aws/tuning";
import { QuietTimer } from "../../src/util/quiet-timer";
import { nodeScheduler, StatusReporter } from "./node-red";
import { REPEAT_SUMMARY_MS } from "../../src/util/repeated-reports";
import { nodeRepeatedReports, refuseEveryInput } from "./repeated-reports";
import { StopHandover } from "./stop-handover";
import { AUDIO_FIELDS, intake } from "./intake";

/** The settings both Amazon Transcribe streaming nodes share (transcribe-medical, transcribe-standard). */
export interface AwsStreamingDef extends NodeDef {
  aws: string;
  keepRaw: boolean;
  idleTimeoutS: string | number;
  /** Concurrent sessions (streams) of the node; empty means DEFAULT_MAX_SESSIONS. */
  maxSessions?: string | number;
  /** Not in the editor: timings for tests and unusual deployments (see SessionTuning). */
  tuning?: Partial<SessionTuning> & { closeTimeoutMs?: number; refuseReportMs?: number };
}

interface ConfigNode extends Node {
  settings?: AwsClientSettings;
}

interface OpenSession {
  session: AwsStreamSession;
  /** Ends a session whose source stopped without `audio.end`. */
  idle: QuietTimer;
}

/** A refused chunk: why, and its session (msg.topic of the report; never in the text). */
interface Refusal {
  reason: string;
  topic: string;
}

type Checked<P> = { ok: true; value: P } | { ok: false; error: Error };

/**
 * What a node built on this runtime adds to it (the scribe: a note after the session, pause on
 * redeploy). Every hook is optional; without hooks the runtime is the transcribers'.
 */
export interface StreamingHooks {
  /** A session event; return true when the hook delivered it (it then does not go to output 2). */
  event?(e: SessionEvent, session: AwsStreamSession | undefined): boolean;
  /** A result sent on output 1, with the session that made it. */
  result?(sessionId: string, result: TranscriptResult, session: AwsStreamSession): void;
  /**
   * The message that opens a new session of this id (its first audio, or the first after the last one
   * ended), read before the session opens: an error refuses the message and opens nothing.
   */
  opening?(sessionId: string, msg: NodeMessage, startSeconds: number): Error | undefined;
  /**
   * The provider session id a new session of this id streams to: a paused one's to resume it (after a
   * redeploy), or one the hook chose; undefined for a fresh random one.
   */
  resumeId?(sessionId: string): string | undefined;
  /** On close: pause the open sessions (true) instead of ending them. */
  pauseOnClose?(removed: boolean): boolean;
  /** On close, after the sessions ended or paused (what the hooks still run must stop here). */
  close?(removed: boolean, paused: AwsStreamSession[]): void;
}

/** The refusal key (not a session id: those are never empty) of audio of new sessions beyond the limit. */
const OVER_LIMIT = "";
/** Refusals repeated within this long are counted and summarised (the one rule for repeated reports). */
const DEFAULT_REFUSE_REPORT_MS = REPEAT_SUMMARY_MS;
/** The close handler calls done() this long after cutting the streams, whatever the SDK does. */
const ABORT_GRACE_MS = 1000;
/** Node-RED gives a close handler 15 s; graceful ending gets at most this much of it. */
const MAX_CLOSE_TIMEOUT_MS = 10_000;

/**
 * The runtime of an Amazon Transcribe streaming node: one session per audio session id, status,
 * refusals, idle close and a close handler that leaves nothing running. The two node types differ
 * only in their parameters and the service they open (`service`); messages come from the node's
 * own catalog (`<nodeType>.status.*`, `<nodeType>.errors.*`).
 */
export function runAwsStreamingNode<P>(
  RED: NodeAPI,
  node: Node,
  config: AwsStreamingDef,
  nodeType: string,
  checkParams: () => Checked<P>,
  service: (client: TranscribeStreamingClient, params: P, websocket?: WebSocketTransport) => StreamService,
  hooks: StreamingHooks = {},
): void {
  const t = (key: string, vars?: Record<string, string | number>): string =>
    RED._(`${nodeType}.${key}`, vars);

  // One report per deploy, then every message refused: the first in full, repeats summarised.
  const refuse = (message: string): void =>
    refuseEveryInput(node, nodeType, new Error(message), t("status.misconfigured"));

  const awsNode = RED.nodes.getNode(config.aws) as ConfigNode | null;
  const settings = awsNode?.settings;
  if (!settings) {
    refuse(t("errors.noConfig"));
    return;
  }
  if (settings.problems.length > 0) {
    refuse(`${nodeType}: ${settings.problems.join("; ")}`);
    return;
  }
  const checked = checkParams();
  if (!checked.ok) {
    refuse(checked.error.message);
    return;
  }
  const params = checked.value;
  const idleS =
    config.idleTimeoutS === "" || config.idleTimeoutS === undefined ? 30 : Number(config.idleTimeoutS);
  if (!Number.isFinite(idleS) || idleS <= 0) {
    refuse(t("errors.badIdle"));
    return;
  }
  const limit = checkMaxSessions(config.maxSessions, nodeType);
  if (!limit.ok) {
    refuse(limit.error.message);
    return;
  }
  const maxSessions = limit.value;
  const {
    closeTimeoutMs: closeSetting = 5000,
    refuseReportMs = DEFAULT_REFUSE_REPORT_MS,
    ...tuning
  } = boundedTuning(config.tuning);
  const closeTimeoutMs = Math.min(Math.max(0, closeSetting), MAX_CLOSE_TIMEOUT_MS);
  const timers = nodeScheduler(node, nodeType);
  const secrets = secretsOf(settings);
  const client: TranscribeStreamingClient = createTranscribeClient(settings, timers);
  // The config node's transport: HTTP/2 through the client, or WebSocket with the client's credentials.
  const svc = service(client, params, createWebSocketTransport(client, settings, timers));
  const format = svc.format;
  const sessions = new Map<string, OpenSession>();
  /**
   * Sessions stopped by an error that a new stream would only repeat (credentials, an invalid
   * request, compressed audio that cannot be resumed): their later chunks are refused, with an error
   * at most every `refuseReportMs`. Forgotten at the session's end, or after the idle time without
   * chunks (a source that never ends).
   */
  const failed = new Map<string, unknown>();
  const forgetLater = (sessionId: string): void => {
    timers.clearTimeout(failed.get(sessionId));
    failed.delete(sessionId);
    // Bounded: a flow sending ever new session ids into a refusing service cannot grow it. The oldest
    // entry goes first (its pending refusals reported); its audio is then refused as a new session.
    if (failed.size >= maxSessions * 4) {
      const oldest = failed.keys().next().value;
      if (oldest !== undefined) {
        timers.clearTimeout(failed.get(oldest));
        failed.delete(oldest);
        reportPending(oldest);
      }
    }
    failed.set(
      sessionId,
      timers.setTimeout(() => {
        failed.delete(sessionId);
        reportPending(sessionId);
      }, idleS * 1000),
    );
  };
  const secondsOf = (audio: Buffer): number =>
    format.mediaEncoding === "pcm" ? audio.length / pcmBytesPerSecond(format) : 0;
  const refusalText = (reason: string, chunks: number, seconds: number): string => {
    const amount = format.mediaEncoding === "pcm" ? ` (${seconds.toFixed(1)} s of audio)` : "";
    return t("errors.refused", { reason, chunks, amount });
  };
  /**
   * Refused chunks, by session (or OVER_LIMIT for audio of new sessions beyond `maxSessions`, counted
   * for the node as a whole, so that a flow sending many session ids gets one report per interval). The
   * one rule for repeated reports: the first refusal fails its message with done(err); the repeats are
   * counted and reported to Catch nodes once per `refuseReportMs`, at the session's end and at close,
   * every refused chunk counted in one of them.
   */
  const refusals = nodeRepeatedReports<Refusal>(
    node,
    nodeType,
    (_key, r) =>
      node.error(new Error(refusalText(r.last.reason, r.times, r.seconds)), { topic: r.last.topic }),
    refuseReportMs,
  );
  const refuseChunk = (
    sessionId: string,
    reason: string,
    audio: Buffer,
    done: (err?: Error) => void,
    key: string = sessionId,
  ): void => {
    // Refusals for another reason: what was counted for the earlier one is reported first.
    const last = refusals.lastOf(key);
    if (last && last.reason !== reason) refusals.flush(key);
    const seconds = secondsOf(audio);
    if (refusals.occurred(key, { reason, topic: sessionId }, seconds))
      done(new Error(refusalText(reason, 1, seconds)));
    else done();
  };
  /** Refused chunks not yet reported (the refusals stopped): one error for them, to Catch nodes. */
  const reportPending = (key: string): void => refusals.flush(key);
  let lastError: string | null = null;
  let closing = false;
  // What the streams flush while the node stops goes to its next instance (see StopHandover).
  const out = new StopHandover(RED, node, nodeType);

  const status = new StatusReporter(node, (): NodeStatus => {
    const all = [...sessions.values()].map((s) => s.session.state);
    if (all.includes("reconnecting"))
      return { fill: "yellow", shape: "ring", text: t("status.reconnecting") };
    if (all.length >= maxSessions) {
      return {
        fill: "yellow",
        shape: "dot",
        text: t("status.full", { count: all.length, max: maxSessions }),
      };
    }
    if (all.includes("connecting")) return { fill: "yellow", shape: "dot", text: t("status.connecting") };
    if (all.length > 0)
      return { fill: "green", shape: "dot", text: t("status.streaming", { count: all.length }) };
    if (lastError !== null)
      return { fill: "red", shape: "ring", text: t("status.error", { code: lastError }) };
    return { fill: "grey", shape: "ring", text: t("status.idle") };
  });

  const onEvent = (e: SessionEvent): void => {
    if (e.event === "error") {
      // A peer's code and message may echo what it received (headers): shown only scrubbed.
      lastError = peerCode(e.error.code);
      // A session that gave up after its source went quiet may start again with new audio.
      if (!e.resumable) forgetLater(e.sessionId);
      const err = new Error(
        t("errors.session", { code: lastError, message: scrubPeerText(e.error.message, secrets) }),
      );
      node.error(err, { topic: e.sessionId, payload: e });
    }
    if (e.event === "gap") {
      // The session goes on, but these seconds are lost: said once, with how much, to Catch nodes.
      node.error(
        new Error(
          t("errors.gap", {
            seconds: e.lostSeconds.toFixed(1),
            from: e.fromSeconds.toFixed(1),
            to: e.toSeconds.toFixed(1),
          }),
        ),
        { topic: e.sessionId, payload: e },
      );
    }
    const delivered = hooks.event?.(e, sessions.get(e.sessionId)?.session) === true;
    if (e.event === "ended") {
      if (!failed.has(e.sessionId)) reportPending(e.sessionId);
      sessions.get(e.sessionId)?.idle.stop();
      sessions.delete(e.sessionId);
    }
    if (!delivered) out.send([null, { topic: e.sessionId, payload: e }]);
    status.update();
  };

  const openSession = (sessionId: string, startSeconds: number): OpenSession => {
    const providerSessionId = hooks.resumeId?.(sessionId);
    const session: AwsStreamSession = new AwsStreamSession({
      sessionId,
      startSeconds,
      ...(providerSessionId !== undefined ? { providerSessionId } : {}),
      service: svc,
      scheduler: timers,
      tuning,
      secrets,
      handlers: {
        result: (result, raw) => {
          const msg: NodeMessage & { raw?: unknown } = { topic: sessionId, payload: result };
          if (config.keepRaw === true) msg.raw = raw;
          out.send([msg, null]);
          hooks.result?.(sessionId, result, session);
        },
        event: onEvent,
        state: () => status.update(),
      },
    });
    const open: OpenSession = {
      session,
      idle: new QuietTimer(timers, idleS * 1000, () => void session.end()),
    };
    sessions.set(sessionId, open);
    status.update();
    return open;
  };

  node.status({ fill: "grey", shape: "ring", text: t("status.idle") });

  node.on("input", (msg, _send, nodeRedDone) => {
    const done = intake(node, nodeType, msg, nodeRedDone, AUDIO_FIELDS);
    if (!done) return;
    if (closing) {
      done();
      return;
    }
    const input = checkAudioInput(msg, format, nodeType);
    if (!input.ok) {
      done(input.error);
      return;
    }
    if (failed.has(input.sessionId)) {
      // The session stopped on an error a new stream would repeat: refuse its audio, loudly.
      if (input.end) {
        timers.clearTimeout(failed.get(input.sessionId));
        failed.delete(input.sessionId);
      } else forgetLater(input.sessionId);
      if (input.audio.length > 0) refuseChunk(input.sessionId, t("errors.failed"), input.audio, done);
      else done();
      // At the session's end, what was refused since the last report is reported.
      if (input.end) reportPending(input.sessionId);
      return;
    }
    let open = sessions.get(input.sessionId);
    if (!open) {
      if (input.audio.length === 0 && input.end) {
        done();
        return;
      }
      if (sessions.size >= maxSessions) {
        // Refused, never queued: the node's limit bounds its streams whatever a flow sends.
        refuseChunk(
          input.sessionId,
          t("errors.overLimit", { max: maxSessions }),
          input.audio,
          done,
          OVER_LIMIT,
        );
        return;
      }
      if (refusals.has(OVER_LIMIT)) reportPending(OVER_LIMIT);
      const refused = hooks.opening?.(input.sessionId, msg, input.offsetMs / 1000);
      if (refused) {
        done(refused);
        return;
      }
      // A session reopened after an earlier one of the same id ended continues its times.
      open = openSession(input.sessionId, input.offsetMs / 1000);
    }
    const pushed = open.session.push(input.audio);
    if (!pushed.ok) {
      refuseChunk(
        input.sessionId,
        t(pushed.reason === "queue-full" ? "errors.queueFull" : "errors.ended"),
        input.audio,
        done,
      );
      return;
    }
    if (refusals.has(input.sessionId)) reportPending(input.sessionId);
    // A source that stops without sending audio.end would hold its stream open forever.
    if (input.end) {
      open.idle.stop();
      void open.session.end();
    } else open.idle.touch();
    done();
  });

  node.on("close", (removed: boolean, done: () => void) => {
    closing = true;
    out.stop(removed);
    const all = [...sessions.values()];
    for (const open of all) open.idle.stop();
    // End every stream cleanly (last finals still go out), then cut whatever is left in time
    // for Node-RED's 15 s close limit.
    const pause = hooks.pauseOnClose?.(removed) === true;
    const graceful = Promise.all(all.map((o) => o.session.end(pause)));
    let timer: unknown;
    let grace: unknown;
    const bounded = new Promise<void>((resolve) => {
      timer = timers.setTimeout(() => {
        // Cut what is left; and do not wait on the SDK to honour the abort for more than a moment.
        grace = timers.setTimeout(resolve, ABORT_GRACE_MS);
        void Promise.all(all.map((o) => o.session.abort())).then(() => resolve());
      }, closeTimeoutMs);
    });
    void Promise.race([graceful, bounded]).then(() => {
      timers.clearTimeout(timer);
      timers.clearTimeout(grace);
      // Refusals counted since their last report are still reported, once, with how many.
      refusals.close();
      // Sessions that failed while closing registered here too: clear after they all settled.
      for (const t of failed.values()) timers.clearTimeout(t);
      failed.clear();
      sessions.clear();
      hooks.close?.(removed, pause ? all.map((o) => o.session) : []);
      status.close();
      client.destroy();
      out.close();
      done();
    });
  });
}
