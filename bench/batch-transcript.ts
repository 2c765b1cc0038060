// transcribe-medical-batch: what reading a job's transcript file costs on the event loop. Builds the
// result JSON a medical batch job writes (speaker labels, as the documented diarization example, and
// PHI entities), for 1, 2 and 4 hours of conversation at a brisk 180 words a minute, and one of the
// largest size the node reads; prints its size and the milliseconds of JSON.parse, of mapping it to
// contract-2 finals and of building the document (each done in slices that yield to the event loop).
//   npx tsx bench/batch-transcript.ts
import { performance } from "node:perf_hooks";
import {
  batchDocument,
  mapBatchOutput,
  parseBatchOutput,
  type BatchOutput,
  type BatchOutputItem,
} from "../src/providers/aws-batch/transcript";
import { MAX_TRANSCRIPT_BYTES } from "../src/providers/aws-batch/pipeline";

const WORDS = [
  "patient",
  "denies",
  "chest",
  "pain",
  "shortness",
  "of",
  "breath",
  "metoprolol",
  "twice",
  "daily",
];

/** The transcript JSON of `words` spoken words, as Transcribe Medical writes it (compact, times as strings). */
export function batchJson(words: number): string {
  const items: BatchOutputItem[] = [];
  const segments: NonNullable<NonNullable<BatchOutput["results"]>["speaker_labels"]>["segments"] = [];
  const entities: NonNullable<BatchOutput["results"]>["entities"] = [];
  let t = 0;
  for (let i = 0; i < words; i++) {
    const start = t.toFixed(2);
    t += 60 / 180;
    const end = (t - 0.03).toFixed(2);
    const speaker = `spk_${Math.floor(i / 40) % 2}`;
    items.push({
      start_time: start,
      end_time: end,
      alternatives: [{ confidence: "0.9961", content: WORDS[i % WORDS.length] ?? "word" }],
      type: "pronunciation",
    });
    if (i % 40 === 0) segments.push({ start_time: start, end_time: end, speaker_label: speaker, items: [] });
    segments[segments.length - 1]?.items?.push({ start_time: start, end_time: end, speaker_label: speaker });
    if (i % 12 === 11)
      items.push({ alternatives: [{ confidence: "0.0", content: "." }], type: "punctuation" });
    if (i % 25 === 7) {
      entities.push({
        start_time: start,
        end_time: end,
        category: "PHI",
        type: "NAME",
        content: "Jane",
        confidence: "0.98",
      });
    }
  }
  const output: BatchOutput = {
    jobName: "bench-job",
    accountId: "111122223333",
    status: "COMPLETED",
    results: {
      transcripts: [{ transcript: items.map((i) => i.alternatives?.[0]?.content ?? "").join(" ") }],
      speaker_labels: { speakers: 2, segments },
      items,
      entities,
    },
  };
  return JSON.stringify(output);
}

async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await f();
  return [value, performance.now() - t0];
}

// Wall-clock time of each step, done in slices (bench/loop-holds.ts measures the longest slice).
async function measure(label: string, json: string): Promise<void> {
  const [output, parseMs] = await time(() => parseBatchOutput(json));
  const [results, mapMs] = await time(() => mapBatchOutput(output, "bench-job"));
  const [, documentMs] = await time(async () => {
    try {
      return await batchDocument("bench-job", results);
    } catch (err) {
      return err;
    }
  });
  console.log(
    `${label.padEnd(22)} ${(json.length / 2 ** 20).toFixed(1).padStart(6)} MiB  parse ${parseMs.toFixed(0).padStart(5)} ms` +
      `  map ${mapMs.toFixed(0).padStart(5)} ms  document ${documentMs.toFixed(0).padStart(5)} ms  (${results.length} finals)`,
  );
}

async function main(): Promise<void> {
  const perWord = batchJson(1000).length / 1000;
  for (const hours of [1, 2, 4]) await measure(`${hours} h at 180 words/min`, batchJson(hours * 60 * 180));
  await measure("largest read (limit)", batchJson(Math.floor(MAX_TRANSCRIPT_BYTES / perWord)));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
