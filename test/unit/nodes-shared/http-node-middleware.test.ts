import { strict as assert } from "node:assert";
import type { IncomingMessage, ServerResponse } from "node:http";
import { httpNodeMiddleware, runMiddleware } from "../../../nodes/shared/http-node-middleware";

/** A response that records what was written. */
function response(): ServerResponse & { written: { status?: number; body?: string } } {
  const written: { status?: number; body?: string } = {};
  const res = {
    headersSent: false,
    written,
    writeHead(status: number) {
      written.status = status;
      res.headersSent = true;
      return res;
    },
    end(body?: string) {
      written.body = body;
    },
  };
  return res as unknown as ServerResponse & { written: { status?: number; body?: string } };
}

describe("httpNodeMiddleware: the setting run before a node's own HTTP route, as the http in node runs it", () => {
  const req = {} as IncomingMessage & { user?: string; seen?: string[] };

  it("reads a function, a list of functions, or nothing", () => {
    const f = (_q: IncomingMessage, _s: ServerResponse, next: () => void): void => next();
    assert.equal(httpNodeMiddleware({ httpNodeMiddleware: f }).length, 1);
    assert.equal(httpNodeMiddleware({ httpNodeMiddleware: [f, "not a function", f] }).length, 2);
    assert.deepEqual(httpNodeMiddleware({}), []);
  });

  it("runs each in order, then the route; one that answers ends it there", () => {
    const seen: string[] = [];
    const setUser = (q: IncomingMessage & { user?: string }, _s: ServerResponse, next: () => void): void => {
      q.user = "drsmith";
      seen.push("auth");
      next();
    };
    runMiddleware([setUser], req, response(), () => seen.push(`route as ${req.user ?? "nobody"}`));
    assert.deepEqual(seen, ["auth", "route as drsmith"]);

    const refused: string[] = [];
    const res = response();
    runMiddleware([(_q, s) => void s.writeHead(401).end("no")], req, res, () => refused.push("route"));
    assert.deepEqual(refused, [], "the route never ran");
    assert.equal(res.written.status, 401);
  });

  it("answers 500 without the error's text when one fails or throws, and runs the route once at most", () => {
    for (const failing of [
      (_q: IncomingMessage, _s: ServerResponse, next: (e?: unknown) => void) => next(new Error("token abc")),
      () => {
        throw new Error("token abc");
      },
    ]) {
      const res = response();
      let routes = 0;
      runMiddleware([failing], req, res, () => (routes += 1));
      assert.equal(routes, 0);
      assert.equal(res.written.status, 500);
      assert.doesNotMatch(res.written.body ?? "", /abc/);
    }
    let routes = 0;
    const twice = (_q: IncomingMessage, _s: ServerResponse, next: () => void): void => {
      next();
      next();
    };
    runMiddleware([twice], req, response(), () => (routes += 1));
    assert.equal(routes, 1);
  });
});
