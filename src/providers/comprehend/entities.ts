import type { CodeSystem, Operation } from "./limits";
import { limitOf } from "./limits";

/** A trait the service gave an entity: NEGATION, DIAGNOSIS, SIGN, SYMPTOM, PAST_HISTORY, ... */
export interface EntityTrait {
  name: string;
  score: number | null;
}

/** A code of a standard terminology that an infer operation linked to the entity (ranked by score). */
export interface EntityCode {
  system: CodeSystem;
  code: string;
  description: string;
  score: number | null;
}

/** Where an entity or attribute lies: UTF-16 indexes into the analysed text (`text.slice(begin, end)`). */
export interface Span {
  beginOffset: number;
  endOffset: number;
}

/** An attribute of an entity (a medication's DOSAGE, FREQUENCY, ROUTE_OR_MODE; a condition's ACUITY ...). */
export interface EntityAttribute extends Span {
  type: string;
  text: string;
  score: number | null;
  relationshipType?: string;
  relationshipScore?: number | null;
  traits: EntityTrait[];
}

/** Where an entity was said: the words of the transcript it covers, their times and speaker. */
export interface EntityTiming {
  /** Index of the first and last covered word in the transcript's `words`. */
  firstWord: number;
  lastWord: number;
  startTime: number;
  endTime: number;
  speaker?: string;
  channel?: string;
}

export interface MedicalEntity extends Span {
  /** MEDICATION, MEDICAL_CONDITION, TEST_TREATMENT_PROCEDURE, ANATOMY, PROTECTED_HEALTH_INFORMATION, ... */
  category: string;
  /** GENERIC_NAME, DX_NAME, TEST_NAME, NAME, DATE, AGE, ... */
  type: string;
  text: string;
  score: number | null;
  traits: EntityTrait[];
  attributes: EntityAttribute[];
  /** Codes from the infer operations asked for; absent when none was asked or none matched. */
  codes?: EntityCode[];
  /** The operations that reported this entity. */
  sources: Operation[];
  timing?: EntityTiming;
}

const CONCEPT_FIELDS: ReadonlyMap<Operation, string> = new Map([
  ["icd10cm", "ICD10CMConcepts"],
  ["rxnorm", "RxNormConcepts"],
  ["snomedct", "SNOMEDCTConcepts"],
]);

/** Most codes kept per entity and system (the service ranks them; it sends up to five). */
export const MAX_CODES_PER_SYSTEM = 5;

type Rec = Record<string, unknown>;
const rec = (v: unknown): Rec | null =>
  typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Rec) : null;
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

function traitsOf(v: unknown): EntityTrait[] {
  const out: EntityTrait[] = [];
  for (const t of list(v)) {
    const r = rec(t);
    if (r && str(r.Name) !== "") out.push({ name: str(r.Name), score: num(r.Score) });
  }
  return out;
}

function spanOf(r: Rec, map: (cp: number) => number): Span | null {
  const b = num(r.BeginOffset);
  const e = num(r.EndOffset);
  if (b === null || e === null || e < b) return null;
  return { beginOffset: map(b), endOffset: map(e) };
}

/**
 * The entities of one answer (`{ Entities: [...] }` of any of the five operations), with offsets mapped
 * to the whole text by `map`. The answer is read defensively: an entity without a usable span is left
 * out, unknown fields are ignored.
 */
export function entitiesOfAnswer(
  op: Operation,
  answer: unknown,
  map: (cp: number) => number,
): MedicalEntity[] {
  const out: MedicalEntity[] = [];
  const system = limitOf(op).system;
  const conceptField = CONCEPT_FIELDS.get(op);
  for (const item of list(rec(answer)?.Entities)) {
    const r = rec(item);
    if (!r) continue;
    const span = spanOf(r, map);
    if (!span) continue;
    const attributes: EntityAttribute[] = [];
    for (const a of list(r.Attributes)) {
      const ar = rec(a);
      const aspan = ar ? spanOf(ar, map) : null;
      if (!ar || !aspan) continue;
      attributes.push({
        type: str(ar.Type),
        text: str(ar.Text),
        score: num(ar.Score),
        ...(str(ar.RelationshipType) !== ""
          ? { relationshipType: str(ar.RelationshipType), relationshipScore: num(ar.RelationshipScore) }
          : {}),
        ...aspan,
        traits: traitsOf(ar.Traits),
      });
    }
    const entity: MedicalEntity = {
      category: str(r.Category),
      type: str(r.Type),
      text: str(r.Text),
      score: num(r.Score),
      ...span,
      traits: traitsOf(r.Traits),
      attributes,
      sources: [op],
    };
    if (system && conceptField) {
      const codes: EntityCode[] = [];
      for (const c of list(r[conceptField])) {
        const cr = rec(c);
        if (!cr || str(cr.Code) === "") continue;
        codes.push({ system, code: str(cr.Code), description: str(cr.Description), score: num(cr.Score) });
        if (codes.length >= MAX_CODES_PER_SYSTEM) break;
      }
      if (codes.length > 0) entity.codes = codes;
    }
    out.push(entity);
  }
  return out;
}

/**
 * One list from the answers of several operations: an entity another operation also reported over
 * the same span (and category, or a PHI entity for PHI) is one entity with the union of its sources,
 * traits and codes. Sorted by position. Linear in the entities (a Map keyed by span).
 */
export function mergeEntities(all: readonly MedicalEntity[]): MedicalEntity[] {
  const bySpan = new Map<string, MedicalEntity>();
  const out: MedicalEntity[] = [];
  for (const e of all) {
    const key = `${e.beginOffset}:${e.endOffset}:${e.category}`;
    const seen = bySpan.get(key);
    if (!seen) {
      const copy: MedicalEntity = {
        ...e,
        traits: [...e.traits],
        attributes: [...e.attributes],
        sources: [...e.sources],
      };
      if (e.codes) copy.codes = [...e.codes];
      bySpan.set(key, copy);
      out.push(copy);
      continue;
    }
    for (const s of e.sources) if (!seen.sources.includes(s)) seen.sources.push(s);
    for (const t of e.traits) if (!seen.traits.some((x) => x.name === t.name)) seen.traits.push(t);
    if (seen.attributes.length === 0) for (const a of e.attributes) seen.attributes.push(a);
    if (e.codes) seen.codes = [...(seen.codes ?? []), ...e.codes];
    if (seen.score === null) seen.score = e.score;
  }
  return out.sort((a, b) => a.beginOffset - b.beginOffset || a.endOffset - b.endOffset);
}
