/**
 * The post-stream analytics output of the HealthScribe emulator: the clinical note (summary.json) and the
 * aggregated transcript (transcript.json), in the layout AWS documents and its own sample app reads
 * (/work/shared/research/healthscribe.md §3–4). The note is built from the session's final segments, so
 * every sentence's EvidenceLinks point at SegmentIds the client saw live.
 */

/** The service's templates (SDK enum MedicalScribeNoteTemplate); HISTORY_AND_PHYSICAL is the default. */
export const NOTE_TEMPLATES = [
  "HISTORY_AND_PHYSICAL",
  "GIRPP",
  "BIRP",
  "SIRP",
  "DAP",
  "BEHAVIORAL_SOAP",
  "PHYSICAL_SOAP",
] as const;
export type NoteTemplate = (typeof NOTE_TEMPLATES)[number];

const SOAP = ["SUBJECTIVE", "OBJECTIVE", "ASSESSMENT", "PLAN"];

/**
 * SectionName values per template. HISTORY_AND_PHYSICAL's are documented (developer guide table); the others
 * are the documented section words in the same upper-case form (not verified against the service).
 */
export const TEMPLATE_SECTIONS: ReadonlyMap<NoteTemplate, readonly string[]> = new Map<
  NoteTemplate,
  readonly string[]
>([
  [
    "HISTORY_AND_PHYSICAL",
    [
      "CHIEF_COMPLAINT",
      "HISTORY_OF_PRESENT_ILLNESS",
      "REVIEW_OF_SYSTEMS",
      "PAST_MEDICAL_HISTORY",
      "ASSESSMENT",
      "PLAN",
      "PHYSICAL_EXAMINATION",
      "PAST_FAMILY_HISTORY",
      "PAST_SOCIAL_HISTORY",
      "DIAGNOSTIC_TESTING",
    ],
  ],
  ["GIRPP", ["GOAL", "INTERVENTION", "RESPONSE", "PROGRESS", "PLAN"]],
  ["BIRP", ["BEHAVIOR", "INTERVENTION", "RESPONSE", "PLAN"]],
  ["SIRP", ["SITUATION", "INTERVENTION", "RESPONSE", "PLAN"]],
  ["DAP", ["DATA", "ASSESSMENT", "PLAN"]],
  ["BEHAVIORAL_SOAP", SOAP],
  ["PHYSICAL_SOAP", SOAP],
]);

export type ParticipantRole = "CLINICIAN" | "PATIENT";

/** One word or punctuation mark of a final segment, times in seconds from the start of the session. */
export interface SessionItem {
  begin: number;
  end: number;
  type: "pronunciation" | "punctuation";
  content: string;
  confidence: number;
}

/** A final segment the session heard (and sent live), times in seconds from the start of the session. */
export interface SessionSegment {
  segmentId: string;
  begin: number;
  end: number;
  content: string;
  role: ParticipantRole;
  items: SessionItem[];
}

export interface SummaryJson {
  ClinicalDocumentation: {
    SessionId: string;
    Sections: Array<{
      SectionName: string;
      Summary: Array<{ SummarizedSegment: string; EvidenceLinks: Array<{ SegmentId: string }> }>;
    }>;
  };
}

/**
 * The clinical note: one sentence per final segment, dealt round-robin over the template's sections (in the
 * template's order), each citing its segment; when there are two or more segments, the last sentence cites
 * the last two (a sentence drawn from two utterances). Sections nothing was said for have an empty Summary,
 * as the service's do.
 */
export function buildSummary(
  sessionId: string,
  template: NoteTemplate,
  segments: readonly SessionSegment[],
): SummaryJson {
  const names = TEMPLATE_SECTIONS.get(template) ?? [];
  const sections = names.map((name) => ({
    SectionName: name,
    Summary: [] as Array<{ SummarizedSegment: string; EvidenceLinks: Array<{ SegmentId: string }> }>,
  }));
  segments.forEach((seg, k) => {
    const section = sections[k % sections.length];
    const cited = k === segments.length - 1 && k > 0 ? [segments[k - 1], seg] : [seg];
    section?.Summary.push({
      SummarizedSegment: `${seg.role === "CLINICIAN" ? "Clinician" : "Patient"}: ${seg.content}`,
      EvidenceLinks: cited.map((c) => ({ SegmentId: c.segmentId })),
    });
  });
  return { ClinicalDocumentation: { SessionId: sessionId, Sections: sections } };
}

export interface TranscriptJson {
  Conversation: {
    ConversationId: string;
    SessionId: string;
    LanguageCode: string;
    TranscriptItems: Array<{
      BeginAudioTime: number;
      EndAudioTime: number;
      Type: string;
      Confidence: number;
      Content: string;
    }>;
    TranscriptSegments: Array<{
      SegmentId: string;
      BeginAudioTime: number;
      EndAudioTime: number;
      Content: string;
      ParticipantDetails: { ParticipantRole: ParticipantRole };
      SectionDetails: { SectionName: string };
    }>;
    ClinicalInsights: unknown[];
  };
}

/** The aggregated transcript: every final segment in session order, times in seconds. */
export function buildTranscript(
  sessionId: string,
  languageCode: string,
  segments: readonly SessionSegment[],
): TranscriptJson {
  return {
    Conversation: {
      ConversationId: sessionId,
      SessionId: sessionId,
      LanguageCode: languageCode,
      TranscriptItems: segments.flatMap((s) =>
        s.items.map((i) => ({
          BeginAudioTime: i.begin,
          EndAudioTime: i.end,
          Type: i.type,
          Confidence: i.confidence,
          Content: i.content,
        })),
      ),
      TranscriptSegments: segments.map((s) => ({
        SegmentId: s.segmentId,
        BeginAudioTime: s.begin,
        EndAudioTime: s.end,
        Content: s.content,
        ParticipantDetails: { ParticipantRole: s.role },
        SectionDetails: { SectionName: "SUBJECTIVE" },
      })),
      ClinicalInsights: [],
    },
  };
}

/** The service's output keys (prefix documented; file names those of the batch jobs, not verified). */
export function outputKeys(sessionId: string): { summary: string; transcript: string } {
  const prefix = `healthscribe-streaming/${sessionId}/post-stream-analytics/clinical-notes`;
  return { summary: `${prefix}/summary.json`, transcript: `${prefix}/transcript.json` };
}
