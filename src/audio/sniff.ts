/**
 * Compressed containers that audio-in hands to ffmpeg, recognised by their first bytes. Only these go
 * to ffmpeg: data that is not recognised is refused, never guessed at (a text file or an image is not
 * "transcribed").
 */
export type Container =
  "mp3" | "ogg" | "webm" | "flac" | "m4a" | "aac" | "aiff" | "caf" | "amr" | "wma" | "au";

/** The compressed containers audio-in recognises (WAV aside), for "accepted:" texts. */
export const CONTAINER_NAMES =
  "MP3, Ogg/Opus, WebM, FLAC, M4A/MP4, AAC (ADTS), AIFF, CAF, AMR, WMA (ASF) or Sun AU";

/** How many first bytes the sniffers look at: a file is read this far before it is classified. */
export const SNIFF_BYTES = 16;

export function sniffContainer(b: Buffer): Container | undefined {
  if (b.length < 4) return undefined;
  // Bytes compared in place, no string made: every live chunk without format fields is sniffed.
  if (bytesAre(b, 0, "OggS")) return "ogg";
  if (bytesAre(b, 0, "fLaC")) return "flac";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm"; // EBML (WebM, Matroska)
  if (bytesAre(b, 4, "ftyp")) return "m4a"; // ISO BMFF (M4A, MP4)
  if (bytesAre(b, 0, "ID3")) return "mp3";
  if (bytesAre(b, 0, "FORM") && (bytesAre(b, 8, "AIFF") || bytesAre(b, 8, "AIFC"))) return "aiff";
  if (bytesAre(b, 0, "caff")) return "caf";
  if (bytesAre(b, 0, "#!AMR")) return "amr";
  if (bytesAre(b, 0, ".snd")) return "au";
  // The ASF header object's GUID (WMA, WMV).
  if (b[0] === 0x30 && b[1] === 0x26 && b[2] === 0xb2 && b[3] === 0x75) return "wma";
  // An MPEG audio frame sync: 11 set bits; layer bits 00 are AAC in an ADTS frame, others MPEG audio.
  if (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0) {
    const layer = (b[1] ?? 0) & 0x06;
    if (layer !== 0) return "mp3";
    if (((b[1] ?? 0) & 0x10) === 0x10) return "aac";
  }
  return undefined;
}

/** Whether the bytes at `at` are the latin1 characters of `text` (false when the buffer ends first). */
function bytesAre(b: Buffer, at: number, text: string): boolean {
  if (b.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (b[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * What non-audio data looks like, for the error that refuses it: a kind of file, never its content
 * (which may be PHI). "unrecognised binary data" when nothing matches.
 */
export function describeNonAudio(b: Buffer): string {
  const ascii = (start: number, end: number) => b.toString("latin1", start, end);
  if (b.length >= 8 && b.subarray(0, 8).equals(PNG)) return "a PNG image";
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "a JPEG image";
  if (ascii(0, 4) === "GIF8") return "a GIF image";
  if (ascii(0, 5) === "%PDF-") return "a PDF document";
  if (ascii(0, 4) === "PK\x03\x04") return "a ZIP archive (or an Office document)";
  if (b[0] === 0x1f && b[1] === 0x8b) return "gzip-compressed data";
  if (ascii(0, 4) === "RIFF") return "a RIFF file that is not WAVE";
  if (looksLikeText(b)) return "text";
  return "unrecognised binary data";
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * Text: the first bytes (up to 512) are printable ASCII, white space or UTF-8 sequences, with no NUL.
 * 16-bit PCM of quiet sound is full of 0x00 and 0xff bytes, so it does not pass for text.
 */
function looksLikeText(b: Buffer): boolean {
  const head = b.subarray(0, 512);
  if (head.length === 0) return false;
  let i = 0;
  while (i < head.length) {
    const c = head[i] ?? 0;
    if (c === 0x09 || c === 0x0a || c === 0x0d || (c >= 0x20 && c < 0x7f)) {
      i++;
      continue;
    }
    // A UTF-8 lead byte and its continuation bytes (a sequence cut off at the end of the head counts).
    const extra = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (extra < 0) return false;
    for (let k = 1; k <= extra; k++) {
      const cont = head[i + k];
      if (cont === undefined) return true;
      if ((cont & 0xc0) !== 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}
