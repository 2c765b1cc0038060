import { strict as assert } from "node:assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { editorDefinitions } from "../../support/editor-definitions";

/** scripts/editor-html.cjs, which scripts/build.mjs runs to write dist/nodes/<type>/<type>.html. */
interface EditorHtml {
  assembleEditorFiles: (root: string) => Map<string, string>;
  assembleEditorHtml: (
    type: string,
    source: string,
    partials: Map<string, string>,
    used?: Set<string>,
  ) => string;
  readPartials: (dir: string) => Map<string, string>;
  EditorHtmlError: new (message: string) => Error;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports -- a plain CommonJS build script
const editorHtml = require("../../../scripts/editor-html.cjs") as EditorHtml;
const { assembleEditorFiles, assembleEditorHtml, readPartials, EditorHtmlError } = editorHtml;

const root = join(__dirname, "../../..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  "node-red": { nodes: Record<string, string> };
};
const TYPES = Object.keys(pkg["node-red"].nodes);

/** The input ids of each type's editor, in order, as main built them before the editor blocks were shared. */
const INPUT_IDS_BEFORE = JSON.parse(
  readFileSync(join(root, "test/fixtures/editor-input-ids.json"), "utf8"),
) as Record<string, string[]>;

/** The ids of the editor's inputs (`node-input-<key>`, `node-config-input-<key>`), in document order. */
function inputIds(html: string): string[] {
  return [...html.matchAll(/\bid="(node-(?:config-)?input-[A-Za-z0-9_-]+)"/g)].map((m) => m[1] ?? "");
}

function assembleThrows(source: string, partials: Map<string, string>, message: RegExp): void {
  assert.throws(
    () => assembleEditorHtml("demo-node", source, partials),
    (e: unknown) => e instanceof EditorHtmlError && message.test(e.message),
  );
}

describe("editor HTML: each node's editor file, assembled from its own file and the shared blocks", () => {
  const partials = new Map([
    ["keep-raw.html", '<div class="form-row">\n  <span data-i18n="{{type}}.label.keepRaw"></span>\n</div>\n'],
    ["prepare.js", '$("#node-input-patient").typedInput({ default: "msg" });\n'],
  ]);

  it("puts a template block where its marker stands, indented as the marker, with {{type}} the node's type", () => {
    const source = '<script type="text/html">\n  <!-- include: keep-raw -->\n  <div>own</div>\n</script>';
    assert.equal(
      assembleEditorHtml("demo-node", source, partials),
      '<script type="text/html">\n' +
        '  <div class="form-row">\n' +
        '    <span data-i18n="demo-node.label.keepRaw"></span>\n' +
        "  </div>\n" +
        "  <div>own</div>\n" +
        "</script>",
    );
  });

  it("puts a script block (NAME.js) where a `// include: NAME` line stands, and records what it used", () => {
    const used = new Set<string>();
    const source = "oneditprepare: function () {\n    // include: prepare\n  },";
    assert.equal(
      assembleEditorHtml("demo-node", source, partials, used),
      'oneditprepare: function () {\n    $("#node-input-patient").typedInput({ default: "msg" });\n  },',
    );
    assert.deepEqual([...used], ["prepare.js"]);
  });

  it("refuses an unknown include, naming the file, the line and the partial it looked for", () => {
    assembleThrows(
      "<div>\n  <!-- include: keep-rows -->\n</div>",
      partials,
      /^nodes\/demo-node\/demo-node\.html:2: unknown include: no nodes\/shared\/editor\/keep-rows\.html/,
    );
    // A template marker names an .html block: the .js block of the same name is not it.
    assembleThrows("  <!-- include: prepare -->", partials, /:1: unknown include: no .*prepare\.html/);
  });

  it("refuses a marker that does not stand alone on its line or is misspelt, rather than leave it in", () => {
    for (const source of [
      "<div><!-- include: keep-raw --></div>",
      "  <!-- include: Keep_Raw -->",
      "  <!--include keep-raw -->",
      "  // include: keep-raw please",
      '  <span data-i18n="{{type}}.label.name"></span>',
    ]) {
      assembleThrows(source, partials, /^nodes\/demo-node\/demo-node\.html:1: a malformed include marker/);
    }
  });

  it("refuses a partial that includes another, or holds a placeholder other than {{type}}", () => {
    const dir = mkdtempSync(join(tmpdir(), "editor-partials-"));
    try {
      writeFileSync(join(dir, "outer.html"), "<div>\n  <!-- include: inner -->\n</div>\n");
      assert.throws(() => readPartials(dir), /outer\.html:2: a partial cannot include another/);
      writeFileSync(join(dir, "outer.html"), '<span data-i18n="{{node}}.label.x"></span>\n');
      assert.throws(() => readPartials(dir), /outer\.html:1: the one placeholder is \{\{type\}\}/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe("the package's node types", () => {
    let files = new Map<string, string>();
    before(() => {
      files = assembleEditorFiles(root);
    });

    it("assembles one editor file for every node type package.json registers (every block in use)", () => {
      assert.deepEqual([...files.keys()].sort(), [...TYPES].sort());
    });

    it("leaves nothing unexpanded", () => {
      for (const [type, html] of files) {
        assert.doesNotMatch(html, /include\s*:|\{\{/, `${type}: a marker or placeholder is left`);
      }
    });

    for (const type of TYPES) {
      it(`${type}: the same inputs in the same order as before the blocks were shared`, () => {
        assert.deepEqual(inputIds(files.get(type) ?? ""), INPUT_IDS_BEFORE[type]);
      });

      it(`${type}: every setting and credential of its definition has exactly one input`, () => {
        const html = files.get(type) ?? "";
        const definition = editorDefinitions(html, `${type}.html`).get(type);
        assert.ok(definition?.defaults, `${type}.html registers no definition with defaults`);
        const prefix = definition.category === "config" ? "node-config-input-" : "node-input-";
        const ids = inputIds(html);
        const keys = [...Object.keys(definition.defaults), ...Object.keys(definition.credentials ?? {})];
        const notOnce = keys.filter((key) => ids.filter((id) => id === prefix + key).length !== 1);
        assert.deepEqual(notOnce, [], `${type}: settings without exactly one ${prefix}<key> element`);
      });
    }
  });
});
