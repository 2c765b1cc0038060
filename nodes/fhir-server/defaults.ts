/** The editor's defaults (fhir-server.html `defaults`, minus `name`): a test keeps them equal. */
export const DEFAULTS = {
  baseUrl: "http://127.0.0.1:8080/fhir",
  auth: "none",
  ca: "",
  cert: "",
  rejectUnauthorized: true,
  servername: "",
  timeout: "30",
  retries: "3",
  backoff: "1",
  backoffMax: "60",
  queueDepth: "1000",
  queueMegabytes: "64",
  queueStore: "disk",
  queueDir: "",
};
