import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import { numberSetting } from "../../src/hospital/settings";
import { IDENTITY_SOURCES, listSetting, type IdentitySource } from "../../src/review/auth";
import { ReviewError, SIGNED_STATUSES, type SignedStatus } from "../../src/review/record";
import { deliveryChecks, type NodeConfig } from "../../src/review/delivery-checks";
import { reviewRoutes, reviewStores } from "../../src/review/routes";
import { ReviewService, type ReviewOptions } from "../../src/review/service";
import { idTag } from "../../src/util/identifiers";
import { sessionIdProblem } from "../../src/util/session-id";
import { settleGuarded } from "../../src/util/guard";
import { asError, internalErrorReporter, nodeScheduler, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { httpNodeMiddleware, runMiddleware } from "../shared/http-node-middleware";
import { intake } from "../shared/intake";

interface ReviewQueueDef extends NodeDef {
  path: string;
  identity: IdentitySource;
  userHeader: string;
  rolesHeader: string;
  reviewerGroup: string;
  signerGroup: string;
  trustedProxies: string;
  reviewers: string;
  signers: string;
  completionStatus: SignedStatus;
  maxDocuments: string | number;
  retentionHours: string | number;
  keepAudio: boolean;
  audioMaxMinutes: string | number;
  audioMaxMiB: string | number;
  medicalTerms: string;
  storeDir: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
interface Layer {
  handle?: unknown;
}
interface HttpApp {
  use(path: string, handler: Handler): void;
  _router?: { stack: Layer[] };
  router?: { stack: Layer[] };
}

const PATH = /^\/[A-Za-z0-9._~\-/]{1,100}$/;

/** The longest store folder path accepted (bytes; Linux's PATH_MAX less room for the files in it). */
const MAX_STORE_DIR = 3072;

/** Reads the settings; throws a message naming the bad one. */
function optionsFrom(RED: NodeAPI, c: ReviewQueueDef, nodeId: string): ReviewOptions & { path: string } {
  const bad = (setting: string, accepted: string): Error =>
    new Error(RED._("review-queue.errors.badSetting", { setting, accepted }));
  const path = typeof c.path === "string" ? c.path.replace(/\/+$/, "") : "";
  if (!PATH.test(path) || path.includes("..")) throw bad("path", "an address such as /review");
  if (!IDENTITY_SOURCES.includes(c.identity)) throw bad("identity", IDENTITY_SOURCES.join(", "));
  if (!SIGNED_STATUSES.includes(c.completionStatus))
    throw bad("completionStatus", SIGNED_STATUSES.join(", "));
  const num = (value: unknown, fallback: number, name: string, min: number, max: number): number => {
    const n = numberSetting(value, fallback, { min, max, integer: true });
    if (n === undefined) throw bad(name, `a whole number from ${min} to ${max}`);
    return n;
  };
  const trustedProxies = listSetting(c.trustedProxies);
  const userHeader = String(c.userHeader || "").toLowerCase();
  if (c.identity === "header") {
    if (!/^[a-z0-9-]{1,64}$/.test(userHeader))
      throw bad("userHeader", "a header name such as x-forwarded-user");
    if (trustedProxies.size === 0) throw bad("trustedProxies", "the addresses of the single-sign-on proxy");
  }
  // The store folder: empty (below the user directory) or an absolute path the file system can hold
  // (Linux: 4,096 bytes a path, 255 a name); a longer one would fail at the first write, with the path
  // in the error.
  const storeDir = typeof c.storeDir === "string" ? c.storeDir.trim() : "";
  if (
    storeDir !== "" &&
    (!isAbsolute(storeDir) ||
      Buffer.byteLength(storeDir) > MAX_STORE_DIR ||
      storeDir.split("/").some((part) => Buffer.byteLength(part) > 255))
  ) {
    throw bad("storeDir", `empty, or an absolute folder path of at most ${MAX_STORE_DIR} bytes`);
  }
  const reviewers = listSetting(c.reviewers);
  const signers = listSetting(c.signers);
  const settings = RED.settings as unknown as { userDir?: string; httpNodeAuth?: unknown };
  const basic = settings.httpNodeAuth;
  const userDir = settings.userDir || join(homedir(), ".node-red");
  const terms = new Set<string>();
  for (const t of listSetting(c.medicalTerms)) if (terms.size < 10_000) terms.add(t.toLowerCase());
  return {
    path,
    dir: storeDir ? storeDir : join(userDir, "review-queue", nodeId.replace(/[^A-Za-z0-9_.-]/g, "_")),
    auth: {
      source: c.identity,
      nodeRedBasicAuth:
        typeof basic === "object" && basic !== null && typeof (basic as { user?: unknown }).user === "string",
      userHeader,
      rolesHeader: String(c.rolesHeader || "").toLowerCase(),
      reviewerGroup: String(c.reviewerGroup || ""),
      signerGroup: String(c.signerGroup || ""),
      trustedProxies: new Set([...trustedProxies].map((a) => a.toLowerCase())),
      reviewers,
      signers,
    },
    completionStatus: c.completionStatus,
    maxDocuments: num(c.maxDocuments, 500, "maxDocuments", 1, 100_000),
    retentionMs: num(c.retentionHours, 72, "retentionHours", 1, 24 * 366) * 3600_000,
    audio: {
      keep: c.keepAudio !== false,
      maxSessionSeconds: num(c.audioMaxMinutes, 120, "audioMaxMinutes", 1, 24 * 60) * 60,
      maxTotalBytes: num(c.audioMaxMiB, 256, "audioMaxMiB", 1, 64 * 1024) * 1024 * 1024,
    },
    vocabulary: terms,
    sweepMs: 10 * 60_000,
  };
}

function sessionOf(msg: NodeMessage): string {
  const id = (msg as { audio?: { sessionId?: unknown } }).audio?.sessionId;
  return typeof id === "string" ? id : typeof msg.topic === "string" ? msg.topic : "";
}

export = function register(RED: NodeAPI): void {
  function ReviewQueueNode(this: Node, rawConfig: ReviewQueueDef): void {
    RED.nodes.createNode(this, rawConfig);
    const node = this;
    const config = settingsOrRefuse(node, "review-queue", rawConfig, DEFAULTS);
    if (!config) return;
    /** A node that cannot serve: says why once, and answers every message with it (for Catch). */
    const refuseAll = (error: Error, statusText: string): void => {
      node.error(error.message);
      node.status({ fill: "red", shape: "ring", text: statusText });
      node.on("input", (_msg, _send, done) => done(error));
    };
    let options: ReturnType<typeof optionsFrom>;
    try {
      options = optionsFrom(RED, config, node.id);
    } catch (err) {
      refuseAll(asError(err), "review-queue.status.misconfigured");
      return;
    }
    // The path is the node's configuration (typed in the editor), not a value from a message: not
    // PHI, and the one thing the engineer needs to find the clash.
    const clash = reviewRoutes.claim(options.path, node.id);
    if (clash) {
      refuseAll(
        new Error(
          RED._("review-queue.errors.pathClash", {
            path: options.path,
            other: clash.owner,
            otherPath: clash.path,
          }),
        ),
        "review-queue.status.pathClash",
      );
      return;
    }
    const folderClash = reviewStores.claim(options.dir, node.id);
    if (folderClash) {
      reviewRoutes.release(node.id);
      refuseAll(
        new Error(RED._("review-queue.errors.dirClash", { dir: options.dir, other: folderClash.owner })),
        "review-queue.status.dirClash",
      );
      return;
    }
    const report = internalErrorReporter(node, "review-queue");
    // The delivery nodes output 1 reaches, looked up per document (a partial deploy may change them).
    const wires = (rawConfig as { wires?: unknown }).wires;
    const targets = Array.isArray(wires) && Array.isArray(wires[0]) ? (wires[0] as unknown[]) : [];
    const wanted = targets.filter((id): id is string => typeof id === "string");
    const checks = (): ReturnType<typeof deliveryChecks> => {
      const configs = new Map<string, NodeConfig>();
      RED.nodes.eachNode((n) => {
        configs.set(n.id, n as unknown as NodeConfig);
      });
      return deliveryChecks(wanted, (id) => configs.get(id));
    };
    const service = new ReviewService(
      { ...options, deliveryChecks: checks },
      {
        final: (msg) => node.send([{ ...msg }, null]),
        event: (topic, payload) => node.send([null, { topic, payload }]),
        error: (err) => node.error(err, {}),
      },
      nodeScheduler(node, "review-queue"),
    );
    const status = new StatusReporter(node, () => {
      const pending = service.store.all().filter((r) => r.state === "pending").length;
      return {
        fill: pending > 0 ? "yellow" : "green",
        shape: "dot",
        text: RED._("review-queue.status.counts", { pending, total: service.store.size }),
      };
    });
    const ready = service.start().then(({ unreadable, resent }) => {
      if (unreadable > 0)
        node.error(new Error(RED._("review-queue.errors.unreadable", { count: unreadable })), {});
      if (resent > 0) node.warn(RED._("review-queue.resent", { count: resent }));
      status.update();
    });
    settleGuarded(ready, (err) => {
      node.error(new Error(RED._("review-queue.errors.storeFailed", { reason: err.name })), {});
      node.status({ fill: "red", shape: "ring", text: "review-queue.status.storeFailed" });
    });

    // Mounted on RED.httpNode, so settings.httpNodeAuth runs first; settings.httpNodeMiddleware (where a
    // custom authentication sets req.user) is run here, as the core http in node runs it.
    const app = RED.httpNode as unknown as HttpApp;
    const middleware = httpNodeMiddleware(RED.settings);
    const handler: Handler = (req, res) => runMiddleware(middleware, req, res, () => serve(req, res));
    const serve = (req: IncomingMessage, res: ServerResponse): void => {
      settleGuarded(
        ready.then(() => service.handle(req, res)),
        (err) => {
          report(err);
          if (!res.headersSent)
            res.writeHead(503, { "content-type": "text/plain" }).end("review-queue is not ready");
        },
      );
      status.update();
    };
    app.use(options.path, handler);

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload", "audio", "confidenceGate", "patient", "encounter"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "review-queue", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      const badId = sessionIdProblem(sessionOf(msg), "review-queue: msg.audio.sessionId (or msg.topic)");
      if (badId !== undefined) return done(new Error(badId));
      const handled = ready.then(async () => {
        const outcome = await service.input(msg, new Date());
        if (outcome.kind === "audio" && !outcome.outcome.kept && outcome.outcome.first) {
          // Never silent: the reviewer will not hear the rest; say which session (by tag) and why.
          // One answer per message: the error is this message's done(err).
          done(
            new Error(
              RED._("review-queue.errors.audioNotKept", {
                session: idTag(sessionOf(msg)),
                reason: outcome.outcome.reason,
                minutes: options.audio.maxSessionSeconds / 60,
                mib: options.audio.maxTotalBytes / (1024 * 1024),
                sessions: service.audio.limits.maxSessions ?? 0,
              }),
            ),
          );
          status.update();
          return;
        }
        if (outcome.kind === "report")
          send([null, { topic: "review-accuracy-report", payload: outcome.rows }]);
        status.update();
        done();
      });
      settleGuarded(handled, (err) => {
        done(err instanceof ReviewError && err.code === "WORKLIST_FULL" ? err : asError(err));
        status.update();
      });
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      const stack = (app._router ?? app.router)?.stack;
      if (stack) {
        for (let i = stack.length - 1; i >= 0; i--) if (stack[i].handle === handler) stack.splice(i, 1);
      }
      status.close();
      reviewRoutes.release(node.id);
      reviewStores.release(node.id);
      settleGuarded(
        ready
          .then(
            () => service.close(),
            () => service.close(),
          )
          .then(() => done()),
        () => done(),
      );
    });
  }

  RED.nodes.registerType("review-queue", ReviewQueueNode);
};
