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
  [
    "MUTUAL_TLS_CLOSED",
    "the server closed the TLS connection before answering (a server that requires mutual TLS does this when it refuses our client certificate: check its CA and expiry)",
  ],
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
  return typeof code === "string" && /^[A-Z0-9_]{1,80}$/.test(code) ? code : "error";
}
