/** The editor's defaults (mllp-endpoint.html `defaults`, minus `name`): a test keeps them equal. */
export const DEFAULTS = {
  host: "127.0.0.1",
  port: "2575",
  tls: false,
  ca: "",
  rejectUnauthorized: true,
  servername: "",
  connectTimeout: "5",
  ackTimeout: "30",
  retries: "3",
  backoff: "1",
  backoffMax: "60",
  keepOpen: true,
  queueDepth: "1000",
  queueMegabytes: "64",
  queueStore: "disk",
  queueDir: "",
};
