import {
  StartMedicalScribeStreamCommand,
  type AudioStream,
  type MedicalScribeConfigurationEvent,
  type MedicalScribeInputStream,
  type MedicalScribeResultStream,
  type MedicalScribeTranscriptSegment,
  type MedicalTranscriptResultStream,
  type Result,
  type StartMedicalScribeStreamCommandInput,
  type TranscribeStreamingClient,
} from "@aws-sdk/client-transcribe-streaming";
import { observeStreamFates } from "../aws/stream-fate";
import type { StreamService } from "../aws/service";
import { SCRIBE_LANGUAGE, type ParticipantRole, type Pronoun, type ScribeParams } from "./params";

export const AWS_SCRIBE_PROVIDER = "aws-healthscribe";

/**
 * The configuration event, the first event of every stream of a session, new or resumed: a resumed
 * stream must repeat the configuration the session started with, so it is built from the node's
 * settings alone.
 */
export function configurationEvent(p: ScribeParams): MedicalScribeConfigurationEvent {
  const event: MedicalScribeConfigurationEvent = {
    ResourceAccessRoleArn: p.roleArn,
    PostStreamAnalyticsSettings: {
      ClinicalNoteGenerationSettings: { OutputBucketName: p.outputBucket, NoteTemplate: p.template },
    },
  };
  if (p.channelRoles.length > 0) {
    event.ChannelDefinitions = p.channelRoles.map((role, ChannelId) => ({
      ChannelId,
      ParticipantRole: role,
    }));
  }
  if (p.encryption) {
    event.EncryptionSettings = {
      KmsKeyId: p.encryption.kmsKeyId,
      ...(p.encryption.context ? { KmsEncryptionContext: p.encryption.context } : {}),
    };
  }
  if (p.pronouns) event.MedicalScribeContext = { PatientContext: { Pronouns: p.pronouns } };
  if (p.vocabularyName) event.VocabularyName = p.vocabularyName;
  if (p.vocabularyFilter) {
    event.VocabularyFilterName = p.vocabularyFilter.name;
    event.VocabularyFilterMethod = p.vocabularyFilter.method;
  }
  return event;
}

/**
 * The input stream of one stream: the configuration event, the session's audio, and END_OF_SESSION
 * when the audio ended because the session did (`endsSession`); without it the stream's end pauses
 * the session, which the next stream under the same id resumes.
 */
export async function* scribeInput(
  p: ScribeParams,
  audio: AsyncIterable<AudioStream>,
  endsSession: () => boolean,
  onEndOfSession?: () => void,
): AsyncGenerator<MedicalScribeInputStream> {
  yield { ConfigurationEvent: configurationEvent(p) };
  for await (const event of audio) {
    const chunk = event.AudioEvent?.AudioChunk;
    if (chunk) yield { AudioEvent: { AudioChunk: chunk } };
  }
  if (endsSession()) {
    onEndOfSession?.();
    yield { SessionControlEvent: { Type: "END_OF_SESSION" } };
  }
}

export function scribeRequest(
  p: ScribeParams,
  input: AsyncIterable<MedicalScribeInputStream>,
  awsSessionId: string,
): StartMedicalScribeStreamCommandInput {
  return {
    SessionId: awsSessionId,
    LanguageCode: SCRIBE_LANGUAGE,
    MediaSampleRateHertz: p.sampleRate,
    MediaEncoding: p.mediaEncoding,
    InputStream: input,
  };
}

/** The index of a channel id ("0", "ch_0", "CHANNEL_0" …: the digits at its end), or undefined. */
function channelIndex(id: string | undefined): number | undefined {
  const m = typeof id === "string" ? /(\d{1,2})$/.exec(id) : null;
  return m ? Number(m[1]) : undefined;
}

const seconds = (ms: number | undefined): number | undefined =>
  typeof ms === "number" && Number.isFinite(ms) ? ms / 1000 : undefined;

/**
 * A HealthScribe transcript segment in the shape of a Transcribe result, so that the streaming
 * session (de-duplication, replay, session-relative times) and the contract-2 mapping serve it as they
 * serve Transcribe Medical: times from milliseconds to seconds, channel as "ch_<n>", and each word's
 * speaker the channel's participant role from the channel definitions.
 */
export function segmentAsResult(
  segment: MedicalScribeTranscriptSegment,
  roles: readonly ParticipantRole[],
): Result {
  const index = channelIndex(segment.ChannelId);
  const role = index !== undefined ? roles[index] : undefined;
  return {
    ResultId: segment.SegmentId,
    StartTime: seconds(segment.BeginAudioTime),
    EndTime: seconds(segment.EndAudioTime),
    IsPartial: segment.IsPartial === true,
    ...(index !== undefined ? { ChannelId: `ch_${index}` } : {}),
    Alternatives: [
      {
        Transcript: segment.Content,
        Items: (segment.Items ?? []).map((item) => ({
          Type: item.Type,
          Content: item.Content,
          StartTime: seconds(item.BeginAudioTime),
          EndTime: seconds(item.EndAudioTime),
          Confidence: item.Confidence,
          ...(role !== undefined ? { Speaker: role } : {}),
          ...(item.VocabularyFilterMatch === true ? { VocabularyFilterMatch: true } : {}),
        })),
      },
    ],
  };
}

/**
 * The result stream of a HealthScribe stream as the session reads Transcribe's: each transcript
 * segment becomes a TranscriptEvent of one result; exceptions pass through under their own names.
 */
export async function* asResultEvents(
  events: AsyncIterable<MedicalScribeResultStream>,
  roles: readonly ParticipantRole[],
): AsyncGenerator<MedicalTranscriptResultStream> {
  for await (const event of events) {
    if (event.TranscriptEvent) {
      const segment = event.TranscriptEvent.TranscriptSegment;
      yield {
        TranscriptEvent: { Transcript: { Results: segment ? [segmentAsResult(segment, roles)] : [] } },
      };
    } else {
      // An exception member the SDK did not throw: the session throws it under its name.
      yield event;
    }
  }
}

/**
 * AWS HealthScribe streaming (StartMedicalScribeStream) for the streaming session: HTTP/2 through
 * the SDK client (HealthScribe documents no WebSocket interface). Every stream of a session uses the
 * session's id (`resumesSession`), so a dropped connection resumes the HealthScribe session.
 * `onEndOfSession` hears the provider session id when END_OF_SESSION goes out. `pronounsOf` gives a
 * session's own patient pronouns (from its first message; null: none), undefined for the node's
 * setting: keyed by the provider session id, so every stream of a session, resumed or not, repeats the
 * configuration it started with.
 */
export function scribeService(
  client: TranscribeStreamingClient,
  params: ScribeParams,
  onEndOfSession?: (awsSessionId: string) => void,
  pronounsOf?: (awsSessionId: string) => Pronoun | null | undefined,
): StreamService {
  return {
    fateOf: observeStreamFates(client),
    format: params,
    mapping: { provider: AWS_SCRIBE_PROVIDER, language: SCRIBE_LANGUAGE, entityCategory: "PHI" },
    resumesSession: true,
    open: async (audio, awsSessionId, abortSignal, endsSession) => {
      const own = pronounsOf?.(awsSessionId);
      const p = own === undefined ? params : { ...params, pronouns: own };
      const input = scribeInput(p, audio, endsSession, () => onEndOfSession?.(awsSessionId));
      const res = await client.send(
        new StartMedicalScribeStreamCommand(scribeRequest(params, input, awsSessionId)),
        { abortSignal },
      );
      return res.ResultStream ? asResultEvents(res.ResultStream, params.channelRoles) : undefined;
    },
  };
}
