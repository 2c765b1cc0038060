import {
  noteText,
  sectionTitle,
  type ClinicalNote,
  type NoteEvidence,
  type NoteSection,
} from "../../transcript/clinical-note";
import type { DocumentSegment, SessionCollector, TranscriptDocument } from "../../transcript/document";
import { roundSeconds } from "../aws/mapping";
import type { NoteTemplate } from "./params";
import { Slicer } from "../../util/slices";

/**
 * The post-stream output of a HealthScribe session, as the service writes it to S3: the clinical
 * documentation (summary.json: sections of summarised sentences, each with evidence links to transcript
 * segments) and the aggregated transcript (transcript.json: the segments the links point to). Both are
 * read defensively: anything not in the documented shape is a MalformedOutput naming the field, never
 * its value (the text is PHI).
 */

/** What one note may hold: far above any encounter's note, a bound on what a corrupt file can make us build. */
// Totals as delivery checks them (src/transcript/note-check.ts on scribe-delivery): a note beyond them
// would be refused by hl7-mdm and fhir-document, so it is refused here, where it is made.
export const NOTE_LIMITS = {
  sections: 100,
  sentences: 5_000,
  evidence: 20_000,
  transcriptSegments: 100_000,
} as const;

export class MalformedOutputError extends Error {
  override readonly name = "MalformedOutputError";
  readonly code = "MALFORMED_OUTPUT";
  constructor(file: "summary.json" | "transcript.json", problem: string) {
    super(`the HealthScribe ${file} is not in the documented shape: ${problem}`);
  }
}

/** A summarised sentence as the service wrote it: its text and the segment ids of its evidence. */
export interface SummarySentence {
  text: string;
  segmentIds: string[];
}

export interface Summary {
  sections: Array<{ name: string; sentences: SummarySentence[] }>;
}

/** One segment of the aggregated transcript (times in seconds of the service's session audio). */
export interface AggregatedSegment {
  startTime: number;
  endTime: number;
  /** The service's participant label, for example "CLINICIAN_0". */
  role?: string;
  text: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function arrayAt(v: unknown, max: number, file: "summary.json" | "transcript.json", what: string): unknown[] {
  if (!Array.isArray(v)) throw new MalformedOutputError(file, `${what} must be a list`);
  if (v.length > max) throw new MalformedOutputError(file, `${what} has more than ${max} entries`);
  return v;
}

/** Reads summary.json: { ClinicalDocumentation: { Sections: [{ SectionName, Summary: [{ SummarizedSegment, EvidenceLinks: [{ SegmentId }] }] }] } }. */
export function parseSummary(json: unknown): Summary {
  const f = "summary.json";
  const doc = isObject(json) ? json.ClinicalDocumentation : undefined;
  if (!isObject(doc)) throw new MalformedOutputError(f, "ClinicalDocumentation must be an object");
  let sentenceCount = 0;
  let evidenceCount = 0;
  const sections = arrayAt(doc.Sections, NOTE_LIMITS.sections, f, "ClinicalDocumentation.Sections").map(
    (s, i) => {
      if (!isObject(s) || typeof s.SectionName !== "string" || s.SectionName.trim() === "") {
        throw new MalformedOutputError(f, `section ${i + 1} must have a SectionName`);
      }
      const summary = s.Summary === undefined ? [] : s.Summary;
      const sentences = arrayAt(summary, NOTE_LIMITS.sentences, f, `the Summary of section ${i + 1}`).map(
        (sentence, j): SummarySentence => {
          if (!isObject(sentence) || typeof sentence.SummarizedSegment !== "string") {
            throw new MalformedOutputError(
              f,
              `sentence ${j + 1} of section ${i + 1} must have a SummarizedSegment text`,
            );
          }
          const links = sentence.EvidenceLinks === undefined ? [] : sentence.EvidenceLinks;
          sentenceCount++;
          const segmentIds = arrayAt(links, NOTE_LIMITS.evidence, f, "EvidenceLinks").map((link) => {
            if (!isObject(link) || typeof link.SegmentId !== "string" || link.SegmentId === "") {
              throw new MalformedOutputError(f, `an evidence link of section ${i + 1} has no SegmentId`);
            }
            return link.SegmentId;
          });
          evidenceCount += segmentIds.length;
          if (sentenceCount > NOTE_LIMITS.sentences || evidenceCount > NOTE_LIMITS.evidence) {
            throw new MalformedOutputError(
              f,
              `the note has more than ${NOTE_LIMITS.sentences} sentences or ${NOTE_LIMITS.evidence} evidence links`,
            );
          }
          return { text: sentence.SummarizedSegment, segmentIds };
        },
      );
      return { name: s.SectionName, sentences };
    },
  );
  return { sections };
}

const finite = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/**
 * Reads transcript.json's Conversation.TranscriptSegments into a map by SegmentId, in slices (up to
 * 100,000 segments: a block of 100-200 ms on a loaded machine).
 */
export async function parseAggregatedTranscript(
  json: unknown,
  slicer = new Slicer(),
): Promise<Map<string, AggregatedSegment>> {
  const f = "transcript.json";
  const conversation = isObject(json) ? json.Conversation : undefined;
  if (!isObject(conversation)) throw new MalformedOutputError(f, "Conversation must be an object");
  const segments = arrayAt(
    conversation.TranscriptSegments,
    NOTE_LIMITS.transcriptSegments,
    f,
    "Conversation.TranscriptSegments",
  );
  const out = new Map<string, AggregatedSegment>();
  for (let i = 0; i < segments.length; i++) {
    if (slicer.due()) await slicer.pause();
    const s = segments[i];
    const start = isObject(s) ? finite(s.BeginAudioTime) : undefined;
    const end = isObject(s) ? finite(s.EndAudioTime) : undefined;
    if (!isObject(s) || typeof s.SegmentId !== "string" || start === undefined || end === undefined) {
      throw new MalformedOutputError(
        f,
        `segment ${i + 1} must have a SegmentId, BeginAudioTime and EndAudioTime`,
      );
    }
    const details = s.ParticipantDetails;
    const role =
      isObject(details) && typeof details.ParticipantRole === "string" ? details.ParticipantRole : undefined;
    out.set(s.SegmentId, {
      startTime: start,
      endTime: end,
      ...(role !== undefined ? { role } : {}),
      text: typeof s.Content === "string" ? s.Content : "",
    });
  }
  return out;
}

export interface BuiltNote {
  note: ClinicalNote;
  /** Evidence links that named a segment found neither among the live finals nor in transcript.json. */
  unresolvedEvidence: number;
}

/**
 * The clinical note with each evidence link resolved to its segment: a live final of the session when
 * the id is one (its times are session-relative across resumes, its speaker the channel's role), else
 * the aggregated transcript's segment, its times moved by `startSeconds` (the session time of the
 * session's first audio). Links found in neither are left out and counted.
 */
export function buildNote(
  template: NoteTemplate,
  summary: Summary,
  finals: readonly DocumentSegment[],
  aggregated: ReadonlyMap<string, AggregatedSegment>,
  startSeconds: number,
): BuiltNote {
  const live = new Map(finals.map((s) => [s.segmentId, s]));
  let unresolvedEvidence = 0;
  const evidenceOf = (segmentId: string): NoteEvidence | undefined => {
    const final = live.get(segmentId);
    if (final) {
      return {
        segmentId,
        startTime: final.startTime,
        endTime: final.endTime,
        ...(final.speaker !== undefined ? { speaker: final.speaker } : {}),
        text: final.text,
      };
    }
    const seg = aggregated.get(segmentId);
    if (!seg) {
      unresolvedEvidence++;
      return undefined;
    }
    return {
      segmentId,
      startTime: roundSeconds(startSeconds + seg.startTime),
      endTime: roundSeconds(startSeconds + seg.endTime),
      ...(seg.role !== undefined ? { speaker: seg.role } : {}),
      text: seg.text,
    };
  };
  const sections: NoteSection[] = summary.sections.map((s) => ({
    name: s.name,
    title: sectionTitle(s.name),
    sentences: s.sentences.map((sentence) => ({
      text: sentence.text,
      evidence: sentence.segmentIds.map(evidenceOf).filter((e): e is NoteEvidence => e !== undefined),
    })),
  }));
  return { note: { source: "aws-healthscribe", template, sections }, unresolvedEvidence };
}

/**
 * The session's transcript document with its note: the conversation (the session's finals, through
 * the document code every transcriber's finals go through) and the note, whose text is the document's.
 */
export function noteDocument(
  collector: SessionCollector,
  template: NoteTemplate,
  summary: Summary,
  aggregated: ReadonlyMap<string, AggregatedSegment>,
  startSeconds: number,
  nowMs: number,
): { document: TranscriptDocument; unresolvedEvidence: number } {
  const conversation = collector.build("ended", nowMs);
  const built = buildNote(template, summary, conversation.segments, aggregated, startSeconds);
  return {
    document: { ...conversation, provider: "aws-healthscribe", text: noteText(built.note), note: built.note },
    unresolvedEvidence: built.unresolvedEvidence,
  };
}
