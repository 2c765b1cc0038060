import { strict as assert } from "node:assert";
import { Readable } from "node:stream";
import type { S3Client } from "@aws-sdk/client-s3";
import {
  MAX_TRANSCRIPT_BYTES,
  readNoteFiles,
  ScribeNoteError,
} from "../../../../src/providers/aws-scribe/post-stream";
import { withTicks } from "../../../support/loop-ticks";

const AT = {
  summaryUri: "s3://out/session/summary.json",
  transcriptUri: "s3://out/session/transcript.json",
};
const SUMMARY = JSON.stringify({
  ClinicalDocumentation: {
    Sections: [
      {
        SectionName: "CHIEF_COMPLAINT",
        Summary: [{ SummarizedSegment: "Chest pain.", EvidenceLinks: [{ SegmentId: "s-1" }] }],
      },
    ],
  },
});

/** An S3 client that answers each key with the given text. */
function s3With(files: Record<string, string>): S3Client {
  return {
    send: (command: { input: { Key: string } }) => {
      const text = files[command.input.Key] ?? "";
      return Promise.resolve({
        Body: Readable.from([Buffer.from(text)]),
        ContentLength: Buffer.byteLength(text),
      });
    },
  } as unknown as S3Client;
}

/** transcript.json with `n` segments of about 300 bytes each. */
function transcriptJson(n: number): string {
  const segments = Array.from({ length: n }, (_, i) => ({
    SegmentId: `s-${i + 1}`,
    BeginAudioTime: i * 4,
    EndAudioTime: i * 4 + 3.5,
    Content: "The patient reports chest pain since this morning, worse on exertion, no radiation to the arm.",
    ParticipantDetails: { ParticipantRole: i % 2 === 0 ? "CLINICIAN" : "PATIENT" },
    ChannelId: 0,
  }));
  return JSON.stringify({ Conversation: { ConversationId: "c", TranscriptSegments: segments } });
}

describe("scribe-medical: reading HealthScribe's output files", () => {
  it("refuses a file that is not JSON, without echoing it", async () => {
    const s3 = s3With({
      "session/summary.json": "{Zzpatient not json",
      "session/transcript.json": transcriptJson(1),
    });
    await assert.rejects(readNoteFiles(s3, AT, new AbortController().signal, []), (err: Error) => {
      assert.ok(err instanceof ScribeNoteError && err.code === "MALFORMED_OUTPUT", String(err));
      assert.match(err.message, /summary\.json is not JSON/);
      assert.doesNotMatch(err.message, /Zzpatient/);
      return true;
    });
  });

  it("keeps a 10 ms timer firing while it reads a transcript.json near its size limit", async function () {
    this.timeout(300_000);
    const one = transcriptJson(1000).length / 1000;
    const segments = Math.min(100_000, Math.floor((MAX_TRANSCRIPT_BYTES * 0.9) / one));
    const json = transcriptJson(segments);
    assert.ok(json.length <= MAX_TRANSCRIPT_BYTES, `${json.length} bytes`);
    const s3 = s3With({ "session/summary.json": SUMMARY, "session/transcript.json": json });
    const { value, ticks } = await withTicks(() => readNoteFiles(s3, AT, new AbortController().signal, []));
    assert.equal(value.aggregated.size, segments);
    assert.equal(value.aggregated.get("s-1")?.role, "CLINICIAN");
    // JSON.parse in one block (as before) let the timer run at most once.
    assert.ok(ticks >= 5, `the timer ran ${ticks} times`);
  });
});
