// The rows of patient-encounter.html: where a document's patient and encounter come from.
$("#node-input-patient").typedInput({
  default: "msg",
  types: ["msg", "flow", "global", "json", "jsonata"],
  typeField: "#node-input-patientType",
});
$("#node-input-encounter").typedInput({
  default: "msg",
  types: ["msg", "flow", "global", "json", "jsonata"],
  typeField: "#node-input-encounterType",
});
