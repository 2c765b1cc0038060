/** The editor's defaults of assemblyai-config.html (without `name`); see withDefaults. */
export const DEFAULTS = {
  region: "us",
  endpoint: "",
};
