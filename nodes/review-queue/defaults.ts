/**
 * The editor's defaults (`review-queue.html`), for the properties a flow left out; a shared test
 * keeps the two equal.
 */
export const DEFAULTS = {
  path: "/review",
  identity: "node-red",
  userHeader: "x-forwarded-user",
  rolesHeader: "",
  reviewerGroup: "",
  signerGroup: "",
  trustedProxies: "127.0.0.1, ::1",
  reviewers: "",
  signers: "",
  completionStatus: "AU",
  maxDocuments: "500",
  retentionHours: "72",
  keepAudio: true,
  audioMaxMinutes: "120",
  audioMaxMiB: "256",
  medicalTerms: "",
  storeDir: "",
};
