/**
 * The editor's defaults (`defaults` in transcribe-medical-batch.html, without `name` and the `aws`
 * config-node reference): what a flow that leaves a property out gets. Keep the two equal.
 * `outputBucket` has no usable default: a node without one starts, shows "misconfigured" and refuses
 * every message with an error naming OutputBucketName.
 */
export const DEFAULTS = {
  s3Endpoint: "",
  uploadBucket: "",
  uploadPrefix: "",
  jobName: "",
  languageCode: "en-US",
  specialty: "PRIMARYCARE",
  medicalType: "CONVERSATION",
  mediaFormat: "auto",
  sampleRate: "",
  showSpeakerLabels: false,
  maxSpeakerLabels: 2,
  channelIdentification: false,
  contentIdentification: "",
  outputBucket: "",
  outputKey: "",
  kmsKeyId: "",
  vocabularyName: "",
};
