import { createHmac, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import { ReviewError } from "./record";

/**
 * Who is asking, and what they may do. No anonymous sign-off: the user comes from a configured
 * source and nothing else.
 * - "node-red": Node-RED's own HTTP node authentication (settings.httpNodeAuth). A custom
 *   httpNodeAuth middleware (for example passport) sets `req.user`; Node-RED's built-in basic auth
 *   sets nothing, so the user name of the Basic credentials it has already checked is taken, and
 *   only when the built-in basic auth is configured (else anyone could write that header).
 * - "header": a header set by the hospital's single-sign-on proxy, believed only when the request
 *   comes from one of the configured proxy addresses.
 * Roles: a reviewer may open and correct; a signer may also sign, amend, add to and withdraw.
 */
export type IdentitySource = "node-red" | "header";
export const IDENTITY_SOURCES: readonly IdentitySource[] = ["node-red", "header"];

export type Role = "reviewer" | "signer";

export interface AuthConfig {
  source: IdentitySource;
  /** True when Node-RED's built-in basic auth guards the HTTP nodes (settings.httpNodeAuth.user). */
  nodeRedBasicAuth: boolean;
  userHeader: string;
  /** Header with the user's groups (comma separated), from the proxy; "" to use the lists only. */
  rolesHeader: string;
  /** Group names in rolesHeader that mean reviewer / signer. */
  reviewerGroup: string;
  signerGroup: string;
  trustedProxies: ReadonlySet<string>;
  /** User names; "*" = every authenticated user. */
  reviewers: ReadonlySet<string>;
  signers: ReadonlySet<string>;
}

export interface RequestFacts {
  method: string;
  headers: Record<string, string | string[] | undefined>;
  remoteAddress: string | undefined;
  /** `req.user` as an httpNodeAuth middleware left it. */
  user?: unknown;
}

export interface Identity {
  user: string;
  roles: Set<Role>;
}

const MAX_USER_CHARS = 128;

export function header(req: RequestFacts, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** "::ffff:127.0.0.1" and "127.0.0.1" are the same peer. */
export function normaliseAddress(address: string | undefined): string {
  if (!address) return "";
  const a = address.trim().toLowerCase();
  return a.startsWith("::ffff:") && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

export function listSetting(value: unknown): Set<string> {
  if (typeof value !== "string") return new Set();
  return new Set(
    value
      .split(/[,\n]/)
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );
}

function cleanUser(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  const v = value.trim();
  // A user name goes into HL7 (TXA-22) and the audit log: printable, no HL7 delimiters, bounded.
  if (v === "" || v.length > MAX_USER_CHARS || /[\p{Cc}|^~\\&]/u.test(v)) return undefined;
  return v;
}

/**
 * The request's user as the configured identity source vouches for it (Node-RED's authentication, or
 * the header from a trusted proxy), role or not; undefined when nobody is signed in.
 */
export function userOf(req: RequestFacts, config: AuthConfig): string | undefined {
  if (config.source === "header") {
    if (!config.trustedProxies.has(normaliseAddress(req.remoteAddress))) return undefined;
    return cleanUser(header(req, config.userHeader));
  }
  const u = req.user;
  if (typeof u === "string") return cleanUser(u);
  if (typeof u === "object" && u !== null) {
    const o = u as Record<string, unknown>;
    return cleanUser(o.username ?? o.name ?? o.id);
  }
  if (!config.nodeRedBasicAuth) return undefined;
  const auth = header(req, "authorization");
  const m = auth ? /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth) : null;
  if (!m) return undefined;
  const decoded = Buffer.from(m[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon > 0 ? cleanUser(decoded.slice(0, colon)) : undefined;
}

/** The identity of a request; throws 401 without one, 403 when the user has no role here. */
export function identify(req: RequestFacts, config: AuthConfig): Identity {
  const user = userOf(req, config);
  if (!user) {
    throw new ReviewError(401, "UNAUTHENTICATED", "sign in first: this page needs an authenticated user");
  }
  const roles = new Set<Role>();
  const inList = (list: ReadonlySet<string>): boolean => list.has("*") || list.has(user);
  if (inList(config.signers)) roles.add("signer");
  if (inList(config.reviewers)) roles.add("reviewer");
  if (config.source === "header" && config.rolesHeader) {
    const groups = listSetting(header(req, config.rolesHeader) ?? "");
    if (config.signerGroup && groups.has(config.signerGroup)) roles.add("signer");
    if (config.reviewerGroup && groups.has(config.reviewerGroup)) roles.add("reviewer");
  }
  // A signer may review too.
  if (roles.has("signer")) roles.add("reviewer");
  if (roles.size === 0) throw new ReviewError(403, "NO_ROLE", "your user may not review documents here");
  return { user, roles };
}

export function requireRole(identity: Identity, role: Role): void {
  if (!identity.roles.has(role)) {
    throw new ReviewError(
      403,
      "ROLE_REQUIRED",
      role === "signer" ? "only a signer may do this" : "only a reviewer may do this",
    );
  }
}

/**
 * CSRF protection for every change (synchronizer token, OWASP CSRF cheat sheet): the token is an
 * HMAC of the user under a key drawn when the node starts, handed out by GET …/api/session (which a
 * page from another site cannot read), and required in the X-CSRF-Token header of every POST. The
 * Origin header, which browsers send with every POST, must name this server too.
 */
export class Csrf {
  constructor(private readonly key: Buffer) {}

  tokenFor(user: string): string {
    return createHmac("sha256", this.key).update(user).digest("base64url");
  }

  /**
   * `trustedProxies`: the addresses whose X-Forwarded-Host names this server (the proxy in front of
   * it); from any other client the header is its own word, and Host is compared instead.
   */
  check(req: RequestFacts, identity: Identity, trustedProxies: ReadonlySet<string>): void {
    const origin = header(req, "origin");
    const forwarded = trustedProxies.has(normaliseAddress(req.remoteAddress))
      ? header(req, "x-forwarded-host")
      : undefined;
    const host = forwarded ?? header(req, "host");
    let originHost: string | undefined;
    try {
      originHost = origin ? new URL(origin).host : undefined;
    } catch {
      originHost = undefined;
    }
    if (!originHost || !host || originHost.toLowerCase() !== host.toLowerCase()) {
      throw new ReviewError(
        403,
        "BAD_ORIGIN",
        "the request did not come from this review page: its Origin header must name this server",
      );
    }
    const given = header(req, "x-csrf-token") ?? "";
    const expected = this.tokenFor(identity.user);
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new ReviewError(
        403,
        "BAD_CSRF_TOKEN",
        "the request's CSRF token is missing or wrong: reload the page",
      );
    }
  }
}
