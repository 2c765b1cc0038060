// Assembles a node's editor file (dist/nodes/<type>/<type>.html) from its own nodes/<type>/<type>.html
// and the blocks several node types share, in nodes/shared/editor/ (docs/development.md, "Editor HTML").
//
// A line that holds only a marker is replaced by the partial it names, indented as the marker is:
//   <!-- include: NAME -->   nodes/shared/editor/NAME.html (rows of a template)
//   // include: NAME         nodes/shared/editor/NAME.js   (statements of an editor script)
// In a partial, {{type}} stands for the including node's type: its catalog namespace (data-i18n keys) and
// the prefix of its CSS classes. There are no other parameters, and a partial includes nothing itself.
// Anything that goes wrong is an EditorHtmlError naming the file and line, and fails the build.
"use strict";

const { existsSync, readdirSync, readFileSync } = require("node:fs");
const { join } = require("node:path");

/** Where the shared blocks live, relative to the repository root. */
const PARTIALS_DIR = "nodes/shared/editor";

const NAME = "[a-z][a-z0-9-]*";
/** A marker on a line of its own: its indentation, its kind (html or js) and the partial's name. */
const MARKER_LINE = new RegExp(
  `^(\\s*)(?:<!--\\s*include:\\s*(${NAME})\\s*-->|//\\s*include:\\s*(${NAME}))\\s*$`,
);
/** What a marker or a placeholder looks like anywhere, well formed or not: none may reach the output. */
const LEFTOVER = /<!--\s*include\b|\/\/\s*include\s*:|\{\{\s*type\s*\}\}/;
const TYPE_PLACEHOLDER = /\{\{type\}\}/g;

class EditorHtmlError extends Error {
  constructor(message) {
    super(message);
    this.name = "EditorHtmlError";
  }
}

/**
 * The partials in `dir` (file name, e.g. "keep-raw.html", to text). A partial that holds a marker is
 * refused here, where its own file and line can be named.
 * @param {string} dir
 * @returns {Map<string, string>}
 */
function readPartials(dir) {
  const partials = new Map();
  for (const file of readdirSync(dir).sort()) {
    if (!/\.(html|js)$/.test(file)) continue;
    const text = readFileSync(join(dir, file), "utf8");
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (/<!--\s*include\b|\/\/\s*include\s*:/.test(lines[i])) {
        throw new EditorHtmlError(
          `${PARTIALS_DIR}/${file}:${i + 1}: a partial cannot include another (includes are one level deep)`,
        );
      }
      if (/\{\{(?!type\}\})/.test(lines[i])) {
        throw new EditorHtmlError(`${PARTIALS_DIR}/${file}:${i + 1}: the one placeholder is {{type}}`);
      }
    }
    partials.set(file, text);
  }
  return partials;
}

/**
 * The assembled editor file of `type`: `source` (its nodes/<type>/<type>.html) with every marker
 * replaced. `used` (optional) collects the file names of the partials it included.
 * @param {string} type
 * @param {string} source
 * @param {Map<string, string>} partials
 * @param {Set<string>} [used]
 * @returns {string}
 */
function assembleEditorHtml(type, source, partials, used) {
  const where = (i) => `nodes/${type}/${type}.html:${i + 1}`;
  const out = [];
  const lines = source.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const marker = MARKER_LINE.exec(line);
    if (marker === null) {
      if (LEFTOVER.test(line)) {
        throw new EditorHtmlError(
          `${where(i)}: a malformed include marker or a {{type}} outside a partial: ` +
            `a marker stands alone on its line, as <!-- include: NAME --> in a template or ` +
            `// include: NAME in a script, NAME in lower case with digits and "-"`,
        );
      }
      out.push(line);
      continue;
    }
    const [, indent, htmlName, jsName] = marker;
    const file = htmlName !== undefined ? `${htmlName}.html` : `${jsName}.js`;
    const text = partials.get(file);
    if (text === undefined) {
      const known = [...partials.keys()].join(", ") || "none";
      throw new EditorHtmlError(
        `${where(i)}: unknown include: no ${PARTIALS_DIR}/${file} (there are: ${known})`,
      );
    }
    used?.add(file);
    const body = text.replace(/\s+$/, "").replace(TYPE_PLACEHOLDER, type);
    for (const partLine of body.split("\n")) out.push(partLine === "" ? "" : indent + partLine);
  }
  const html = out.join("\n");
  const left = html.split("\n").findIndex((l) => LEFTOVER.test(l));
  if (left >= 0) {
    throw new EditorHtmlError(
      `dist/nodes/${type}/${type}.html:${left + 1}: left unexpanded after assembly: ${html.split("\n")[left].trim()}`,
    );
  }
  return html;
}

/**
 * The assembled editor file of every node type under `root`/nodes (each folder with a <type>.html), by
 * type. A partial that no node includes is refused: a dead block still reads as if it were in use.
 * @param {string} root
 * @returns {Map<string, string>}
 */
function assembleEditorFiles(root) {
  const partials = readPartials(join(root, PARTIALS_DIR));
  const used = new Set();
  const files = new Map();
  for (const type of readdirSync(join(root, "nodes")).sort()) {
    const file = join(root, "nodes", type, `${type}.html`);
    if (!existsSync(file)) continue;
    files.set(type, assembleEditorHtml(type, readFileSync(file, "utf8"), partials, used));
  }
  const unused = [...partials.keys()].filter((file) => !used.has(file));
  if (unused.length > 0) {
    throw new EditorHtmlError(`${unused.map((f) => `${PARTIALS_DIR}/${f}`).join(", ")}: included by no node`);
  }
  return files;
}

module.exports = { assembleEditorFiles, assembleEditorHtml, readPartials, EditorHtmlError, PARTIALS_DIR };
