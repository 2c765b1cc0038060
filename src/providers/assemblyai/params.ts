/**
 * AssemblyAI v3 streaming: connection parameters, their validation and the connection URL.
 *
 * Validation happens here, before connecting, because the service answers a bad value with
 * Error 3006 and a closed socket: a clear local error is cheaper and names the field.
 */

export const SPEECH_MODELS = [
  "u3-rt-pro",
  "universal-3-5-pro",
  "universal-streaming-english",
  "universal-streaming-multilingual",
] as const;
export type SpeechModel = (typeof SPEECH_MODELS)[number];

/**
 * The U3 Pro family among them: only these take `acknowledge_silence` (the SDK documents it for U3 Pro
 * models; LiveKit's list of them mirrors the server's `SpeechModel.is_u3_pro`). Whether another model
 * ignores or refuses it is not known, so it is never sent to them.
 */
export const U3_PRO_MODELS: readonly SpeechModel[] = ["u3-rt-pro", "universal-3-5-pro"];

export const ENCODINGS = ["pcm_s16le", "pcm_mulaw"] as const;
export type StreamingEncoding = (typeof ENCODINGS)[number];

export const MEDICAL_DOMAIN = "medical-v1";

export const REGION_HOSTS = {
  us: "wss://streaming.assemblyai.com/v3/ws",
  eu: "wss://streaming.eu.assemblyai.com/v3/ws",
} as const;
export type Region = keyof typeof REGION_HOSTS;

/** The connection parameters the node exposes, in the service's own (snake_case) names. */
export interface StreamingParams {
  speech_model: SpeechModel;
  /** "medical-v1" turns Medical Mode on; undefined leaves it off. */
  domain?: typeof MEDICAL_DOMAIN;
  sample_rate: number;
  encoding: StreamingEncoding;
  keyterms_prompt?: string[];
  speaker_labels?: boolean;
  max_speakers?: number;
  min_turn_silence?: number;
  max_turn_silence?: number;
  /** Seconds; undefined means the service never closes an idle session. */
  inactivity_timeout?: number;
  format_turns?: boolean;
  prompt?: string;
  /**
   * A `Silence` message about once a second while no speech is being transcribed (U3 Pro models only):
   * evidence of life in silence for the stall watchdog, and a confirmation that the audio was heard.
   */
  acknowledge_silence?: boolean;
}

/** Medical Mode defaults from AssemblyAI's Medical Mode guide. */
export const MEDICAL_DEFAULTS: StreamingParams = {
  speech_model: "u3-rt-pro",
  domain: MEDICAL_DOMAIN,
  sample_rate: 16000,
  encoding: "pcm_s16le",
  min_turn_silence: 800,
  max_turn_silence: 3600,
};

export const LIMITS = {
  keyterms: 100,
  keytermChars: 50,
  promptChars: 1750,
  minSampleRate: 8000,
  maxSampleRate: 48000,
  maxSpeakers: [1, 10],
  inactivityTimeout: [5, 3600],
  turnSilenceMs: [0, 10000],
} as const;

/** A parameter the service would refuse; the message names the field and the accepted values, never the value. */
export class ParamError extends Error {
  override readonly name = "ParamError";
  constructor(
    readonly field: string,
    readonly accepted: string,
  ) {
    super(`AssemblyAI parameter ${field} is invalid: accepted ${accepted}`);
  }
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: ParamError };

const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);
const inRange = (n: unknown, [lo, hi]: readonly [number, number]): boolean => isInt(n) && n >= lo && n <= hi;

/** Checks every field against the service's documented limits; the first problem wins. */
export function validateParams(p: StreamingParams): Checked<StreamingParams> {
  const fail = (field: string, accepted: string): Checked<StreamingParams> => ({
    ok: false,
    error: new ParamError(field, accepted),
  });
  if (!SPEECH_MODELS.includes(p.speech_model)) return fail("speech_model", SPEECH_MODELS.join(", "));
  if (p.domain !== undefined && p.domain !== MEDICAL_DOMAIN) return fail("domain", MEDICAL_DOMAIN);
  if (!inRange(p.sample_rate, [LIMITS.minSampleRate, LIMITS.maxSampleRate])) {
    return fail(
      "sample_rate",
      `a whole number of Hz from ${LIMITS.minSampleRate} to ${LIMITS.maxSampleRate}`,
    );
  }
  if (!ENCODINGS.includes(p.encoding)) return fail("encoding", ENCODINGS.join(", "));
  if (p.keyterms_prompt !== undefined) {
    // Values can come from a flow's msg.control: check the type before using it as a list.
    if (!Array.isArray(p.keyterms_prompt)) return fail("keyterms_prompt", "a list (array) of terms");
    if (p.keyterms_prompt.length > LIMITS.keyterms)
      return fail("keyterms_prompt", `at most ${LIMITS.keyterms} terms`);
    // The service silently ignores terms over 50 characters; refusing them tells the user why a term has no effect.
    const bad = p.keyterms_prompt.findIndex(
      (t) => typeof t !== "string" || !t.trim() || t.length > LIMITS.keytermChars,
    );
    if (bad >= 0)
      return fail(`keyterms_prompt[${bad}]`, `a non-empty term of at most ${LIMITS.keytermChars} characters`);
  }
  if (p.max_speakers !== undefined && !inRange(p.max_speakers, LIMITS.maxSpeakers)) {
    return fail("max_speakers", "a whole number from 1 to 10");
  }
  for (const field of ["min_turn_silence", "max_turn_silence"] as const) {
    if (p[field] !== undefined && !inRange(p[field], LIMITS.turnSilenceMs)) {
      return fail(field, `a whole number of milliseconds from 0 to ${LIMITS.turnSilenceMs[1]}`);
    }
  }
  if (
    p.min_turn_silence !== undefined &&
    p.max_turn_silence !== undefined &&
    p.min_turn_silence > p.max_turn_silence
  ) {
    return fail("min_turn_silence", "a value not above max_turn_silence");
  }
  if (p.inactivity_timeout !== undefined && !inRange(p.inactivity_timeout, LIMITS.inactivityTimeout)) {
    return fail("inactivity_timeout", "a whole number of seconds from 5 to 3600, or none");
  }
  if (p.prompt !== undefined && (typeof p.prompt !== "string" || p.prompt.length > LIMITS.promptChars)) {
    return fail("prompt", `text of at most ${LIMITS.promptChars} characters`);
  }
  return { ok: true, value: p };
}

/**
 * The query string as the official SDKs build it: booleans as "true"/"false", lists as one
 * parameter holding a JSON array. The API key never goes here (it travels in the Authorization header).
 */
export function queryParams(p: Partial<StreamingParams>): URLSearchParams {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(p) as Array<[string, unknown]>) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) q.set(key, JSON.stringify(value));
    else if (typeof value === "boolean") q.set(key, value ? "true" : "false");
    else if (typeof value === "number" || typeof value === "string") q.set(key, String(value));
  }
  return q;
}

/** Checks an endpoint override: ws:// is allowed so that a local emulator or a recording proxy can be used. */
export function checkEndpoint(endpoint: string): Checked<URL> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { ok: false, error: new ParamError("endpoint", "a ws:// or wss:// URL") };
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    return { ok: false, error: new ParamError("endpoint", "a ws:// or wss:// URL") };
  }
  if (url.username || url.password) {
    // Credentials in a URL end up in logs; the key belongs in the config node's credential.
    return { ok: false, error: new ParamError("endpoint", "a URL without user name or password") };
  }
  return { ok: true, value: url };
}

/** The base websocket URL for a region, or the override when one is given. */
export function baseUrl(region: Region, endpoint?: string): Checked<string> {
  if (endpoint && endpoint.trim()) {
    const checked = checkEndpoint(endpoint.trim());
    return checked.ok ? { ok: true, value: checked.value.toString() } : checked;
  }
  return { ok: true, value: REGION_HOSTS[region] ?? REGION_HOSTS.us };
}

/** The full connection URL: base plus the encoded parameters (any query already on the base is kept). */
export function connectionUrl(base: string, p: Partial<StreamingParams>): string {
  const url = new URL(base);
  for (const [k, v] of queryParams(p)) url.searchParams.set(k, v);
  return url.toString();
}

/** Bytes per second of the encoded audio (mono: the service takes one channel). */
export function bytesPerSecond(sampleRate: number, encoding: StreamingEncoding): number {
  return sampleRate * (encoding === "pcm_mulaw" ? 1 : 2);
}

/** Bytes for a duration, rounded down to whole samples. */
export function bytesForMs(ms: number, sampleRate: number, encoding: StreamingEncoding): number {
  const bytesPerSample = encoding === "pcm_mulaw" ? 1 : 2;
  return Math.floor((ms * sampleRate) / 1000) * bytesPerSample;
}

/** Parses a keyterm list typed by a user: one term per line or comma-separated, blanks dropped. */
export function parseKeyterms(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}
