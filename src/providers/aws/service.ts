import {
  StartMedicalStreamTranscriptionCommand,
  StartStreamTranscriptionCommand,
  type AudioStream,
  type TranscribeStreamingClient,
} from "@aws-sdk/client-transcribe-streaming";
import type { MappingContext } from "./mapping";
import { medicalRequest, standardRequest } from "./requests";
import { observeStreamFates, type FateOf } from "./stream-fate";
import type { MedicalParams } from "./params";
import type { StandardParams } from "./standard-params";
import type { ResultEvent, StreamFormat } from "./stream-format";
import type { WebSocketTransport } from "./websocket";

/**
 * Opens one provider stream that sends `audio`; resolves with its result events. `endsSession` tells,
 * once `audio` has ended, whether it ended because the session's input did (not a rollover, a pause or
 * a cut stream): a service whose session outlives its streams (HealthScribe) then says so on the wire.
 */
export type OpenStream = (
  audio: AsyncIterable<AudioStream>,
  awsSessionId: string,
  abortSignal: AbortSignal,
  endsSession: () => boolean,
) => Promise<AsyncIterable<ResultEvent> | undefined>;

/**
 * Everything that differs between Amazon Transcribe Medical and standard Amazon Transcribe streaming;
 * the session (reconnects, replay, pacing, keep-alive, de-duplication) is the same for both.
 */
export interface StreamService {
  format: StreamFormat;
  mapping: MappingContext;
  open: OpenStream;
  /** How each stream's HTTP/2 response ended (see stream-fate); without it only the results decide. */
  fateOf?: FateOf;
  /**
   * Every stream of a session resumes one provider session under one id (HealthScribe): a conflict on
   * it is retried under the same id, never a new one (which would start a new provider session).
   */
  resumesSession?: boolean;
}

export const AWS_MEDICAL_PROVIDER = "aws-transcribe-medical";
export const AWS_STANDARD_PROVIDER = "aws-transcribe";
/** BCP-47 "undetermined": a result that came before the service identified the language. */
export const UNDETERMINED = "und";

/**
 * Amazon Transcribe Medical streaming: over HTTP/2 through the SDK client, or over WebSocket with
 * `websocket` (the same parameters and results; only the wire differs).
 */
export function medicalService(
  client: TranscribeStreamingClient,
  params: MedicalParams,
  websocket?: WebSocketTransport,
): StreamService {
  if (websocket) {
    return {
      fateOf: (signal) => websocket.fateOf(signal),
      format: params,
      mapping: { provider: AWS_MEDICAL_PROVIDER, language: "en-US", entityCategory: "PHI" },
      open: (audio, awsSessionId, abortSignal) =>
        websocket.open("medical", medicalRequest(params, audio, awsSessionId), audio, abortSignal),
    };
  }
  return {
    fateOf: observeStreamFates(client),
    format: params,
    // Transcribe Medical streams only US English.
    mapping: { provider: AWS_MEDICAL_PROVIDER, language: "en-US", entityCategory: "PHI" },
    open: async (audio, awsSessionId, abortSignal) => {
      const res = await client.send(
        new StartMedicalStreamTranscriptionCommand(medicalRequest(params, audio, awsSessionId)),
        { abortSignal },
      );
      return res.TranscriptResultStream;
    },
  };
}

export function standardService(
  client: TranscribeStreamingClient,
  params: StandardParams,
  websocket?: WebSocketTransport,
): StreamService {
  const mapping = {
    provider: AWS_STANDARD_PROVIDER,
    language: params.language.mode === "fixed" ? params.language.code : UNDETERMINED,
    entityCategory: "PII",
  } as const;
  if (websocket) {
    return {
      fateOf: (signal) => websocket.fateOf(signal),
      format: params,
      mapping,
      open: (audio, awsSessionId, abortSignal) =>
        websocket.open("standard", standardRequest(params, audio, awsSessionId), audio, abortSignal),
    };
  }
  return {
    fateOf: observeStreamFates(client),
    format: params,
    mapping,
    open: async (audio, awsSessionId, abortSignal) => {
      const res = await client.send(
        new StartStreamTranscriptionCommand(standardRequest(params, audio, awsSessionId)),
        { abortSignal },
      );
      return res.TranscriptResultStream;
    },
  };
}
