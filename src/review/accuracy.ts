import type { ReviewRecord, Signature } from "./record";
import { correctedTerms } from "./wer";

/**
 * What a hospital learns from its own reviews: per clinician (the document's author, from
 * msg.encounter.author) and per model (the transcriber that made the text), per month, how many
 * documents were signed, the word error rate over all their words, and the medical terms reviewers
 * had to put in. Bounded: at most `MAX_BUCKETS` (clinician, model, month) buckets, oldest month
 * dropped first, and `MAX_TERMS` terms per bucket.
 */
export const MAX_BUCKETS = 5000;
export const MAX_TERMS = 50;

export interface AccuracyBucket {
  clinician: string;
  model: string;
  /** YYYY-MM (UTC) of the signature. */
  month: string;
  documents: number;
  edited: number;
  /** Sum of edits and of reference words over the measured documents: WER = errors / words. */
  errors: number;
  referenceWords: number;
  /** Documents whose WER could not be measured (rewritten beyond the measuring bound). */
  unmeasured: number;
  terms: Record<string, number>;
}

export interface AccuracyRow extends Omit<AccuracyBucket, "terms"> {
  wer: number | null;
  topTerms: Array<{ term: string; count: number }>;
}

export function clinicianOf(record: ReviewRecord): string {
  const encounter = record.context.encounter;
  if (typeof encounter === "object" && encounter !== null) {
    const author = (encounter as Record<string, unknown>).author;
    if (typeof author === "object" && author !== null) {
      const a = author as Record<string, unknown>;
      for (const key of ["id", "reference", "display", "family"]) {
        const v = a[key];
        if (typeof v === "string" && v.trim() !== "") return v.slice(0, 128);
      }
    }
  }
  return "(unknown)";
}

export function modelOf(record: ReviewRecord): string {
  return `${record.document.provider} ${record.document.language}`.slice(0, 160);
}

export class Accuracy {
  private readonly buckets = new Map<string, AccuracyBucket>();

  constructor(
    private readonly vocabulary: ReadonlySet<string>,
    initial: AccuracyBucket[] = [],
  ) {
    for (const b of initial.slice(0, MAX_BUCKETS)) this.buckets.set(keyOf(b.clinician, b.model, b.month), b);
  }

  /** Counts one signature (a first signature only: an amendment would count the same words twice). */
  add(record: ReviewRecord, sig: Signature): AccuracyBucket {
    const clinician = clinicianOf(record);
    const model = modelOf(record);
    const month = sig.at.slice(0, 7);
    const key = keyOf(clinician, model, month);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_BUCKETS) this.dropOldest();
      bucket = {
        clinician,
        model,
        month,
        documents: 0,
        edited: 0,
        errors: 0,
        referenceWords: 0,
        unmeasured: 0,
        terms: {},
      };
      this.buckets.set(key, bucket);
    }
    bucket.documents++;
    if (sig.edited) bucket.edited++;
    if (sig.errors === null) bucket.unmeasured++;
    else {
      bucket.errors += sig.errors;
      bucket.referenceWords += sig.referenceWords;
    }
    const terms = new Map(Object.entries(bucket.terms));
    for (const [term, count] of correctedTerms(sig.machineText, sig.signedText, this.vocabulary)) {
      if (!terms.has(term) && terms.size >= MAX_TERMS) continue;
      terms.set(term, (terms.get(term) ?? 0) + count);
    }
    bucket.terms = Object.fromEntries(terms);
    return bucket;
  }

  /** Every bucket, newest month first, then by clinician and model. */
  report(): AccuracyRow[] {
    return [...this.buckets.values()]
      .sort(
        (a, b) =>
          b.month.localeCompare(a.month) ||
          a.clinician.localeCompare(b.clinician) ||
          a.model.localeCompare(b.model),
      )
      .map((b) => rowOf(b));
  }

  snapshot(): AccuracyBucket[] {
    return [...this.buckets.values()];
  }

  private dropOldest(): void {
    let oldest: string | undefined;
    let month = "~";
    for (const [key, b] of this.buckets) {
      if (b.month < month) {
        month = b.month;
        oldest = key;
      }
    }
    if (oldest !== undefined) this.buckets.delete(oldest);
  }
}

export function rowOf(b: AccuracyBucket): AccuracyRow {
  const { terms, ...rest } = b;
  return {
    ...rest,
    wer: b.referenceWords > 0 ? b.errors / b.referenceWords : null,
    topTerms: Object.entries(terms)
      .map(([term, count]) => ({ term, count }))
      .sort((x, y) => y.count - x.count || x.term.localeCompare(y.term))
      .slice(0, 10),
  };
}

function keyOf(clinician: string, model: string, month: string): string {
  return JSON.stringify([clinician, model, month]);
}
