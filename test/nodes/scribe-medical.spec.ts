import { strict as assert } from "node:assert";
import type { Node, NodeMessage } from "node-red";
import { noteText } from "../../src/transcript/clinical-note";
import { checkTranscriptDocument, type TranscriptDocument } from "../../src/transcript/document";
import type { TranscriptResult } from "../../src/transcript/result";
import { scriptedFixture, speechClockPcm } from "../emulators/aws/fixture";
import { LocalS3, S3RVER_CREDENTIALS } from "../emulators/aws-batch/s3";
import { AwsScribeEmulator, type ScribeFault } from "../emulators/aws-scribe/emulator";
import { assertTranscriptResult } from "../support/contract";
import {
  builtNode,
  collect,
  delay,
  flowWithCatch,
  helper,
  loggedTexts,
  redeploy,
  runtimeLabel,
  statusTexts,
  until,
  type FlowNode,
} from "../support/node-red";

const RATE = 16000;
const PHI_MARKER = "Zzphimarker";
const SESSION_MARKER = "Zzsessionmarker-encounter-7";
const ROLE = "arn:aws:iam::111122223333:role/HealthScribeOutput";
const BUCKET = "scribe-out";
const fixture = scriptedFixture([
  { text: "What brings you in today?", channel: 0 },
  { text: `Chest pain for two days, says ${PHI_MARKER}.`, channel: 1 },
  { text: "Any shortness of breath?", channel: 0 },
  { text: "No, none.", channel: 1 },
]);
const SCRIPT_SEC = 7;
// A second key pair the HealthScribe emulator accepts and S3 does not: S3 refuses the note's reads.
const S3_DENIED = { accessKeyId: "AKIDSCRIBEDENIED0000", secretAccessKey: "zz-denied-secret-0000000000" };
const modules = [builtNode("aws-transcribe-config"), builtNode("scribe-medical")];

let s3: LocalS3;
let emu: AwsScribeEmulator;

function flowOf(config: Record<string, unknown> = {}, awsConfig: Record<string, unknown> = {}): FlowNode[] {
  return flowWithCatch(
    [
      {
        id: "awscfg",
        type: "aws-transcribe-config",
        region: "us-east-1",
        endpoint: emu.endpoint,
        ...awsConfig,
      },
      {
        id: "sm",
        type: "scribe-medical",
        aws: "awscfg",
        channelLayout: "clinician-patient",
        outputBucket: BUCKET,
        roleArn: ROLE,
        s3Endpoint: s3.endpoint,
        tuning: {
          backoffBaseMs: 50,
          backoffMaxMs: 200,
          watchdogMs: 1000,
          closeTimeoutMs: 2000,
          pollBaseMs: 20,
          pollMaxMs: 100,
        },
        wires: [["out"], ["note"]],
        ...config,
      },
    ],
    ["out", "note"],
  );
}

function load(
  config: Record<string, unknown> = {},
  credentials: Record<string, string> = S3RVER_CREDENTIALS,
  awsConfig: Record<string, unknown> = {},
): Promise<void> {
  return helper.load(modules, flowOf(config, awsConfig), { awscfg: { ...credentials } });
}

const sm = (): Node => helper.getNode("sm");

/** Plays two-channel session audio as audio-in sends it (100 ms chunks), ten times real time; the last ends it. */
async function play(
  sessionId: string,
  seconds: number,
  fromSec = 0,
  end = true,
  first: Record<string, unknown> = {},
): Promise<void> {
  const n = Math.round(seconds * 10);
  const from = Math.round(fromSec * 10);
  for (let i = from; i < n; i++) {
    sm().receive({
      ...(i === from ? first : {}),
      topic: sessionId,
      payload: speechClockPcm(i / 10, 0.1, RATE, 2),
      audio: {
        sessionId,
        seq: i,
        sampleRate: RATE,
        channels: 2,
        encoding: "pcm_s16le",
        offsetMs: i * 100,
        durationMs: 100,
        ...(end && i === n - 1 ? { end: true } : {}),
      },
    });
    await delay(10);
  }
}

const finals = (msgs: NodeMessage[]): TranscriptResult[] =>
  msgs.map((m) => m.payload as TranscriptResult).filter((r) => r.isFinal);
const caughtTexts = (caught: NodeMessage[]): string[] =>
  caught.map((m) => String((m as { error?: { message?: string } }).error?.message ?? ""));

/** Nothing a user could see outside the messages' payloads holds the session id or the transcript. */
function assertNoPhi(caught: NodeMessage[]): void {
  const seen = [...loggedTexts(sm()), ...statusTexts(sm()), ...caughtTexts(caught)].join("\n");
  for (const marker of [PHI_MARKER, SESSION_MARKER, BUCKET, "healthscribe-streaming/"]) {
    assert.ok(!seen.includes(marker), `${marker} leaked into logs, status or errors`);
  }
}

describe(`scribe-medical node (${runtimeLabel})`, function () {
  this.timeout(20000);
  beforeEach(async () => {
    s3 = await new LocalS3([BUCKET]).start();
    emu = await new AwsScribeEmulator({
      fixture,
      clock: "clock",
      idleTimeoutMs: 3000,
      analyticsDelayMs: 50,
      s3: { endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS },
      credentials: {
        [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey,
        [S3_DENIED.accessKeyId]: S3_DENIED.secretAccessKey,
      },
    }).start();
  });
  afterEach(async () => {
    await helper.unload();
    await emu.stop();
    await s3.stop();
  });

  it("sends live results with the channel's role, then the clinical note with evidence on output 2", async () => {
    await load();
    const out = collect("out");
    const note = collect("note");
    const caught = collect("caught");
    await play(SESSION_MARKER, SCRIPT_SEC);
    await until(() => note.length === 1, 10000);
    const f = finals(out);
    assert.equal(f.length, 4);
    for (const r of out) assertTranscriptResult(r.payload);
    assert.deepEqual(
      f.map((r) => r.speaker),
      ["CLINICIAN", "PATIENT", "CLINICIAN", "PATIENT"],
    );
    assert.equal(f[1]?.text, `Chest pain for two days, says ${PHI_MARKER}.`);
    const doc = note[0]?.payload as TranscriptDocument;
    assert.equal(note[0]?.topic, SESSION_MARKER);
    assert.ok(checkTranscriptDocument(doc).ok);
    assert.ok(doc.note);
    assert.equal(doc.note.template, "HISTORY_AND_PHYSICAL");
    assert.equal(doc.text, noteText(doc.note));
    assert.equal(doc.segments.length, 4);
    const evidence = doc.note.sections.flatMap((s) => s.sentences.flatMap((x) => x.evidence));
    assert.ok(evidence.length >= 4);
    // Every piece of evidence is a final the node sent, with its session times and its speaker's role.
    for (const e of evidence) {
      const final = f.find((r) => r.segmentId === e.segmentId);
      assert.ok(final, "evidence names a segment the node sent");
      assert.deepEqual([e.startTime, e.endTime, e.speaker], [final.startTime, final.endTime, final.speaker]);
    }
    assert.equal(caught.length, 0);
    assertNoPhi(caught);
  });

  const faults: Array<[string, ScribeFault]> = [
    ["a reset connection", { kind: "reset", afterAudioSec: 2.5 }],
    ["a clean early end", { kind: "end", afterAudioSec: 2.5 }],
    ["a destroyed socket", { kind: "destroy", afterAudioSec: 2.5 }],
    ["a GOAWAY", { kind: "goaway", afterAudioSec: 2.5 }],
    ["a stalled stream", { kind: "stall", afterAudioSec: 2.5 }],
    [
      "an InternalFailureException",
      { kind: "exception", type: "InternalFailureException", afterAudioSec: 2.5 },
    ],
  ];
  for (const [what, fault] of faults) {
    it(`resumes after ${what} under the same session: no final lost or repeated, one note`, async () => {
      await load();
      const out = collect("out");
      const note = collect("note");
      emu.planFaults(fault);
      await play(SESSION_MARKER, SCRIPT_SEC);
      await until(() => note.length === 1, 10000);
      assert.equal(emu.sessions.size, 1, "one HealthScribe session");
      assert.ok(emu.streams.length >= 2, "a second stream resumed it");
      for (const s of emu.streams) assert.ok(s.configuration, "every stream sent its configuration first");
      const texts = finals(out).map((r) => r.text);
      assert.deepEqual(texts, [
        "What brings you in today?",
        `Chest pain for two days, says ${PHI_MARKER}.`,
        "Any shortness of breath?",
        "No, none.",
      ]);
    });
  }

  it("a redeploy pauses the session; the new instance resumes it under the same id and sends one note", async () => {
    await load();
    await play(SESSION_MARKER, 3.5, 0, false);
    const received = await redeploy(flowOf(), { awscfg: { ...S3RVER_CREDENTIALS } }, [
      "out",
      "note",
      "caught",
    ]);
    assert.equal(emu.streams[0]?.endOfSession, false, "the redeploy paused, not ended, the session");
    await play(SESSION_MARKER, SCRIPT_SEC, 3.5);
    await until(() => (received.note?.length ?? 0) === 1, 10000);
    assert.equal(emu.sessions.size, 1, "one HealthScribe session across the redeploy");
    const doc = received.note?.[0]?.payload as TranscriptDocument;
    assert.ok(doc.note);
    // The conversation collected before the redeploy went over with the session.
    assert.equal(doc.segments.length, 4);
    assert.equal(received.caught?.length, 0);
  });

  it("a session paused by a redeploy whose audio does not continue is ended, and its note sent", async () => {
    await load({ idleTimeoutS: 0.3 });
    await play(SESSION_MARKER, 3.5, 0, false);
    const received = await redeploy(flowOf({ idleTimeoutS: 0.3 }), { awscfg: { ...S3RVER_CREDENTIALS } }, [
      "out",
      "note",
      "caught",
    ]);
    await until(() => (received.note?.length ?? 0) === 1, 10000);
    assert.equal(emu.sessions.size, 1);
    assert.ok(emu.streams.some((s) => s.endOfSession));
  });

  /**
   * Loads the node (`idleTimeoutS` its idle close), plays the first 3.5 s of the encounter without
   * ending it, then takes the service away while the source is quiet: the stream breaks and every new
   * one is refused, so the session gives up after its two attempts.
   */
  async function giveUpWhileQuiet(
    idleTimeoutS = 30,
  ): Promise<{ out: NodeMessage[]; note: NodeMessage[]; caught: NodeMessage[] }> {
    await load({
      idleTimeoutS,
      tuning: { backoffBaseMs: 20, backoffMaxMs: 50, maxAttempts: 2, watchdogMs: 1000 },
    });
    const received = { out: collect("out"), note: collect("note"), caught: collect("caught") };
    await play(SESSION_MARKER, 3.5, 0, false);
    await until(() => finals(received.out).length >= 1, 10000);
    emu.planFaults({ kind: "throttle" });
    emu.planFaults({ kind: "throttle" });
    emu.faultOpenStreams({ kind: "reset" });
    return received;
  }

  it("a session whose stream gave up while quiet resumes the same HealthScribe session when audio returns: one note", async () => {
    const { out, note, caught } = await giveUpWhileQuiet();
    await until(() => loggedTexts(sm()).some((t) => /the session is kept: it resumes the same/.test(t)));
    assert.ok(caughtTexts(caught).some((t) => /gave up after 2 attempts without new audio/.test(t)));
    assert.ok(!caughtTexts(caught).some((t) => /NO_NOTE/.test(t)), "the encounter is not given up");
    await play(SESSION_MARKER, SCRIPT_SEC, 3.5);
    await until(() => note.length === 1, 10000);
    assert.equal(emu.sessions.size, 1, "one HealthScribe session for the encounter");
    const doc = note[0]?.payload as TranscriptDocument;
    // The conversation before the give-up and after the resume, in one document; the turn spoken
    // across the give-up was lost with the unconfirmed audio (the session's error says how much).
    assert.deepEqual(
      doc.segments.map((x) => x.text),
      finals(out).map((r) => r.text),
    );
    assert.equal(doc.segments[0]?.text, "What brings you in today?");
    assert.equal(doc.segments.at(-1)?.text, "No, none.");
    assert.ok(!caughtTexts(caught).some((t) => /NO_NOTE/.test(t)));
    assertNoPhi(caught);
  });

  it("a session given up while quiet whose audio does not return is ended after the idle time, and its note sent", async () => {
    const { out, note } = await giveUpWhileQuiet(0.5);
    await until(() => note.length === 1, 10000);
    assert.equal(emu.sessions.size, 1);
    assert.ok(
      emu.streams.some((s) => s.endOfSession),
      "END_OF_SESSION went out for it",
    );
    assert.equal((note[0]?.payload as TranscriptDocument).segments.length, finals(out).length);
    assert.ok(finals(out).length >= 1);
  });

  it("takes the patient's pronouns from a session's first message (msg.scribe.patientPronouns), kept across a resume", async () => {
    await load({ pronouns: "THEY_THEM" });
    const note = collect("note");
    const caught = collect("caught");
    emu.planFaults({ kind: "reset", afterAudioSec: 2.5 });
    await play(SESSION_MARKER, SCRIPT_SEC, 0, true, { scribe: { patientPronouns: "SHE_HER" } });
    await until(() => note.length === 1, 10000);
    assert.ok(emu.streams.length >= 2, "resumed");
    // The emulator refuses a resumed stream whose configuration differs from the session's first.
    for (const s of emu.streams) {
      assert.deepEqual((s.configuration as { MedicalScribeContext?: unknown }).MedicalScribeContext, {
        PatientContext: { Pronouns: "SHE_HER" },
      });
    }
    // Without msg.scribe the node's setting holds; null means none.
    await play("second-session", 0.5, 0, true);
    await play("third-session", 0.5, 0, true, { scribe: { patientPronouns: null } });
    await until(() => emu.streams.length >= 4);
    const contexts = emu.streams
      .slice(-2)
      .map((s) => (s.configuration as { MedicalScribeContext?: unknown }).MedicalScribeContext);
    assert.deepEqual(contexts, [{ PatientContext: { Pronouns: "THEY_THEM" } }, undefined]);
    // Their notes come too (none is left pending for the next test's node of the same id).
    await until(() => note.length === 3, 10000);
    assert.equal(caught.length, 0, caughtTexts(caught).join("\n"));
  });

  it("refuses a session's first message whose msg.scribe is not accepted, naming the accepted values, and opens nothing", async () => {
    await load();
    const caught = collect("caught");
    sm().receive({
      topic: "s",
      payload: speechClockPcm(0, 0.1, RATE, 2),
      audio: { sessionId: "s", sampleRate: RATE, channels: 2, encoding: "pcm_s16le" },
      scribe: { patientPronouns: `${PHI_MARKER}` },
    });
    sm().receive({
      topic: "s",
      payload: speechClockPcm(0, 0.1, RATE, 2),
      audio: { sessionId: "s", sampleRate: RATE, channels: 2, encoding: "pcm_s16le" },
      scribe: "SHE_HER",
    });
    await until(() => caught.length === 2);
    assert.match(
      caughtTexts(caught)[0] ?? "",
      /msg\.scribe\.patientPronouns is not one of the accepted values\. Accepted: .*"HE_HIM", "SHE_HER", "THEY_THEM" or null/,
    );
    assert.match(caughtTexts(caught)[1] ?? "", /msg\.scribe must be an object/);
    await delay(200);
    assert.equal(emu.streams.length, 0);
    assertNoPhi(caught);
  });

  const failures: Array<[string, () => void, Record<string, unknown>, Record<string, string>, string]> = [
    [
      "failed analytics",
      () => emu.planAnalytics({ kind: "fail", reason: `Internal error for ${SESSION_MARKER}` }),
      {},
      S3RVER_CREDENTIALS,
      "ANALYTICS_FAILED",
    ],
    [
      "analytics that take too long",
      () => emu.planAnalytics({ kind: "slow", delayMs: 3000 }),
      { tuning: { pollBaseMs: 20, noteTimeoutMs: 300 } },
      S3RVER_CREDENTIALS,
      "TIMEOUT",
    ],
    ["access denied to the bucket", () => undefined, {}, S3_DENIED, "ACCESS_DENIED"],
  ];
  for (const [what, plan, config, credentials, code] of failures) {
    it(`reports ${what} to Catch as ${code}, without PHI, and sends no note`, async () => {
      await load(config, credentials);
      const note = collect("note");
      const caught = collect("caught");
      plan();
      await play(SESSION_MARKER, SCRIPT_SEC);
      await until(() => caught.length > 0, 10000);
      await delay(200);
      assert.equal(note.length, 0);
      const texts = caughtTexts(caught);
      assert.ok(
        texts.some((t) => t.includes(code)),
        `expected ${code} in ${texts.join(" | ")}`,
      );
      assert.equal(caught[0]?.topic, SESSION_MARKER);
      assertNoPhi(caught);
    });
  }

  const badConfigs: Array<[string, Record<string, unknown>, Record<string, unknown>, string]> = [
    ["no role ARN", { roleArn: "" }, {}, "role ARN must be an IAM role ARN"],
    [
      "a bucket with s3://",
      { outputBucket: "s3://scribe-out/notes" },
      {},
      "output bucket must be an S3 bucket name",
    ],
    ["an unknown template", { template: "SOAPY" }, {}, "note template must be one of"],
    ["the WebSocket transport", {}, { transport: "websocket" }, "HTTP/2 only"],
  ];
  for (const [what, config, awsConfig, text] of badConfigs) {
    it(`refuses ${what} with an error naming what is accepted`, async () => {
      await load(config, S3RVER_CREDENTIALS, awsConfig);
      const caught = collect("caught");
      await play(SESSION_MARKER, 0.3);
      await until(() => caught.length > 0);
      assert.ok(caughtTexts(caught)[0]?.includes(text), caughtTexts(caught)[0]);
      assert.equal(emu.streams.length, 0);
      assertNoPhi(caught);
    });
  }
});
