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
