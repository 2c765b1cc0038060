import { BUCKET_NAME, MEDIA_FORMATS, type BatchMediaFormat } from "./params";

export interface S3Location {
  bucket: string;
  key: string;
}

export class BatchInputError extends Error {
  override readonly name = "BatchInputError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`transcribe-medical-batch: ${message}`);
  }
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: BatchInputError };

/** True when a string is meant as a URI (has a scheme), as opposed to a file path. */
export function looksLikeUri(value: string): boolean {
  return /^s3:/i.test(value) || /^[a-z][a-z0-9+.-]+:\/\//i.test(value);
}

/**
 * Parses `s3://bucket/key`. The message of a refusal never echoes the URI: its key is often a file
 * name, and file names of recordings may name the patient.
 */
export function parseS3Uri(value: string): Parsed<S3Location> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(value.trim());
  const bad = (why: string): Parsed<S3Location> => ({
    ok: false,
    error: new BatchInputError(
      "BAD_S3_URI",
      `msg.payload is not a usable S3 URI: ${why}. Accepted: s3://bucket/key, a file path, or an audio Buffer`,
    ),
  });
  if (!m) return bad("it must have the form s3://bucket/key");
  const [, bucket = "", key = ""] = m;
  if (!BUCKET_NAME.test(bucket) || bucket.includes("..")) {
    return bad("the bucket name must be 3 to 63 lowercase letters, digits, dots or hyphens");
  }
  if (key.length > 1024) return bad("the key is longer than 1024 characters");
  return { ok: true, value: { bucket, key } };
}

export function s3Uri(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.key}`;
}

/**
 * Every form in which a peer might echo an S3 location a flow named, for scrubbing from the texts it
 * sends back: the URI, the bucket, the key, each part of the key (a prefix often names the patient or
 * the encounter; a file name, without its extension too), and each of these URL-encoded.
 */
export function identifierForms(loc: S3Location): string[] {
  const parts = new Set<string>([s3Uri(loc), loc.bucket, loc.key]);
  for (const segment of loc.key.split("/")) {
    parts.add(segment);
    parts.add(segment.replace(/\.[A-Za-z0-9]{1,5}$/, ""));
  }
  const forms = new Set<string>();
  for (const p of parts) {
    // Short fragments ("a", "wav") would scrub ordinary words from every message.
    if (p.length < 4) continue;
    forms.add(p);
    forms.add(encodeURIComponent(p));
    forms.add(encodeURI(p));
  }
  // Longest first, so that a whole key is scrubbed before the parts it contains.
  return [...forms].sort((a, b) => b.length - a.length);
}

/** The media format named by a file name's extension, or null. */
export function formatFromName(name: string): BatchMediaFormat | null {
  const ext = /\.([A-Za-z0-9]+)$/.exec(name)?.[1]?.toLowerCase() ?? "";
  if (ext === "mpga") return "mp3";
  if (ext === "oga" || ext === "opus") return "ogg";
  return (MEDIA_FORMATS as readonly string[]).includes(ext) ? (ext as BatchMediaFormat) : null;
}

/** The media format told by the first bytes of a recording, or null. */
export function sniffFormat(head: Uint8Array): BatchMediaFormat | null {
  const ascii = (from: number, to: number): string => Buffer.from(head.subarray(from, to)).toString("latin1");
  if (ascii(0, 4) === "RIFF" && ascii(8, 12) === "WAVE") return "wav";
  if (ascii(0, 4) === "fLaC") return "flac";
  if (ascii(0, 4) === "OggS") return "ogg";
  if (ascii(0, 5) === "#!AMR") return "amr";
  if (ascii(0, 3) === "ID3") return "mp3";
  if (head.length >= 2 && head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0) return "mp3";
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return "webm";
  }
  if (ascii(4, 8) === "ftyp") return /^M4A/.test(ascii(8, 11)) ? "m4a" : "mp4";
  return null;
}

/**
 * The bucket and key of a job's TranscriptFileUri. Medical jobs give an S3 https URL, path-style
 * (`https://s3.us-east-1.amazonaws.com/bucket/key`) in the documented examples; virtual-hosted style
 * and s3:// are read too.
 */
export function transcriptLocation(uri: string): S3Location | null {
  if (/^s3:\/\//i.test(uri)) {
    const p = parseS3Uri(uri);
    return p.ok ? p.value : null;
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  const path = url.pathname.replace(/^\//, "");
  const vhost = /^(.+)\.s3[.-]([a-z0-9-]+\.)?amazonaws\.com(\.cn)?$/.exec(url.hostname);
  const decode = (s: string): string => s.split("/").map(decodeURIComponent).join("/");
  if (vhost?.[1] && path !== "") return { bucket: vhost[1], key: decode(path) };
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return null;
  return { bucket: path.slice(0, slash), key: decode(path.slice(slash + 1)) };
}
