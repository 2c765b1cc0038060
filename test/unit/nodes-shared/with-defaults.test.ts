import { strict as assert } from "node:assert";
import { withDefaults } from "../../../nodes/shared/node-red";

describe("withDefaults: a node's settings with the editor's defaults for what the flow left out", () => {
  const DEFAULTS = { frameMs: 100, encoding: "pcm", keepRaw: false, label: "" };

  it("fills what is missing or null, and keeps what is given", () => {
    assert.deepEqual(withDefaults({ frameMs: 50, encoding: null }, DEFAULTS), {
      frameMs: 50,
      encoding: "pcm",
      keepRaw: false,
      label: "",
    });
  });

  it("takes the default for a number left blank in the editor, and keeps a blank text as given", () => {
    const out = withDefaults({ frameMs: "", label: "", encoding: "" }, DEFAULTS);
    assert.equal(out.frameMs, 100);
    assert.equal(out.label, "");
    assert.equal(out.encoding, "", "a text setting's blank is a value the node checks itself");
  });

  it("keeps a number given as text (the editor saves numbers as typed) for the node to check", () => {
    assert.equal(withDefaults({ frameMs: "250" }, DEFAULTS).frameMs, "250");
    assert.equal(withDefaults({ frameMs: "0" }, DEFAULTS).frameMs, "0");
  });
});
