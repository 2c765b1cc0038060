/**
 * The editor's defaults (`defaults` in medical-entities.html, without `name` and the `aws` config-node
 * reference): what a flow that leaves a property out gets. Keep the two equal.
 */
export const DEFAULTS = {
  opEntities: true,
  opIcd10cm: false,
  opRxnorm: false,
  opSnomedct: false,
  deidentify: false,
  concurrency: 2,
  queueLimit: 100,
  timeoutS: 20,
};
