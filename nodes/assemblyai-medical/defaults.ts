/**
 * The editor's defaults (the `defaults` of assemblyai-medical.html, without `name` and the config-node
 * reference): a flow that leaves a property out gets these (withDefaults), and a test keeps the two equal.
 */
export const DEFAULTS = {
  speechModel: "u3-rt-pro",
  medicalDomain: true,
  sampleRate: 16000,
  encoding: "pcm_s16le",
  keyterms: "",
  speakerLabels: false,
  maxSpeakers: "",
  minTurnSilence: 800,
  maxTurnSilence: 3600,
  inactivityTimeout: "",
  formatTurns: false,
  prompt: "",
  keepRaw: false,
  idleTimeout: 30,
  frameMs: 100,
  connectTimeout: 10,
  terminationTimeout: 5,
  maxRetries: 5,
  retryDelayMs: 250,
  maxBuffer: 60,
  stallTimeout: 5,
  probeTimeout: 2,
  replayRate: 2,
  maxSessions: 100,
};
