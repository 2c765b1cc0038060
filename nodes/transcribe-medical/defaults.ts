/** The editor's defaults (transcribe-medical.html `defaults`, without `name` and the `aws` reference). */
export const DEFAULTS = {
  specialty: "PRIMARYCARE",
  medicalType: "CONVERSATION",
  sampleRate: 16000,
  mediaEncoding: "pcm",
  showSpeakerLabel: false,
  channelIdentification: false,
  contentIdentification: "",
  vocabularyName: "",
  keepRaw: false,
  idleTimeoutS: 30,
  maxSessions: 25,
};
