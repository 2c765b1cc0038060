import { strict as assert } from "node:assert";
import { withDefaults } from "../../../nodes/shared/node-red";
import { kindOf, readSettings, shownValue } from "../../../src/util/settings";

describe("settings: each setting read as the JSON type of its default", () => {
  const defaults = { name: "", keyterms: "", frameMs: 100, keepRaw: false };

  it("keeps values of their default's type as they are", () => {
    const read = readSettings({ id: "n1", keyterms: "aspirin", frameMs: 50, keepRaw: true }, defaults);
    assert.deepEqual(read, {
      ok: true,
      config: { id: "n1", keyterms: "aspirin", frameMs: 50, keepRaw: true },
    });
  });

  it("reads what converts without loss: a number as text, digits as a number, 'true' as a checkbox", () => {
    const read = readSettings({ keyterms: 42, frameMs: "200", keepRaw: "true" }, defaults);
    assert.deepEqual(read, { ok: true, config: { keyterms: "42", frameMs: "200", keepRaw: true } });
  });

  for (const [setting, value, kind] of [
    ["keyterms", ["a", "b"], "a list"],
    ["keyterms", { value: 1 }, "an object"],
    ["keyterms", false, "the value false"],
    ["keyterms", Number.POSITIVE_INFINITY, "the number Infinity"],
    ["frameMs", true, "the value true"],
    ["frameMs", [100], "a list"],
    ["keepRaw", 1, "a number"],
    ["keepRaw", "yes", "a text of 3 characters"],
  ] as const) {
    it(`refuses ${setting} holding ${kind}, naming the setting and what is accepted`, () => {
      const read = readSettings({ [setting]: value }, defaults);
      assert.equal(read.ok, false);
      if (read.ok) return;
      assert.equal(read.problem.setting, setting);
      assert.match(read.problem.message, new RegExp(`^the setting "${setting}" holds ${kind}; accepted: `));
    });
  }

  it("takes a setting that holds null (JSON's 'no value') as absent: its default, as nodes read them", () => {
    const given = { keyterms: null, frameMs: null, keepRaw: null };
    const read = readSettings(withDefaults(given, defaults), defaults);
    assert.deepEqual(read, { ok: true, config: { name: "", keyterms: "", frameMs: 100, keepRaw: false } });
  });

  it("never refuses a node for its name (only the editor shows it)", () => {
    assert.deepEqual(readSettings({ name: { x: 1 } }, defaults), { ok: true, config: { name: "" } });
  });

  it("leaves settings the defaults do not name (ids, wires, config-node references) alone", () => {
    const wires = [["a"]];
    const read = readSettings({ wires, aws: { odd: true } }, defaults);
    assert.ok(read.ok);
    assert.equal((read.config as { wires: unknown }).wires, wires);
  });

  it("describes a value by its kind, never its content", () => {
    const secret = "Zzphimarker".repeat(10_000);
    assert.equal(kindOf(secret), `a text of ${secret.length} characters`);
    assert.doesNotMatch(shownValue(secret), /Zzphimarker/);
    assert.doesNotMatch(shownValue("/data/Zzphimarker/notes"), /Zzphimarker/);
    assert.equal(shownValue("16001"), '"16001"');
    assert.equal(shownValue(Number.NaN), "NaN");
  });
});
