// @medplum/core's type declarations import pdfmake's types (an optional peer it uses for PDFs). The
// tests use only its HL7 parser, so these stand-ins let the declarations type-check without pdfmake.
declare module "pdfmake/interfaces" {
  export type CustomTableLayout = Record<string, unknown>;
  export type TDocumentDefinitions = Record<string, unknown>;
  export type TFontDictionary = Record<string, unknown>;
}
