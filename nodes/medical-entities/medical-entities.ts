import type { ComprehendMedicalClient } from "@aws-sdk/client-comprehendmedical";
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import { secretsOf, type AwsClientSettings } from "../../src/providers/aws/client";
import { analyze, checkText } from "../../src/providers/comprehend/analyze";
import { callerOf, createComprehendClient } from "../../src/providers/comprehend/client";
import { EntitiesError } from "../../src/providers/comprehend/errors";
import { classifyInput } from "../../src/providers/comprehend/input";
import { entitiesNodeOptions, type EntitiesNodeOptions } from "../../src/providers/comprehend/node-config";
import { DEFAULT_RETRY, type RetryPolicy } from "../../src/providers/comprehend/retry";
import { internalErrorReporter, nodeScheduler, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { intake, outgoing } from "../shared/intake";

interface EntitiesDef extends NodeDef {
  aws: string;
  opEntities: boolean;
  opIcd10cm: boolean;
  opRxnorm: boolean;
  opSnomedct: boolean;
  deidentify: boolean;
  concurrency: string | number;
  queueLimit: string | number;
  timeoutS: string | number;
  /** Not in the editor: back-off timings for tests and unusual deployments. */
  retry?: Partial<RetryPolicy>;
}

interface ConfigNode extends Node {
  settings?: AwsClientSettings;
}

type Done = (err?: Error) => void;
type Send = (msg: NodeMessage) => void;
interface Job {
  msg: NodeMessage;
  send: Send;
  done: Done;
  text: string;
  words: Parameters<typeof analyze>[2];
}

export = function register(RED: NodeAPI): void {
  function MedicalEntitiesNode(this: Node, given: EntitiesDef): void {
    RED.nodes.createNode(this, given);
    const node = this;
    const config = settingsOrRefuse(node, "medical-entities", given, DEFAULTS);
    if (!config) return;
    const t = (key: string, vars?: Record<string, string | number>): string =>
      RED._(`medical-entities.${key}`, vars);

    const refuse = (message: string): void => {
      node.error(message);
      node.status({ fill: "red", shape: "ring", text: t("status.misconfigured") });
      node.on("input", (_msg, _send, done) => done(new Error(message)));
    };

    const settings = (RED.nodes.getNode(config.aws) as ConfigNode | null)?.settings;
    if (!settings) {
      refuse(t("errors.noConfig"));
      return;
    }
    if (settings.problems.length > 0) {
      refuse(`medical-entities: ${settings.problems.join("; ")}`);
      return;
    }
    let options: EntitiesNodeOptions;
    try {
      options = entitiesNodeOptions(config);
    } catch (err) {
      refuse(`medical-entities: ${err instanceof Error ? err.message : "invalid settings"}`);
      return;
    }
    const retry: RetryPolicy = { ...DEFAULT_RETRY, ...(config.retry ?? {}) };
    const secrets = secretsOf(settings);
    const scheduler = nodeScheduler(node, "medical-entities");
    const client: ComprehendMedicalClient = createComprehendClient(settings, options.timeoutMs, scheduler);
    const call = callerOf(client);
    const internal = internalErrorReporter(node, "medical-entities");
    const stopping = new AbortController();
    const waiting: Job[] = [];
    let running = 0;
    let closing = false;
    let last: NodeStatus = { fill: "grey", shape: "ring", text: t("status.idle") };

    const status = new StatusReporter(node, (): NodeStatus => {
      if (running === 0) return last;
      return {
        fill: "blue",
        shape: "dot",
        text: t("status.running", { running, waiting: waiting.length }),
      };
    });

    /** The error for done(err): a fixed text with a code; never text, service messages or credentials. */
    const failure = (err: unknown): Error & { code: string } => {
      const e =
        err instanceof EntitiesError ? err : new EntitiesError("SERVICE_ERROR", t("errors.unexpected"));
      let message = `medical-entities: ${e.message}`;
      for (const s of secrets) message = message.split(s).join("[redacted]");
      return Object.assign(new Error(message), { code: e.code });
    };

    const next = (): void => {
      while (!closing && running < options.concurrency && waiting.length > 0) {
        const job = waiting.shift();
        if (job) start(job);
      }
      status.update();
    };

    const start = (job: Job): void => {
      running++;
      analyze(call, job.text, job.words, {
        operations: options.operations,
        deidentify: options.deidentify,
        retry,
        scheduler,
        signal: stopping.signal,
      })
        .then(
          (analysis) => {
            running--;
            if (closing) {
              job.done();
              return;
            }
            const out = outgoing((m) => RED.util.cloneMessage(m), job.msg) as NodeMessage &
              Record<string, unknown>;
            out.entities = analysis.entities;
            out.entitiesInfo = {
              operations:
                options.deidentify && !options.operations.includes("phi")
                  ? [...options.operations, "phi"]
                  : options.operations,
              requests: analysis.requests,
              retries: analysis.retries,
            };
            if (analysis.deidentified !== undefined) out.deidentified = analysis.deidentified;
            last = {
              fill: "green",
              shape: "dot",
              text: t("status.done", { count: analysis.entities.length }),
            };
            job.send(out);
            job.done();
            next();
          },
          (err: unknown) => {
            running--;
            const e = failure(err);
            if (!closing) last = { fill: "red", shape: "ring", text: t("status.error", { code: e.code }) };
            job.done(e);
            next();
          },
        )
        // A throw in the handlers above (a bug) reaches Catch nodes, never the process.
        .catch((err: unknown) =>
          internal(err instanceof Error ? err : new Error("non-Error thrown"), job.msg),
        );
    };

    node.status(last);

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "medical-entities", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      if (closing) {
        done();
        return;
      }
      let input;
      try {
        input = classifyInput(msg.payload);
        // Refused at the edge, before it takes a place in the queue.
        if (input.kind === "text") checkText(input.text);
      } catch (err) {
        done(failure(err));
        return;
      }
      if (input.kind === "skip") {
        done();
        return;
      }
      if (running >= options.concurrency && waiting.length >= options.queueLimit) {
        done(
          Object.assign(new Error(t("errors.queueFull", { limit: options.queueLimit })), {
            code: "QUEUE_FULL",
          }),
        );
        return;
      }
      waiting.push({ msg, send, done, text: input.text, words: input.words });
      next();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      // Requests in flight are cancelled; messages that waited are reported, not dropped silently.
      stopping.abort();
      for (const job of waiting.splice(0)) {
        job.done(Object.assign(new Error(t("errors.stopped")), { code: "ABORTED" }));
      }
      status.close();
      client.destroy();
      done();
    });
  }

  RED.nodes.registerType("medical-entities", MedicalEntitiesNode);
};
