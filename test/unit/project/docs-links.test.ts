import { strict as assert } from "node:assert";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

// The README is short and points into docs/: a link that leads nowhere (a page renamed, a heading
// reworded) leaves a reader at a dead end, so every relative link and anchor is checked.

const ROOT = resolve(__dirname, "../../..");
const pages = [
  join(ROOT, "README.md"),
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(ROOT, "docs", f)),
];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchor(m[1] ?? "")));
}

describe("links in the README and docs/", () => {
  it("lead to files that exist and headings that exist", () => {
    const broken: string[] = [];
    let checked = 0;
    for (const page of pages) {
      const text = readFileSync(page, "utf8").replace(/```[\s\S]*?```/g, "");
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/i.test(target)) continue; // http:, https:, mailto:
        checked += 1;
        const [path = "", hash] = target.split("#");
        const file = path === "" ? page : resolve(dirname(page), path);
        if (!existsSync(file)) broken.push(`${page.slice(ROOT.length + 1)}: ${target} (no such file)`);
        else if (hash !== undefined && file.endsWith(".md") && !anchorsOf(file).has(hash))
          broken.push(`${page.slice(ROOT.length + 1)}: ${target} (no such heading)`);
      }
    }
    assert.ok(checked > 10, `only ${checked} links found`);
    assert.deepEqual(broken, []);
  });
});
