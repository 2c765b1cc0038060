import type { NodeAPI } from "node-red";
import { discardMessage, listQueues, retryNow } from "../../src/hospital/queue/admin";
import { settleGuarded } from "../../src/util/guard";

/**
 * The durable queues' admin endpoint, behind Node-RED's admin authentication (adminAuth): users need
 * `medstream-queue.read` to list and `medstream-queue.write` to retry or discard (a user with the "*"
 * permission has both). Registered once per admin app, by whichever of mllp-endpoint and fhir-server
 * loads first. Only metadata is listed: control id, size, age, attempts, last error.
 *
 *   GET  <httpAdminRoot>/medstream-queue                          every open destination and its queue
 *   POST <httpAdminRoot>/medstream-queue/:id/retry                 send the waiting head now
 *   POST <httpAdminRoot>/medstream-queue/:id/discard/:seq          body {"reason": "..."}; audited
 */
const registered = new WeakSet<object>();

export function registerQueueAdmin(RED: NodeAPI): void {
  const app = RED.httpAdmin;
  if (!app || registered.has(app)) return;
  registered.add(app);
  const read = RED.auth.needsPermission("medstream-queue.read");
  const write = RED.auth.needsPermission("medstream-queue.write");
  app.get("/medstream-queue", read, (_req, res) => {
    res.json({ destinations: listQueues(Date.now()) });
  });
  app.post("/medstream-queue/:id/retry", write, (req, res) => {
    const answer = retryNow(String(req.params.id));
    res.status(answer.status).json(answer.body);
  });
  app.post("/medstream-queue/:id/discard/:seq", write, (req, res) => {
    const seq = Number(req.params.seq);
    const body = (req.body ?? {}) as { reason?: unknown };
    const user = (req as unknown as { user?: { username?: unknown } }).user?.username;
    if (!Number.isInteger(seq)) {
      res.status(400).json({ error: "seq must be the whole number the listing shows" });
      return;
    }
    settleGuarded(
      discardMessage(
        String(req.params.id),
        seq,
        typeof user === "string" ? user : "anonymous (adminAuth is off)",
        typeof body.reason === "string" ? body.reason : "",
        new Date(),
      ).then((answer) => {
        res.status(answer.status).json(answer.body);
      }),
      () => {
        if (!res.headersSent) res.status(500).json({ error: "internal error" });
      },
    );
  });
}
