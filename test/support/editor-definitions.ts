import vm from "node:vm";

export interface EditorProperty {
  value?: unknown;
  type?: unknown;
  required?: unknown;
}
export interface EditorDefinition {
  category?: string;
  defaults?: Record<string, EditorProperty>;
  credentials?: Record<string, unknown>;
}

/**
 * Runs the editor scripts of a node's HTML file (as assembled into dist/, see scripts/editor-html.cjs) as
 * the editor does, against a stand-in `RED` that records what `RED.nodes.registerType` is given, by type.
 * Validators and jQuery are inert: only the definition object matters here.
 */
export function editorDefinitions(html: string, filename: string): Map<string, EditorDefinition> {
  const scripts = [...html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)].map(
    (m) => m[1],
  );
  const registered = new Map<string, EditorDefinition>();
  const inert: unknown = new Proxy(function () {}, { get: () => inert, apply: () => inert });
  const validator = (): ((v: unknown) => boolean) => () => true;
  const sandbox = {
    RED: {
      nodes: { registerType: (t: string, def: EditorDefinition) => registered.set(t, def) },
      validators: { number: validator, regex: validator, typedInput: validator },
      _: (key: string) => key,
      settings: {},
      editor: inert,
      tabs: inert,
      popover: inert,
      utils: inert,
      events: inert,
    },
    $: inert,
    jQuery: inert,
    window: {},
    document: inert,
    console,
  };
  for (const code of scripts) vm.runInNewContext(code ?? "", sandbox, { filename });
  return registered;
}
