import { strict as assert } from "node:assert";
import { Hl7Message } from "@medplum/core";
import type { Condition, DocumentReference, MedicationStatement } from "@medplum/fhirtypes";
import { awsClientSettings } from "../../../../src/providers/aws/client";
import { analyze } from "../../../../src/providers/comprehend/analyze";
import { callerOf, createComprehendClient } from "../../../../src/providers/comprehend/client";
import type { MedicalEntity } from "../../../../src/providers/comprehend/entities";
import {
  buildFhirBundle,
  checkFhirEncounter,
  checkFhirPatient,
  DEFAULT_FHIR_OPTIONS,
} from "../../../../src/hospital/fhir/bundle";
import { entityEntries, readCodedEntities } from "../../../../src/hospital/fhir/entities";
import { FhirSender } from "../../../../src/hospital/fhir/send";
import { buildHl7, DEFAULT_HL7_OPTIONS } from "../../../../src/hospital/hl7/build";
import { codedObxSegments } from "../../../../src/hospital/hl7/entities";
import { realScheduler } from "../../../../src/util/scheduler";
import {
  COMPREHEND_EMULATOR_CREDENTIALS,
  ComprehendMedicalEmulator,
} from "../../../emulators/comprehend/emulator";
import { documentWithText, syntheticPatient } from "../../../support/documents";
import { medplumFhirPeer } from "../../../support/fhir-peers";

const TEXT =
  "He denies chest pain. History of hypertension and type 2 diabetes. " +
  "Continue metformin 500 mg twice daily. Asthma since childhood.";

/** The entities the medical-entities node would send for TEXT (emulator, real SDK, all code operations). */
async function entitiesOf(text: string): Promise<MedicalEntity[]> {
  const emu = await new ComprehendMedicalEmulator().start();
  const client = createComprehendClient(
    awsClientSettings({ region: "us-east-1", endpoint: emu.endpoint, ...COMPREHEND_EMULATOR_CREDENTIALS }),
    5000,
  );
  try {
    const { entities } = await analyze(callerOf(client), text, null, {
      operations: ["entities", "icd10cm", "rxnorm", "snomedct"],
      deidentify: false,
      retry: { maxAttempts: 1, baseMs: 1, capMs: 1 },
      scheduler: realScheduler,
      signal: new AbortController().signal,
    });
    return entities;
  } finally {
    client.destroy();
    await emu.stop();
  }
}

describe("coded entities for delivery", function () {
  this.timeout(20000);

  it("keeps coded, asserted conditions and medications; leaves out negated ones and odd input", async () => {
    const entities = await entitiesOf(TEXT);
    const coded = readCodedEntities(entities);
    assert.deepEqual(
      coded.map((e) => [e.kind, e.codes.map((c) => `${c.system} ${c.code}`).join(", "), e.dosageText ?? ""]),
      [
        ["condition", "ICD-10-CM I10, SNOMED CT 38341003", ""],
        ["condition", "ICD-10-CM E11.9, SNOMED CT 44054006", ""],
        ["medication", "RxNorm 6809", "500 mg twice daily"],
        ["condition", "ICD-10-CM J45.909, SNOMED CT 195967001", ""],
      ],
    );
    const negated = entities.find((e) => e.text === "chest pain");
    assert.ok(negated?.traits.some((t) => t.name === "NEGATION") && negated.codes?.length);
    assert.deepEqual(readCodedEntities([{ ...negated, traits: [{ name: "HYPOTHETICAL" }] }]), []);
    assert.deepEqual(readCodedEntities("x"), []);
    assert.deepEqual(
      readCodedEntities([{ category: "MEDICATION", codes: [{ system: "RxNorm", code: "6809|^~\\&" }] }]),
      [],
      "a code with HL7 delimiters is refused",
    );
    assert.deepEqual(
      readCodedEntities([{ category: "MEDICAL_CONDITION", codes: [{ system: "RxNorm", code: "1" }] }]),
      [],
    );
  });

  it("adds unconfirmed Conditions and status-unknown MedicationStatements that a FHIR server stores, linked to the DocumentReference", async () => {
    const coded = readCodedEntities(await entitiesOf(TEXT));
    const built = buildFhirBundle(
      documentWithText(TEXT),
      checkFhirPatient({ id: "TEST-0001", idSystem: "urn:oid:1.2.3.4" }, "msg.patient"),
      checkFhirEncounter({}),
      DEFAULT_FHIR_OPTIONS,
      new Date("2026-01-15T14:31:05Z"),
    );
    const doc = built.bundle.entry?.[0];
    const docResource = doc?.resource;
    assert.ok(docResource?.resourceType === "DocumentReference");
    const entries = entityEntries(coded, {
      subject: docResource.subject ?? {},
      documentReference: doc?.fullUrl ?? "",
    });
    for (const e of entries) built.bundle.entry?.push(e);
    const json = JSON.stringify(entries);
    assert.ok(!/"confirmed"|"active"|"completed"/.test(json), "nothing machine-derived is marked confirmed");

    const peer = await medplumFhirPeer();
    try {
      const sender = new FhirSender({
        baseUrl: peer.baseUrl,
        headers: {},
        timeoutMs: 2000,
        retries: 0,
        backoffMs: 1,
        backoffMaxMs: 1,
      });
      const outcome = await sender.post(built.bundle);
      assert.equal(outcome.status, "delivered");
      const [stored] = await peer.repo.searchResources<DocumentReference>({
        resourceType: "DocumentReference",
      });
      const conditions = await peer.repo.searchResources<Condition>({ resourceType: "Condition" });
      const meds = await peer.repo.searchResources<MedicationStatement>({
        resourceType: "MedicationStatement",
      });
      assert.equal(conditions.length, 3);
      assert.equal(meds.length, 1);
      for (const c of conditions) {
        assert.equal(c.verificationStatus?.coding?.[0]?.code, "unconfirmed");
        assert.deepEqual(c.evidence?.[0]?.detail, [{ reference: `DocumentReference/${stored?.id}` }]);
        assert.equal(c.meta?.security?.[0]?.code, "AIAST");
      }
      assert.equal(conditions[0]?.code?.coding?.[0]?.system, "http://hl7.org/fhir/sid/icd-10-cm");
      assert.equal(meds[0]?.status, "unknown");
      assert.equal(meds[0]?.medicationCodeableConcept?.coding?.[0]?.code, "6809");
      assert.deepEqual(meds[0]?.derivedFrom, [{ reference: `DocumentReference/${stored?.id}` }]);
      assert.equal(meds[0]?.dosage?.[0]?.text, "500 mg twice daily");
    } finally {
      await peer.close();
    }
  });

  it("adds coded OBX segments (CE) with the coding system to an ORU^R01, preliminary", async () => {
    const coded = readCodedEntities(await entitiesOf(TEXT));
    const built = buildHl7(
      documentWithText(TEXT),
      syntheticPatient,
      {},
      { ...DEFAULT_HL7_OPTIONS, messageType: "ORU^R01" },
      new Date("2026-01-15T14:31:05Z"),
    );
    const message = [built.message, ...codedObxSegments(coded, built.obxCount + 1)].join("\r");
    const parsed = Hl7Message.parse(message);
    const obx = parsed.getAllSegments("OBX").filter((s) => s.getField(2)?.toString() === "CE");
    assert.equal(obx.length, 4);
    const first = obx[0];
    assert.equal(first?.getField(1)?.toString(), String(built.obxCount + 1));
    assert.equal(first?.getField(3)?.getComponent(1), "29548-5");
    assert.equal(first?.getField(5)?.getComponent(1), "I10");
    assert.equal(first?.getField(5)?.getComponent(3), "I10C");
    assert.equal(first?.getField(5)?.getComponent(4), "38341003");
    assert.equal(first?.getField(5)?.getComponent(6), "SCT");
    assert.equal(obx[2]?.getField(5)?.getComponent(3), "RXNORM");
    for (const s of obx) assert.equal(s.getField(11)?.toString(), "P");
  });
});
