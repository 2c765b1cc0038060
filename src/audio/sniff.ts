/** Compressed containers that audio-in hands to ffmpeg, recognised by their first bytes. */
export type Container = "mp3" | "ogg" | "webm" | "flac" | "m4a";

export function sniffContainer(b: Buffer): Container | undefined {
  if (b.length < 4) return undefined;
  const ascii = (start: number, end: number) => b.toString("latin1", start, end);
  if (ascii(0, 4) === "OggS") return "ogg";
  if (ascii(0, 4) === "fLaC") return "flac";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm"; // EBML (WebM, Matroska)
  if (b.length >= 8 && ascii(4, 8) === "ftyp") return "m4a"; // ISO BMFF (M4A, MP4)
  if (ascii(0, 3) === "ID3") return "mp3";
  // An MPEG audio frame sync: 11 set bits, layer bits not 00.
  if (b[0] === 0xff && ((b[1] ?? 0) & 0xe0) === 0xe0 && ((b[1] ?? 0) & 0x06) !== 0) return "mp3";
  return undefined;
}
