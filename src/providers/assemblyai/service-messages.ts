/**
 * The texts AssemblyAI's streaming service is known to send in `Error` and `Warning` messages
 * (research/assemblyai.md §2.6, §5). The node shows a service text in its logs and Catch errors only
 * when it is one of these: any other (a validation message, an account reason) may repeat what the
 * service was sent, and reaches a flow only in the event's payload (`serviceMessage`), never a log.
 */
const KNOWN: readonly RegExp[] = [
  /^Unauthori[sz]ed [Cc]onnection: (?:Missing Authorization header|Invalid API key|Too many concurrent sessions)$/,
  /^Invalid API key$/,
  /^Signature has expired$/,
  /^Too many concurrent sessions$/,
  /^Session Cancelled: An error occurred$/,
  /^Session Expired: Maximum session duration exceeded$/,
  /^(?:Input Duration Error: )?Audio Transmission Rate Exceeded: Received [\d.]+ sec\. audio in [\d.]+ sec$/,
  /^(?:Input Duration Error: )?Input Duration Violation: [\d.]+ ms\. Expected between 50 and 1000 ms$/,
  /^Session terminated due to inactivity: No messages received for \d+ seconds$/,
  /^Skipped medical-v1 domain correction because the language is not supported$/,
  /^Temporary server condition forced blocking client's request$/,
];

/** The service's text when it is a known one (safe to log), else undefined. */
export function knownServiceText(text: string): string | undefined {
  const t = text.trim();
  return t.length <= 300 && KNOWN.some((re) => re.test(t)) ? t : undefined;
}
