/**
 * The editor's defaults (`filter-final.html`), for the properties a flow left out; a shared test keeps
 * the two equal.
 */
export const DEFAULTS = {
  partials: "drop",
  partialIntervalMs: 1000,
  dropEmpty: true,
};
