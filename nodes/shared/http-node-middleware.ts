import type { IncomingMessage, ServerResponse } from "node:http";

type Next = (err?: unknown) => void;
type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/**
 * Node-RED's `httpNodeMiddleware` setting (a function or a list of them), as its core `http in` node
 * applies it to its routes: the runtime does not apply it to everything on `RED.httpNode`, so a node
 * serving routes of its own runs it itself. That is where a hospital's authentication (passport, a
 * single-sign-on check) sets `req.user`. Returns the list to run before a route's own handler.
 */
export function httpNodeMiddleware(settings: { httpNodeMiddleware?: unknown }): Middleware[] {
  const m = settings.httpNodeMiddleware;
  if (typeof m === "function") return [m as Middleware];
  if (Array.isArray(m)) return m.filter((f): f is Middleware => typeof f === "function");
  return [];
}

/**
 * Runs `chain` in order, then `last`; a middleware that answers (and does not call next) ends it there.
 * An error passed to next, or thrown, answers 500 without its text (it may name a user or a token).
 */
export function runMiddleware(
  chain: readonly Middleware[],
  req: IncomingMessage,
  res: ServerResponse,
  last: () => void,
): void {
  const step = (i: number): Next => {
    let called = false;
    return (err?: unknown) => {
      if (called) return;
      called = true;
      if (err !== undefined && err !== null && err !== "route") {
        if (!res.headersSent)
          res.writeHead(500, { "content-type": "text/plain" }).end("authentication failed");
        return;
      }
      const next = chain[i];
      if (next === undefined) {
        last();
        return;
      }
      try {
        next(req, res, step(i + 1));
      } catch (thrown) {
        step(chain.length)(thrown ?? new Error("middleware threw"));
      }
    };
  };
  step(0)();
}
