/**
 * The editor's defaults (`defaults` in audio-in.html, without `name`): what a flow that leaves a
 * property out gets. Keep the two equal.
 */
export const DEFAULTS = {
  sampleRate: "16000",
  channels: "mono",
  frameMs: 100,
  pace: "realtime",
  endAfterRecording: true,
  compressed: "files",
  idleTimeout: 30,
  maxSessions: 100,
  rawRate: "",
  rawEncoding: "s16le",
  rawChannels: "1",
};
