/**
 * The editor's defaults (fhir-document.html `defaults`, minus `name` and the `server` config-node
 * reference): a test keeps them equal.
 */
export const DEFAULTS = {
  loincCode: "11506-3",
  loincText: "Progress note",
  security: "DICTAST",
  identifierSystem: "urn:ietf:rfc:3986",
  codedEntities: false,
  patient: "patient",
  patientType: "msg",
  encounter: "encounter",
  encounterType: "msg",
};
