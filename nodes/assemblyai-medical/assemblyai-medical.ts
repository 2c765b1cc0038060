import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import {
  checkAudioMessage,
  checkControl,
  paramsFromFields,
  type MedicalNodeFields,
} from "../../src/providers/assemblyai/node-config";
import { baseUrl, connectionUrl, type StreamingParams } from "../../src/providers/assemblyai/params";
import { AssemblyAiSession, type SessionEvent } from "../../src/providers/assemblyai/session";
import type { AssemblyAiConfigNode } from "../assemblyai-config/types";
import { StatusReporter } from "../shared/node-red";

interface AssemblyAiMedicalDef extends NodeDef, MedicalNodeFields {
  config: string;
  keepRaw: boolean;
  /** Seconds without audio after which a forgotten session is ended. */
  idleTimeout: string | number;
  frameMs: string | number;
  connectTimeout: string | number;
  terminationTimeout: string | number;
  maxRetries: string | number;
  retryDelayMs: string | number;
}

interface OpenSession {
  session: AssemblyAiSession;
  idle: NodeJS.Timeout | undefined;
  ending: Promise<void> | undefined;
}

const num = (v: string | number | undefined, fallback: number): number => {
  const n = typeof v === "string" && v.trim() === "" ? NaN : Number(v);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
};

/** Node-RED gives a close handler 15 s; everything must be finished well before. */
const CLOSE_BUDGET_MS = 10000;

export = function register(RED: NodeAPI): void {
  function AssemblyAiMedicalNode(this: Node, config: AssemblyAiMedicalDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const account = RED.nodes.getNode(config.config) as AssemblyAiConfigNode | null;
    const apiKey = account?.credentials?.apiKey;

    const misconfigured = (text: string): void => {
      node.error(text);
      node.status({ fill: "red", shape: "ring", text: RED._("assemblyai-medical.status.misconfigured") });
      node.on("input", (_msg, _send, done) => done(new Error(text)));
    };
    if (!account) return misconfigured(RED._("assemblyai-medical.errors.noConfig"));
    if (!apiKey) return misconfigured(RED._("assemblyai-medical.errors.noKey"));
    const checkedParams = paramsFromFields(config);
    if (!checkedParams.ok) return misconfigured(checkedParams.error.message);
    const base = baseUrl(account.region, account.endpoint);
    if (!base.ok) return misconfigured(base.error.message);
    const params: StreamingParams = checkedParams.value;
    const url = connectionUrl(base.value, params);

    const timing = {
      idleMs: num(config.idleTimeout, 30) * 1000,
      frameMs: num(config.frameMs, 100),
      connectTimeoutMs: num(config.connectTimeout, 10) * 1000,
      terminationTimeoutMs: num(config.terminationTimeout, 5) * 1000,
      maxRetries: num(config.maxRetries, 5),
      retryDelayMs: num(config.retryDelayMs, 250),
    };
    const sessions = new Map<string, OpenSession>();
    let lastErrorCode: number | undefined;
    let closing = false;

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
    node.status({});

    const onEvent = (sessionId: string, event: SessionEvent): void => {
      if (event.event === "begin") lastErrorCode = undefined;
      node.send([null, { topic: sessionId, payload: event }]);
      if (event.event === "error") {
        lastErrorCode = event.code;
        // A Catch node sees it; the message names the cause and the close code, never audio or text.
        node.error(event.message, { topic: sessionId, payload: event });
      } else if (event.event === "warning") {
        node.warn(event.message);
      }
      status.update();
    };

    const open = (sessionId: string): OpenSession => {
      const session = new AssemblyAiSession(
        {
          sessionId,
          url,
          apiKey,
          params,
          frameMs: timing.frameMs,
          connectTimeoutMs: timing.connectTimeoutMs,
          terminationTimeoutMs: timing.terminationTimeoutMs,
          retry: { maxRetries: timing.maxRetries, retryDelayMs: timing.retryDelayMs },
        },
        {
          result: (result, raw) => {
            const msg: NodeMessage & { raw?: unknown } = { topic: sessionId, payload: result };
            if (config.keepRaw) msg.raw = raw;
            node.send([msg, null]);
          },
          event: (event) => onEvent(sessionId, event),
          state: () => status.update(),
        },
      );
      const entry: OpenSession = { session, idle: undefined, ending: undefined };
      sessions.set(sessionId, entry);
      session.start();
      status.update();
      return entry;
    };

    const finish = (sessionId: string, entry: OpenSession): Promise<void> => {
      if (entry.idle) clearTimeout(entry.idle);
      entry.idle = undefined;
      entry.ending ??= entry.session.end().then(() => {
        if (sessions.get(sessionId) === entry) sessions.delete(sessionId);
        status.update();
      });
      return entry.ending;
    };

    const touch = (sessionId: string, entry: OpenSession): void => {
      if (entry.idle) clearTimeout(entry.idle);
      if (timing.idleMs > 0) entry.idle = setTimeout(() => void finish(sessionId, entry), timing.idleMs);
    };

    node.on("input", (msg, _send, done) => {
      if (closing) return done();
      const m = msg as NodeMessage & Record<string, unknown>;
      const control = checkControl(m.control, params);
      if (control) {
        if (!control.ok) return done(control.error);
        const sessionId = typeof m.topic === "string" ? m.topic : "";
        const entry = sessions.get(sessionId);
        const sent =
          entry &&
          (control.value.type === "ForceEndpoint"
            ? entry.session.forceEndpoint()
            : entry.session.updateConfiguration(control.value.fields));
        if (!sent) return done(new Error(RED._("assemblyai-medical.errors.noSession")));
        return done();
      }
      const input = checkAudioMessage(m, { sampleRate: params.sample_rate, encoding: params.encoding });
      if (!input.ok) return done(input.error);
      const { sessionId, audio, end } = input.value;
      let entry = sessions.get(sessionId);
      if (entry?.ending) {
        // Audio after the end of a session starts a new one only once the old one has finished.
        if (!end) return done(new Error(RED._("assemblyai-medical.errors.sessionEnding")));
        return done();
      }
      entry ??= open(sessionId);
      // A failed session (auth, parameters) already reported its error once; its later chunks are dropped.
      if (audio) entry.session.write(audio);
      if (end) void finish(sessionId, entry);
      else touch(sessionId, entry);
      done();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      const endings = [...sessions.entries()].map(([id, entry]) => finish(id, entry));
      const budget = Math.min(CLOSE_BUDGET_MS, timing.terminationTimeoutMs + 2000);
      let timer: NodeJS.Timeout | undefined;
      const bounded = new Promise<void>((resolve) => (timer = setTimeout(resolve, budget)));
      void Promise.race([Promise.all(endings), bounded]).then(() => {
        clearTimeout(timer);
        for (const entry of sessions.values()) {
          if (entry.idle) clearTimeout(entry.idle);
          entry.session.abort();
        }
        sessions.clear();
        status.close();
        done();
      });
    });
  }

  RED.nodes.registerType("assemblyai-medical", AssemblyAiMedicalNode);
};
