import { strict as assert } from "node:assert";
import type { ComprehendMedicalClient } from "@aws-sdk/client-comprehendmedical";
import { awsClientSettings } from "../../../src/providers/aws/client";
import { analyze, type AnalyzeOptions } from "../../../src/providers/comprehend/analyze";
import { callerOf, createComprehendClient } from "../../../src/providers/comprehend/client";
import type { MedicalEntity } from "../../../src/providers/comprehend/entities";
import { classifyServiceError } from "../../../src/providers/comprehend/errors";
import { realScheduler } from "../../../src/util/scheduler";
import {
  COMPREHEND_EMULATOR_CREDENTIALS,
  ComprehendMedicalEmulator,
} from "../../emulators/comprehend/emulator";

const MARKER = "Zzphimarker";
const DICTATION =
  `Mr. Johnson is a 67-year-old seen on March 3, 2026. He denies chest pain. ` +
  `History of hypertension and type 2 diabetes. Continue metformin 500 mg twice daily and lisinopril 10 mg once daily. ` +
  `Order an electrocardiogram.`;

let emu: ComprehendMedicalEmulator;
let client: ComprehendMedicalClient;

function clientWith(secret = COMPREHEND_EMULATOR_CREDENTIALS.secretAccessKey): ComprehendMedicalClient {
  return createComprehendClient(
    awsClientSettings({
      region: "us-east-1",
      endpoint: emu.endpoint,
      accessKeyId: COMPREHEND_EMULATOR_CREDENTIALS.accessKeyId,
      secretAccessKey: secret,
    }),
    5000,
  );
}

const options = (over: Partial<AnalyzeOptions> = {}): AnalyzeOptions => ({
  operations: ["entities", "icd10cm", "rxnorm", "snomedct"],
  deidentify: false,
  retry: { maxAttempts: 4, baseMs: 5, capMs: 20 },
  scheduler: realScheduler,
  signal: new AbortController().signal,
  ...over,
});

const byText = (entities: MedicalEntity[], text: string): MedicalEntity | undefined =>
  entities.find((e) => e.text.toLowerCase() === text);

describe("comprehend medical: the real SDK client against the emulator", function () {
  this.timeout(20000);
  beforeEach(async () => {
    emu = await new ComprehendMedicalEmulator().start();
    client = clientWith();
  });
  afterEach(async () => {
    client.destroy();
    await emu.stop();
  });

  it("finds medications with dose and frequency, conditions and tests, with their codes and offsets", async () => {
    const { entities, requests } = await analyze(callerOf(client), DICTATION, null, options());
    assert.equal(requests, 4);
    for (const e of entities) assert.equal(DICTATION.slice(e.beginOffset, e.endOffset), e.text);
    const metformin = byText(entities, "metformin");
    assert.equal(metformin?.category, "MEDICATION");
    assert.deepEqual(
      metformin?.codes?.map((c) => [c.system, c.code]),
      [["RxNorm", "6809"]],
    );
    assert.deepEqual(
      metformin?.attributes.map((a) => [a.type, a.text]),
      [
        ["DOSAGE", "500 mg"],
        ["FREQUENCY", "twice daily"],
      ],
    );
    const htn = byText(entities, "hypertension");
    assert.deepEqual(
      htn?.codes?.map((c) => [c.system, c.code]),
      [
        ["ICD-10-CM", "I10"],
        ["SNOMED CT", "38341003"],
      ],
    );
    assert.deepEqual(htn?.sources, ["entities", "icd10cm", "snomedct"]);
    const pain = byText(entities, "chest pain");
    assert.ok(
      pain?.traits.some((t) => t.name === "NEGATION"),
      "denied chest pain is negated",
    );
    assert.ok(!htn?.traits.some((t) => t.name === "NEGATION"));
    assert.equal(byText(entities, "electrocardiogram")?.codes?.[0]?.code, "29303009");
    assert.equal(byText(entities, "johnson")?.category, "PROTECTED_HEALTH_INFORMATION");
  });

  it("splits a long text at sentence ends within the service's limits and shifts offsets back", async () => {
    const filler = "The patient rested comfortably overnight without events. ".repeat(800); // ~46 kB
    const text = `${filler}Start warfarin 5 mg daily for atrial fibrillation. Mr. ${MARKER} agrees.`;
    const { entities, deidentified } = await analyze(
      callerOf(client),
      text,
      null,
      options({ operations: ["entities", "icd10cm"], deidentify: true }),
    );
    const detect = emu.calls.filter((c) => c.op === "DetectEntitiesV2" || c.op === "DetectPHI");
    const infer = emu.calls.filter((c) => c.op === "InferICD10CM");
    assert.ok(detect.length >= 6 && detect.every((c) => c.bytes < 20_000));
    assert.ok(infer.length >= 5 && infer.every((c) => c.chars <= 10_000));
    const warfarin = byText(entities, "warfarin");
    assert.ok(warfarin && warfarin.beginOffset > 40_000);
    assert.equal(text.slice(warfarin.beginOffset, warfarin.endOffset), "warfarin");
    assert.equal(byText(entities, "atrial fibrillation")?.codes?.[0]?.code, "I48.91");
    assert.ok(deidentified?.endsWith("Mr. [NAME] agrees."));
    assert.ok(!deidentified?.includes(MARKER));
    assert.equal(deidentified?.length, text.length - MARKER.length + "[NAME]".length);
  });

  it("maps code-point offsets past astral characters and sends lone surrogates as U+FFFD", async () => {
    const text = "😀😀 \uD800 aspirin daily.";
    const { entities } = await analyze(callerOf(client), text, null, options({ operations: ["rxnorm"] }));
    const aspirin = byText(entities, "aspirin");
    assert.equal(aspirin && text.slice(aspirin.beginOffset, aspirin.endOffset), "aspirin");
    // Without the replacement, the service refuses the text (and its message quotes it).
    const raw = await callerOf(client)("rxnorm", text, new AbortController().signal).catch((e: unknown) => e);
    const e = classifyServiceError(raw);
    assert.equal(e.code, "InvalidEncodingException");
    assert.ok(!e.message.includes("aspirin"), "the service's message, quoting the text, is not passed on");
  });

  it("retries throttling and 500s with back-off, and reports throttling past the bound", async () => {
    emu.throttle(2);
    emu.fail("InternalServerException", 500);
    const ok = await analyze(callerOf(client), DICTATION, null, options({ operations: ["entities"] }));
    assert.equal(ok.retries, 3);
    assert.ok(byText(ok.entities, "metformin"));
    emu.throttle(10);
    await assert.rejects(analyze(callerOf(client), DICTATION, null, options({ operations: ["entities"] })), {
      code: "TooManyRequestsException",
    });
    assert.equal(emu.faults.length, 6, "four attempts, then reported");
  });

  it("reports the service's size limit and a bad signature by name, without text or secrets", async () => {
    const big = "word ".repeat(4000);
    const err = await callerOf(client)("entities", big, new AbortController().signal).catch(
      (e: unknown) => e,
    );
    assert.equal(classifyServiceError(err).code, "TextSizeLimitExceededException");
    const bad = clientWith("ZZ-SECRET-MARKER-wrong");
    try {
      const e = await analyze(callerOf(bad), `Mr. ${MARKER} has asthma.`, null, options()).catch(
        (x: Error) => x,
      );
      assert.ok(e instanceof Error);
      assert.equal((e as { code?: string }).code, "InvalidSignatureException");
      assert.ok(!e.message.includes(MARKER) && !e.message.includes("ZZ-SECRET"));
    } finally {
      bad.destroy();
    }
  });

  it("refuses empty and oversized text before any request", async () => {
    await assert.rejects(analyze(callerOf(client), "  \n ", null, options()), { code: "EMPTY_TEXT" });
    await assert.rejects(analyze(callerOf(client), "x".repeat(1024 * 1024 + 1), null, options()), {
      code: "TEXT_TOO_LARGE",
    });
    assert.equal(emu.calls.length, 0);
  });
});
