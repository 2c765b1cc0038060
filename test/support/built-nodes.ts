import type { NodeInitializer } from "node-red";
import { readFileSync } from "node:fs";
import { join } from "node:path";

type Catalog = { [key: string]: string | Catalog };

/**
 * Several built nodes loaded into one flow. `builtNode` gives each module its own `RED._`, but the
 * runtime object is shared, so the last one loaded would translate for all; this merges the
 * catalogs of every node given, so each node's status and error texts read as in Node-RED.
 */
export function builtNodes(types: string[]): NodeInitializer[] {
  const catalog: Catalog = {};
  const inits = types.map((type) => {
    const dir = join(__dirname, "../../dist/nodes", type);
    Object.assign(
      catalog,
      JSON.parse(readFileSync(join(dir, "locales/en-US", `${type}.json`), "utf8")) as Catalog,
    );
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded by path, as Node-RED loads it
    return require(join(dir, `${type}.js`)) as NodeInitializer;
  });
  return inits.map((init): NodeInitializer => (RED) => {
    RED._ = (key: string, vars?: Record<string, unknown>) => translate(catalog, key, vars);
    return init(RED);
  });
}

function translate(catalog: Catalog, key: string, vars: Record<string, unknown> = {}): string {
  let entry: string | Catalog | undefined = catalog;
  for (const part of key.split(".")) entry = typeof entry === "object" ? entry[part] : undefined;
  if (typeof entry !== "string") return key;
  return entry.replace(/__(\w+)__/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}
