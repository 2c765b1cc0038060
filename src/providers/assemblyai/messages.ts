/** AssemblyAI v3 server messages, as they arrive as JSON text frames, and a tolerant parser. */

export interface StreamingWord {
  text: string;
  /** Milliseconds on this connection's audio clock. */
  start: number;
  end: number;
  /** Null when the service sent none (contract 2 allows a null confidence; 0 would read as "certainly wrong"). */
  confidence: number | null;
  word_is_final: boolean;
  speaker?: string;
}

export interface TurnMessage {
  type: "Turn";
  turn_order: number;
  turn_is_formatted: boolean;
  end_of_turn: boolean;
  transcript: string;
  end_of_turn_confidence?: number;
  words: StreamingWord[];
  utterance?: string;
  language_code?: string;
  speaker_label?: string;
}

export interface BeginMessage {
  type: "Begin";
  id: string;
  expires_at: number;
  configuration?: Record<string, unknown>;
}

export interface TerminationMessage {
  type: "Termination";
  audio_duration_seconds: number;
  session_duration_seconds: number;
}

export interface ErrorMessage {
  type: "Error";
  error_code: number;
  error: string;
}

export interface WarningMessage {
  type: "Warning";
  warning_code: number;
  warning: string;
}

/** With acknowledge_silence: a stretch of this connection's audio (ms) in which no speech was heard. */
export interface SilenceMessage {
  type: "Silence";
  start_ms: number;
  end_ms: number;
}

export interface OtherMessage {
  type: "Other";
  /** The type the server gave (SpeechStarted, SpeakerRevision, Heartbeat, …): not needed for results. */
  serverType: string;
}

export type ServerMessage =
  | BeginMessage
  | TurnMessage
  | TerminationMessage
  | ErrorMessage
  | WarningMessage
  | SilenceMessage
  | OtherMessage;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const num = (v: unknown, fallback = 0): number =>
  typeof v === "number" && Number.isFinite(v) ? v : fallback;
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const optStr = (v: unknown): string | undefined => (typeof v === "string" && v ? v : undefined);

function parseWord(v: unknown): StreamingWord | undefined {
  if (!isObject(v) || typeof v.text !== "string") return undefined;
  const start = num(v.start);
  const word: StreamingWord = {
    text: v.text,
    start,
    end: Math.max(start, num(v.end, start)),
    confidence:
      typeof v.confidence === "number" && Number.isFinite(v.confidence)
        ? Math.min(1, Math.max(0, v.confidence))
        : null,
    word_is_final: v.word_is_final === true,
  };
  const speaker = optStr(v.speaker);
  if (speaker) word.speaker = speaker;
  return word;
}

/**
 * Parses one text frame. Anything that is not JSON or has no known shape becomes undefined, so a
 * malformed frame can never throw inside a socket handler. Any frame carrying an `error` key counts as an
 * Error, as the official SDK treats it.
 */
export function parseServerMessage(text: string): ServerMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(value)) return undefined;
  if (value.type === "Error" || (typeof value.error === "string" && value.type === undefined)) {
    return { type: "Error", error_code: num(value.error_code), error: str(value.error) };
  }
  // Every message of the protocol names its type: an object without one is not a message.
  if (typeof value.type !== "string" || value.type === "") return undefined;
  switch (value.type) {
    case "Begin":
      return {
        type: "Begin",
        id: str(value.id),
        expires_at: num(value.expires_at),
        ...(isObject(value.configuration) ? { configuration: value.configuration } : {}),
      };
    case "Turn": {
      const words = Array.isArray(value.words)
        ? value.words.map(parseWord).filter((w): w is StreamingWord => w !== undefined)
        : [];
      const turn: TurnMessage = {
        type: "Turn",
        turn_order: num(value.turn_order),
        turn_is_formatted: value.turn_is_formatted === true,
        end_of_turn: value.end_of_turn === true,
        transcript: str(value.transcript),
        words,
      };
      if (typeof value.end_of_turn_confidence === "number")
        turn.end_of_turn_confidence = value.end_of_turn_confidence;
      const language = optStr(value.language_code);
      if (language) turn.language_code = language;
      const speaker = optStr(value.speaker_label);
      if (speaker) turn.speaker_label = speaker;
      return turn;
    }
    case "Termination":
      // Documented as integers; some clients type them as floats: accept either.
      return {
        type: "Termination",
        audio_duration_seconds: num(value.audio_duration_seconds),
        session_duration_seconds: num(value.session_duration_seconds),
      };
    case "Warning":
      return { type: "Warning", warning_code: num(value.warning_code), warning: str(value.warning) };
    case "Silence": {
      const start = Math.max(0, num(value.start_ms));
      return { type: "Silence", start_ms: start, end_ms: Math.max(start, num(value.end_ms, start)) };
    }
    default:
      return { type: "Other", serverType: str(value.type) };
  }
}
