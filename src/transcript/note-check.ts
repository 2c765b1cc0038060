/**
 * The edge check of a clinical note carried on a transcript document (`TranscriptDocument.note`):
 * a document from a flow may hold anything, so every field the delivery builders and the review page
 * read is checked here once (type, range, size) before any of them walks it. The bounds keep the
 * work on one note linear and small; the scribe node never comes near them.
 */

/** What one note holds at most. */
export const NOTE_LIMITS = {
  /** Sections in the note (HealthScribe templates have about ten). */
  sections: 100,
  /** Sentences in all sections together. */
  sentences: 5_000,
  /** Evidence entries in all sentences together. */
  evidence: 20_000,
  /** Characters of a section name (e.g. "HISTORY_OF_PRESENT_ILLNESS") or a title. */
  nameChars: 100,
  /** Characters of the sentence texts together, and of the evidence texts together. */
  textChars: 1024 * 1024,
  /** Characters of a segment id or a speaker role. */
  idChars: 128,
} as const;

/** Seconds a time may have at most: one year, as the document's own times. */
const MAX_SECONDS = 31_536_000;

/** Where a note is wrong and what is accepted: a field path (indices only) and a problem, never a value. */
export interface NoteProblem {
  field: string;
  problem: string;
}

type Rec = Record<string, unknown>;

function isRecord(value: unknown): value is Rec {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown, max: number, empty = false): boolean {
  return typeof value === "string" && value.length <= max && (empty || value.trim() !== "");
}

function seconds(value: unknown): boolean {
  return typeof value === "number" && value >= 0 && value <= MAX_SECONDS;
}

/** Checks `payload.note`; undefined when it is a well-formed note. Linear in the note's size. */
export function checkNote(value: unknown): NoteProblem | undefined {
  if (!isRecord(value)) return { field: "note", problem: "must be an object {source, template, sections}" };
  if (!text(value.template, NOTE_LIMITS.nameChars)) {
    return {
      field: "note.template",
      problem: `must be a template name of at most ${NOTE_LIMITS.nameChars} characters`,
    };
  }
  const sections = value.sections;
  if (!Array.isArray(sections) || sections.length > NOTE_LIMITS.sections) {
    return {
      field: "note.sections",
      problem: `must be an array of at most ${NOTE_LIMITS.sections} sections`,
    };
  }
  const totals = { sentences: 0, evidence: 0, sentenceChars: 0, evidenceChars: 0 };
  for (let s = 0; s < sections.length; s++) {
    const problem = checkSection(sections[s], `note.sections[${s}]`, totals);
    if (problem) return problem;
  }
  return undefined;
}

interface Totals {
  sentences: number;
  evidence: number;
  sentenceChars: number;
  evidenceChars: number;
}

function checkSection(section: unknown, at: string, totals: Totals): NoteProblem | undefined {
  if (!isRecord(section)) return { field: at, problem: "must be an object {name, title, sentences}" };
  for (const key of ["name", "title"]) {
    if (!text(section[key], NOTE_LIMITS.nameChars)) {
      return {
        field: `${at}.${key}`,
        problem: `must be a non-empty string of at most ${NOTE_LIMITS.nameChars} characters`,
      };
    }
  }
  const sentences = section.sentences;
  if (!Array.isArray(sentences)) return { field: `${at}.sentences`, problem: "must be an array" };
  totals.sentences += sentences.length;
  if (totals.sentences > NOTE_LIMITS.sentences) {
    return {
      field: `${at}.sentences`,
      problem: `the note may hold at most ${NOTE_LIMITS.sentences} sentences`,
    };
  }
  for (let i = 0; i < sentences.length; i++) {
    const problem = checkSentence(sentences[i], `${at}.sentences[${i}]`, totals);
    if (problem) return problem;
  }
  return undefined;
}

function checkSentence(sentence: unknown, at: string, totals: Totals): NoteProblem | undefined {
  if (!isRecord(sentence) || typeof sentence.text !== "string") {
    return { field: `${at}.text`, problem: "must be a string" };
  }
  totals.sentenceChars += sentence.text.length;
  if (totals.sentenceChars > NOTE_LIMITS.textChars) {
    return {
      field: `${at}.text`,
      problem: `the note's sentences may hold at most ${NOTE_LIMITS.textChars} characters`,
    };
  }
  const evidence = sentence.evidence;
  if (!Array.isArray(evidence))
    return { field: `${at}.evidence`, problem: "must be an array (empty when there is none)" };
  totals.evidence += evidence.length;
  if (totals.evidence > NOTE_LIMITS.evidence) {
    return {
      field: `${at}.evidence`,
      problem: `the note may hold at most ${NOTE_LIMITS.evidence} evidence entries`,
    };
  }
  for (let e = 0; e < evidence.length; e++) {
    const item: unknown = evidence[e];
    const where = `${at}.evidence[${e}]`;
    if (!isRecord(item))
      return { field: where, problem: "must be an object {segmentId, startTime, endTime, text}" };
    if (!text(item.segmentId, NOTE_LIMITS.idChars)) {
      return {
        field: `${where}.segmentId`,
        problem: `must be a non-empty string of at most ${NOTE_LIMITS.idChars} characters`,
      };
    }
    if (
      !seconds(item.startTime) ||
      !seconds(item.endTime) ||
      (item.endTime as number) < (item.startTime as number)
    ) {
      return {
        field: `${where}.startTime`,
        problem: `startTime and endTime must be seconds from 0 to ${MAX_SECONDS}, the end not before the start`,
      };
    }
    if (item.speaker !== undefined && !text(item.speaker, NOTE_LIMITS.idChars)) {
      return {
        field: `${where}.speaker`,
        problem: `must be a string of at most ${NOTE_LIMITS.idChars} characters when given`,
      };
    }
    if (typeof item.text !== "string") return { field: `${where}.text`, problem: "must be a string" };
    totals.evidenceChars += item.text.length;
    if (totals.evidenceChars > NOTE_LIMITS.textChars) {
      return {
        field: `${where}.text`,
        problem: `the note's evidence may hold at most ${NOTE_LIMITS.textChars} characters`,
      };
    }
  }
  return undefined;
}
