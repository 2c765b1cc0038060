import { meanConfidence } from "../../transcript/confidence";
import { SessionCollector, type TranscriptDocument } from "../../transcript/document";
import type { TranscriptEntity, TranscriptResult, TranscriptWord } from "../../transcript/result";
import { JsonSyntaxError, parseJsonSliced } from "../../util/sliced-json";
import { Slicer } from "../../util/slices";

/**
 * The result JSON a medical batch job writes to the output bucket, as documented (diarization and
 * channel identification examples of the Transcribe developer guide): times and confidences are
 * strings there, punctuation items carry no times. The shape of `entities` (PHI) in the batch output
 * is NOT verified against a documented example; both snake_case and camelCase keys, strings and
 * numbers are read.
 */
export interface BatchOutputItem {
  id?: number;
  start_time?: string | number;
  end_time?: string | number;
  alternatives?: Array<{ confidence?: string | number; content?: string }>;
  type?: string;
  speaker_label?: string;
  channel_label?: string;
}

export interface BatchOutputEntity {
  start_time?: string | number;
  end_time?: string | number;
  startTime?: string | number;
  endTime?: string | number;
  category?: string;
  type?: string;
  content?: string;
  confidence?: string | number;
}

export interface BatchOutput {
  jobName?: string;
  accountId?: string;
  status?: string;
  results?: {
    transcripts?: Array<{ transcript?: string }>;
    items?: BatchOutputItem[];
    speaker_labels?: {
      speakers?: number;
      channel_label?: string;
      segments?: Array<{
        start_time?: string;
        end_time?: string;
        speaker_label?: string;
        items?: Array<{ start_time?: string; end_time?: string; speaker_label?: string }>;
      }>;
    };
    channel_labels?: {
      number_of_channels?: number;
      channels?: Array<{ channel_label?: string; items?: BatchOutputItem[] }>;
    };
    entities?: BatchOutputEntity[];
  };
}

export const BATCH_PROVIDER = "aws-transcribe-medical";
export const BATCH_LANGUAGE = "en-US";

export class BatchOutputError extends Error {
  override readonly name = "BatchOutputError";
  readonly code = "BAD_TRANSCRIPT";
  constructor(problem: string) {
    super(`transcribe-medical-batch: the transcript file ${problem}`);
  }
}

/**
 * Parses the transcript file in slices (a 4-hour job's file held the event loop 100-260 ms in one
 * JSON.parse); the error never echoes its content.
 */
export async function parseBatchOutput(json: string, slicer = new Slicer()): Promise<BatchOutput> {
  let value: unknown;
  try {
    value = await parseJsonSliced(json, slicer);
  } catch (err) {
    if (err instanceof JsonSyntaxError) throw new BatchOutputError("is not JSON");
    throw err;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BatchOutputError("is not a JSON object");
  }
  const out = value as BatchOutput;
  if (typeof out.results !== "object" || out.results === null) throw new BatchOutputError("has no results");
  return out;
}

const num = (v: unknown): number | null => {
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
};
const round3 = (n: number): number => Math.max(0, Math.round(n * 1000) / 1000);
const conf = (v: unknown): number | null => {
  const n = num(v);
  return n === null ? null : Math.min(1, Math.max(0, n));
};

/**
 * Words of an item list: punctuation takes the time of the word before it. `channel` labels the items
 * of a channel list that carry none.
 */
async function toWords(
  items: readonly BatchOutputItem[],
  speakerAt: Map<string, string>,
  channel: string | undefined,
  slicer: Slicer,
): Promise<TranscriptWord[]> {
  const words: TranscriptWord[] = [];
  let lastEnd = 0;
  for (const item of items) {
    if (slicer.due()) await slicer.pause();
    const alt = item.alternatives?.[0];
    const content = alt?.content;
    const kind = item.type === "pronunciation" ? "word" : item.type === "punctuation" ? "punctuation" : null;
    if (kind === null || typeof content !== "string" || content === "") continue;
    const start = num(item.start_time) ?? lastEnd;
    const end = num(item.end_time) ?? start;
    lastEnd = end;
    const word: TranscriptWord = {
      text: content,
      startTime: round3(start),
      endTime: round3(end),
      // Batch output scores punctuation "0.0": not a score, so none (as streaming gives none).
      confidence: kind === "punctuation" ? null : conf(alt?.confidence),
      kind,
    };
    const speaker =
      item.speaker_label ??
      (kind === "word" && item.start_time !== undefined ? speakerAt.get(String(item.start_time)) : undefined);
    const previous = words[words.length - 1];
    if (speaker) word.speaker = speaker;
    else if (kind === "punctuation" && previous?.speaker) word.speaker = previous.speaker;
    const channelLabel = item.channel_label ?? channel;
    if (channelLabel) word.channel = channelLabel;
    words.push(word);
  }
  return words;
}

/** Groups words into segments: a new one at each change of speaker, and after . ? ! without speakers. */
async function segment(
  words: readonly TranscriptWord[],
  bySpeaker: boolean,
  slicer: Slicer,
): Promise<TranscriptWord[][]> {
  const groups: TranscriptWord[][] = [];
  let current: TranscriptWord[] = [];
  for (const w of words) {
    if (slicer.due()) await slicer.pause();
    const prev = current[current.length - 1];
    if (bySpeaker && prev && w.kind === "word" && w.speaker !== prev.speaker) {
      groups.push(current);
      current = [];
    }
    current.push(w);
    if (!bySpeaker && w.kind === "punctuation" && /^[.?!]$/.test(w.text)) {
      groups.push(current);
      current = [];
    }
  }
  if (current.length > 0) groups.push(current);
  return groups.filter((g) => g.some((w) => w.kind === "word"));
}

function joinText(words: readonly TranscriptWord[]): string {
  let text = "";
  for (const w of words) text += w.kind === "punctuation" || text === "" ? w.text : ` ${w.text}`;
  return text;
}

function toEntities(entities: readonly BatchOutputEntity[]): TranscriptEntity[] {
  return entities.flatMap((e) => {
    const start = num(e.start_time ?? e.startTime);
    const end = num(e.end_time ?? e.endTime);
    if (start === null || end === null || typeof e.content !== "string") return [];
    const out: TranscriptEntity = {
      category: typeof e.category === "string" && e.category.trim() !== "" ? e.category : "PHI",
      text: e.content,
      startTime: round3(start),
      endTime: round3(end),
      confidence: conf(e.confidence),
    };
    if (typeof e.type === "string" && e.type.trim() !== "") out.type = e.type;
    return [out];
  });
}

/**
 * Contract-2 FINAL results of a job's transcript: one per speaker turn with speaker labels, one
 * per sentence otherwise (per channel with channel identification), in spoken order. The job name
 * is the session id; segment ids are `<job>-<n>`. Linear, and in slices that give the event loop a
 * turn every few milliseconds (`Slicer`): a 4-hour job maps 50,000 words.
 */
export async function mapBatchOutput(
  output: BatchOutput,
  jobName: string,
  slicer = new Slicer(),
): Promise<TranscriptResult[]> {
  const results = output.results ?? {};
  const speakerAt = new Map<string, string>();
  for (const seg of results.speaker_labels?.segments ?? []) {
    for (const it of seg.items ?? []) {
      if (slicer.due()) await slicer.pause();
      const label = it.speaker_label ?? seg.speaker_label;
      if (it.start_time !== undefined && label) speakerAt.set(String(it.start_time), label);
    }
  }
  const bySpeaker = results.speaker_labels !== undefined;
  const channels = results.channel_labels?.channels ?? [];
  let groups: TranscriptWord[][] = [];
  if (channels.length > 0) {
    for (const ch of channels) {
      const words = await toWords(ch.items ?? [], speakerAt, ch.channel_label, slicer);
      for (const g of await segment(words, false, slicer)) groups.push(g);
    }
  } else
    groups = await segment(
      await toWords(results.items ?? [], speakerAt, undefined, slicer),
      bySpeaker,
      slicer,
    );
  groups.sort((a, b) => (a[0]?.startTime ?? 0) - (b[0]?.startTime ?? 0));
  const spans = groups.map((words) => ({
    startTime: words.find((w) => w.kind === "word")?.startTime ?? 0,
    endTime: words.reduce((m, w) => Math.max(m, w.endTime), -Infinity),
  }));
  const entitiesOf = assignEntities(spans, toEntities(results.entities ?? []));
  const mapped: TranscriptResult[] = [];
  for (let i = 0; i < groups.length; i++) {
    if (slicer.due()) await slicer.pause();
    const words = groups[i] ?? [];
    const spoken = words.filter((w) => w.kind === "word");
    const { startTime, endTime } = spans[i] ?? { startTime: 0, endTime: 0 };
    const r: TranscriptResult = {
      provider: BATCH_PROVIDER,
      sessionId: jobName,
      segmentId: `${jobName}-${String(i + 1).padStart(4, "0")}`,
      isFinal: true,
      text: joinText(words),
      confidence: meanConfidence(words),
      startTime,
      endTime,
      words,
      language: BATCH_LANGUAGE,
    };
    const speakers = new Set(spoken.map((w) => w.speaker).filter((s): s is string => s !== undefined));
    if (speakers.size === 1) r.speaker = [...speakers][0];
    const channel = spoken[0]?.channel;
    if (channel !== undefined) r.channel = channel;
    const mine = entitiesOf.get(i);
    if (mine !== undefined) r.entities = mine;
    mapped.push(r);
  }
  return mapped;
}

/**
 * Each entity goes to the earliest-starting segment whose time span holds it (a millisecond of
 * slack), in the entities' own order; one held by none is dropped. In O((segments + entities) log
 * segments): segments ordered by start, a binary search for those that start early enough (a prefix),
 * and over the running maximum of their ends a second one for the first that ends late enough. A
 * filter per segment was quadratic: seconds for the largest transcript read.
 */
function assignEntities(
  spans: ReadonlyArray<{ startTime: number; endTime: number }>,
  entities: readonly TranscriptEntity[],
): Map<number, TranscriptEntity[]> {
  const order = spans
    .map((_, i) => i)
    .sort((a, b) => (spans[a]?.startTime ?? 0) - (spans[b]?.startTime ?? 0));
  const starts = order.map((i) => spans[i]?.startTime ?? 0);
  const maxEnds: number[] = [];
  for (const i of order)
    maxEnds.push(Math.max(maxEnds[maxEnds.length - 1] ?? -Infinity, spans[i]?.endTime ?? 0));
  // The first position whose value makes `below` false (both arrays are non-decreasing).
  const firstNot = (values: readonly number[], below: (v: number) => boolean): number => {
    let lo = 0;
    let hi = values.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (below(values[mid] ?? 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const assigned = new Map<number, TranscriptEntity[]>();
  for (const e of entities) {
    const startedBy = firstNot(starts, (start) => start - 0.001 <= e.startTime);
    const at = firstNot(maxEnds, (end) => end + 0.001 < e.endTime);
    const index = at < startedBy ? order[at] : undefined;
    if (index === undefined) continue;
    const list = assigned.get(index);
    if (list) list.push(e);
    else assigned.set(index, [e]);
  }
  return assigned;
}

/** The document transcript-document would assemble from these finals, ended with the job. */
export async function batchDocument(
  jobName: string,
  results: readonly TranscriptResult[],
  nowMs = Date.now(),
  slicer = new Slicer(),
): Promise<TranscriptDocument> {
  const collector = new SessionCollector(jobName);
  for (const r of results) {
    if (slicer.due()) await slicer.pause();
    collector.add(r, undefined, nowMs);
  }
  return collector.build("ended", nowMs);
}
