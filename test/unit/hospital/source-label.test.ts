import { strict as assert } from "node:assert";
import { sourceLabel } from "../../../src/hospital/source-label";

describe("source label: how an error names where a patient or encounter came from", () => {
  it("names a plain property path as the engineer configured it", () => {
    assert.equal(sourceLabel("msg", "patient", "patient"), "msg.patient");
    assert.equal(sourceLabel("flow", "ward.patients[2]", "patient"), "flow.ward.patients[2]");
  });

  it("names the setting, never its value, for JSON and other types", () => {
    assert.equal(sourceLabel("json", '{"id":"12345"}', "patient"), "the patient setting");
  });

  it("names the setting for a property path that is long or not a plain path (it may hold anything)", () => {
    for (const path of [`Zzphimarker-${"x".repeat(100_000)}`, "/data/Zzphimarker/notes", "a".repeat(101)]) {
      const label = sourceLabel("msg", path, "patient");
      assert.equal(label, "the msg property of the patient setting");
    }
  });
});
