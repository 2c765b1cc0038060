/** The editor's defaults (transcript-document.html `defaults`, minus `name`): a test keeps them equal. */
export const DEFAULTS = {
  idleTimeout: "30",
  maxSessions: "100",
};
