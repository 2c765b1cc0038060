import { strict as assert } from "node:assert";
import { awsClientSettings } from "../../../src/providers/aws/client";
import { analyze } from "../../../src/providers/comprehend/analyze";
import { callerOf, createComprehendClient } from "../../../src/providers/comprehend/client";
import type { MedicalEntity } from "../../../src/providers/comprehend/entities";
import { DOCUMENT_LIMITS, SessionCollector } from "../../../src/transcript/document";
import { readDocumentInput } from "../../../src/transcript/document-input";
import { DocumentSessions } from "../../../src/transcript/document-sessions";
import type { TranscriptResult } from "../../../src/transcript/result";
import { realScheduler } from "../../../src/util/scheduler";
import {
  COMPREHEND_EMULATOR_CREDENTIALS,
  ComprehendMedicalEmulator,
} from "../../emulators/comprehend/emulator";
import { result, words } from "../../support/results";

/** A final of the given words (0.4 s apart from `at` seconds), said by `speaker`. */
function final(segmentId: string, said: string, at: number, speaker: string, lead = ""): TranscriptResult {
  const w = words(said.split(" ").map((t) => [t, 0.95] as [string, number])).map((x) => ({
    ...x,
    startTime: x.startTime + at,
    endTime: x.endTime + at,
    speaker,
  }));
  return result({
    segmentId,
    text: `${lead}${said}`,
    words: w,
    startTime: at,
    endTime: w[w.length - 1]?.endTime ?? at,
    speaker,
  });
}

/** What the medical-entities node sets on each final (the emulator, the real SDK client, codes on). */
async function entitiesOf(finals: TranscriptResult[]): Promise<MedicalEntity[][]> {
  const emu = await new ComprehendMedicalEmulator().start();
  const client = createComprehendClient(
    awsClientSettings({ region: "us-east-1", endpoint: emu.endpoint, ...COMPREHEND_EMULATOR_CREDENTIALS }),
    5000,
  );
  try {
    const out: MedicalEntity[][] = [];
    for (const f of finals) {
      const { entities } = await analyze(callerOf(client), f.text, f.words, {
        operations: ["entities", "icd10cm", "rxnorm"],
        deidentify: false,
        retry: { maxAttempts: 1, baseMs: 1, capMs: 1 },
        scheduler: realScheduler,
        signal: new AbortController().signal,
      });
      out.push(entities);
    }
    return out;
  } finally {
    client.destroy();
    await emu.stop();
  }
}

describe("transcript document: medical entities", function () {
  this.timeout(20000);

  it("carries each final's entities with offsets into the document text, word indexes and times kept", async () => {
    const finals = [
      final("s1", "History of hypertension.", 0, "spk_0"),
      final("s2", "Continue metformin 500 mg twice daily.", 2, "spk_0", "  "),
      final("s3", "Any asthma?", 6, "spk_1"),
    ];
    const found = await entitiesOf(finals);
    const c = new SessionCollector("session-1");
    finals.forEach((f, i) => {
      const input = readDocumentInput({ payload: f, entities: found[i] });
      assert.equal(input.kind, "final");
      if (input.kind === "final") c.add(input.result, input.mark, 0, input.entities);
    });
    const doc = c.build("flush", 0);
    assert.equal(
      doc.text,
      "spk_0: History of hypertension. Continue metformin 500 mg twice daily.\nspk_1: Any asthma?",
    );
    const entities = doc.entities ?? [];
    assert.deepEqual(
      entities.map((e) => [e.category, e.text, doc.text.slice(e.beginOffset, e.endOffset)]),
      [
        ["MEDICAL_CONDITION", "hypertension", "hypertension"],
        ["MEDICATION", "metformin", "metformin"],
        ["MEDICAL_CONDITION", "asthma", "asthma"],
      ],
    );
    const med = entities[1];
    assert.deepEqual(
      med?.attributes.map((a) => doc.text.slice(a.beginOffset, a.endOffset)),
      med?.attributes.map((a) => a.text),
      "attributes move with their entity",
    );
    assert.ok(med?.codes?.some((k) => k.system === "RxNorm" && k.code === "6809"));
    for (const e of entities) {
      const t = e.timing;
      assert.ok(t, "timing kept");
      assert.equal(doc.words[t.firstWord]?.text.replace(/[.?]$/, ""), e.text, "word index into the document");
      assert.equal(t.startTime, doc.words[t.firstWord]?.startTime, "session time of the word");
    }
    assert.equal(entities[2]?.timing?.speaker, "spk_1");
  });

  it("leaves out entities that do not point at their text in this final, and reads odd input as none", () => {
    const f = final("s1", "History of hypertension.", 0, "spk_0");
    const good = { category: "MEDICAL_CONDITION", text: "hypertension", beginOffset: 11, endOffset: 23 };
    const read = (entities: unknown): number => {
      const input = readDocumentInput({ payload: f, entities });
      return input.kind === "final" ? input.entities.length : -1;
    };
    assert.equal(read([good]), 1);
    assert.equal(read([{ ...good, beginOffset: 10 }]), 0, "offsets of another text");
    assert.equal(read([{ ...good, endOffset: 99 }]), 0, "past the end");
    assert.equal(read([{ ...good, category: 5 }]), 0);
    assert.equal(read([{ ...good, beginOffset: "11" }]), 0);
    assert.equal(read([{ ...good, timing: { firstWord: 2, lastWord: 99, startTime: 0, endTime: 1 } }]), 1);
    assert.equal(read("x"), 0);
    assert.equal(read({ length: 5 }), 0);
    const noTiming = readDocumentInput({
      payload: f,
      entities: [{ ...good, timing: { firstWord: 2, lastWord: 99, startTime: 0, endTime: 1 } }],
    });
    assert.equal(noTiming.kind === "final" && noTiming.entities[0]?.timing, undefined, "timing out of range");
    const doc = new SessionCollector("s");
    doc.add(f, undefined, 0);
    assert.equal(doc.build("flush", 0).entities, undefined, "no field without entities");
  });

  it("bounds the entities of a document: a final over the limit is refused, a session at it is split", () => {
    const f = final("s1", "History of hypertension.", 0, "spk_0");
    const one = { category: "MEDICAL_CONDITION", text: "hypertension", beginOffset: 11, endOffset: 23 };
    const flood = readDocumentInput({
      payload: f,
      entities: Array.from({ length: DOCUMENT_LIMITS.entities + 5 }, () => one),
    });
    assert.equal(flood.kind, "too-large");
    assert.equal(flood.kind === "too-large" && flood.error.limit, "entities");

    const sessions = new DocumentSessions({
      idleTimeoutMs: 0,
      onIdle: () => undefined,
      onError: () => undefined,
    });
    const half = Array.from({ length: DOCUMENT_LIMITS.entities / 2 }, () => one);
    const kinds = [0, 1, 2].map((i) => {
      const input = readDocumentInput({
        payload: { ...f, segmentId: `s${i}`, startTime: i },
        entities: half,
      });
      assert.equal(input.kind, "final");
      return input.kind === "final" ? sessions.add(input.result, input.mark, input.entities) : undefined;
    });
    assert.deepEqual(
      kinds.map((k) => k?.kind),
      ["added", "added", "split"],
    );
    const split = kinds[2];
    assert.equal(split?.kind === "split" && split.limit, "entities");
    assert.equal(split?.kind === "split" && split.document.entities?.length, DOCUMENT_LIMITS.entities);
    assert.equal(sessions.flush("session-1")?.entities?.length, DOCUMENT_LIMITS.entities / 2);
  });

  it("classifies every kind of message once", () => {
    assert.deepEqual(readDocumentInput({ control: "flush", topic: "a" }), { kind: "flush", sessionId: "a" });
    assert.deepEqual(readDocumentInput({ control: "flush" }), { kind: "flush", sessionId: undefined });
    assert.equal(readDocumentInput({ control: "stop" }).kind, "bad-control");
    assert.equal(readDocumentInput({ payload: { event: "ended", sessionId: "a" } }).kind, "end");
    assert.equal(readDocumentInput({ payload: { event: "connected", sessionId: "a" } }).kind, "event");
    assert.equal(readDocumentInput({ payload: result({ isFinal: false }) }).kind, "partial");
    assert.equal(readDocumentInput({ payload: 5 }).kind, "invalid");
    assert.equal(
      readDocumentInput({ payload: { words: { length: DOCUMENT_LIMITS.words + 1 } } }).kind,
      "invalid",
      "a words array is what counts",
    );
  });
});
