/** The editor's defaults (scribe-medical.html `defaults`, without `name` and the `aws` reference). */
export const DEFAULTS = {
  template: "HISTORY_AND_PHYSICAL",
  channelLayout: "diarize",
  outputBucket: "",
  roleArn: "",
  kmsKeyId: "",
  kmsContext: "",
  pronouns: "",
  sampleRate: 16000,
  mediaEncoding: "pcm",
  vocabularyName: "",
  vocabularyFilterName: "",
  vocabularyFilterMethod: "mask",
  s3Endpoint: "",
  keepRaw: false,
  idleTimeoutS: 30,
  maxSessions: 25,
};
