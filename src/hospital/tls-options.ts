import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import net from "node:net";
import tls from "node:tls";

/**
 * Client-side TLS settings shared by the MLLP client and the FHIR sender: which CA to trust, which
 * name to check, and the certificate and key this side presents to a receiver that requires mutual
 * TLS. Certificates, keys and passphrases are PEM text; none of them ever appears in an error.
 */
export interface ClientTlsSettings {
  /** PEM of the CA (or CAs) that signed the peer's certificate; default: Node's trusted roots. */
  ca?: string;
  /** Check the peer's certificate (on unless deliberately turned off for a test system). */
  rejectUnauthorized: boolean;
  /** SNI / certificate name to check, when it differs from the host. */
  servername?: string;
  /** PEM of the certificate (and chain) presented to the peer, for mutual TLS. */
  cert?: string;
  /** PEM of its private key (a credential). */
  key?: string;
  /** Passphrase of an encrypted key (a credential). */
  passphrase?: string;
}

/** A TLS setting that cannot work, found before any connection is made. */
export class TlsSettingError extends Error {
  override readonly name = "TlsSettingError";
  readonly code = "TLS_SETTING";
}

/** Longest PEM text accepted for a CA bundle, a certificate chain or a key. */
export const MAX_PEM_CHARS = 1024 * 1024;

const PEM = /-----BEGIN [A-Z0-9 ]+-----/;

/**
 * Checks the settings once, at configuration time: PEM where PEM is expected, a certificate and a
 * key together, a key that opens with its passphrase and matches the certificate. Throws a
 * TlsSettingError naming the setting and what is accepted (never the PEM, the key or the
 * passphrase, nor OpenSSL's text, which can quote them).
 */
export function checkClientTls(s: ClientTlsSettings): void {
  for (const [name, value] of [
    ["CA certificate", s.ca],
    ["client certificate", s.cert],
    ["client key", s.key],
  ] as const) {
    if (value === undefined || value === "") continue;
    if (value.length > MAX_PEM_CHARS || !PEM.test(value)) {
      throw new TlsSettingError(`the ${name} must be PEM text (not a file path) of at most 1 MiB`);
    }
  }
  if (Boolean(s.cert) !== Boolean(s.key)) {
    throw new TlsSettingError(
      "a client certificate needs its private key, and a private key its certificate",
    );
  }
  if (s.ca) {
    try {
      tls.createSecureContext({ ca: s.ca });
    } catch {
      throw new TlsSettingError("the CA certificate could not be read: use PEM certificates");
    }
  }
  if (s.cert && s.key) checkKeyPair(s.cert, s.key, s.passphrase);
}

/** The key opens (with its passphrase) and belongs to the certificate; errors in fixed words only. */
function checkKeyPair(cert: string, key: string, passphrase: string | undefined): void {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch {
    throw new TlsSettingError("the client certificate could not be read: use a PEM certificate");
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key, ...(passphrase ? { passphrase } : {}) });
  } catch {
    // A wrong passphrase decrypts to noise, reported by OpenSSL as anything from "bad decrypt" to
    // "unsupported": an encrypted key that does not open is a passphrase problem.
    throw new TlsSettingError(
      ENCRYPTED.test(key)
        ? "the client key could not be opened: the passphrase is missing or wrong"
        : "the client key could not be read: use a PEM private key",
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new TlsSettingError("the client key does not belong to the client certificate");
  }
}

const ENCRYPTED = /-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/;

function secureContextOptions(s: ClientTlsSettings): tls.SecureContextOptions {
  return {
    ...(s.ca ? { ca: s.ca } : {}),
    ...(s.cert ? { cert: s.cert } : {}),
    ...(s.key ? { key: s.key } : {}),
    ...(s.key && s.passphrase ? { passphrase: s.passphrase } : {}),
  };
}

/** The options of `tls.connect` for a host: the trust settings and, for mutual TLS, our certificate. */
export function tlsConnectOptions(s: ClientTlsSettings, host: string): tls.ConnectionOptions {
  return {
    ...secureContextOptions(s),
    rejectUnauthorized: s.rejectUnauthorized,
    // SNI takes a host name only; an IP address is checked against the certificate without it.
    ...(s.servername || !net.isIP(host) ? { servername: s.servername || host } : {}),
  };
}

/**
 * Our code for a receiver that closed the connection once it had our client certificate and before
 * it answered, without an alert (Node-based receivers do): see ClientCertificateWatch.
 */
export const CLOSED_AFTER_HANDSHAKE = "MUTUAL_TLS_CLOSED";

/** TLS codes worth explaining; anything else is reported by its code alone. */
const EXPLAINED = new Map<string, string>([
  ["CERT_HAS_EXPIRED", "the receiver's certificate has expired"],
  ["CERT_NOT_YET_VALID", "the receiver's certificate is not valid yet"],
  ["DEPTH_ZERO_SELF_SIGNED_CERT", "the receiver's certificate is self-signed and not the configured CA"],
  ["SELF_SIGNED_CERT_IN_CHAIN", "the receiver's certificate chain ends in a CA that is not trusted"],
  ["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "the receiver's certificate is not signed by a trusted CA"],
  ["UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "the receiver's certificate is not signed by a trusted CA"],
  [
    "ERR_TLS_CERT_ALTNAME_INVALID",
    "the receiver's certificate does not name the host (see the server name setting)",
  ],
  [
    "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
    "the receiver requires a client certificate and none is configured",
  ],
  [
    "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
    "the receiver refused the TLS handshake (a client certificate may be required)",
  ],
  ["ERR_SSL_TLSV1_ALERT_UNKNOWN_CA", "the receiver does not trust the CA of our client certificate"],
  ["ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "the receiver rejected our client certificate"],
  ["ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED", "the receiver rejected our client certificate as expired"],
  ["ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN", "the receiver rejected our client certificate"],
  ["ERR_SSL_TLSV1_ALERT_ACCESS_DENIED", "the receiver denied access to our client certificate"],
  ["ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED", "the receiver rejected our client certificate as revoked"],
  [
    "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "the receiver does not support our client certificate's type",
  ],
  [
    CLOSED_AFTER_HANDSHAKE,
    "the receiver closed the TLS connection on our client certificate without answering; a receiver that requires mutual TLS does this when it refuses our client certificate: check its CA and expiry",
  ],
]);

/**
 * Alerts of a receiver that refused the client certificate this side presented, or requires one and
 * none is configured: a setting to change here or a CA to add there, never a passing fault. A
 * handshake failure is what a TLS 1.2 receiver sends for a missing client certificate (and, rarely,
 * for no common cipher: a configuration error as well).
 */
const CLIENT_CERTIFICATE_REFUSED = new Set([
  "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
  "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
  "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
  "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
  "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
  "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
  CLOSED_AFTER_HANDSHAKE,
]);

/**
 * Codes of a receiver's certificate that this side could not verify (expired, wrong host, a CA not
 * configured...): a setting to change here or a certificate to renew there, never a passing fault.
 */
const CERTIFICATE_REJECTED = new Set([
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_REVOKED",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_CHAIN_TOO_LONG",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "PATH_LENGTH_EXCEEDED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** The code when the error is this side rejecting the receiver's certificate, else undefined. */
export function certificateRejection(err: unknown): string | undefined {
  const code = errorCode(err);
  return CERTIFICATE_REJECTED.has(code) ? code : undefined;
}

/**
 * A TLS failure that no retry can mend: this side rejected the receiver's certificate
 * ("tls-certificate"), or the receiver refused ours ("tls-client-certificate"). `detail` is fixed
 * words plus the code: never a path, a subject name or OpenSSL's own text.
 */
export interface TlsRefusal {
  reason: "tls-certificate" | "tls-client-certificate";
  code: string;
  detail: string;
}

export function tlsRefusal(err: unknown): TlsRefusal | undefined {
  const code = alertCode(err) ?? errorCode(err);
  if (CERTIFICATE_REJECTED.has(code)) {
    return {
      reason: "tls-certificate",
      code,
      detail: `TLS certificate rejected by this node: ${describeConnectError({ code })}`,
    };
  }
  return CLIENT_CERTIFICATE_REFUSED.has(code) ? clientCertificateRefused(code) : undefined;
}

/** The alerts a receiver sends about our client certificate, by their number (RFC 8446 §6). */
const CLIENT_CERTIFICATE_ALERTS = new Map<number, string>([
  [40, "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE"],
  [42, "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE"],
  [43, "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE"],
  [44, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED"],
  [45, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED"],
  [46, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN"],
  [48, "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA"],
  [49, "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED"],
  [116, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED"],
]);

/**
 * A receiver's alert, known by its number. An alert met by a write (an HTTP request written while the
 * handshake runs) comes as EPROTO, the alert only in OpenSSL's text; and OpenSSL 3.5 (Node 24) names
 * the alerts TLS took over from SSLv3 `ERR_SSL_SSL/TLS_ALERT_*` where 3.0 (Node 20, 22) says
 * `ERR_SSL_SSLV3_ALERT_*`. Either way the number in the text says which alert it was (it is read from
 * the text, nothing else), and maps to one code whatever the Node version.
 */
function alertCode(err: unknown): string | undefined {
  const code = errorCode(err);
  if (code !== "EPROTO" && !/^ERR_SSL_[A-Z0-9/]+_ALERT_/.test(code)) return undefined;
  const message = (err as { message?: unknown } | null)?.message;
  const number = typeof message === "string" ? /SSL alert number (\d{1,3})\b/.exec(message)?.[1] : undefined;
  return number === undefined ? undefined : CLIENT_CERTIFICATE_ALERTS.get(Number(number));
}

/** The refusal a close of the connection means when ClientCertificateWatch says so. */
export function closeRefusal(): TlsRefusal {
  return clientCertificateRefused(CLOSED_AFTER_HANDSHAKE);
}

function clientCertificateRefused(code: string): TlsRefusal {
  return {
    reason: "tls-client-certificate",
    code,
    detail: `TLS client certificate refused by the receiver: ${describeConnectError({ code })}`,
  };
}

/**
 * Watches a client TLS socket that presents a certificate, for the sign a receiver gives when it
 * refuses the certificate without an alert: it closes the connection once it has the certificate
 * and before it answers. Under TLS 1.2 the certificate goes out with our second handshake flight,
 * so a close after the server's first flight (seen as our key being derived: the first "keylog"
 * line is CLIENT_RANDOM) and before the handshake ends is one. Under TLS 1.3 the certificate goes
 * out as our side completes the handshake, and a receiver that accepted it sends session tickets:
 * a close after the handshake with neither a ticket nor an answer is one. (A TLS 1.3 receiver that
 * sends no tickets and closes a fresh connection without answering is taken for one too.)
 */
export class ClientCertificateWatch {
  private sentWithSecondFlight = false;
  private secured = false;
  private tls13 = false;
  private ticket = false;
  private answer = false;

  constructor(socket: tls.TLSSocket) {
    // Only the line's label is read: the rest is key material and is never kept.
    socket.once("keylog", (line: Buffer) => {
      this.sentWithSecondFlight = line.toString("latin1", 0, 14) === "CLIENT_RANDOM ";
    });
    socket.once("secureConnect", () => {
      this.secured = true;
      this.tls13 = socket.getProtocol() === "TLSv1.3";
    });
    socket.once("session", () => {
      this.ticket = true;
    });
  }

  /** The receiver answered (a frame, an HTTP response): it took the certificate. */
  answered(): void {
    this.answer = true;
  }

  /** TLS 1.3, the handshake done on our side: the receiver's verdict on our certificate is due. */
  get awaitsTicket(): boolean {
    return this.secured && this.tls13 && !this.ticket && !this.answer;
  }

  /** Whether a close of the connection now means the receiver refused our certificate. */
  get closeIsRefusal(): boolean {
    if (this.answer) return false;
    if (!this.secured) return this.sentWithSecondFlight;
    return this.tls13 && !this.ticket;
  }
}

/** True when the error is one of TLS (a certificate or an alert), not of the network. */
export function isTlsError(err: unknown): boolean {
  const code = errorCode(err);
  return (
    EXPLAINED.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || /CERT/.test(code)
  );
}

/**
 * A connection failure in fixed words plus its code, e.g. "the receiver's certificate has expired
 * (CERT_HAS_EXPIRED)". Never the error's own message: it may quote a certificate's subject.
 */
/** The fixed words for a TLS code, or the code itself when it has none. */
export function explainTlsCode(code: string): string {
  return EXPLAINED.get(code) ?? code;
}

export function describeConnectError(err: unknown): string {
  const code = errorCode(err);
  const explained = EXPLAINED.get(code);
  return explained ? `${explained} (${code})` : code;
}

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^[A-Z0-9_/]{1,80}$/.test(code) ? code : "error";
}
