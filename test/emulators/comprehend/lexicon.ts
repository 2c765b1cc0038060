/**
 * The emulator's "model": a small lexicon of drugs, conditions, tests, procedures and anatomy with
 * real codes, and patterns for PHI. It finds entities the way the service reports them (categories,
 * types, traits, attributes, concepts, code-point offsets), so that tests check the mapping end to end.
 *
 * Codes (public terminologies): RxNorm ingredient RxCUIs (NLM RxNav), ICD-10-CM (CMS/CDC FY2024),
 * SNOMED CT International concept ids.
 */

export interface Concept {
  code: string;
  description: string;
}

export interface Term {
  /** Lower-case words as spoken. */
  terms: string[];
  category: "MEDICATION" | "MEDICAL_CONDITION" | "TEST_TREATMENT_PROCEDURE" | "ANATOMY";
  type: string;
  /** DIAGNOSIS, SYMPTOM or SIGN for conditions. */
  trait?: string;
  rxnorm?: Concept;
  icd10cm?: Concept;
  snomedct?: Concept;
}

export const LEXICON: readonly Term[] = [
  // Medications (RxNorm ingredients).
  {
    terms: ["metformin"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "6809", description: "metformin" },
  },
  {
    terms: ["metoprolol"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "6918", description: "metoprolol" },
  },
  {
    terms: ["lisinopril"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "29046", description: "lisinopril" },
  },
  {
    terms: ["atorvastatin"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "83367", description: "atorvastatin" },
  },
  {
    terms: ["amoxicillin"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "723", description: "amoxicillin" },
  },
  {
    terms: ["aspirin"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "1191", description: "aspirin" },
  },
  {
    terms: ["ibuprofen"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "5640", description: "ibuprofen" },
  },
  {
    terms: ["warfarin"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "11289", description: "warfarin" },
  },
  {
    terms: ["albuterol"],
    category: "MEDICATION",
    type: "GENERIC_NAME",
    rxnorm: { code: "435", description: "albuterol" },
  },
  // Conditions (ICD-10-CM, SNOMED CT).
  {
    terms: ["hypertension", "high blood pressure"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "DIAGNOSIS",
    icd10cm: { code: "I10", description: "Essential (primary) hypertension" },
    snomedct: { code: "38341003", description: "Hypertensive disorder, systemic arterial" },
  },
  {
    terms: ["type 2 diabetes", "diabetes mellitus type 2"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "DIAGNOSIS",
    icd10cm: { code: "E11.9", description: "Type 2 diabetes mellitus without complications" },
    snomedct: { code: "44054006", description: "Diabetes mellitus type 2" },
  },
  {
    terms: ["chest pain"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "SYMPTOM",
    icd10cm: { code: "R07.9", description: "Chest pain, unspecified" },
    snomedct: { code: "29857009", description: "Chest pain" },
  },
  {
    terms: ["shortness of breath"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "SYMPTOM",
    icd10cm: { code: "R06.02", description: "Shortness of breath" },
    snomedct: { code: "267036007", description: "Dyspnea" },
  },
  {
    terms: ["asthma"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "DIAGNOSIS",
    icd10cm: { code: "J45.909", description: "Unspecified asthma, uncomplicated" },
    snomedct: { code: "195967001", description: "Asthma" },
  },
  {
    terms: ["pneumonia"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "DIAGNOSIS",
    icd10cm: { code: "J18.9", description: "Pneumonia, unspecified organism" },
    snomedct: { code: "233604007", description: "Pneumonia" },
  },
  {
    terms: ["atrial fibrillation"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "DIAGNOSIS",
    icd10cm: { code: "I48.91", description: "Unspecified atrial fibrillation" },
    snomedct: { code: "49436004", description: "Atrial fibrillation" },
  },
  {
    terms: ["fever"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "SIGN",
    icd10cm: { code: "R50.9", description: "Fever, unspecified" },
    snomedct: { code: "386661006", description: "Fever" },
  },
  {
    terms: ["headache"],
    category: "MEDICAL_CONDITION",
    type: "DX_NAME",
    trait: "SYMPTOM",
    icd10cm: { code: "R51.9", description: "Headache, unspecified" },
    snomedct: { code: "25064002", description: "Headache" },
  },
  // Tests and procedures (SNOMED CT).
  {
    terms: ["electrocardiogram", "ecg", "ekg"],
    category: "TEST_TREATMENT_PROCEDURE",
    type: "TEST_NAME",
    snomedct: { code: "29303009", description: "Electrocardiographic procedure" },
  },
  {
    terms: ["chest x-ray"],
    category: "TEST_TREATMENT_PROCEDURE",
    type: "TEST_NAME",
    snomedct: { code: "399208008", description: "Plain X-ray of chest" },
  },
  {
    terms: ["hemoglobin a1c", "hba1c"],
    category: "TEST_TREATMENT_PROCEDURE",
    type: "TEST_NAME",
    snomedct: { code: "43396009", description: "Hemoglobin A1c measurement" },
  },
  {
    terms: ["colonoscopy"],
    category: "TEST_TREATMENT_PROCEDURE",
    type: "PROCEDURE_NAME",
    snomedct: { code: "73761001", description: "Colonoscopy" },
  },
  {
    terms: ["appendectomy"],
    category: "TEST_TREATMENT_PROCEDURE",
    type: "PROCEDURE_NAME",
    snomedct: { code: "80146002", description: "Excision of appendix" },
  },
  // Anatomy (SNOMED CT).
  {
    terms: ["heart"],
    category: "ANATOMY",
    type: "SYSTEM_ORGAN_SITE",
    snomedct: { code: "80891009", description: "Heart structure" },
  },
  {
    terms: ["lungs", "lung"],
    category: "ANATOMY",
    type: "SYSTEM_ORGAN_SITE",
    snomedct: { code: "39607008", description: "Lung structure" },
  },
];

/** A found span in code points of the request text. */
export interface Found {
  begin: number;
  end: number;
  text: string;
}

export interface FoundTerm extends Found {
  term: Term;
  negated: boolean;
  attributes: Array<Found & { type: "DOSAGE" | "ROUTE_OR_MODE" | "FREQUENCY" }>;
}

export interface FoundPhi extends Found {
  type: "NAME" | "DATE" | "AGE" | "ID" | "PHONE_OR_FAX" | "ADDRESS";
}

/** Code-point offsets: the service counts code points, JavaScript indexes UTF-16 units. */
function codePoints(text: string, unitIndex: number): number {
  let n = 0;
  for (let i = 0; i < unitIndex; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < unitIndex) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

function found(text: string, begin: number, end: number): Found {
  return { begin: codePoints(text, begin), end: codePoints(text, end), text: text.slice(begin, end) };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, "\\$&");
const NEGATION = /\b(no|denies|denied|without|negative for)\b[^.?!]*$/i;
const DOSAGE = /^\s*(\d+(?:\.\d+)?\s*(?:mg|mcg|g|ml|units?))\b/i;
const ROUTE = /^\s*(by mouth|orally|intravenously|subcutaneously|inhaled|po|iv)\b/i;
const FREQUENCY =
  /^\s*(once daily|twice daily|three times daily|twice a day|once a day|daily|at bedtime|every \d+ hours|bid|tid|qid|as needed)\b/i;

/** The lexicon's terms in the text, longest match first, each with its traits and attributes. */
export function findTerms(text: string): FoundTerm[] {
  const out: FoundTerm[] = [];
  const taken: Array<[number, number]> = [];
  const candidates = LEXICON.flatMap((term) => term.terms.map((t) => ({ t, term }))).sort(
    (a, b) => b.t.length - a.t.length,
  );
  for (const { t, term } of candidates) {
    const re = new RegExp(`(?<![A-Za-z0-9])${escape(t)}(?![A-Za-z0-9])`, "gi");
    for (const m of text.matchAll(re)) {
      const begin = m.index;
      const end = begin + m[0].length;
      if (taken.some(([b, e]) => begin < e && end > b)) continue;
      taken.push([begin, end]);
      const before = text.slice(Math.max(0, begin - 60), begin);
      const attributes: FoundTerm["attributes"] = [];
      if (term.category === "MEDICATION") {
        let at = end;
        for (let k = 0; k < 3; k++) {
          const rest = text.slice(at, at + 60);
          const hit = (
            [
              ["DOSAGE", DOSAGE],
              ["ROUTE_OR_MODE", ROUTE],
              ["FREQUENCY", FREQUENCY],
            ] as const
          )
            .map(([type, re2]) => ({ type, m: re2.exec(rest) }))
            .find((x) => x.m !== null);
          if (!hit?.m) break;
          const value = hit.m[1] ?? "";
          const b = at + hit.m[0].length - value.length;
          attributes.push({ type: hit.type, ...found(text, b, b + value.length) });
          at = b + value.length;
          const sep = /^\s*,?\s*/.exec(text.slice(at))?.[0] ?? "";
          at += sep.length;
        }
      }
      out.push({ term, negated: NEGATION.test(before), attributes, ...found(text, begin, end) });
    }
  }
  return out.sort((a, b) => a.begin - b.begin);
}

const MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December";
const PHI_PATTERNS: ReadonlyArray<[FoundPhi["type"], RegExp, number]> = [
  // [type, pattern, capture group holding the PHI]
  ["NAME", /\b(?:Mr|Mrs|Ms|Dr)\.?\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)/g, 1],
  [
    "DATE",
    new RegExp(`\\b((?:${MONTHS})\\s+\\d{1,2}(?:,\\s*\\d{4})?|\\d{1,2}/\\d{1,2}/\\d{2,4})\\b`, "g"),
    1,
  ],
  ["AGE", /\b(\d{1,3})[- ]year[- ]old\b/g, 1],
  ["ID", /\bMRN\s*:?\s*([A-Z0-9-]{4,20})\b/g, 1],
  ["PHONE_OR_FAX", /\b(\d{3}-\d{3}-\d{4})\b/g, 1],
  ["ADDRESS", /\b(\d{1,5}\s+[A-Z][a-z]+\s+(?:Street|St|Avenue|Ave|Road|Rd))\b/g, 1],
];

/** PHI found by the patterns, in text order. */
export function findPhi(text: string): FoundPhi[] {
  const out: FoundPhi[] = [];
  for (const [type, re, group] of PHI_PATTERNS) {
    for (const m of text.matchAll(re)) {
      const value = m[group] ?? "";
      const begin = m.index + m[0].indexOf(value);
      out.push({ type, ...found(text, begin, begin + value.length) });
    }
  }
  return out.sort((a, b) => a.begin - b.begin);
}
