/**
 * The editor's defaults (`confidence-gate.html`), for the properties a flow left out; a shared test
 * keeps the two equal.
 */
export const DEFAULTS = {
  mode: "mean",
  threshold: "0.85",
  thresholdType: "num",
  maxLowShare: "0.1",
};
