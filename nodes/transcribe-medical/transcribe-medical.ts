import type { TranscribeStreamingClient } from "@aws-sdk/client-transcribe-streaming";
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import { createTranscribeClient, secretsOf, type AwsClientSettings } from "../../src/providers/aws/client";
import { checkAudioInput } from "../../src/providers/aws/input";
import { checkMedicalParams, type MedicalParams } from "../../src/providers/aws/params";
import {
  MedicalStreamSession,
  sdkSender,
  type SessionEvent,
  type SessionTuning,
} from "../../src/providers/aws/session";
import { realScheduler } from "../../src/util/scheduler";
import { StatusReporter } from "../shared/node-red";

interface TranscribeMedicalDef extends NodeDef {
  aws: string;
  specialty: string;
  medicalType: string;
  sampleRate: string | number;
  mediaEncoding: string;
  showSpeakerLabel: boolean;
  channelIdentification: boolean;
  contentIdentification: string;
  vocabularyName: string;
  keepRaw: boolean;
  idleTimeoutS: string | number;
  /** Not in the editor: timings for tests and unusual deployments (see SessionTuning). */
  tuning?: Partial<SessionTuning> & { closeTimeoutMs?: number };
}

interface ConfigNode extends Node {
  settings?: AwsClientSettings;
}

interface OpenSession {
  session: MedicalStreamSession;
  idleTimer?: NodeJS.Timeout;
}

export = function register(RED: NodeAPI): void {
  function TranscribeMedicalNode(this: Node, config: TranscribeMedicalDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const t = (key: string, vars?: Record<string, string | number>): string =>
      RED._(`transcribe-medical.${key}`, vars);

    const refuse = (message: string): void => {
      node.error(message);
      node.status({ fill: "red", shape: "ring", text: t("status.misconfigured") });
      node.on("input", (_msg, _send, done) => done(new Error(message)));
    };

    const awsNode = RED.nodes.getNode(config.aws) as ConfigNode | null;
    const settings = awsNode?.settings;
    if (!settings) {
      refuse(t("errors.noConfig"));
      return;
    }
    if (settings.problems.length > 0) {
      refuse(`transcribe-medical: ${settings.problems.join("; ")}`);
      return;
    }
    const checked = checkMedicalParams({
      specialty: config.specialty,
      type: config.medicalType,
      sampleRate: config.sampleRate,
      mediaEncoding: config.mediaEncoding,
      showSpeakerLabel: config.showSpeakerLabel,
      channelIdentification: config.channelIdentification,
      contentIdentification: config.contentIdentification,
      vocabularyName: config.vocabularyName,
    });
    if (!checked.ok) {
      refuse(checked.error.message);
      return;
    }
    const params: MedicalParams = checked.value;
    const idleS =
      config.idleTimeoutS === "" || config.idleTimeoutS === undefined ? 30 : Number(config.idleTimeoutS);
    if (!Number.isFinite(idleS) || idleS <= 0) {
      refuse(t("errors.badIdle"));
      return;
    }
    const { closeTimeoutMs = 5000, ...tuning } = config.tuning ?? {};
    const secrets = secretsOf(settings);
    const client: TranscribeStreamingClient = createTranscribeClient(settings);
    const send = sdkSender(client);
    const sessions = new Map<string, OpenSession>();
    /**
     * Sessions stopped by a fatal error: their later chunks must not open a stream again. Forgotten
     * at the session's end, or after the idle time without chunks (a source that never ends).
     */
    const failed = new Map<string, NodeJS.Timeout>();
    const forgetLater = (sessionId: string): void => {
      clearTimeout(failed.get(sessionId));
      failed.set(
        sessionId,
        setTimeout(() => failed.delete(sessionId), idleS * 1000),
      );
    };
    let lastError: string | null = null;
    let closing = false;

    const status = new StatusReporter(node, (): NodeStatus => {
      const all = [...sessions.values()].map((s) => s.session.state);
      if (all.includes("reconnecting"))
        return { fill: "yellow", shape: "ring", text: t("status.reconnecting") };
      if (all.includes("connecting")) return { fill: "yellow", shape: "dot", text: t("status.connecting") };
      if (all.length > 0)
        return { fill: "green", shape: "dot", text: t("status.streaming", { count: all.length }) };
      if (lastError !== null)
        return { fill: "red", shape: "ring", text: t("status.error", { code: lastError }) };
      return { fill: "grey", shape: "ring", text: t("status.idle") };
    });

    const onEvent = (e: SessionEvent): void => {
      if (e.event === "error") {
        lastError = e.error.code;
        forgetLater(e.sessionId);
        const err = new Error(t("errors.session", { code: e.error.code, message: e.error.message }));
        node.error(err, { topic: e.sessionId, payload: e });
      }
      if (e.event === "ended") {
        const open = sessions.get(e.sessionId);
        if (open) clearTimeout(open.idleTimer);
        sessions.delete(e.sessionId);
      }
      node.send([null, { topic: e.sessionId, payload: e }]);
      status.update();
    };

    const openSession = (sessionId: string): OpenSession => {
      const open: OpenSession = {
        session: new MedicalStreamSession({
          sessionId,
          params,
          send,
          scheduler: realScheduler,
          tuning,
          secrets,
          handlers: {
            result: (result, raw) => {
              const msg: NodeMessage & { raw?: unknown } = { topic: sessionId, payload: result };
              if (config.keepRaw === true) msg.raw = raw;
              node.send([msg, null]);
            },
            event: onEvent,
            state: () => status.update(),
          },
        }),
      };
      sessions.set(sessionId, open);
      status.update();
      return open;
    };

    // A source that stops without sending audio.end would hold its stream open forever.
    const touch = (open: OpenSession): void => {
      clearTimeout(open.idleTimer);
      open.idleTimer = setTimeout(() => void open.session.end(), idleS * 1000);
    };

    node.status({ fill: "grey", shape: "ring", text: t("status.idle") });

    node.on("input", (msg, _send, done) => {
      if (closing) {
        done();
        return;
      }
      const input = checkAudioInput(msg, params);
      if (!input.ok) {
        done(input.error);
        return;
      }
      if (failed.has(input.sessionId)) {
        // Reported once already; the session's end (or a new session id) clears it.
        if (input.end) {
          clearTimeout(failed.get(input.sessionId));
          failed.delete(input.sessionId);
        } else forgetLater(input.sessionId);
        done();
        return;
      }
      let open = sessions.get(input.sessionId);
      if (!open) {
        if (input.audio.length === 0 && input.end) {
          done();
          return;
        }
        open = openSession(input.sessionId);
      }
      const pushed = open.session.push(input.audio);
      if (!pushed.ok) {
        done(
          new Error(
            t(pushed.reason === "queue-full" ? "errors.queueFull" : "errors.ended", {
              session: input.sessionId,
            }),
          ),
        );
        return;
      }
      if (input.end) {
        clearTimeout(open.idleTimer);
        void open.session.end();
      } else touch(open);
      done();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      const all = [...sessions.values()];
      for (const open of all) clearTimeout(open.idleTimer);
      // End every stream cleanly (last finals still go out), then cut whatever is left in time
      // for Node-RED's 15 s close limit.
      const graceful = Promise.all(all.map((o) => o.session.end()));
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          void Promise.all(all.map((o) => o.session.abort())).then(() => resolve());
        }, closeTimeoutMs);
      });
      void Promise.race([graceful, bounded]).then(() => {
        clearTimeout(timer);
        // Sessions that failed while closing registered here too: clear after they all settled.
        for (const t of failed.values()) clearTimeout(t);
        failed.clear();
        sessions.clear();
        status.close();
        client.destroy();
        done();
      });
    });
  }

  RED.nodes.registerType("transcribe-medical", TranscribeMedicalNode);
};
