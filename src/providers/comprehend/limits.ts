/**
 * The Amazon Comprehend Medical operations this package calls, and the size limits the service
 * documents for each (API reference, request parameter `Text`):
 * - DetectEntitiesV2, DetectPHI: "Each string must contain fewer than 20,000 bytes of characters",
 *   length 1..20000 (https://docs.aws.amazon.com/comprehend-medical/latest/api/API_DetectEntitiesV2.html,
 *   .../API_DetectPHI.html).
 * - InferICD10CM, InferRxNorm, InferSNOMEDCT: "a string from 1 to 10000 characters"
 *   (.../API_InferICD10CM.html, .../API_InferRxNorm.html, .../API_InferSNOMEDCT.html).
 * Offsets in the answers count code points ("The offset returns the UTF-8 code point in the string").
 */

/** What a node can ask for: `phi` is DetectPHI (used by de-identification). */
export type Operation = "entities" | "phi" | "icd10cm" | "rxnorm" | "snomedct";

export const OPERATIONS: readonly Operation[] = ["entities", "phi", "icd10cm", "rxnorm", "snomedct"];

/** The coding system of an infer operation's concepts, as this package names it. */
export type CodeSystem = "ICD-10-CM" | "RxNorm" | "SNOMED CT";

export interface OperationLimit {
  /** The service's operation name (X-Amz-Target `ComprehendMedical_20181030.<name>`). */
  target: string;
  /** Most UTF-8 bytes in one request's Text (null: no byte limit documented). */
  maxBytes: number | null;
  /** Most code points in one request's Text. */
  maxCodePoints: number;
  system: CodeSystem | null;
}

export const OPERATION_LIMITS: ReadonlyMap<Operation, OperationLimit> = new Map<Operation, OperationLimit>([
  // "fewer than 20,000 bytes": 19,999 at most.
  ["entities", { target: "DetectEntitiesV2", maxBytes: 19_999, maxCodePoints: 20_000, system: null }],
  ["phi", { target: "DetectPHI", maxBytes: 19_999, maxCodePoints: 20_000, system: null }],
  ["icd10cm", { target: "InferICD10CM", maxBytes: null, maxCodePoints: 10_000, system: "ICD-10-CM" }],
  ["rxnorm", { target: "InferRxNorm", maxBytes: null, maxCodePoints: 10_000, system: "RxNorm" }],
  ["snomedct", { target: "InferSNOMEDCT", maxBytes: null, maxCodePoints: 10_000, system: "SNOMED CT" }],
]);

export function limitOf(op: Operation): OperationLimit {
  const limit = OPERATION_LIMITS.get(op);
  if (!limit) throw new Error(`unknown operation ${op}`);
  return limit;
}

/**
 * Most UTF-8 bytes of text one message may ask to analyse: the transcript document's own limit
 * (DOCUMENT_LIMITS.bytes, about five and a half hours of speech). It is split into requests within the
 * service's limits; a document this size takes about 53 requests per operation (see docs on cost).
 */
export const MAX_INPUT_BYTES = 1024 * 1024;
