import { strict as assert } from "node:assert";
import { AudioInputError } from "../../../src/audio/format";
import { parseWav } from "../../../src/audio/wav";
import { ffmpegFile, readFixture, soxWav, tone, wavOf } from "../../support/audio-fixtures";

function rejects(buffer: Buffer, code: string, message: RegExp): void {
  assert.throws(
    () => parseWav(buffer),
    (e: unknown) => e instanceof AudioInputError && e.code === code && message.test(e.message),
  );
}

describe("WAV parsing", () => {
  const cases: Array<[string, string[], { sampleRate: number; channels: number; sampleFormat: string }]> = [
    [
      "8-bit unsigned",
      ["-b", "8", "-e", "unsigned-integer"],
      { sampleRate: 22050, channels: 1, sampleFormat: "u8" },
    ],
    [
      "16-bit 48 kHz stereo",
      ["-r", "48000", "-c", "2"],
      { sampleRate: 48000, channels: 2, sampleFormat: "s16le" },
    ],
    [
      "24-bit 44.1 kHz",
      ["-r", "44100", "-b", "24"],
      { sampleRate: 44100, channels: 1, sampleFormat: "s24le" },
    ],
    ["32-bit integer", ["-b", "32"], { sampleRate: 22050, channels: 1, sampleFormat: "s32le" }],
    [
      "32-bit float stereo",
      ["-c", "2", "-e", "floating-point", "-b", "32"],
      { sampleRate: 22050, channels: 2, sampleFormat: "f32le" },
    ],
    [
      "G.711 mu-law 8 kHz",
      ["-r", "8000", "-e", "mu-law"],
      { sampleRate: 8000, channels: 1, sampleFormat: "mulaw" },
    ],
    [
      "G.711 A-law 8 kHz",
      ["-r", "8000", "-e", "a-law"],
      { sampleRate: 8000, channels: 1, sampleFormat: "alaw" },
    ],
  ];
  for (const [what, args, format] of cases) {
    it(`reads ${what} made by sox`, () => {
      const wav = parseWav(readFixture(soxWav(what.replace(/\W+/g, "-"), args)));
      assert.deepEqual(wav.format, format);
      assert.ok(wav.data.length > 10000);
    });
  }

  it("reads WAVE_FORMAT_EXTENSIBLE headers", () => {
    const file = readFixture(soxWav("ext-24", ["-b", "24", "-c", "2"]));
    assert.equal(file.readUInt16LE(20), 0xfffe, "sox writes 24-bit stereo as WAVE_FORMAT_EXTENSIBLE");
    assert.deepEqual(parseWav(file).format, { sampleRate: 22050, channels: 2, sampleFormat: "s24le" });
  });

  it("skips LIST and fact chunks before the data", () => {
    const ffmpegWav = readFixture(
      ffmpegFile("with-list.wav", ["-metadata", "title=synthetic", "-c:a", "pcm_s16le"]),
    );
    assert.ok(ffmpegWav.includes(Buffer.from("LIST")), "ffmpeg writes a LIST chunk");
    assert.equal(parseWav(ffmpegWav).format.sampleFormat, "s16le");

    const pcm = tone(440, 0.1, 16000);
    const wav = wavOf(pcm, { rate: 16000, channels: 1, bits: 16 }, [
      ["fact", Buffer.alloc(4)],
      ["LIST", Buffer.from("INFOISFT\x05\x00\x00\x00test\x00", "latin1")],
    ]);
    assert.deepEqual(parseWav(wav).data, pcm);
  });

  it("accepts a streamed WAV whose sizes were left unknown", () => {
    const pcm = tone(440, 0.1, 16000);
    const wav = wavOf(pcm, { rate: 16000, channels: 1, bits: 16 });
    wav.writeUInt32LE(0xffffffff, wav.length - pcm.length - 4);
    assert.equal(parseWav(wav).data.length, pcm.length);
  });

  it("refuses a truncated WAV, saying how much is missing", () => {
    const wav = readFixture(soxWav("trunc", ["-r", "16000"]));
    rejects(
      wav.subarray(0, wav.length - 1000),
      "TRUNCATED_WAV",
      /truncated: its header announces \d+ bytes of audio but only \d+ follow/,
    );
  });

  it("refuses corrupt headers with the reason", () => {
    rejects(
      Buffer.from("RIFF\x00\x00\x00\x00WAVEdata\x10\x00\x00\x00", "latin1"),
      "CORRUPT_WAV",
      /data chunk comes before the fmt chunk/,
    );
    rejects(Buffer.from("RIFF\x00\x00\x00\x00WAVE", "latin1"), "CORRUPT_WAV", /too short to hold a header/);
    const wav = wavOf(tone(440, 0.1, 16000), { rate: 16000, channels: 1, bits: 16 });
    wav.write("junk", 36, "latin1");
    rejects(wav, "CORRUPT_WAV", /has no data chunk/);
  });

  it("refuses unsupported encodings, naming the accepted ones", () => {
    const adpcm = wavOf(Buffer.alloc(100), { rate: 8000, channels: 1, bits: 4, code: 0x0002 });
    rejects(
      adpcm,
      "UNSUPPORTED_ENCODING",
      /format code 0x0002, 4 bits\); accepted: PCM 8\/16\/24\/32-bit integer/,
    );
  });

  it("refuses rates out of range", () => {
    rejects(
      wavOf(Buffer.alloc(100), { rate: 4000, channels: 1, bits: 16 }),
      "RATE_OUT_OF_RANGE",
      /4000 Hz is not supported; accepted: whole numbers from 8000 to 192000/,
    );
  });
});
