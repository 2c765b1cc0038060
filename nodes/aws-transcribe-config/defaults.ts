/** The editor's defaults (aws-transcribe-config.html `defaults`, without `name`). */
export const DEFAULTS = {
  region: "us-east-1",
  endpoint: "",
  connectTimeoutS: 10,
  transport: "http2",
  proxy: "",
};
