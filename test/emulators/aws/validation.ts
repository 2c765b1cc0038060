/**
 * The request checks and validation texts both streaming endpoints (Medical and standard) share:
 * AWS's model-constraint messages, channel identification, the session id.
 */
type Headers = Record<string, string>;

/** Both endpoints answer a language/sample-rate mismatch (or a rate out of range) with this. */
export const SAMPLE_RATE_MESSAGE =
  "The requested language doesn't support the specified sample rate. Use the correct sample rate then try again.";

const SESSION_ID = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;

export const enumMessage = (value: string, member: string, set: readonly string[]): string =>
  `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must satisfy enum value set: [${set.join(", ")}]`;

export const patternMessage = (value: string, member: string): string =>
  `1 validation error detected: Value '${value}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[0-9a-zA-Z._-]+`;

/** NumberOfChannels must be 2 and comes exactly with EnableChannelIdentification; null when valid. */
export function validateChannels(h: Headers): string | null {
  const channelId = h["x-amzn-transcribe-enable-channel-identification"] === "true";
  const channels = h["x-amzn-transcribe-number-of-channels"];
  if (channels !== undefined && Number(channels) !== 2) {
    const bound = Number(channels) < 2 ? "greater" : "less";
    return `1 validation error detected: Value '${channels}' at 'numberOfChannels' failed to satisfy constraint: Member must have value ${bound} than or equal to 2`;
  }
  if (channelId !== (channels !== undefined)) {
    return "To use channel identification, set EnableChannelIdentification to true and NumberOfChannels to 2.";
  }
  return null;
}

/** A given session id must be a UUID; null when valid. */
export function validateSessionId(h: Headers): string | null {
  const session = h["x-amzn-transcribe-session-id"];
  if (session === undefined || SESSION_ID.test(session)) return null;
  return `1 validation error detected: Value '${session}' at 'sessionId' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}`;
}
