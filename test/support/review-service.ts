import type { ReviewOptions } from "../../src/review/service";

/** The clock, retention and document id the review service tests share. */
export const REVIEW_NOW = new Date("2026-01-15T15:00:00Z");
export const DAY_MS = 24 * 3600 * 1000;
export const REVIEW_DOC_ID = "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11";

/**
 * A review service's options as the tests use them: users named by the proxy header, believed from
 * 127.0.0.1 (a loopback test client), no audio kept unless `overrides` says so.
 */
export function reviewOptions(
  dir: string,
  users: { reviewers?: string[]; signers: string[] },
  overrides: Partial<ReviewOptions> = {},
): ReviewOptions {
  return {
    dir,
    auth: {
      source: "header",
      nodeRedBasicAuth: false,
      userHeader: "x-forwarded-user",
      rolesHeader: "",
      reviewerGroup: "",
      signerGroup: "",
      trustedProxies: new Set(["127.0.0.1"]),
      reviewers: new Set(users.reviewers ?? []),
      signers: new Set(users.signers),
    },
    completionStatus: "AU",
    maxDocuments: 10,
    retentionMs: DAY_MS,
    audio: { keep: false, maxSessionSeconds: 60, maxTotalBytes: 1024 },
    vocabulary: new Set(),
    sweepMs: DAY_MS,
    ...overrides,
  };
}
