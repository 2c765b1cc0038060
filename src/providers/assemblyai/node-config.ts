/**
 * What the assemblyai-medical node reads from its editor configuration and its input messages, as
 * pure functions: the node file only wires them to Node-RED.
 */
import {
  MEDICAL_DEFAULTS,
  MEDICAL_DOMAIN,
  parseKeyterms,
  validateParams,
  type Checked,
  type SpeechModel,
  type StreamingEncoding,
  type StreamingParams,
  U3_PRO_MODELS,
} from "./params";
import { sessionIdCandidate, sessionIdProblem } from "../../util/session-id";

/** The node's editor fields, as Node-RED stores them (numbers may arrive as strings). */
export interface MedicalNodeFields {
  speechModel?: string;
  medicalDomain?: boolean;
  sampleRate?: string | number;
  encoding?: string;
  keyterms?: string;
  speakerLabels?: boolean;
  maxSpeakers?: string | number;
  minTurnSilence?: string | number;
  maxTurnSilence?: string | number;
  inactivityTimeout?: string | number;
  formatTurns?: boolean;
  prompt?: string;
}

/** Empty means "not set"; anything else must be a number (NaN is left for validation to name). */
function optionalNumber(v: string | number | undefined): number | undefined {
  if (v === undefined || v === null || (typeof v === "string" && v.trim() === "")) return undefined;
  return Number(v);
}

function numberOr(v: string | number | undefined, fallback: number): number {
  return optionalNumber(v) ?? fallback;
}

/** The connection parameters from the editor fields, with the Medical Mode defaults, validated. */
export function paramsFromFields(f: MedicalNodeFields): Checked<StreamingParams> {
  const p: StreamingParams = {
    speech_model: (f.speechModel || MEDICAL_DEFAULTS.speech_model) as SpeechModel,
    sample_rate: numberOr(f.sampleRate, MEDICAL_DEFAULTS.sample_rate),
    encoding: (f.encoding || MEDICAL_DEFAULTS.encoding) as StreamingEncoding,
    min_turn_silence: numberOr(f.minTurnSilence, MEDICAL_DEFAULTS.min_turn_silence ?? 800),
    max_turn_silence: numberOr(f.maxTurnSilence, MEDICAL_DEFAULTS.max_turn_silence ?? 3600),
  };
  // Medical Mode is on unless switched off explicitly.
  if (f.medicalDomain !== false) p.domain = MEDICAL_DOMAIN;
  const keyterms = parseKeyterms(f.keyterms ?? "");
  if (keyterms.length > 0) p.keyterms_prompt = keyterms;
  if (f.speakerLabels === true) {
    p.speaker_labels = true;
    const max = optionalNumber(f.maxSpeakers);
    if (max !== undefined) p.max_speakers = max;
  }
  const inactivity = optionalNumber(f.inactivityTimeout);
  if (inactivity !== undefined) p.inactivity_timeout = inactivity;
  // Sent only when on, as the SDK does; U3 Pro always formats and ignores it.
  if (f.formatTurns === true) p.format_turns = true;
  if (f.prompt && f.prompt.trim()) p.prompt = f.prompt;
  // Evidence of life in silence for the stall watchdog (see session.ts, "Liveness").
  if (U3_PRO_MODELS.includes(p.speech_model)) p.acknowledge_silence = true;
  return validateParams(p);
}

/** Fields a flow may change mid-stream with UpdateConfiguration (snake_case, as on the wire). */
export const UPDATABLE_FIELDS = [
  "keyterms_prompt",
  "prompt",
  "min_turn_silence",
  "max_turn_silence",
] as const;

export type UpdatableFields = Partial<Pick<StreamingParams, (typeof UPDATABLE_FIELDS)[number]>>;

export type ControlCommand =
  { type: "ForceEndpoint" } | { type: "UpdateConfiguration"; fields: UpdatableFields };

/** A message the node refuses; the text names the field and what is accepted, never a value from the message. */
export class InputError extends Error {
  override readonly name = "InputError";
}

export type CheckedInput<T> = { ok: true; value: T } | { ok: false; error: InputError };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The type of a value for an error message (never the value: it may be patient data). */
const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "a list" : typeof v);

/**
 * Checks an API key as typed or pasted into the config node: surrounding white space is trimmed; inside,
 * only printable ASCII is accepted, as an HTTP header needs (a zero-width space or a smart quote from a
 * copy-paste would otherwise make every connection fail). The message never contains the key.
 */
export function checkApiKey(raw: unknown): CheckedInput<string> {
  // A credential of another type (a flow's credentials file edited by hand): named by its kind only.
  if (raw !== undefined && raw !== null && typeof raw !== "string") {
    return {
      ok: false,
      error: new InputError(`the AssemblyAI API key is ${describe(raw)}, not text; enter the key again`),
    };
  }
  const key = (raw ?? "").trim();
  if (!key) return { ok: false, error: new InputError("the AssemblyAI account has no API key") };
  const bad = [...key].findIndex((c) => c < "\x21" || c > "\x7e");
  if (bad >= 0) {
    return {
      ok: false,
      error: new InputError(
        `the AssemblyAI API key holds a character that is not allowed (position ${bad + 1}: a space or a character ` +
          "outside printable ASCII, often a zero-width space or a smart quote from copy-paste); enter the key again",
      ),
    };
  }
  return { ok: true, value: key };
}

/** Reads `msg.control`; undefined when the message carries none. */
export function checkControl(
  control: unknown,
  base: StreamingParams,
): CheckedInput<ControlCommand> | undefined {
  if (control === undefined) return undefined;
  const fail = (text: string): CheckedInput<ControlCommand> => ({ ok: false, error: new InputError(text) });
  if (!isRecord(control)) {
    return fail(
      'msg.control must be an object: {type: "ForceEndpoint"} or {type: "UpdateConfiguration", ...}',
    );
  }
  if (control.type === "ForceEndpoint") return { ok: true, value: { type: "ForceEndpoint" } };
  if (control.type !== "UpdateConfiguration") {
    return fail('msg.control.type must be "ForceEndpoint" or "UpdateConfiguration"');
  }
  const fields: UpdatableFields = {};
  for (const [key, value] of Object.entries(control)) {
    if (key === "type") continue;
    switch (key) {
      case "keyterms_prompt":
        // A flow may well send one term as a string, or null: say what is accepted instead of throwing.
        if (!Array.isArray(value) || !value.every((t): t is string => typeof t === "string")) {
          return fail(
            `msg.control.keyterms_prompt must be a list (array) of strings, one per term (got ${Array.isArray(value) ? "a list holding a non-string" : describe(value)})`,
          );
        }
        fields.keyterms_prompt = value;
        break;
      case "prompt":
        if (typeof value !== "string")
          return fail(`msg.control.prompt must be a string (got ${describe(value)})`);
        fields.prompt = value;
        break;
      case "min_turn_silence":
      case "max_turn_silence":
        if (typeof value !== "number") {
          return fail(`msg.control.${key} must be a number of milliseconds (got ${describe(value)})`);
        }
        fields[key] = value;
        break;
      default:
        return fail(
          `msg.control.${key} cannot be updated mid-stream; accepted: ${UPDATABLE_FIELDS.join(", ")}`,
        );
    }
  }
  if (Object.keys(fields).length === 0) {
    return fail(`msg.control needs at least one of ${UPDATABLE_FIELDS.join(", ")}`);
  }
  // The same limits as at connection time: the service closes the session (3006) on an oversized prompt.
  const checked = validateParams({ ...base, ...fields });
  if (!checked.ok) return fail(`msg.control: ${checked.error.message}`);
  return {
    ok: true,
    value: { type: "UpdateConfiguration", fields: fields },
  };
}

/** The node's session and connection settings (editor fields, numbers possibly as strings). */
export interface TimingFields {
  idleTimeout?: string | number;
  frameMs?: string | number;
  connectTimeout?: string | number;
  terminationTimeout?: string | number;
  maxRetries?: string | number;
  retryDelayMs?: string | number;
  maxBuffer?: string | number;
  stallTimeout?: string | number;
  probeTimeout?: string | number;
  replayRate?: string | number;
  maxSessions?: string | number;
}

/** The settings, checked, in the units the session takes (milliseconds). */
export interface NodeTiming {
  idleMs: number;
  frameMs: number;
  connectTimeoutMs: number;
  terminationTimeoutMs: number;
  maxRetries: number;
  retryDelayMs: number;
  maxPendingMs: number;
  stallTimeoutMs: number;
  probeTimeoutMs: number;
  replayRate: number;
  maxSessions: number;
}

interface NumberRule {
  field: keyof TimingFields;
  label: string;
  min: number;
  max: number;
  integer?: boolean;
  /** 0 is accepted besides the range (the setting is off). */
  zeroOff?: boolean;
  unit: string;
}

const TIMING_RULES: Record<keyof NodeTiming, NumberRule & { scale: number; fallback: number }> = {
  idleMs: {
    field: "idleTimeout",
    label: "End a session after",
    min: 0.1,
    max: 86400,
    zeroOff: true,
    unit: "seconds",
    scale: 1000,
    fallback: 30,
  },
  frameMs: {
    field: "frameMs",
    label: "Frame length",
    min: 50,
    max: 1000,
    unit: "milliseconds",
    scale: 1,
    fallback: 100,
  },
  connectTimeoutMs: {
    field: "connectTimeout",
    label: "Connect timeout",
    min: 1,
    max: 120,
    unit: "seconds",
    scale: 1000,
    fallback: 10,
  },
  terminationTimeoutMs: {
    field: "terminationTimeout",
    label: "Termination wait",
    min: 0.5,
    max: 60,
    unit: "seconds",
    scale: 1000,
    fallback: 5,
  },
  maxRetries: {
    field: "maxRetries",
    label: "Reconnect attempts",
    min: 0,
    max: 100,
    integer: true,
    unit: "attempts",
    scale: 1,
    fallback: 5,
  },
  retryDelayMs: {
    field: "retryDelayMs",
    label: "First retry delay",
    min: 0,
    max: 60000,
    unit: "milliseconds",
    scale: 1,
    fallback: 250,
  },
  maxPendingMs: {
    field: "maxBuffer",
    label: "Audio buffer",
    min: 1,
    max: 600,
    unit: "seconds",
    scale: 1000,
    fallback: 60,
  },
  stallTimeoutMs: {
    field: "stallTimeout",
    label: "Stall timeout",
    min: 1,
    max: 300,
    zeroOff: true,
    unit: "seconds",
    scale: 1000,
    fallback: 5,
  },
  probeTimeoutMs: {
    field: "probeTimeout",
    label: "Probe wait",
    min: 0.2,
    max: 60,
    unit: "seconds",
    scale: 1000,
    fallback: 2,
  },
  replayRate: {
    field: "replayRate",
    label: "Replay speed",
    min: 1,
    max: 10,
    unit: "times real time",
    scale: 1,
    fallback: 2,
  },
  maxSessions: {
    field: "maxSessions",
    label: "Session limit",
    min: 1,
    max: 10000,
    integer: true,
    unit: "sessions",
    scale: 1,
    fallback: 100,
  },
};

/**
 * Checks the session settings: each a finite number in its documented range (an empty field takes the
 * default). The error names the setting and what is accepted, never the value.
 */
export function timingFromFields(f: TimingFields): CheckedInput<NodeTiming> {
  const out = {} as NodeTiming;
  for (const [key, rule] of Object.entries(TIMING_RULES) as Array<
    [keyof NodeTiming, (typeof TIMING_RULES)[keyof NodeTiming]]
  >) {
    const raw = f[rule.field];
    const value = optionalNumber(raw) ?? rule.fallback;
    const inRange = value >= rule.min && value <= rule.max && (!rule.integer || Number.isInteger(value));
    if (!Number.isFinite(value) || !(inRange || (rule.zeroOff === true && value === 0))) {
      const accepted = `${rule.integer ? "a whole number" : "a number"} of ${rule.unit} from ${rule.min} to ${rule.max}${rule.zeroOff ? ", or 0 for never" : ""}`;
      return {
        ok: false,
        error: new InputError(
          `assemblyai-medical: setting "${rule.label}" is invalid; accepted: ${accepted}`,
        ),
      };
    }
    out[key] = value * rule.scale;
  }
  return { ok: true, value: out };
}

/** The latest session time a message may name: one year of audio (contract 1 and 2 bound times so). */
export const MAX_OFFSET_MS = 365 * 24 * 3600 * 1000;

export interface AudioInput {
  sessionId: string;
  /** msg.audio.offsetMs: where the chunk lies in the session (contract 1), when given. */
  offsetMs: number | undefined;
  /** Absent for a bare end marker. */
  audio: Buffer | undefined;
  end: boolean;
}

/** sox-style msg.encoding names. A Map: a flow's "toString" or "__proto__" must not find something. */
const SOX_ENCODINGS: ReadonlyMap<string, StreamingEncoding> = new Map([
  ["signed-integer", "pcm_s16le"],
  ["mu-law", "pcm_mulaw"],
  ["ULAW", "pcm_mulaw"],
]);

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

function refusedAudio(text: string): CheckedInput<AudioInput> {
  return { ok: false, error: new InputError(text) };
}

/**
 * Checks an audio chunk message (contract 1, or sox-style flat fields) against the configured rate and
 * encoding. The session comes from msg.audio.sessionId, else msg.topic.
 */
export function checkAudioMessage(
  msg: Record<string, unknown>,
  expected: { sampleRate: number; encoding: StreamingEncoding },
): CheckedInput<AudioInput> {
  const info = isRecord(msg.audio) ? msg.audio : NO_FIELDS;
  // Two candidates in turn, without an array of them: this runs for every chunk.
  const sessionId =
    sessionIdCandidate(info.sessionId, "msg.audio.sessionId") ?? sessionIdCandidate(msg.topic, "msg.topic");
  if (sessionId === undefined)
    return refusedAudio("msg.audio.sessionId or msg.topic must name the audio session (a non-empty string)");
  if (typeof sessionId !== "string") return refusedAudio(sessionId.problem);
  const end = info.end === true;
  const payload = msg.payload;
  const empty =
    payload === undefined || payload === null || (Buffer.isBuffer(payload) && payload.length === 0);
  if (!Buffer.isBuffer(payload) && !(end && empty)) {
    return refusedAudio(
      `msg.payload must be a Buffer of ${expected.encoding} audio (got ${Array.isArray(payload) ? "array" : typeof payload}); ` +
        "accepted: audio chunk messages from audio-in (contract 1 in the README)",
    );
  }
  const rate = info.sampleRate ?? msg.rate;
  if (rate !== undefined && rate !== expected.sampleRate) {
    return refusedAudio(
      `msg.audio.sampleRate must be ${expected.sampleRate} Hz, the rate this node is configured for; ` +
        "resample with audio-in or change the node's sample rate",
    );
  }
  const rawEncoding = info.encoding ?? msg.encoding;
  const encoding =
    typeof rawEncoding === "string" ? (SOX_ENCODINGS.get(rawEncoding) ?? rawEncoding) : rawEncoding;
  if (encoding !== undefined && encoding !== expected.encoding) {
    return refusedAudio(
      `msg.audio.encoding must be "${expected.encoding}", the encoding this node is configured for`,
    );
  }
  const channels = info.channels ?? msg.channels;
  if (channels !== undefined && channels !== 1) {
    return refusedAudio("msg.audio.channels must be 1: AssemblyAI streaming takes mono audio");
  }
  if (Buffer.isBuffer(payload) && expected.encoding === "pcm_s16le" && payload.length % 2 !== 0) {
    return refusedAudio("msg.payload must hold whole 16-bit samples (an even number of bytes) for pcm_s16le");
  }
  const offsetMs = info.offsetMs;
  if (
    offsetMs !== undefined &&
    !(typeof offsetMs === "number" && Number.isFinite(offsetMs) && offsetMs >= 0 && offsetMs <= MAX_OFFSET_MS)
  ) {
    return refusedAudio(
      "msg.audio.offsetMs must be a number of milliseconds from 0 to one year (where the chunk lies in its session)",
    );
  }
  return {
    ok: true,
    value: {
      sessionId,
      offsetMs,
      audio: Buffer.isBuffer(payload) && payload.length ? payload : undefined,
      end,
    },
  };
}

/**
 * A message to assemblyai-medical, classified once where it enters: a control command for a session
 * (msg.control; its session is msg.topic), a chunk of audio (contract 1), or a refusal saying why.
 */
export type IncomingMessage =
  | { kind: "control"; sessionId: string; command: ControlCommand }
  | ({ kind: "audio" } & AudioInput)
  | { kind: "invalid"; error: InputError };

export function classifyMessage(msg: Record<string, unknown>, params: StreamingParams): IncomingMessage {
  const control = checkControl(msg.control, params);
  if (control) {
    if (!control.ok) return { kind: "invalid", error: control.error };
    const sessionId = typeof msg.topic === "string" ? msg.topic : "";
    const problem = sessionIdProblem(sessionId, "msg.topic");
    if (problem !== undefined) return { kind: "invalid", error: new InputError(problem) };
    return { kind: "control", sessionId, command: control.value };
  }
  const audio = checkAudioMessage(msg, { sampleRate: params.sample_rate, encoding: params.encoding });
  if (!audio.ok) return { kind: "invalid", error: audio.error };
  // Field by field rather than a spread: one object of one shape per chunk.
  const { sessionId, offsetMs, audio: bytes, end } = audio.value;
  return { kind: "audio", sessionId, offsetMs, audio: bytes, end };
}
