import eslint from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    // What the build, the demo (`npm start` keeps its Node-RED user directory in the checkout) and
    // the benches write: generated, not ours to lint.
    ignores: [
      "dist/",
      "node_modules/",
      "src/transcript/generated/",
      "test/node-red-versions/",
      "coverage/",
      ".node-red-user/",
      ".test-results/",
      "bench-profiles/",
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: "./tsconfig.test.json", tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      eqeqeq: ["error", "always"],
    },
  },
  {
    // What kills or freezes a Node-RED runtime, ruled out by construction (docs/security.md):
    // - a timer callback that throws stops the process: timers come from src/util/scheduler.ts, whose
    //   callbacks are guarded;
    // - an array spread into a call (Math.max(...words), push(...items)) overflows the stack when a flow
    //   sends a long one.
    files: ["src/**/*.ts", "nodes/**/*.ts"],
    rules: {
      "no-restricted-globals": [
        "error",
        ...["setTimeout", "setInterval", "setImmediate"].map((name) => ({
          name,
          message: "Use a Scheduler (src/util/scheduler.ts): its timer callbacks are guarded.",
        })),
      ],
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression > SpreadElement, NewExpression > SpreadElement",
          message: "A spread argument overflows the stack for a long array; use a loop or reduce.",
        },
        {
          // tsc's CommonJS output writes through `exports`; a local of that name breaks the built
          // package while tsx (which runs the unit tests) does not notice.
          selector:
            "VariableDeclarator > Identifier.id[name=/^(exports|module|require)$/], :function > Identifier.params[name=/^(exports|module|require)$/]",
          message: "Do not shadow exports, module or require: tsc's CommonJS output uses them.",
        },
      ],
    },
  },
  {
    // Node-RED's node constructors are plain functions that receive the node as `this`.
    files: ["nodes/**/*.ts"],
    rules: { "@typescript-eslint/no-this-alias": "off" },
  },
  {
    files: ["**/*.mjs", "**/*.cjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { project: false, projectService: false },
      globals: {
        process: "readonly",
        console: "readonly",
        require: "readonly",
        module: "writable",
        __dirname: "readonly",
        fetch: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
      },
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Blocks of editor script shared by nodes' oneditprepare (scripts/editor-html.cjs) run in the editor.
    files: ["nodes/shared/editor/*.js"],
    languageOptions: { sourceType: "script", globals: { $: "readonly", RED: "readonly" } },
  },
  {
    // The demo page's AudioWorklet runs in the browser's audio thread.
    files: ["demo/pcm-worklet.js"],
    languageOptions: { globals: { AudioWorkletProcessor: "readonly", registerProcessor: "readonly" } },
  },
  {
    // Editor-side scripts run in the browser with Node-RED's globals.
    files: ["nodes/**/*.html"],
    ignores: ["**"],
  },
);
