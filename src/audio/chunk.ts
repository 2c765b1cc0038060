/**
 * Contract 1: the audio chunk message that audio-in emits and every transcriber reads.
 *
 * One session is one continuous stream (an encounter, a dictation, a call). Chunks of a session
 * carry consecutive `seq` numbers and contiguous `offsetMs`; `end: true` closes the session.
 */
export const AUDIO_ENCODING = "pcm_s16le" as const;

export interface AudioChunkInfo {
  /** The stream this chunk belongs to; equal to `msg.topic`. */
  sessionId: string;
  /** 0-based position of this chunk within its session. */
  seq: number;
  /** Samples per second of the PCM in `msg.payload`. */
  sampleRate: number;
  /** Interleaved channels in `msg.payload`: 1, or 2 for channel identification. */
  channels: 1 | 2;
  encoding: typeof AUDIO_ENCODING;
  /** Start of this chunk, in milliseconds from the start of the session. */
  offsetMs: number;
  /** Length of the audio in this chunk, in milliseconds (0 for a bare end marker). */
  durationMs: number;
  /** Present and true on the last chunk of a session. */
  end?: true;
}

export interface AudioChunkMessage {
  /** Session id, equal to `audio.sessionId`. */
  topic: string;
  /** PCM signed 16-bit little-endian, interleaved channels. */
  payload: Buffer;
  audio: AudioChunkInfo;
}

/** Bytes of PCM s16le audio for a duration, rounded down to whole sample frames. */
export function pcmBytesFor(durationMs: number, sampleRate: number, channels: number): number {
  return Math.floor((durationMs * sampleRate) / 1000) * channels * 2;
}
