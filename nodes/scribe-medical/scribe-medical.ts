import type { S3Client } from "@aws-sdk/client-s3";
import type { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import { randomUUID } from "node:crypto";
import type { Node, NodeAPI } from "node-red";
import { createBatchS3Client } from "../../src/providers/aws-batch/clients";
import type { AwsClientSettings } from "../../src/providers/aws/client";
import { InvalidParamsError } from "../../src/providers/aws/params";
import type { StreamService } from "../../src/providers/aws/service";
import { AwsStreamSession } from "../../src/providers/aws/session";
import { boundedTuning } from "../../src/providers/aws/tuning";
import {
  HANDOVER_TTL_MS,
  handOver,
  takeHandedOver,
  type HandedSession,
} from "../../src/providers/aws-scribe/handover";
import { noteDocument } from "../../src/providers/aws-scribe/note";
import { checkScribeParams, type Pronoun, type ScribeParams } from "../../src/providers/aws-scribe/params";
import {
  pollNoteLocations,
  postStreamTuning,
  readNoteFiles,
  ScribeNoteError,
  streamDetails,
} from "../../src/providers/aws-scribe/post-stream";
import { scribeService } from "../../src/providers/aws-scribe/service";
import { readSessionContext, SegmentTimeCheck } from "../../src/providers/aws-scribe/session-context";
import { SessionCollector } from "../../src/transcript/document";
import { settleGuarded } from "../../src/util/guard";
import { runAwsStreamingNode, type AwsStreamingDef } from "../shared/aws-streaming";
import { nodeScheduler } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";

const NODE_TYPE = "scribe-medical";

interface ScribeMedicalDef extends AwsStreamingDef {
  template: string;
  channelLayout: string;
  outputBucket: string;
  roleArn: string;
  kmsKeyId: string;
  kmsContext: string;
  pronouns: string;
  sampleRate: string | number;
  mediaEncoding: string;
  vocabularyName: string;
  vocabularyFilterName: string;
  vocabularyFilterMethod: string;
  s3Endpoint: string;
}

/** The finals of a session so far, for the note's document. */
interface Collected {
  collector: SessionCollector;
  startSeconds: number;
}

export = function register(RED: NodeAPI): void {
  function ScribeMedicalNode(this: Node, def: ScribeMedicalDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    // A flow may hold only id, type, z, wires and aws: the editor's defaults for the rest.
    const config = settingsOrRefuse(node, "scribe-medical", def, DEFAULTS);
    if (!config) return;
    const t = (key: string, vars?: Record<string, string | number>): string =>
      RED._(`${NODE_TYPE}.${key}`, vars);
    const timers = nodeScheduler(node, NODE_TYPE);
    const tuning = postStreamTuning(boundedTuning(config.tuning));
    const settings = (RED.nodes.getNode(config.aws) as (Node & { settings?: AwsClientSettings }) | null)
      ?.settings;

    // Set when the runtime built the service (the settings were usable).
    let ready:
      | { client: TranscribeStreamingClient; params: ScribeParams; s3: S3Client; svc: StreamService }
      | undefined;
    const collected = new Map<string, Collected>();
    /** Provider sessions whose END_OF_SESSION went out: their note is due whatever the stream did next. */
    const endSent = new Set<string>();
    /** Notes being waited for: cut at close, and handed to the next instance. */
    const waiting = new Map<AbortController, HandedSession>();
    /** Sessions a redeploy paused, resumed by this instance when their audio continues. */
    const resumable = new Map<string, HandedSession>();
    /** Paused sessions whose audio did not continue: ended here so that their note comes. */
    const finishing = new Set<AwsStreamSession>();
    let pausing = false;
    let finishTimer: unknown;
    const idleS = Number(config.idleTimeoutS) > 0 ? Number(config.idleTimeoutS) : 30;
    /** Pronouns from the first message of a session, until its HealthScribe session is chosen. */
    const pendingPronouns = new Map<string, Pronoun | null>();
    /** A HealthScribe session's own pronouns (null: none), by provider session id: every stream repeats them. */
    const pronounsById = new Map<string, Pronoun | null>();
    /** When each HealthScribe session started (ms): it can be resumed for 5 hours from then. */
    const startedAt = new Map<string, number>();
    /** Sessions whose streams gave up while no audio came: parked, not failed (see sessionEnded). */
    const quietGaveUp = new Set<string>();
    /** The timer that ends a parked session whose audio does not come back, by session id. */
    const parkTimers = new Map<string, unknown>();
    /** The live times of each open session, checked against the audio (milliseconds assumed). */
    const timeChecks = new Map<string, SegmentTimeCheck>();

    /** Forgets what was kept for a HealthScribe session whose note came or will never come. */
    const forgetProvider = (providerSessionId: string): void => {
      pronounsById.delete(providerSessionId);
      startedAt.delete(providerSessionId);
    };
    /** Takes on a paused session (after a redeploy or a quiet give-up): its finals and its pronouns. */
    const adopt = (h: HandedSession): void => {
      collected.set(h.sessionId, { collector: h.collector, startSeconds: h.startSeconds });
      if (h.pronouns !== undefined) pronounsById.set(h.providerSessionId, h.pronouns);
      if (!startedAt.has(h.providerSessionId)) startedAt.set(h.providerSessionId, h.handedAtMs);
      timers.clearTimeout(parkTimers.get(h.sessionId));
      parkTimers.delete(h.sessionId);
    };

    const fail = (sessionId: string, code: string, message: string): void =>
      node.error(new Error(t("errors.note", { code, message })), { topic: sessionId, payload: { code } });

    const collectedOf = (sessionId: string, startSeconds = 0): Collected => {
      let c = collected.get(sessionId);
      if (!c) {
        c = { collector: new SessionCollector(sessionId), startSeconds };
        collected.set(sessionId, c);
      }
      return c;
    };

    /** Polls for the session's note, reads it, and sends its document on output 2. */
    const deliverNote = (h: HandedSession): void => {
      const r = ready;
      if (!r) return;
      const ac = new AbortController();
      waiting.set(ac, h);
      // Identifiers the service's texts may echo: removed from whatever is passed on.
      const phi = [h.providerSessionId, h.sessionId, r.params.outputBucket, r.params.roleArn];
      const work = async (): Promise<void> => {
        try {
          const at = await pollNoteLocations({
            getDetails: streamDetails(r.client, h.providerSessionId),
            scheduler: timers,
            tuning,
            signal: ac.signal,
            phi,
          });
          const files = await readNoteFiles(r.s3, at, ac.signal, phi);
          const built = noteDocument(
            h.collector,
            r.params.template,
            files.summary,
            files.aggregated,
            h.startSeconds,
            Date.now(),
          );
          if (ac.signal.aborted) return;
          node.send([null, { topic: h.sessionId, payload: built.document }]);
          if (built.unresolvedEvidence > 0) {
            node.warn(t("warnings.unresolved", { count: built.unresolvedEvidence }));
          }
        } catch (err) {
          // Cut by close: handed to the next instance there (or reported, if the node was removed).
          if (err instanceof ScribeNoteError && err.code === "STOPPED") return;
          if (err instanceof ScribeNoteError) fail(h.sessionId, err.code, err.message);
          else fail(h.sessionId, "INTERNAL", t("errors.internal", { name: (err as Error).name }));
        } finally {
          waiting.delete(ac);
          if (!ac.signal.aborted) forgetProvider(h.providerSessionId);
        }
      };
      settleGuarded(work(), (err) => fail(h.sessionId, "INTERNAL", t("errors.internal", { name: err.name })));
    };

    /** A session of `sessionId` ended (or paused) under `session`: what becomes of its note. */
    const sessionEnded = (sessionId: string, session: AwsStreamSession): void => {
      const c = collectedOf(sessionId);
      collected.delete(sessionId);
      timeChecks.delete(sessionId);
      const providerId = session.providerSessionId;
      const quiet = quietGaveUp.delete(sessionId);
      const h: HandedSession = {
        sessionId,
        providerSessionId: providerId,
        stage: "ended",
        collector: c.collector,
        startSeconds: c.startSeconds,
        handedAtMs: Date.now(),
      };
      const pronouns = pronounsById.get(providerId);
      if (pronouns !== undefined) h.pronouns = pronouns;
      // Paused sessions resume within 5 hours of their start: counted from there, not from the pause.
      const paused: HandedSession = {
        ...h,
        stage: "paused",
        handedAtMs: startedAt.get(providerId) ?? h.handedAtMs,
      };
      if (endSent.delete(providerId)) deliverNote(h);
      else if (pausing) {
        for (const lost of handOver(node.id, paused)) {
          fail(lost.sessionId, "HANDOVER_FULL", t("errors.handoverFull"));
        }
      } else if (quiet && Date.now() - paused.handedAtMs < HANDOVER_TTL_MS) park(paused);
      else {
        forgetProvider(providerId);
        fail(sessionId, "NO_NOTE", t("errors.noNote"));
      }
    };

    /**
     * A session whose streams gave up while its source was quiet (the service unreachable, nothing to
     * send) is one encounter still: parked like a session a redeploy paused, it resumes the same
     * HealthScribe session when its audio comes back (one note for the whole encounter), and is ended
     * after the idle close time if it does not, so that its note comes.
     */
    const park = (h: HandedSession): void => {
      resumable.set(h.sessionId, h);
      timers.clearTimeout(parkTimers.get(h.sessionId));
      parkTimers.set(
        h.sessionId,
        timers.setTimeout(() => {
          parkTimers.delete(h.sessionId);
          if (resumable.get(h.sessionId) !== h) return;
          resumable.delete(h.sessionId);
          finishPaused(h);
        }, idleS * 1000),
      );
      node.warn(t("warnings.parked", { seconds: idleS }));
    };

    /** Ends a paused session whose audio did not continue after the redeploy: its note is then made. */
    const finishPaused = (h: HandedSession): void => {
      const r = ready;
      if (!r) return;
      adopt(h);
      const session: AwsStreamSession = new AwsStreamSession({
        sessionId: h.sessionId,
        providerSessionId: h.providerSessionId,
        startSeconds: h.startSeconds,
        service: r.svc,
        scheduler: timers,
        handlers: {
          result: (result) => {
            node.send([{ topic: h.sessionId, payload: result }, null]);
            if (result.isFinal) collectedOf(h.sessionId).collector.add(result, undefined, Date.now());
          },
          event: (e) => {
            if (e.event === "error") {
              fail(h.sessionId, e.error.code, t("errors.resume", { message: e.error.message }));
            }
            if (e.event === "ended") {
              finishing.delete(session);
              sessionEnded(h.sessionId, session);
            }
          },
        },
      });
      finishing.add(session);
      void session.end();
    };

    runAwsStreamingNode(
      RED,
      node,
      config,
      NODE_TYPE,
      () => {
        // HealthScribe documents only HTTP/2 streaming (no WebSocket interface).
        if (settings?.transport === "websocket") {
          return { ok: false, error: new InvalidParamsError("transport", t("errors.websocket"), NODE_TYPE) };
        }
        const s3Endpoint = typeof config.s3Endpoint === "string" ? config.s3Endpoint.trim() : "";
        if (s3Endpoint !== "" && !/^https?:\/\/[^\s/@]+(\/.*)?$/.test(s3Endpoint)) {
          return {
            ok: false,
            error: new InvalidParamsError("s3Endpoint", t("errors.badS3Endpoint"), NODE_TYPE),
          };
        }
        return checkScribeParams({
          template: config.template,
          channelLayout: config.channelLayout,
          outputBucket: config.outputBucket,
          roleArn: config.roleArn,
          kmsKeyId: config.kmsKeyId,
          kmsContext: config.kmsContext,
          pronouns: config.pronouns,
          sampleRate: config.sampleRate,
          mediaEncoding: config.mediaEncoding,
          vocabularyName: config.vocabularyName,
          vocabularyFilterName: config.vocabularyFilterName,
          vocabularyFilterMethod: config.vocabularyFilterMethod,
        });
      },
      (client, params) => {
        const s3Endpoint = config.s3Endpoint.trim();
        const svc = scribeService(
          client,
          params,
          (id) => endSent.add(id),
          (id) => pronounsById.get(id),
        );
        if (settings) ready = { client, params, svc, s3: createBatchS3Client(settings, s3Endpoint || null) };
        return svc;
      },
      {
        // Output 2 carries the note documents: session events go to Catch (errors) and the status only.
        event: (e, session) => {
          if (e.event === "error" && e.resumable) quietGaveUp.add(e.sessionId);
          if (e.event === "ended" && session) sessionEnded(e.sessionId, session);
          return true;
        },
        result: (sessionId, result, session) => {
          if (result.isFinal) collectedOf(sessionId).collector.add(result, undefined, Date.now());
          const odd = timeChecks.get(sessionId)?.check(result, session.audioSeconds);
          if (odd !== undefined) node.warn(t(`warnings.${odd}`));
        },
        opening: (sessionId, msg, startSeconds) => {
          const context = readSessionContext(msg as { scribe?: unknown });
          if (!context.ok) return new Error(t("errors.context", { problem: context.problem }));
          if (context.pronouns === undefined) pendingPronouns.delete(sessionId);
          else pendingPronouns.set(sessionId, context.pronouns);
          timeChecks.set(sessionId, new SegmentTimeCheck(startSeconds));
          return undefined;
        },
        // The HealthScribe session a new session of this id streams to: a paused one's (resumed, with
        // its pronouns), else a new one with the pronouns of the message that opened it.
        resumeId: (sessionId) => {
          const pronouns = pendingPronouns.get(sessionId);
          pendingPronouns.delete(sessionId);
          const h = resumable.get(sessionId);
          if (h) {
            resumable.delete(sessionId);
            if (Date.now() - h.handedAtMs < HANDOVER_TTL_MS) {
              adopt(h);
              return h.providerSessionId;
            }
            // Too late for HealthScribe to resume it: its note is lost, a new session starts (and says so).
            forgetProvider(h.providerSessionId);
            fail(sessionId, "NOT_RESUMED", t("errors.notResumed"));
          }
          const id = randomUUID();
          startedAt.set(id, Date.now());
          if (pronouns !== undefined) pronounsById.set(id, pronouns);
          return id;
        },
        // A redeploy pauses (see docs/healthscribe.md): END_OF_SESSION cannot be taken back, and would
        // make a note of half an encounter; removing the node ends its sessions.
        pauseOnClose: (removed) => {
          pausing = !removed;
          return !removed;
        },
        close: (removed) => {
          timers.clearTimeout(finishTimer);
          for (const timer of parkTimers.values()) timers.clearTimeout(timer);
          parkTimers.clear();
          for (const session of finishing) void session.abort();
          finishing.clear();
          for (const [ac, h] of waiting) {
            ac.abort();
            if (!removed) handOver(node.id, h);
          }
          if (removed && waiting.size > 0)
            node.error(new Error(t("errors.removed", { count: waiting.size })));
          waiting.clear();
          // Paused sessions never resumed here go on to the next instance as they came.
          for (const h of resumable.values()) if (!removed) handOver(node.id, h);
          resumable.clear();
          ready?.s3.destroy();
        },
      },
    );

    // What the previous instance of this node handed over: notes still due, sessions paused by the redeploy.
    const { live, expired } = takeHandedOver(node.id, Date.now());
    if (expired.length > 0) node.error(new Error(t("errors.expired", { count: expired.length })));
    if (!ready) {
      if (live.length > 0) node.error(new Error(t("errors.handoverLost", { count: live.length })));
      return;
    }
    for (const h of live) {
      if (h.stage === "ended") deliverNote(h);
      else resumable.set(h.sessionId, h);
    }
    if (resumable.size > 0) {
      finishTimer = timers.setTimeout(() => {
        for (const h of resumable.values()) finishPaused(h);
        resumable.clear();
      }, idleS * 1000);
    }
  }

  RED.nodes.registerType(NODE_TYPE, ScribeMedicalNode);
};
