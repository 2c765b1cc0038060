import type {
  Bundle,
  BundleEntry,
  Composition,
  CompositionSection,
  DocumentReference,
  Provenance,
} from "@medplum/fhirtypes";
import type { Signoff } from "../../review/record";
import type { ClinicalNote } from "../../transcript/clinical-note";
import type { TranscriptDocument } from "../../transcript/document";
import { LOINC_SYSTEM, noteDocumentType, sectionLoinc, sectionText } from "../note-sections";

/**
 * What this file reads of bundle.ts's BuiltBundle, FhirEncounter and FhirOptions, by shape: bundle.ts
 * calls in here, and an import back would make a cycle.
 */
interface BuiltBundle {
  bundle: Bundle;
  identifier: { system: string; value: string };
  ifNoneExist: string;
}
interface FhirEncounter {
  reference?: string;
  author?: { reference?: string; display?: string };
}
interface FhirOptions {
  agentName?: string;
}

// Types only: @medplum/fhirtypes is a devDependency and nothing of it exists at run time.

/**
 * The Composition of a scribe's clinical note (`TranscriptDocument.note`), in the same transaction as
 * its DocumentReference: status preliminary until a clinician signs it, type from the note's template
 * (note-sections.ts), one section per note section with its title, its LOINC section code where one
 * exists, and its sentences as narrative. Its identifier is the DocumentReference's, so a resend is
 * found by `ifNoneExist` and a sign-off updates it in place; the DocumentReference points at it
 * (context.related) and the Provenance names both. Sections without text are left out (a FHIR
 * section must have text, entries or sub-sections).
 */
export function withNoteComposition<B extends BuiltBundle>(
  document: TranscriptDocument,
  encounter: FhirEncounter,
  options: FhirOptions,
  built: B,
): B {
  const note = document.note;
  const [docEntry, provEntry] = built.bundle.entry ?? [];
  const doc = docEntry?.resource as DocumentReference | undefined;
  if (!note || !doc || !docEntry?.fullUrl) return built;
  const fullUrl = `urn:uuid:${compositionUuid(docEntry.fullUrl)}`;
  const type = noteDocumentType(note);
  const author: Composition["author"][number] = encounter.author
    ? { ...encounter.author }
    : {
        display: options.agentName || `${document.provider} clinical note (machine-generated)`,
      };
  const composition: Composition = {
    resourceType: "Composition",
    ...(doc.meta ? { meta: doc.meta } : {}),
    identifier: built.identifier,
    status: "preliminary",
    type: { coding: [{ system: LOINC_SYSTEM, code: type.code, display: type.display }], text: type.display },
    ...(doc.subject ? { subject: doc.subject } : {}),
    ...(encounter.reference ? { encounter: { reference: encounter.reference } } : {}),
    date: document.completedAt,
    author: [author],
    title: `${type.display} (machine-generated, preliminary)`,
    section: compositionSections(note),
  };
  doc.context = { ...doc.context, related: [{ reference: fullUrl }] };
  const provenance = provEntry?.resource as Provenance | undefined;
  provenance?.target.push({ reference: fullUrl });
  const entry: BundleEntry = {
    fullUrl,
    resource: composition,
    request: { method: "POST", url: "Composition", ifNoneExist: built.ifNoneExist },
  };
  built.bundle.entry?.push(entry);
  return built;
}

/** The Composition of a signed, corrected or withdrawn note follows its DocumentReference's status. */
export function signNoteComposition(built: BuiltBundle, signoff: Signoff): void {
  const entry = built.bundle.entry?.find((e) => e.resource?.resourceType === "Composition");
  const composition = entry?.resource as Composition | undefined;
  if (!entry || !composition) return;
  if (signoff.event === "withdraw") {
    composition.status = "entered-in-error";
  } else {
    composition.status = signoff.event === "amend" ? "amended" : "final";
    composition.attester = [
      {
        mode: signoff.completionStatus === "LA" ? "legal" : "professional",
        time: signoff.at,
        party: { display: signoff.signer },
      },
    ];
    composition.title = composition.title.replace(
      "(machine-generated, preliminary)",
      signoff.event === "amend" ? "(corrected after signing)" : "(reviewed and signed)",
    );
  }
  // The same resource as the preliminary (an addendum is a new document with its own identifier).
  if (signoff.event !== "addendum") {
    entry.request = { method: "PUT", url: `Composition?${built.ifNoneExist}` };
  }
}

function compositionSections(note: ClinicalNote): CompositionSection[] {
  const sections: CompositionSection[] = [];
  for (const section of note.sections) {
    const sentences = section.sentences.map((s) => s.text.trim()).filter((t) => t !== "");
    if (sentences.length === 0 || sectionText(section) === "") continue;
    const loinc = sectionLoinc(section.name);
    sections.push({
      title: section.title,
      ...(loinc
        ? { code: { coding: [{ system: LOINC_SYSTEM, code: loinc.code, display: loinc.display }] } }
        : {}),
      text: {
        status: "generated",
        div: `<div xmlns="http://www.w3.org/1999/xhtml">${sentences.map((t) => `<p>${xhtml(t)}</p>`).join("")}</div>`,
      },
    });
  }
  return sections;
}

// Characters XML 1.0 does not allow (C0 controls but tab, line feed and carriage return; U+FFFE/U+FFFF).
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Text as XHTML character data: the narrative must not carry markup from a note, nor what XML forbids. */
function xhtml(text: string): string {
  return text
    .replace(NOT_XML, "")
    .replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"));
}

/**
 * A UUID for the Composition's fullUrl, derived from the DocumentReference's (the last hex digit
 * flipped): the same on every build of the same document, and never equal to it.
 */
function compositionUuid(docFullUrl: string): string {
  const uuid = docFullUrl.replace(/^urn:uuid:/, "");
  const last = parseInt(uuid.slice(-1), 16);
  return `${uuid.slice(0, -1)}${((Number.isNaN(last) ? 0 : last) ^ 1).toString(16)}`;
}
