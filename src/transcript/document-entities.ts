/**
 * Medical entities on a transcript document: what the medical-entities node (Amazon Comprehend
 * Medical) found in the finals of a session, carried into the document with their character offsets
 * moved from the final's `text` into the document's `text`, and their times kept. Read defensively:
 * `msg.entities` comes from a flow and may be anything, so every field is checked and copied, and an
 * entity whose offsets do not point at its own text in this final is left out (it was found in some
 * other text). Types only from here down: no provider module is imported (src/transcript is a leaf).
 */

export interface DocumentEntityTrait {
  name: string;
  score: number | null;
}

export interface DocumentEntityCode {
  /** "ICD-10-CM", "RxNorm" or "SNOMED CT" (as the medical-entities node names them). */
  system: string;
  code: string;
  description: string;
  score: number | null;
}

export interface DocumentEntityAttribute {
  type: string;
  text: string;
  score: number | null;
  beginOffset: number;
  endOffset: number;
  relationshipType?: string;
  traits: DocumentEntityTrait[];
}

/** When an entity was said: indexes into the document's `words`, seconds of the session, who said it. */
export interface DocumentEntityTiming {
  firstWord: number;
  lastWord: number;
  startTime: number;
  endTime: number;
  speaker?: string;
  channel?: string;
}

/**
 * One entity of the document. `beginOffset`/`endOffset` are JavaScript string indexes into the
 * document's `text` (`text.slice(beginOffset, endOffset) === entity.text`). Machine-derived and
 * unverified: nothing on a document says otherwise.
 */
export interface DocumentEntity {
  /** The final it was found in. */
  segmentId: string;
  category: string;
  type: string;
  text: string;
  score: number | null;
  beginOffset: number;
  endOffset: number;
  traits: DocumentEntityTrait[];
  attributes: DocumentEntityAttribute[];
  codes?: DocumentEntityCode[];
  timing?: DocumentEntityTiming;
}

/** Bounds on what one entity may carry (the service sends far less: 5 codes per system, a few traits). */
export const ENTITY_FIELD_LIMITS = {
  traits: 10,
  attributes: 20,
  codes: 15,
  /** Characters of a category, type, trait name, code system or code. */
  nameChars: 64,
  /** Characters of a code's description. */
  descriptionChars: 256,
} as const;

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : null;
const name = (v: unknown): string => (typeof v === "string" ? v.slice(0, ENTITY_FIELD_LIMITS.nameChars) : "");
const score = (v: unknown): number | null => (typeof v === "number" && v >= 0 && v <= 1 ? v : null);
const list = (v: unknown, max: number): unknown[] => (Array.isArray(v) ? v.slice(0, max) : []);

/** A span of `text` that holds `said` exactly; null otherwise. */
function spanIn(r: Rec, text: string): { beginOffset: number; endOffset: number; text: string } | null {
  const b = r.beginOffset;
  const e = r.endOffset;
  const said = r.text;
  if (typeof said !== "string" || !Number.isInteger(b) || !Number.isInteger(e)) return null;
  const begin = b as number;
  const end = e as number;
  if (begin < 0 || end <= begin || end > text.length || text.slice(begin, end) !== said) return null;
  return { beginOffset: begin, endOffset: end, text: said };
}

function traitsOf(v: unknown): DocumentEntityTrait[] {
  const out: DocumentEntityTrait[] = [];
  for (const t of list(v, ENTITY_FIELD_LIMITS.traits)) {
    const r = rec(t);
    if (r && name(r.name) !== "") out.push({ name: name(r.name), score: score(r.score) });
  }
  return out;
}

function codesOf(v: unknown): DocumentEntityCode[] {
  const out: DocumentEntityCode[] = [];
  for (const c of list(v, ENTITY_FIELD_LIMITS.codes)) {
    const r = rec(c);
    if (!r || name(r.system) === "" || name(r.code) === "") continue;
    out.push({
      system: name(r.system),
      code: name(r.code),
      description:
        typeof r.description === "string" ? r.description.slice(0, ENTITY_FIELD_LIMITS.descriptionChars) : "",
      score: score(r.score),
    });
  }
  return out;
}

const MAX_SECONDS = 31_536_000;
const seconds = (v: unknown): v is number => typeof v === "number" && v >= 0 && v <= MAX_SECONDS;

function timingOf(v: unknown, wordCount: number): DocumentEntityTiming | undefined {
  const r = rec(v);
  if (!r) return undefined;
  const { firstWord, lastWord, startTime, endTime } = r;
  if (!Number.isInteger(firstWord) || !Number.isInteger(lastWord)) return undefined;
  const first = firstWord as number;
  const last = lastWord as number;
  if (first < 0 || last < first || last >= wordCount) return undefined;
  if (!seconds(startTime) || !seconds(endTime) || endTime < startTime) return undefined;
  return {
    firstWord: first,
    lastWord: last,
    startTime,
    endTime,
    ...(typeof r.speaker === "string" ? { speaker: name(r.speaker) } : {}),
    ...(typeof r.channel === "string" ? { channel: name(r.channel) } : {}),
  };
}

/**
 * The entities of `msg.entities` that belong to this final: each with a span of `text` holding its
 * own text, copied field by field within ENTITY_FIELD_LIMITS; at most `max` (the caller's document
 * limit, so that a flood is refused as too large rather than walked). Offsets stay relative to
 * `text` here; the document moves them. Linear in the entities read.
 */
export function readResultEntities(
  value: unknown,
  segmentId: string,
  text: string,
  wordCount: number,
  max: number,
): DocumentEntity[] {
  if (!Array.isArray(value)) return [];
  const out: DocumentEntity[] = [];
  // One more than the limit is read, so that the caller sees it is exceeded.
  for (const item of value.slice(0, max + 1)) {
    const r = rec(item);
    const span = r ? spanIn(r, text) : null;
    if (!r || !span || name(r.category) === "") continue;
    const attributes: DocumentEntityAttribute[] = [];
    for (const a of list(r.attributes, ENTITY_FIELD_LIMITS.attributes)) {
      const ar = rec(a);
      const aspan = ar ? spanIn(ar, text) : null;
      if (!ar || !aspan) continue;
      attributes.push({
        type: name(ar.type),
        ...aspan,
        score: score(ar.score),
        ...(name(ar.relationshipType) !== "" ? { relationshipType: name(ar.relationshipType) } : {}),
        traits: traitsOf(ar.traits),
      });
    }
    const codes = codesOf(r.codes);
    const timing = timingOf(r.timing, wordCount);
    out.push({
      segmentId,
      category: name(r.category),
      type: name(r.type),
      ...span,
      score: score(r.score),
      traits: traitsOf(r.traits),
      attributes,
      ...(codes.length > 0 ? { codes } : {}),
      ...(timing ? { timing } : {}),
    });
  }
  return out;
}

/**
 * UTF-16 units of an entity's strings: what it adds to a document's `bytes` (a bound: these strings
 * are short and mostly ASCII). The number of entities is bounded on its own (DOCUMENT_LIMITS.entities).
 */
export function entityChars(e: DocumentEntity): number {
  let n = e.segmentId.length + e.category.length + e.type.length + e.text.length;
  for (const t of e.traits) n += t.name.length;
  for (const a of e.attributes) {
    n += a.type.length + a.text.length + (a.relationshipType?.length ?? 0);
    for (const t of a.traits) n += t.name.length;
  }
  for (const c of e.codes ?? []) n += c.system.length + c.code.length + c.description.length;
  return n + (e.timing?.speaker?.length ?? 0) + (e.timing?.channel?.length ?? 0);
}

/**
 * The entity moved into the document: `shift` added to every offset (where the final's text starts
 * in the document's text, less what trimming removed) and `wordBase` to its word indexes. Null when
 * the entity lies in white space that the document trims away.
 */
export function placeEntity(
  e: DocumentEntity,
  shift: number,
  keptFrom: number,
  keptTo: number,
  wordBase: number,
): DocumentEntity | null {
  if (e.beginOffset < keptFrom || e.endOffset > keptTo) return null;
  return {
    ...e,
    beginOffset: e.beginOffset + shift,
    endOffset: e.endOffset + shift,
    attributes: e.attributes
      .filter((a) => a.beginOffset >= keptFrom && a.endOffset <= keptTo)
      .map((a) => ({ ...a, beginOffset: a.beginOffset + shift, endOffset: a.endOffset + shift })),
    ...(e.timing
      ? {
          timing: {
            ...e.timing,
            firstWord: e.timing.firstWord + wordBase,
            lastWord: e.timing.lastWord + wordBase,
          },
        }
      : {}),
  };
}
