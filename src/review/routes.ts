import { resolve } from "node:path";

/**
 * The addresses review-queue nodes serve, claimed per process. Node-RED's HTTP node app matches a
 * mounted path case-insensitively and as a prefix (a node at /review also takes /review/x/...), so the
 * node mounted first answers everything under its path: a second node on the same or a nested path
 * would never be reached, silently. A node claims its path at start; a clash is refused, naming it.
 */
export interface RouteClaim {
  path: string;
  owner: string;
}

/** Whether two mount paths share requests: equal, or one under the other, in any case. */
export function pathsOverlap(a: string, b: string): boolean {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  return x === y || x.startsWith(`${y}/`) || y.startsWith(`${x}/`);
}

/**
 * Whether two worklist folders are one (however spelled). Two worklists in one folder would each hand
 * on the other's outbox at start and write over each other's records. A folder inside another is
 * fine: a worklist keeps its files in its own `documents/` and `audio/` and reads nothing else.
 */
export function sameDir(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}

export class RouteClaims {
  private readonly claims = new Map<string, RouteClaim>();

  constructor(private readonly overlap: (a: string, b: string) => boolean = pathsOverlap) {}

  /** Claims `path` for `owner` (a node id); the claim it clashes with when another owner has one. */
  claim(path: string, owner: string): RouteClaim | undefined {
    for (const other of this.claims.values()) {
      if (other.owner !== owner && this.overlap(other.path, path)) return other;
    }
    this.claims.set(owner, { path, owner });
    return undefined;
  }

  /** Gives up `owner`'s claim (the node closed). */
  release(owner: string): void {
    this.claims.delete(owner);
  }
}

/** The claims of this Node-RED process (all review-queue nodes share the one HTTP node app). */
export const reviewRoutes = new RouteClaims();

/** The worklist folders of this process's review-queue nodes, claimed the same way. */
export const reviewStores = new RouteClaims(sameDir);
