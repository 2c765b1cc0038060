import { strict as assert } from "node:assert";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AudioInputError } from "../../../src/audio/format";
import { AudioSessions, type AudioInOptions, type OutgoingChunk } from "../../../src/audio/sessions";
import { describeNonAudio, sniffContainer } from "../../../src/audio/sniff";
import { tone } from "../../support/audio-fixtures";
import { tempDir } from "../../support/temp-dir";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const PNG = Buffer.concat([Buffer.from("89504e470d0a1a0a0000000d49484452", "hex"), Buffer.alloc(200, 3)]);

describe("audio-in sniffing: what a recording is, by its first bytes", () => {
  it("recognises the compressed containers it hands to ffmpeg", () => {
    assert.equal(sniffContainer(b("OggS\0\0\0\0")), "ogg");
    assert.equal(sniffContainer(b("fLaC\0\0\0\0")), "flac");
    assert.equal(sniffContainer(Buffer.from([0x1a, 0x45, 0xdf, 0xa3, 0, 0])), "webm");
    assert.equal(sniffContainer(b("\0\0\0\x20ftypM4A ")), "m4a");
    assert.equal(sniffContainer(b("ID3\x04\0\0")), "mp3");
    assert.equal(sniffContainer(Buffer.from([0xff, 0xfb, 0x90, 0x64])), "mp3");
    assert.equal(sniffContainer(Buffer.from([0xff, 0xf1, 0x50, 0x80])), "aac");
    assert.equal(sniffContainer(b("FORM\0\0\0\0AIFF")), "aiff");
    assert.equal(sniffContainer(b("caff\0\x01\0\0")), "caf");
    assert.equal(sniffContainer(b("#!AMR\n")), "amr");
    assert.equal(sniffContainer(b(".snd\0\0\0\x18")), "au");
    assert.equal(sniffContainer(Buffer.from("3026b2758e66cf11", "hex")), "wma");
  });

  it("recognises nothing in raw PCM, text or images", () => {
    assert.equal(sniffContainer(tone(440, 0.1, 16000)), undefined);
    assert.equal(sniffContainer(Buffer.alloc(3200)), undefined);
    assert.equal(sniffContainer(b("Patient reports chest pain.")), undefined);
    assert.equal(sniffContainer(PNG), undefined);
  });

  it("names the kind of non-audio data found, never its content", () => {
    assert.equal(
      describeNonAudio(Buffer.from("Patient reports chest pain.\r\nBP 120/80 — stable ✓\n")),
      "text",
    );
    assert.equal(describeNonAudio(PNG), "a PNG image");
    assert.equal(describeNonAudio(Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10])), "a JPEG image");
    assert.equal(describeNonAudio(b("%PDF-1.7\n")), "a PDF document");
    assert.equal(describeNonAudio(b("PK\x03\x04\x14\0")), "a ZIP archive (or an Office document)");
    assert.equal(describeNonAudio(b("RIFF\0\0\0\0AVI LIST")), "a RIFF file that is not WAVE");
    // 16-bit PCM (quiet or loud) is not text: it is full of 0x00 and 0xff bytes.
    assert.equal(describeNonAudio(tone(440, 0.1, 16000)), "unrecognised binary data");
    assert.equal(describeNonAudio(Buffer.alloc(3200)), "unrecognised binary data");
  });
});

describe("audio-in: raw PCM only where it is declared; anything unrecognised is refused", () => {
  const options: AudioInOptions = {
    sampleRate: 16000,
    channels: "mono",
    frameMs: 100,
    realTime: false,
    maxAheadMs: 60000,
    idleTimeoutMs: 0,
    maxSessions: 10,
    endAfterRecording: true,
    rawDefault: undefined,
    compressedStream: false,
  };
  const dir = tempDir("sniff-");
  after(() => rmSync(dir, { recursive: true, force: true }));

  const refusal = async (sessions: AudioSessions, payload: unknown): Promise<AudioInputError> => {
    try {
      await sessions.handle({ topic: "s", payload });
    } catch (err) {
      assert.ok(err instanceof AudioInputError, String(err));
      return err;
    }
    throw new Error("accepted");
  };

  it("refuses a short text file, a long one and a PNG, sent as Buffers, naming what they are", async () => {
    const chunks: OutgoingChunk[] = [];
    const sessions = new AudioSessions(options, (c) => chunks.push(c));
    const short = await refusal(sessions, b("hello"));
    assert.equal(short.code, "NOT_AUDIO");
    assert.match(short.message, /a Buffer of text with no format information; accepted: a WAV file/);
    assert.doesNotMatch(short.message, /hello/);
    const long = await refusal(sessions, b("Chart note. ".repeat(17000)));
    assert.equal(long.code, "NOT_AUDIO");
    const png = await refusal(sessions, PNG);
    assert.match(png.message, /a Buffer of a PNG image with no format information/);
    assert.equal(chunks.length, 0, "nothing was framed");
    sessions.close();
  });

  it("takes header-less bytes as raw PCM when the message declares it (the microphone path)", async () => {
    const chunks: OutgoingChunk[] = [];
    const sessions = new AudioSessions(options, (c) => chunks.push(c));
    await sessions.handle({
      topic: "mic",
      payload: tone(440, 0.2, 16000),
      audio: { sampleRate: 16000, encoding: "pcm_s16le" },
    });
    await sessions.handle({ topic: "mic", audio: { end: true } });
    assert.equal(chunks.at(-1)?.audio.end, true);
    assert.ok(chunks.length >= 2);
    sessions.close();
  });

  it("refuses a file path naming a text file or an image, however it is named", async () => {
    const sessions = new AudioSessions(options, () => undefined);
    for (const [name, content, found] of [
      ["note.wav", b("Discharge summary: stable.\n".repeat(100)), /is text, not a WAV or a known compressed/],
      ["picture.wav", PNG, /is a PNG image, not a WAV or a known compressed/],
      ["noise.wav", Buffer.alloc(4000, 0x80), /is unrecognised binary data, not a WAV/],
    ] as const) {
      const path = join(dir, name);
      writeFileSync(path, content);
      const err = await refusal(sessions, path);
      assert.equal(err.code, "NOT_AUDIO");
      assert.match(err.message, found);
      assert.match(err.message, /accepted: WAV, MP3, Ogg\/Opus/);
      assert.doesNotMatch(err.message, new RegExp(name));
    }
    sessions.close();
  });
});
