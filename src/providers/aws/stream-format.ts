import type {
  MedicalTranscriptResultStream,
  TranscriptResultStream,
} from "@aws-sdk/client-transcribe-streaming";

// The shapes every part of a stream shares (the parameter checks, the requests built from them, both
// transports and the service that opens streams), in a file of their own so that they all depend on it
// one way, with no import cycle between them.

/** What a stream session needs to know of the audio it sends. */
export interface StreamFormat {
  sampleRate: number;
  mediaEncoding: string;
  /** Interleaved channels of the audio: 2 with channel identification, else 1. */
  channels: 1 | 2;
  channelIdentification: boolean;
}

/** One event of either service's result stream (the standard shapes are a superset of the medical ones). */
export type ResultEvent = TranscriptResultStream | MedicalTranscriptResultStream;
