import type { S3Client } from "@aws-sdk/client-s3";
import type { TranscribeClient } from "@aws-sdk/client-transcribe";
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeStatus } from "node-red";
import { secretsOf, type AwsClientSettings } from "../../src/providers/aws/client";
import { createBatchS3Client, createBatchTranscribeClient } from "../../src/providers/aws-batch/clients";
import { BatchInputError } from "../../src/providers/aws-batch/media";
import {
  checkBatchParams,
  checkJobName,
  generateJobName,
  type BatchParams,
} from "../../src/providers/aws-batch/params";
import {
  BatchRun,
  checkUploadTarget,
  classifyPayload,
  type UploadTarget,
} from "../../src/providers/aws-batch/pipeline";
import {
  BatchJobError,
  MAX_RUNNING_JOBS,
  type JobProgress,
  type RunnerTuning,
} from "../../src/providers/aws-batch/runner";
import { BatchOutputError } from "../../src/providers/aws-batch/transcript";
import { StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { intake } from "../shared/intake";

interface BatchDef extends NodeDef {
  aws: string;
  s3Endpoint: string;
  uploadBucket: string;
  uploadPrefix: string;
  jobName: string;
  languageCode: string;
  specialty: string;
  medicalType: string;
  mediaFormat: string;
  sampleRate: string | number;
  showSpeakerLabels: boolean;
  maxSpeakerLabels: string | number;
  channelIdentification: boolean;
  contentIdentification: string;
  outputBucket: string;
  outputKey: string;
  kmsKeyId: string;
  vocabularyName: string;
  /** Not in the editor: polling timings for tests and unusual deployments (see RunnerTuning). */
  tuning?: Partial<RunnerTuning> & { statusIntervalMs?: number; maxRunningJobs?: number };
}

interface ConfigNode extends Node {
  settings?: AwsClientSettings;
}

type Phase = "starting" | "uploading" | "QUEUED" | "IN_PROGRESS";

/**
 * The error codes with a hint in the catalog (errors.codes.*). A code can come from a peer (a service's
 * error name), so the catalog is only asked for one of these: never "constructor" or "__proto__".
 */
const HINTED_CODES: ReadonlySet<string> = new Set([
  "FAILED",
  "ConflictException",
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "AccessDenied",
  "NoSuchBucket",
  "NoSuchKey",
  "BadRequestException",
  "LimitExceededException",
  "TIMEOUT",
]);

interface Running {
  run: BatchRun;
  phase: Phase;
  elapsedMs: number;
}

export = function register(RED: NodeAPI): void {
  function TranscribeMedicalBatchNode(this: Node, given: BatchDef): void {
    RED.nodes.createNode(this, given);
    const node = this;
    const config = settingsOrRefuse(node, "transcribe-medical-batch", given, DEFAULTS);
    if (!config) return;
    const t = (key: string, vars?: Record<string, string | number>): string =>
      RED._(`transcribe-medical-batch.${key}`, vars);

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
      refuse(`transcribe-medical-batch: ${settings.problems.join("; ")}`);
      return;
    }
    const checked = checkBatchParams({
      jobName: config.jobName,
      languageCode: config.languageCode,
      specialty: config.specialty,
      type: config.medicalType,
      mediaFormat: config.mediaFormat,
      sampleRate: config.sampleRate,
      showSpeakerLabels: config.showSpeakerLabels,
      maxSpeakerLabels: config.maxSpeakerLabels,
      channelIdentification: config.channelIdentification,
      contentIdentification: config.contentIdentification,
      outputBucketName: config.outputBucket,
      outputKey: config.outputKey,
      outputEncryptionKMSKeyId: config.kmsKeyId,
      vocabularyName: config.vocabularyName,
    });
    if (!checked.ok) {
      refuse(checked.error.message);
      return;
    }
    const params: BatchParams = checked.value;
    const uploadChecked = checkUploadTarget(config.uploadBucket ?? "", config.uploadPrefix ?? "");
    if (!uploadChecked.ok) {
      refuse(uploadChecked.error.message);
      return;
    }
    const upload: UploadTarget | null = uploadChecked.value;
    const s3Endpoint = (config.s3Endpoint ?? "").trim();
    if (s3Endpoint !== "" && !/^https?:\/\/[^\s/]+(\/.*)?$/.test(s3Endpoint)) {
      refuse(t("errors.badS3Endpoint"));
      return;
    }
    const secrets = secretsOf(settings);
    const transcribe: TranscribeClient = createBatchTranscribeClient(settings);
    const s3: S3Client = createBatchS3Client(settings, s3Endpoint === "" ? null : s3Endpoint);
    const running = new Map<string, Running>();
    let last: NodeStatus = { fill: "grey", shape: "ring", text: t("status.idle") };
    let closing = false;

    const { statusIntervalMs = 500, maxRunningJobs = MAX_RUNNING_JOBS, ...tuning } = config.tuning ?? {};
    const status = new StatusReporter(
      node,
      (): NodeStatus => {
        const all = [...running.values()];
        if (all.length === 0) return last;
        const more = all.length > 1 ? t("status.more", { count: all.length }) : "";
        if (all.some((r) => r.phase === "IN_PROGRESS")) {
          const elapsed = all.reduce((m, r) => Math.max(m, r.elapsedMs), -Infinity);
          return {
            fill: "blue",
            shape: "dot",
            text: t("status.inProgress", { elapsed: Math.round(elapsed / 1000) }) + more,
          };
        }
        if (all.some((r) => r.phase === "QUEUED"))
          return { fill: "yellow", shape: "dot", text: t("status.queued") + more };
        if (all.some((r) => r.phase === "uploading")) {
          return { fill: "yellow", shape: "ring", text: t("status.uploading") + more };
        }
        return { fill: "yellow", shape: "ring", text: t("status.starting") + more };
      },
      statusIntervalMs,
    );

    /** The error for done(err): a clear text with a code, never credentials, names or transcript text. */
    const failure = (err: unknown): Error & { code: string } => {
      let code = "ERROR";
      let message: string;
      if (err instanceof BatchJobError) {
        code = err.code;
        message =
          t("errors.job", { message: err.message }) +
          (HINTED_CODES.has(code) ? ` ${t(`errors.codes.${code}`)}` : "");
      } else if (err instanceof BatchInputError || err instanceof BatchOutputError) {
        code = err.code;
        message = err.message;
      } else {
        message = t("errors.unexpected");
      }
      for (const s of secrets) message = message.split(s).join("[redacted]");
      return Object.assign(new Error(message), { code });
    };

    node.status(last);

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload", "control", "jobName"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "transcribe-medical-batch", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      if (closing) {
        done();
        return;
      }
      const m = msg as NodeMessage & { control?: unknown; jobName?: unknown };
      if (m.control === "cancel") {
        const name = typeof m.jobName === "string" && m.jobName !== "" ? m.jobName : null;
        const targets = [...running.entries()].filter(([n]) => name === null || n === name);
        void Promise.allSettled(targets.map(([, r]) => r.run.cancel())).then((outcomes) => {
          const rejected = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
          if (targets.length > 0) last = { fill: "grey", shape: "ring", text: t("status.cancelled") };
          status.update();
          done(rejected ? failure(rejected.reason) : undefined);
        });
        return;
      }
      if (m.control !== undefined) {
        done(new Error(t("errors.badControl")));
        return;
      }
      const input = classifyPayload(m.payload);
      if (!input.ok) {
        done(failure(input.error));
        return;
      }
      let jobName: string;
      if (typeof m.jobName === "string" && m.jobName !== "") {
        const j = checkJobName(m.jobName);
        if (!j.ok) {
          done(Object.assign(new Error(j.error.message), { code: j.error.code }));
          return;
        }
        jobName = j.value;
      } else jobName = params.jobName ?? generateJobName();
      if (running.has(jobName)) {
        done(Object.assign(new Error(t("errors.running")), { code: "ConflictException" }));
        return;
      }
      if (running.size >= maxRunningJobs) {
        done(
          Object.assign(new Error(t("errors.tooManyJobs", { max: maxRunningJobs })), {
            code: "TOO_MANY_JOBS",
          }),
        );
        return;
      }
      const entry: Running = {
        phase: "starting",
        elapsedMs: 0,
        run: new BatchRun({
          transcribe,
          s3,
          params,
          input: input.value,
          jobName,
          upload,
          tuning,
          secrets,
          onUpload: () => {
            entry.phase = "uploading";
            status.update();
          },
          onProgress: (p: JobProgress) => {
            if (p.state === "QUEUED" || p.state === "IN_PROGRESS") entry.phase = p.state;
            entry.elapsedMs = p.elapsedMs;
            status.update();
          },
        }),
      };
      running.set(jobName, entry);
      status.update();
      entry.run.run().then(
        (outcome) => {
          running.delete(jobName);
          if (closing) return;
          last = {
            fill: "green",
            shape: "dot",
            text: t("status.completed", { count: outcome.results.length }),
          };
          status.update();
          for (const result of outcome.results) {
            send([{ topic: jobName, payload: result, jobName }, null]);
          }
          send([null, { topic: jobName, payload: outcome.document, jobName }]);
          done();
        },
        (err: unknown) => {
          running.delete(jobName);
          if (closing) {
            done();
            return;
          }
          if (err instanceof BatchJobError && err.code === "CANCELLED") {
            last = { fill: "grey", shape: "ring", text: t("status.cancelled") };
            status.update();
            done();
            return;
          }
          const e = failure(err);
          last = {
            fill: "red",
            shape: "ring",
            text: t(e.code === "FAILED" ? "status.failed" : "status.error", { code: e.code }),
          };
          status.update();
          done(e);
        },
      );
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      closing = true;
      // Polling ends; jobs already started run on at AWS and their transcripts stay in the bucket.
      for (const r of running.values()) r.run.stop();
      running.clear();
      status.close();
      transcribe.destroy();
      s3.destroy();
      done();
    });
  }

  RED.nodes.registerType("transcribe-medical-batch", TranscribeMedicalBatchNode);
};
