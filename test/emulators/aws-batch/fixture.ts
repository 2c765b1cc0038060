/**
 * Scripted transcripts for the batch emulator, written in the result JSON format a medical batch job
 * writes to its output bucket.
 *
 * Verified against the Transcribe developer guide's examples (diarization-output-batch,
 * channel-id-output-batch): `jobName`, `accountId`, `results.transcripts[].transcript`,
 * `results.items[]` with string `start_time`/`end_time`, `alternatives[{confidence, content}]` (strings),
 * `type` pronunciation|punctuation, punctuation without times, `speaker_label` on items,
 * `results.speaker_labels {speakers, channel_label, segments[{start_time, end_time, speaker_label, items}]}`,
 * `results.channel_labels {channels[{channel_label, items}], number_of_channels}`, `status`.
 *
 * NOT verified: the layout of `results.entities` for PHI identification in medical batch output.
 * Written here in the style of the items (snake_case times as strings, `category`, `type`,
 * `content`, `confidence`); the mapper reads camelCase too. Also unverified: whether `items` carry
 * an `id` in medical output (written here, as in the current general examples), and whether the
 * top-level `items` are present beside `channel_labels` (written here, merged in time order).
 */

export interface BatchScriptSegment {
  /** Words separated by spaces; trailing . , ? ! become punctuation items; "[PHI]" before a word marks it as PHI. */
  text: string;
  speaker?: string;
  channel?: string;
  /** Confidence of every word (default 0.97, PHI words 0.9). */
  confidence?: number;
}

export interface OutputSettings {
  jobName: string;
  accountId: string;
  showSpeakerLabels: boolean;
  channelIdentification: boolean;
  phi: boolean;
}

interface Item {
  id: number;
  start_time?: string;
  end_time?: string;
  alternatives: Array<{ confidence: string; content: string }>;
  type: "pronunciation" | "punctuation";
  speaker_label?: string;
  channel_label?: string;
}

const s = (n: number): string =>
  (Math.round(n * 1000) / 1000).toFixed(3).replace(/0+$/, "").replace(/\.$/, ".0");

/** Builds the result JSON of a completed job from a script: each word 0.4 s, 0.3 s gap between segments. */
export function buildOutput(
  script: readonly BatchScriptSegment[],
  o: OutputSettings,
): Record<string, unknown> {
  const items: Item[] = [];
  const entities: Array<Record<string, string>> = [];
  const segments: Array<{ speaker: string; start: number; end: number; items: Item[] }> = [];
  let t = 0;
  let id = 0;
  for (const seg of script) {
    const speaker = seg.speaker ?? "spk_0";
    const channel = seg.channel ?? "ch_0";
    const start = t;
    const mine: Item[] = [];
    for (const raw of seg.text.split(/\s+/).filter((w) => w !== "")) {
      const phi = raw.startsWith("[PHI]");
      const token = phi ? raw.slice(5) : raw;
      const m = /^(.*?)([.,?!]*)$/.exec(token);
      const word = m?.[1] ?? token;
      const punct = m?.[2] ?? "";
      if (word !== "") {
        const c = phi ? 0.9 : (seg.confidence ?? 0.97);
        const item: Item = {
          id: id++,
          start_time: s(t),
          end_time: s(t + 0.35),
          alternatives: [{ confidence: String(c), content: word }],
          type: "pronunciation",
        };
        if (o.showSpeakerLabels) item.speaker_label = speaker;
        if (o.channelIdentification) item.channel_label = channel;
        if (phi) {
          entities.push({
            start_time: s(t),
            end_time: s(t + 0.35),
            category: "PHI",
            type: "NAME",
            content: word,
            confidence: "0.95",
          });
        }
        mine.push(item);
        t += 0.4;
      }
      for (const p of punct) {
        const item: Item = {
          id: id++,
          alternatives: [{ confidence: "0.0", content: p }],
          type: "punctuation",
        };
        if (o.showSpeakerLabels) item.speaker_label = speaker;
        if (o.channelIdentification) item.channel_label = channel;
        mine.push(item);
      }
    }
    segments.push({ speaker, start, end: t - 0.05, items: mine });
    items.push(...mine);
    t += 0.3;
  }
  const transcript = script
    .map((x) => x.text.replace(/\[PHI\]/g, ""))
    .join(" ")
    .trim();
  const results: Record<string, unknown> = { transcripts: [{ transcript }] };
  if (o.showSpeakerLabels) {
    results.speaker_labels = {
      channel_label: "ch_0",
      speakers: new Set(segments.map((x) => x.speaker)).size,
      segments: segments.map((x) => ({
        start_time: s(x.start),
        speaker_label: x.speaker,
        end_time: s(x.end),
        items: x.items
          .filter((i) => i.type === "pronunciation")
          .map((i) => ({ start_time: i.start_time, speaker_label: x.speaker, end_time: i.end_time })),
      })),
    };
  }
  if (o.channelIdentification) {
    const labels = [...new Set(items.map((i) => i.channel_label ?? "ch_0"))].sort();
    results.channel_labels = {
      channels: labels.map((label) => ({
        channel_label: label,
        items: items.filter((i) => i.channel_label === label),
      })),
      number_of_channels: Math.max(2, labels.length),
    };
  }
  results.items = items;
  if (o.phi) results.entities = entities;
  return { jobName: o.jobName, accountId: o.accountId, results, status: "COMPLETED" };
}
