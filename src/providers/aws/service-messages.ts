/**
 * The messages Amazon Transcribe streaming is known to send, as documented or seen from the service
 * (research/aws.md §1.4). A node shows a service message in its logs and Catch errors only when it is
 * one of these: any other text could echo what the service was sent (a vocabulary name, a header) and
 * reaches a flow only inside the message's payload (`msg.payload.error.serviceMessage`), never a log.
 */
const KNOWN: readonly RegExp[] = [
  /^Your request timed out because no new audio was received for \d+ seconds\.$/,
  /^Your stream is too big\. Reduce the frame size and try your request again\.$/,
  /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - \d+ min\.\)$/,
  /^Signature expired$/,
  /^The requested language doesn't support the specified sample rate\. Use the correct sample rate then try again\.$/,
  /^A new stream started with the same session ID\. The current stream has been terminated\.$/,
  /^Your client has exceeded one of the Amazon Transcribe limits\. This is typically the audio length limit\. Break your audio stream into smaller chunks and try your request again\.$/,
  /^You have reached your limit of concurrent streams\. Wait for a stream to end and try your request again\.$/,
  /^A problem occurred while processing the audio\. Amazon Transcribe terminated processing\.$/,
  /^The service is currently unavailable\. Try your request later\.$/,
  /^The request signature we calculated does not match the signature you provided\. Check your AWS Secret Access Key and signing method\. Consult the service documentation for details\.$/,
  /^The security token included in the request is (?:invalid|expired)\.?$/,
  /^Rate exceeded$/,
];

/** The service's message when it is a known one (safe to log), else undefined. */
export function knownServiceMessage(text: string): string | undefined {
  const t = text.trim();
  return t.length <= 500 && KNOWN.some((re) => re.test(t)) ? t : undefined;
}
