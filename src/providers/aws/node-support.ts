/**
 * The Node.js lines this package supports: 20, 22 and 24 (package.json "engines"; docs/production.md
 * says why 20 is still in, and that 22 or 24 is recommended).
 */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [20, 22, 24];

/** The AWS SDK's documented switch for its Node version warning (see `emitWarningIfUnsupportedVersion`). */
const SDK_WARNING_SWITCH = "AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED";

/**
 * Makes an AWS SDK client without the SDK's 7-line "will require node >=22" process warning on Node 20,
 * a version this package supports: the SDK checks once per process, when its first client is made, and
 * skips the warning when the switch is "true". The switch is set only around that construction and
 * only on a supported line below 22; a switch the operator set is left as it is, and on an unsupported
 * version the SDK still warns.
 */
export function withoutSdkNodeWarning<T>(make: () => T, nodeVersion: string = process.versions.node): T {
  const major = Number(nodeVersion.split(".")[0]);
  if (major >= 22 || !SUPPORTED_NODE_MAJORS.includes(major) || process.env[SDK_WARNING_SWITCH] !== undefined)
    return make();
  process.env[SDK_WARNING_SWITCH] = "true";
  try {
    return make();
  } finally {
    delete process.env[SDK_WARNING_SWITCH];
  }
}
