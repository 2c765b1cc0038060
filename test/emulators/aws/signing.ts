import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { createHash, createHmac } from "node:crypto";
import type { IncomingHttpHeaders } from "node:http2";

/** The parts of a SigV4 Authorization header the emulator needs. */
export interface ParsedAuthorization {
  accessKeyId: string;
  shortDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(value: string | undefined): ParsedAuthorization | null {
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      value ?? "",
    );
  if (!m) return null;
  return {
    accessKeyId: m[1],
    shortDate: m[2],
    region: m[3],
    service: m[4],
    signedHeaders: m[5].split(";"),
    signature: m[6],
  };
}

function parseAmzDate(v: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(v);
  if (!m) return null;
  const [, y = 0, mo = 1, d = 1, h = 0, mi = 0, s = 0] = m.map(Number);
  return new Date(Date.UTC(y, mo - 1, d, h, mi, s));
}

/** Re-signs the request as the SDK did and compares: the service's SigV4 check. */
export async function verifyRequestSignature(
  headers: IncomingHttpHeaders,
  auth: ParsedAuthorization,
  secretAccessKey: string,
): Promise<boolean> {
  const date = parseAmzDate(String(headers["x-amz-date"] ?? ""));
  if (!date) return false;
  const signed: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = headers[name];
    if (v === undefined) return false;
    signed[name] = Array.isArray(v) ? v.join(",") : String(v);
  }
  const signer = new SignatureV4({
    service: auth.service,
    region: auth.region,
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey },
    sha256: Sha256,
  });
  const path = String(headers[":path"] ?? "/");
  const request = await signer.sign(
    {
      method: String(headers[":method"] ?? "POST"),
      protocol: "http:",
      hostname: String(headers[":authority"] ?? "").replace(/:\d+$/, ""),
      path,
      query: {},
      headers: signed,
    },
    { signingDate: date },
  );
  const again = parseAuthorization(String(request.headers.authorization));
  return again?.signature === auth.signature;
}

const hmac = (key: Buffer | string, data: string): Buffer => createHmac("sha256", key).update(data).digest();
const sha256Hex = (data: Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** Signature of one event-stream frame, chained on the previous one (SigV4 event signing). */
export function eventSignature(opts: {
  secretAccessKey: string;
  region: string;
  service: string;
  date: Date;
  priorSignature: string;
  encodedDateHeader: Uint8Array;
  body: Uint8Array;
}): string {
  const longDate = opts.date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
  const shortDate = longDate.slice(0, 8);
  const scope = `${shortDate}/${opts.region}/${opts.service}/aws4_request`;
  const stringToSign = [
    "AWS4-HMAC-SHA256-PAYLOAD",
    longDate,
    scope,
    opts.priorSignature,
    sha256Hex(opts.encodedDateHeader),
    sha256Hex(opts.body),
  ].join("\n");
  const kDate = hmac(`AWS4${opts.secretAccessKey}`, shortDate);
  const kSigning = hmac(hmac(hmac(kDate, opts.region), opts.service), "aws4_request");
  return hmac(kSigning, stringToSign).toString("hex");
}

/** The service's answer to a presigned URL: accepted (with what the stream needs), or refused. */
export type PresignCheck =
  | { ok: true; secret: string; region: string; signature: string }
  | { ok: false; type: string; message: string };

const amzDate = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");

/**
 * Checks a presigned WebSocket URL as the service does: SigV4 query authentication with only `host`
 * signed, a known access key, an X-Amz-Expires of at most 300 s that has not run out, and the
 * signature recomputed with the SDK's own signer over everything else in the URL (a changed parameter
 * is a tampered URL).
 */
export async function verifyPresignedUrl(
  url: URL,
  host: string,
  credentials: Record<string, string>,
  now: Date,
): Promise<PresignCheck> {
  const q = url.searchParams;
  const bad = { ok: false as const, type: "InvalidSignatureException", message: SIGNATURE_MISMATCH };
  const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/transcribe\/aws4_request$/.exec(q.get("X-Amz-Credential") ?? "");
  const date = parseAmzDate(q.get("X-Amz-Date") ?? "");
  const expires = Number(q.get("X-Amz-Expires"));
  const signature = q.get("X-Amz-Signature") ?? "";
  if (
    q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256" ||
    !cred ||
    !date ||
    !/^[0-9a-f]{64}$/.test(signature)
  ) {
    return {
      ok: false,
      type: "MissingAuthenticationTokenException",
      message: "Missing Authentication Token",
    };
  }
  const secret = credentials[cred[1]];
  if (secret === undefined) {
    return { ok: false, type: "UnrecognizedClientException", message: UNKNOWN_KEY };
  }
  if (q.get("X-Amz-SignedHeaders") !== "host" || !Number.isInteger(expires) || expires < 1 || expires > 300) {
    return bad;
  }
  if (now.getTime() > date.getTime() + expires * 1000) {
    const earliest = new Date(now.getTime() - expires * 1000);
    return {
      ok: false,
      type: "InvalidSignatureException",
      message: `Signature expired: ${amzDate(date)} is now earlier than ${amzDate(earliest)} (${amzDate(now)} - ${Math.round(expires / 60)} min.)`,
    };
  }
  const query: Record<string, string> = {};
  for (const [k, v] of q) {
    if (!/^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token)$/.test(k))
      query[k] = v;
  }
  const token = q.get("X-Amz-Security-Token");
  const signer = new SignatureV4({
    service: "transcribe",
    region: cred[3],
    credentials: {
      accessKeyId: cred[1],
      secretAccessKey: secret,
      ...(token !== null ? { sessionToken: token } : {}),
    },
    sha256: Sha256,
  });
  const again = await signer.presign(
    {
      method: "GET",
      protocol: "wss:",
      hostname: host.replace(/:\d+$/, ""),
      path: url.pathname,
      query,
      headers: { host },
    },
    { expiresIn: expires, signingDate: date },
  );
  if (again.query?.["X-Amz-Signature"] !== signature) return bad;
  return { ok: true, secret, region: cred[3], signature };
}

const SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const UNKNOWN_KEY = "The security token included in the request is invalid.";
