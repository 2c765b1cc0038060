import fc from "fast-check";
import { dirname, join } from "node:path";
import type { FlowNode } from "../support/node-red";
import {
  anything,
  audioChunk,
  documentMessage,
  endOfSession,
  filePaths,
  hl7Message,
  hostileHl7,
  identifier,
  messages,
  oddString,
  PHI,
  resultMessage,
  SECRET,
  SESSION_POOL,
  sessionEvent,
  sizedString,
  soxChunk,
  type FuzzFiles,
} from "./generators";

/** Node types with an input, from the package's list (config nodes have none). */
export const TYPES_WITH_INPUT = [
  "audio-in",
  "filter-final",
  "confidence-gate",
  "transcript-document",
  "hl7-mdm",
  "review-queue",
  "mllp-out",
  "fhir-document",
  "transcribe-medical",
  "transcribe-standard",
  "assemblyai-medical",
  "transcribe-medical-batch",
  "medical-entities",
];

/**
 * The node types under fuzz, each as one or more node instances in one flow (its own tab), with the
 * messages it gets and what "no session left open" looks like in its status.
 */
export interface Target {
  type: string;
  /** The instances that receive messages: the first gets most, the others (unreachable peers) a few. */
  instances: FlowNode[];
  outputs: number;
  /** Messages and the instance (index into `instances`) each goes to. */
  arbitrary: fc.Arbitrary<{ to: number; msg: Record<string, unknown> }>;
  /** Wait for each message's answer before the next (delivery nodes: one message in flight). */
  sequential?: boolean;
  /** Messages that end every session the fuzz opened (sent after the run, to each instance). */
  cleanup?: Array<Record<string, unknown>>;
  /** The number of sessions (or queued messages) a status text shows; 0 when it shows none. */
  openIn?: (statusText: string) => number;
}

/** The peers and files the targets point at. */
export interface Peers {
  awsEndpoint: string;
  aaiUrl: string;
  batchEndpoint: string;
  s3Endpoint: string;
  mllpPort: number;
  fhirBaseUrl: string;
  silentPort: number;
  files: FuzzFiles;
  /** The Comprehend Medical emulator (medical-entities); absent: the silent listener. */
  comprehendEndpoint?: string;
}

export const AWS_KEY_ID = "AKIDFUZZ000000000000";
export const AWS_SECRET = `${SECRET}-aws-secret-key-0000000000000`;
export const AWS_TOKEN = `${SECRET}-aws-session-token`;
export const AAI_KEY = `${SECRET}-assemblyai-key`;
export const FHIR_TOKEN = `${SECRET}-fhir-bearer`;

/** The config nodes every target's flow refers to, and their credentials. */
export function configNodes(p: Peers): {
  nodes: FlowNode[];
  credentials: Record<string, Record<string, string>>;
} {
  const aws = (id: string, endpoint: string): FlowNode => ({
    id,
    type: "aws-transcribe-config",
    region: "us-east-1",
    endpoint,
  });
  const awsCredentials = { accessKeyId: AWS_KEY_ID, secretAccessKey: AWS_SECRET, sessionToken: AWS_TOKEN };
  // The unreachable ones time out at once and do not retry: each message to them costs the suite time.
  const mllp = (id: string, port: number, quick = false): FlowNode => ({
    id,
    type: "mllp-endpoint",
    name: "fuzz receiver",
    host: "127.0.0.1",
    port,
    tls: false,
    connectTimeout: 0.2,
    ackTimeout: quick ? 0.05 : 0.2,
    retries: quick ? 0 : 1,
    backoff: 0.01,
    backoffMax: 0.05,
    keepOpen: true,
    // The in-memory queue: a durable one keeps (and retries) what a hostile peer never acknowledges.
    queueStore: "memory",
  });
  const fhir = (id: string, baseUrl: string, quick = false): FlowNode => ({
    id,
    type: "fhir-server",
    name: "fuzz fhir",
    baseUrl,
    auth: "bearer",
    timeout: quick ? 0.05 : 0.3,
    retries: quick ? 0 : 1,
    backoff: 0.01,
    backoffMax: 0.05,
    queueStore: "memory",
  });
  return {
    nodes: [
      aws("aws", p.awsEndpoint),
      aws("aws-silent", `http://127.0.0.1:${p.silentPort}`),
      aws("aws-batch", p.batchEndpoint),
      aws("aws-comprehend", p.comprehendEndpoint ?? `http://127.0.0.1:${p.silentPort}`),
      { id: "aai", type: "assemblyai-config", region: "us", endpoint: p.aaiUrl },
      {
        id: "aai-silent",
        type: "assemblyai-config",
        region: "us",
        endpoint: `ws://127.0.0.1:${p.silentPort}/v3/ws`,
      },
      mllp("mllp", p.mllpPort),
      mllp("mllp-silent", p.silentPort, true),
      fhir("fhir", p.fhirBaseUrl),
      fhir("fhir-silent", `http://127.0.0.1:${p.silentPort}/fhir`, true),
    ],
    credentials: {
      aws: awsCredentials,
      "aws-silent": awsCredentials,
      "aws-batch": { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
      "aws-comprehend": awsCredentials,
      aai: { apiKey: AAI_KEY },
      "aai-silent": { apiKey: AAI_KEY },
      fhir: { token: FHIR_TOKEN },
      "fhir-silent": { token: FHIR_TOKEN },
    },
  };
}

/** Most messages go to instance 0; `others` instances get one in `1 / (weight + others)` each. */
function routed(
  msg: fc.Arbitrary<Record<string, unknown>>,
  others = 0,
  weight = 30,
): fc.Arbitrary<{ to: number; msg: Record<string, unknown> }> {
  if (others === 0) return msg.map((m) => ({ to: 0, msg: m }));
  return fc
    .tuple(
      fc.oneof(
        { weight, arbitrary: fc.constant(0) },
        { weight: others, arbitrary: fc.integer({ min: 1, max: others }) },
      ),
      msg,
    )
    .map(([to, m]) => ({ to, msg: m }));
}

const sessionsIn =
  (pattern: RegExp) =>
  (text: string): number => {
    const m = pattern.exec(text);
    return m ? Number(m[1]) : 0;
  };

/** A session's end, for every id of the pool, as audio-in and the transcribers take it. */
const endPool = SESSION_POOL.map((sessionId) => ({
  topic: sessionId,
  payload: Buffer.alloc(0),
  audio: { sessionId, end: true },
}));

const awsStreaming = (type: string, extra: Record<string, unknown>): Target => {
  const base = {
    type,
    idleTimeoutS: 1,
    keepRaw: false,
    tuning: {
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      watchdogMs: 1000,
      openTimeoutMs: 1500,
      endAnswerMs: 1000,
      closeTimeoutMs: 1000,
    },
    ...extra,
  };
  return {
    type,
    instances: [
      { id: `${type}-1`, aws: "aws", ...base },
      { id: `${type}-unreachable`, aws: "aws-silent", ...base },
    ],
    outputs: 2,
    arbitrary: routed(
      messages(
        fc.oneof(
          { weight: 12, arbitrary: audioChunk },
          { weight: 1, arbitrary: soxChunk },
          { weight: 2, arbitrary: endOfSession },
        ),
      ),
      1,
    ),
    cleanup: endPool,
    openIn: (text) =>
      /connecting|reconnecting/.test(text) ? 1 : sessionsIn(/streaming \((\d+) sessions\)/)(text),
  };
};

export function targets(p: Peers): Target[] {
  const files = p.files;
  const pathMessage = fc.tuple(identifier, filePaths(files)).map(([topic, payload]) => ({ topic, payload }));
  return [
    {
      type: "audio-in",
      instances: [
        {
          id: "audio-in-1",
          type: "audio-in",
          sampleRate: "16000",
          channels: "mono",
          frameMs: 100,
          pace: "fast",
          endAfterRecording: true,
          compressed: "files",
          idleTimeout: 1,
          maxSessions: 100,
          rawRate: "",
          rawEncoding: "s16le",
          rawChannels: "1",
        },
      ],
      outputs: 1,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 6, arbitrary: audioChunk },
            { weight: 2, arbitrary: soxChunk },
            { weight: 2, arbitrary: pathMessage },
            { weight: 1, arbitrary: endOfSession },
            { weight: 1, arbitrary: wavHeaderFuzz(files) },
          ),
        ),
      ),
      cleanup: endPool,
      openIn: sessionsIn(/(\d+) sessions/),
    },
    {
      type: "filter-final",
      instances: [
        {
          id: "filter-final-1",
          type: "filter-final",
          partials: "throttle",
          partialIntervalMs: 200,
          dropEmpty: true,
        },
      ],
      outputs: 1,
      arbitrary: routed(messages(resultMessage)),
    },
    {
      type: "confidence-gate",
      instances: [
        {
          id: "confidence-gate-1",
          type: "confidence-gate",
          mode: "share",
          threshold: "0.85",
          thresholdType: "num",
          maxLowShare: "0.1",
        },
        {
          id: "confidence-gate-msg",
          type: "confidence-gate",
          mode: "mean",
          threshold: "threshold",
          thresholdType: "msg",
          maxLowShare: "0.1",
        },
      ],
      outputs: 2,
      arbitrary: routed(messages(resultMessage), 1, 3),
    },
    {
      type: "transcript-document",
      instances: [{ id: "transcript-document-1", type: "transcript-document", idleTimeout: 1 }],
      outputs: 1,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 8, arbitrary: resultMessage },
            { weight: 1, arbitrary: sessionEvent },
            { weight: 1, arbitrary: identifier.map((topic) => ({ topic, control: "flush" })) },
          ),
        ),
      ),
      cleanup: [{ control: "flush" }],
      openIn: sessionsIn(/^(\d+) open/),
    },
    {
      // The worklist lives beside the fuzz files (removed with them); a low bound, so the fuzz reaches it.
      type: "review-queue",
      instances: [
        {
          id: "review-queue-1",
          type: "review-queue",
          path: "/fuzz-review",
          signers: "drsmith",
          maxDocuments: "20",
          audioMaxMinutes: "1",
          audioMaxMiB: "1",
          storeDir: join(dirname(files.empty), "review-queue"),
        },
      ],
      outputs: 2,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 4, arbitrary: documentMessage },
            { weight: 3, arbitrary: audioChunk },
            { weight: 2, arbitrary: resultMessage.map((m) => ({ ...m, confidenceGate: { passed: false } })) },
            { weight: 1, arbitrary: fc.constant({ topic: "accuracy-report" }) },
          ),
        ),
      ),
    },
    {
      type: "medical-entities",
      instances: [
        {
          id: "medical-entities-1",
          type: "medical-entities",
          aws: "aws-comprehend",
          opEntities: true,
          opIcd10cm: true,
          opRxnorm: false,
          opSnomedct: false,
          deidentify: true,
          concurrency: 2,
          queueLimit: 20,
          timeoutS: 2,
          retry: { baseMs: 5, capMs: 20 },
        },
      ],
      outputs: 1,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 4, arbitrary: resultMessage },
            { weight: 2, arbitrary: documentMessage },
            { weight: 2, arbitrary: sizedString.map((payload) => ({ payload })) },
          ),
        ),
      ),
      openIn: sessionsIn(/^analysing (\d+)/),
    },
    {
      type: "hl7-mdm",
      instances: [
        {
          id: "hl7-mdm-1",
          type: "hl7-mdm",
          messageType: "MDM^T02",
          maxObxLength: "1000",
          patient: "patient",
          patientType: "msg",
          encounter: "encounter",
          encounterType: "msg",
        },
      ],
      outputs: 1,
      arbitrary: routed(messages(documentMessage)),
    },
    {
      type: "mllp-out",
      instances: [
        { id: "mllp-out-1", type: "mllp-out", endpoint: "mllp" },
        { id: "mllp-out-unreachable", type: "mllp-out", endpoint: "mllp-silent" },
      ],
      outputs: 3,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 6, arbitrary: hl7Message.map((payload) => ({ payload })) },
            { weight: 2, arbitrary: hostileHl7.map((payload) => ({ payload })) },
          ),
        ),
        1,
        1000,
      ),
      openIn: sessionsIn(/(\d+) queued/),
    },
    {
      type: "fhir-document",
      instances: [
        {
          id: "fhir-document-1",
          type: "fhir-document",
          server: "fhir",
          patient: "patient",
          patientType: "msg",
          encounter: "encounter",
          encounterType: "msg",
        },
        {
          id: "fhir-document-build",
          type: "fhir-document",
          server: "",
          patient: "patient",
          patientType: "msg",
          encounter: "encounter",
          encounterType: "msg",
        },
        {
          id: "fhir-document-unreachable",
          type: "fhir-document",
          server: "fhir-silent",
          patient: "patient",
          patientType: "msg",
          encounter: "encounter",
          encounterType: "msg",
        },
      ],
      outputs: 3,
      arbitrary: fc
        .tuple(
          fc.oneof(
            { weight: 700, arbitrary: fc.constant(0) },
            { weight: 300, arbitrary: fc.constant(1) },
            { weight: 1, arbitrary: fc.constant(2) },
          ),
          messages(documentMessage),
        )
        .map(([to, msg]) => ({ to, msg })),
    },
    awsStreaming("transcribe-medical", {
      specialty: "PRIMARYCARE",
      medicalType: "CONVERSATION",
      sampleRate: 16000,
      mediaEncoding: "pcm",
      showSpeakerLabel: false,
      channelIdentification: false,
      contentIdentification: "PHI",
      vocabularyName: "",
    }),
    awsStreaming("transcribe-standard", {
      languageMode: "fixed",
      languageCode: "en-US",
      languageOptions: "",
      preferredLanguage: "",
      sampleRate: 16000,
      mediaEncoding: "pcm",
      stability: "",
      showSpeakerLabel: false,
      channelIdentification: false,
      vocabularyNames: "",
      vocabularyFilterNames: "",
      vocabularyFilterMethod: "mask",
      pii: "identify",
      piiEntityTypes: "",
      languageModelName: "",
    }),
    {
      type: "assemblyai-medical",
      instances: ["aai", "aai-silent"].map((config, i) => ({
        id: i === 0 ? "assemblyai-medical-1" : "assemblyai-medical-unreachable",
        type: "assemblyai-medical",
        config,
        speechModel: "u3-rt-pro",
        medicalDomain: true,
        sampleRate: 16000,
        encoding: "pcm_s16le",
        keyterms: "",
        speakerLabels: false,
        maxSpeakers: "",
        minTurnSilence: 300,
        maxTurnSilence: 3600,
        inactivityTimeout: "",
        formatTurns: false,
        prompt: "",
        keepRaw: false,
        idleTimeout: 1,
        frameMs: 100,
        connectTimeout: 1,
        terminationTimeout: 1,
        maxRetries: 1,
        retryDelayMs: 20,
        maxBuffer: 5,
      })),
      outputs: 2,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 12, arbitrary: audioChunk },
            { weight: 1, arbitrary: soxChunk },
            { weight: 2, arbitrary: endOfSession },
          ),
        ),
        1,
      ),
      cleanup: endPool,
      openIn: (text) =>
        /connecting|reconnecting/.test(text) ? 1 : sessionsIn(/streaming \((\d+) sessions\)/)(text),
    },
    {
      type: "transcribe-medical-batch",
      instances: [
        {
          id: "transcribe-medical-batch-1",
          type: "transcribe-medical-batch",
          aws: "aws-batch",
          s3Endpoint: p.s3Endpoint,
          uploadBucket: "uploads",
          uploadPrefix: `incoming/${PHI}`,
          jobName: "",
          languageCode: "en-US",
          specialty: "PRIMARYCARE",
          medicalType: "CONVERSATION",
          mediaFormat: "auto",
          sampleRate: "",
          showSpeakerLabels: false,
          maxSpeakerLabels: 2,
          channelIdentification: false,
          contentIdentification: "PHI",
          outputBucket: "transcripts",
          outputKey: "",
          kmsKeyId: "",
          vocabularyName: "",
          tuning: { pollInitialMs: 10, pollMaxMs: 40, statusIntervalMs: 50 },
        },
      ],
      outputs: 2,
      arbitrary: routed(
        messages(
          fc.oneof(
            { weight: 1, arbitrary: pathMessage },
            {
              weight: 2,
              arbitrary: fc
                .tuple(
                  fc.oneof(
                    fc.constantFrom(
                      "s3://media/fuzz.wav",
                      "s3://media/missing.wav",
                      "s3://",
                      "s3:///x",
                      "S3://MEDIA/x",
                      `s3://media/${PHI}.wav`,
                    ),
                    sizedString.map((s) => `s3://media/${PHI}${s}`),
                    oddString.map((s) => `s3://${s}/${PHI}`),
                  ),
                  fc.option(fc.oneof(identifier, oddString, anything), { freq: 3 }),
                )
                .map(([payload, jobName]) => ({ payload, ...(jobName === null ? {} : { jobName }) })),
            },
            { weight: 1, arbitrary: fc.constant({ control: "cancel" }) },
          ),
        ),
      ),
      cleanup: [{ control: "cancel" }],
      openIn: (text) => (/starting|uploading|queued|in progress/.test(text) ? 1 : 0),
    },
  ];
}

/** A 16 kHz mono 16-bit WAV file of `dataBytes` bytes of silence (44-byte header). */
export function monoWav(dataBytes: number): Buffer {
  const b = Buffer.alloc(44 + dataBytes);
  b.write("RIFF", 0, "latin1");
  b.writeUInt32LE(36 + dataBytes, 4);
  b.write("WAVEfmt ", 8, "latin1");
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(16000, 24);
  b.writeUInt32LE(32000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write("data", 36, "latin1");
  b.writeUInt32LE(dataBytes, 40);
  return b;
}

/** A valid WAV file with a few of its header bytes replaced. */
function wavHeaderFuzz(files: FuzzFiles): fc.Arbitrary<Record<string, unknown>> {
  void files;
  return fc
    .tuple(
      identifier,
      fc.array(fc.tuple(fc.nat({ max: 47 }), fc.nat({ max: 255 })), { maxLength: 4 }),
      fc.nat({ max: 8000 }),
    )
    .map(([topic, edits, dataBytes]) => {
      const wav = monoWav(dataBytes);
      for (const [at, value] of edits) wav[at] = value;
      return { topic, payload: wav };
    });
}
