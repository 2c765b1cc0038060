import type {
  AudioStream,
  StartMedicalStreamTranscriptionCommandInput,
  StartStreamTranscriptionCommandInput,
} from "@aws-sdk/client-transcribe-streaming";
import type { MedicalParams } from "./params";
import type { StandardParams } from "./standard-params";

/** The StartMedicalStreamTranscription request of one stream. */
export function medicalRequest(
  p: MedicalParams,
  audio: AsyncIterable<AudioStream>,
  awsSessionId: string,
): StartMedicalStreamTranscriptionCommandInput {
  const input: StartMedicalStreamTranscriptionCommandInput = {
    LanguageCode: "en-US",
    MediaSampleRateHertz: p.sampleRate,
    MediaEncoding: p.mediaEncoding,
    Specialty: p.specialty,
    Type: p.type,
    SessionId: awsSessionId,
    AudioStream: audio,
  };
  if (p.showSpeakerLabel) input.ShowSpeakerLabel = true;
  if (p.channelIdentification) {
    input.EnableChannelIdentification = true;
    input.NumberOfChannels = 2;
  }
  if (p.contentIdentification) input.ContentIdentificationType = p.contentIdentification;
  if (p.vocabularyName) input.VocabularyName = p.vocabularyName;
  return input;
}

/**
 * The StartStreamTranscription request of one stream. Vocabularies and filters go in the singular
 * parameters with a fixed language and in the plural ones with language identification, as the API
 * asks.
 */
export function standardRequest(
  p: StandardParams,
  audio: AsyncIterable<AudioStream>,
  awsSessionId: string,
): StartStreamTranscriptionCommandInput {
  const input: StartStreamTranscriptionCommandInput = {
    MediaSampleRateHertz: p.sampleRate,
    MediaEncoding: p.mediaEncoding,
    SessionId: awsSessionId,
    AudioStream: audio,
  };
  const lang = p.language;
  if (lang.mode === "fixed") input.LanguageCode = lang.code;
  else {
    if (lang.mode === "identify") input.IdentifyLanguage = true;
    else input.IdentifyMultipleLanguages = true;
    input.LanguageOptions = lang.options.join(",");
    if (lang.preferred) input.PreferredLanguage = lang.preferred;
  }
  const plural = lang.mode !== "fixed";
  if (p.vocabularyNames.length > 0) {
    if (plural) input.VocabularyNames = p.vocabularyNames.join(",");
    else input.VocabularyName = p.vocabularyNames[0];
  }
  if (p.vocabularyFilterNames.length > 0) {
    if (plural) input.VocabularyFilterNames = p.vocabularyFilterNames.join(",");
    else input.VocabularyFilterName = p.vocabularyFilterNames[0];
    input.VocabularyFilterMethod = p.vocabularyFilterMethod;
  }
  if (p.stability) {
    input.EnablePartialResultsStabilization = true;
    input.PartialResultsStability = p.stability;
  }
  if (p.showSpeakerLabel) input.ShowSpeakerLabel = true;
  if (p.channelIdentification) {
    input.EnableChannelIdentification = true;
    input.NumberOfChannels = 2;
  }
  if (p.pii) {
    if (p.pii.mode === "identify") input.ContentIdentificationType = "PII";
    else input.ContentRedactionType = "PII";
    if (p.pii.entityTypes.length > 0) input.PiiEntityTypes = p.pii.entityTypes.join(",");
  }
  if (p.languageModelName) input.LanguageModelName = p.languageModelName;
  return input;
}
