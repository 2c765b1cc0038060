/**
 * The editor's defaults (mllp-out.html `defaults`, minus `name` and the `endpoint` config-node
 * reference): none. A test keeps them equal.
 */
export const DEFAULTS = {};
