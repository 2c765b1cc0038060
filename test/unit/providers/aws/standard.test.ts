import {
  BadRequestException,
  StartStreamTranscriptionCommand,
  type AudioStream,
  type Result,
  type StartStreamTranscriptionCommandInput,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { standardRequest } from "../../../../src/providers/aws/requests";
import { standardService } from "../../../../src/providers/aws/service";
import { AwsStreamSession } from "../../../../src/providers/aws/session";
import {
  checkStandardParams,
  type StandardParams,
  type StandardParamsInput,
} from "../../../../src/providers/aws/standard-params";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { AwsTranscribeEmulator, emulatorClient } from "../../../emulators/aws/emulator";
import { scriptedFixture, speechClockPcm } from "../../../emulators/aws/fixture";
import { STANDARD_MESSAGES } from "../../../emulators/aws/standard";
import { assertTranscriptResult } from "../../../support/contract";

const RATE = 16000;
const base: StandardParamsInput = { sampleRate: RATE, mediaEncoding: "pcm", languageCode: "es-US" };

function params(o: Partial<StandardParamsInput> = {}): StandardParams {
  const c = checkStandardParams({ ...base, ...o });
  if (!c.ok) throw c.error;
  return c.value;
}

const noAudio: AsyncIterable<AudioStream> = { [Symbol.asyncIterator]: async function* () {} };

describe("standard Amazon Transcribe parameters", () => {
  const refused: Array<[string, Partial<StandardParamsInput>, string, RegExp]> = [
    ["an unknown language", { languageCode: "xx-XX" }, "languageCode", /not a streaming language/],
    ["a rate below 8 kHz", { sampleRate: 4000 }, "sampleRate", /from 8000 to 48000/],
    ["an unknown encoding", { mediaEncoding: "mp3" }, "mediaEncoding", /pcm, flac, ogg-opus/],
    [
      "identification with one option",
      { languageMode: "identify", languageOptions: "es-US" },
      "languageOptions",
      /at least two language options/,
    ],
    [
      "two dialects of one language",
      { languageMode: "identify", languageOptions: "en-US, en-GB, es-US" },
      "languageOptions",
      /one dialect per language: en-US and en-GB/,
    ],
    [
      "a preferred language outside the options",
      { languageMode: "identify", languageOptions: "en-US, es-US", preferredLanguage: "fr-FR" },
      "preferredLanguage",
      /one of the language options/,
    ],
    [
      "a preferred language with multi-language identification",
      { languageMode: "identify-multiple", languageOptions: "en-US, es-US", preferredLanguage: "es-US" },
      "preferredLanguage",
      /single-language identification only/,
    ],
    [
      "Swedish in identification",
      { languageMode: "identify", languageOptions: "en-US, sv-SE" },
      "languageOptions",
      /does not support sv-SE/,
    ],
    [
      "ogg-opus with identification",
      { languageMode: "identify", languageOptions: "en-US, es-US", mediaEncoding: "ogg-opus" },
      "mediaEncoding",
      /pcm or flac/,
    ],
    [
      "flac with multi-language identification",
      { languageMode: "identify-multiple", languageOptions: "en-US, es-US", mediaEncoding: "flac" },
      "mediaEncoding",
      /pcm audio only/,
    ],
    [
      "redaction with identification",
      { languageMode: "identify", languageOptions: "en-US, es-US", pii: "redact" },
      "pii",
      /cannot be combined with language identification/,
    ],
    ["PII in Japanese", { languageCode: "ja-JP", pii: "identify" }, "pii", /not available for ja-JP/],
    [
      "an unknown PII type",
      { pii: "redact", piiEntityTypes: "NAME, SHOE_SIZE" },
      "piiEntityTypes",
      /SHOE_SIZE/,
    ],
    ["PII types without PII", { piiEntityTypes: "NAME" }, "piiEntityTypes", /need PII identification/],
    ["an unknown stability", { stability: "extreme" }, "stability", /low, medium, high/],
    [
      "two vocabularies with a fixed language",
      { vocabularyNames: "a, b" },
      "vocabularyNames",
      /one vocabulary name/,
    ],
    [
      "a vocabulary name with a space",
      { vocabularyNames: "my vocab!" },
      "vocabularyNames",
      /letters, digits/,
    ],
    [
      "an unknown filter method",
      { vocabularyFilterNames: "f", vocabularyFilterMethod: "blur" },
      "vocabularyFilterMethod",
      /mask, remove, tag/,
    ],
    [
      "a language model with identification",
      { languageMode: "identify", languageOptions: "en-US, es-US", languageModelName: "lm1" },
      "languageModelName",
      /cannot be combined with language identification/,
    ],
  ];
  for (const [what, input, field, message] of refused) {
    it(`refuses ${what}, naming the setting`, () => {
      const c = checkStandardParams({ ...base, ...input });
      assert.equal(c.ok, false);
      if (c.ok) return;
      assert.equal(c.error.field, field);
      assert.match(c.error.message, /^transcribe-standard: /);
      assert.match(c.error.message, message);
    });
  }

  it("builds the request of a fixed language with the singular names", () => {
    const p = params({
      vocabularyNames: "cardio-es",
      vocabularyFilterNames: "profanity",
      vocabularyFilterMethod: "tag",
      stability: "medium",
      pii: "redact",
      piiEntityTypes: "name, ssn",
      languageModelName: "clinic.lm",
      channelIdentification: true,
    });
    const input = standardRequest(p, noAudio, "0d9b2e8c-4f6a-4c1e-9d3b-2a7f5e6c8b90");
    const { AudioStream: _audio, ...rest } = input;
    assert.deepEqual(rest, {
      LanguageCode: "es-US",
      MediaSampleRateHertz: RATE,
      MediaEncoding: "pcm",
      SessionId: "0d9b2e8c-4f6a-4c1e-9d3b-2a7f5e6c8b90",
      VocabularyName: "cardio-es",
      VocabularyFilterName: "profanity",
      VocabularyFilterMethod: "tag",
      EnablePartialResultsStabilization: true,
      PartialResultsStability: "medium",
      EnableChannelIdentification: true,
      NumberOfChannels: 2,
      ContentRedactionType: "PII",
      PiiEntityTypes: "NAME,SSN",
      LanguageModelName: "clinic.lm",
    });
    assert.equal(p.channels, 2);
  });

  it("builds the request of language identification with the plural names and no LanguageCode", () => {
    const p = params({
      languageMode: "identify",
      languageOptions: ["es-US", "en-US"],
      preferredLanguage: "es-US",
      vocabularyNames: "vocab-es, vocab-en",
      pii: "identify",
    });
    const input = standardRequest(p, noAudio, "0d9b2e8c-4f6a-4c1e-9d3b-2a7f5e6c8b90");
    assert.equal(input.LanguageCode, undefined);
    assert.equal(input.IdentifyLanguage, true);
    assert.equal(input.LanguageOptions, "es-US,en-US");
    assert.equal(input.PreferredLanguage, "es-US");
    assert.equal(input.VocabularyNames, "vocab-es,vocab-en");
    assert.equal(input.VocabularyName, undefined);
    assert.equal(input.ContentIdentificationType, "PII");
    const multi = standardRequest(
      params({ languageMode: "identify-multiple", languageOptions: "es-US en-US" }),
      noAudio,
      "0d9b2e8c-4f6a-4c1e-9d3b-2a7f5e6c8b90",
    );
    assert.equal(multi.IdentifyMultipleLanguages, true);
    assert.equal(multi.IdentifyLanguage, undefined);
  });
});

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function* clockAudio(seconds: number): AsyncGenerator<AudioStream> {
  for (let t = 0; t < seconds - 1e-9; t += 0.1) {
    yield { AudioEvent: { AudioChunk: speechClockPcm(t, 0.1, RATE) } };
    await delay(10);
  }
}

/** Sends a raw request with the real SDK (no checks of ours in between) and collects what comes back. */
async function raw(
  emu: AwsTranscribeEmulator,
  input: Partial<StartStreamTranscriptionCommandInput>,
  seconds = 0.5,
): Promise<{ results: Result[]; error?: Error }> {
  const c = emulatorClient(emu);
  const out: { results: Result[]; error?: Error } = { results: [] };
  try {
    const res = await c.send(
      new StartStreamTranscriptionCommand({
        MediaSampleRateHertz: RATE,
        MediaEncoding: "pcm",
        AudioStream: clockAudio(seconds),
        ...input,
      }),
    );
    for await (const ev of res.TranscriptResultStream ?? []) {
      out.results.push(...(ev.TranscriptEvent?.Transcript?.Results ?? []));
    }
  } catch (err) {
    out.error = err as Error;
  } finally {
    c.destroy();
  }
  return out;
}

const spanish = scriptedFixture([
  { text: "El paciente niega dolor torácico." },
  { text: "Se llama [PHI]Gómez y dice [VF]caramba ." },
]);

describe("standard endpoint of the emulator (real SDK)", function () {
  this.timeout(10000);
  let emu: AwsTranscribeEmulator;
  beforeEach(async () => {
    emu = await new AwsTranscribeEmulator({
      fixture: scriptedFixture([{ text: "Patient denies chest pain." }]),
      standardFixture: spanish,
      spokenLanguage: "es-US",
      clock: "clock",
      idleTimeoutMs: 1500,
    }).start();
  });
  afterEach(() => emu.stop());

  const rejected: Array<[string, Partial<StartStreamTranscriptionCommandInput>, string]> = [
    ["no language at all", {}, STANDARD_MESSAGES.languageChoice],
    [
      "a language code and identification",
      { LanguageCode: "es-US", IdentifyLanguage: true, LanguageOptions: "es-US,en-US" },
      STANDARD_MESSAGES.languageChoice,
    ],
    [
      "identification with one option",
      { IdentifyLanguage: true, LanguageOptions: "es-US" },
      STANDARD_MESSAGES.identifyNeedsOptions,
    ],
    [
      "two dialects",
      { IdentifyLanguage: true, LanguageOptions: "en-US,en-GB" },
      STANDARD_MESSAGES.oneDialect,
    ],
    [
      "a preferred language outside the options",
      { IdentifyLanguage: true, LanguageOptions: "en-US,es-US", PreferredLanguage: "fr-FR" },
      STANDARD_MESSAGES.preferred,
    ],
    [
      "redaction with identification",
      { IdentifyLanguage: true, LanguageOptions: "en-US,es-US", ContentRedactionType: "PII" },
      STANDARD_MESSAGES.identifyAndRedaction,
    ],
    [
      "both PII modes",
      { LanguageCode: "en-US", ContentRedactionType: "PII", ContentIdentificationType: "PII" },
      STANDARD_MESSAGES.bothContentTypes,
    ],
    [
      "PII types alone",
      { LanguageCode: "en-US", PiiEntityTypes: "NAME" },
      STANDARD_MESSAGES.entityTypesNeedContent,
    ],
    [
      "PII in Japanese",
      { LanguageCode: "ja-JP", ContentIdentificationType: "PII" },
      STANDARD_MESSAGES.piiLanguage,
    ],
    [
      "a stability without stabilisation",
      { LanguageCode: "en-US", PartialResultsStability: "high" },
      STANDARD_MESSAGES.stabilityNeedsEnable,
    ],
    [
      "a filter method without a filter",
      { LanguageCode: "en-US", VocabularyFilterMethod: "mask" },
      STANDARD_MESSAGES.filterMethodNeedsFilter,
    ],
    [
      "a language model with identification",
      { IdentifyLanguage: true, LanguageOptions: "en-US,es-US", LanguageModelName: "lm" },
      STANDARD_MESSAGES.identifyAndModel,
    ],
    [
      "ogg-opus with identification",
      { IdentifyLanguage: true, LanguageOptions: "en-US,es-US", MediaEncoding: "ogg-opus" },
      STANDARD_MESSAGES.identifyEncoding,
    ],
    ["4 kHz audio", { LanguageCode: "en-US", MediaSampleRateHertz: 4000 }, STANDARD_MESSAGES.sampleRate],
    [
      "a preferred language with multi-language identification",
      { IdentifyMultipleLanguages: true, LanguageOptions: "en-US,es-US", PreferredLanguage: "es-US" },
      STANDARD_MESSAGES.preferredNeedsIdentify,
    ],
  ];
  for (const [what, input, message] of rejected) {
    it(`rejects ${what} with BadRequestException, as the service does`, async () => {
      const out = await raw(emu, input);
      assert.ok(out.error instanceof BadRequestException, String(out.error));
      assert.equal(out.error.message, message);
    });
  }

  it("accepts 8 kHz telephony audio, which Medical refuses", async () => {
    const out = await raw(emu, { LanguageCode: "es-US", MediaSampleRateHertz: 8000 }, 0.3);
    assert.equal(out.error, undefined);
  });

  it("identifies the language after about a second of speech; finals name it with scores", async () => {
    const out = await raw(emu, { IdentifyLanguage: true, LanguageOptions: "en-US,es-US,fr-FR" }, 6);
    assert.equal(out.error, undefined);
    const first = out.results[0];
    assert.equal(first?.IsPartial, true);
    assert.equal(first?.LanguageCode, undefined, "the first partial comes before identification");
    const finals = out.results.filter((r) => r.IsPartial === false);
    assert.equal(finals.length, 2);
    for (const f of finals) {
      assert.equal(f.LanguageCode, "es-US");
      assert.equal(f.LanguageIdentification?.[0]?.LanguageCode, "es-US");
      assert.equal(f.LanguageIdentification?.length, 3);
    }
  });

  it("marks items Stable with stabilisation (the last word of a partial stays open at high)", async () => {
    const out = await raw(
      emu,
      { LanguageCode: "es-US", EnablePartialResultsStabilization: true, PartialResultsStability: "high" },
      3,
    );
    const partial = out.results.find(
      (r) => r.IsPartial === true && (r.Alternatives?.[0]?.Items?.length ?? 0) >= 3,
    );
    const items = partial?.Alternatives?.[0]?.Items ?? [];
    assert.deepEqual(
      items.map((i) => i.Stable),
      [...items.slice(0, -1).map(() => true), false],
    );
    const final = out.results.find((r) => r.IsPartial === false);
    assert.ok(final?.Alternatives?.[0]?.Items?.every((i) => i.Stable === true));
    const plain = await raw(emu, { LanguageCode: "es-US" }, 2);
    assert.ok(plain.results.every((r) => r.Alternatives?.[0]?.Items?.every((i) => i.Stable === undefined)));
  });

  it("redacts PII in finals only, and applies the vocabulary filter method", async () => {
    const out = await raw(
      emu,
      {
        LanguageCode: "es-US",
        ContentRedactionType: "PII",
        VocabularyFilterName: "f",
        VocabularyFilterMethod: "mask",
      },
      6,
    );
    const texts = out.results
      .filter((r) => r.IsPartial === false)
      .map((r) => r.Alternatives?.[0]?.Transcript);
    assert.deepEqual(texts, ["El paciente niega dolor torácico.", "Se llama [PII] y dice ***."]);
    const partials = out.results
      .filter((r) => r.IsPartial === true)
      .map((r) => r.Alternatives?.[0]?.Transcript ?? "");
    assert.ok(
      partials.some((t) => t.includes("Gómez")),
      "partials are not redacted",
    );
    const entity = out.results.find((r) => r.IsPartial === false && r.Alternatives?.[0]?.Entities?.length)
      ?.Alternatives?.[0]?.Entities?.[0];
    assert.deepEqual([entity?.Category, entity?.Type, entity?.Content], ["PII", "NAME", "[PII]"]);
    const removed = await raw(
      emu,
      { LanguageCode: "es-US", VocabularyFilterName: "f", VocabularyFilterMethod: "remove" },
      6,
    );
    assert.equal(
      removed.results.filter((r) => r.IsPartial === false)[1]?.Alternatives?.[0]?.Transcript,
      "Se llama Gómez y dice.",
    );
  });
});

describe("a standard session (AwsStreamSession, real SDK, emulator)", function () {
  this.timeout(15000);
  it("delivers contract-2 results with the identified language, stable words and typed PII entities", async () => {
    const emu = await new AwsTranscribeEmulator({
      fixture: spanish,
      spokenLanguage: "es-US",
      clock: "clock",
      idleTimeoutMs: 1500,
    }).start();
    const client = emulatorClient(emu);
    try {
      const results: TranscriptResult[] = [];
      const p = params({
        languageMode: "identify",
        languageOptions: "en-US, es-US",
        stability: "high",
        pii: "identify",
      });
      const session = new AwsStreamSession({
        sessionId: "enc-es",
        service: standardService(client, p),
        scheduler: realScheduler,
        handlers: { result: (r) => results.push(r), event: () => undefined },
      });
      for (let t = 0; t < 6 - 1e-9; t += 0.1) {
        assert.ok(session.push(speechClockPcm(t, 0.1, RATE)).ok);
        await delay(10);
      }
      await session.end();
      for (const r of results) assertTranscriptResult(r);
      assert.ok(results.every((r) => r.provider === "aws-transcribe"));
      const finals = results.filter((r) => r.isFinal);
      assert.deepEqual(
        finals.map((r) => [r.text, r.language]),
        [
          ["El paciente niega dolor torácico.", "es-US"],
          ["Se llama Gómez y dice caramba.", "es-US"],
        ],
      );
      assert.equal(results[0]?.language, "und", "before identification");
      assert.ok(finals.every((r) => r.words.every((w) => w.stable === true)));
      assert.ok(results.some((r) => !r.isFinal && r.words.some((w) => w.stable === false)));
      assert.deepEqual(
        finals[1]?.entities?.map((e) => [e.category, e.type, e.text]),
        [["PII", "NAME", "Gómez"]],
      );
      assert.equal(emu.streams[0]?.headers[":path"], "/stream-transcription");
    } finally {
      client.destroy();
      await emu.stop();
    }
  });
});
