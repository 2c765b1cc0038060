import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseAuthorization } from "../aws/signing";
import { findPhi, findTerms, type FoundTerm } from "./lexicon";

/**
 * An emulator of the Amazon Comprehend Medical JSON API (awsJson1_1): `POST /` with
 * `x-amz-target: ComprehendMedical_20181030.<Operation>` and `content-type: application/x-amz-json-1.1`,
 * signed with SigV4 (service `comprehendmedical`). Operations: DetectEntitiesV2, DetectPHI,
 * InferICD10CM, InferRxNorm, InferSNOMEDCT.
 *
 * Documented (API reference and the service model shipped in @aws-sdk/client-comprehendmedical):
 * - Text limits: DetectEntitiesV2 and DetectPHI "fewer than 20,000 bytes", length 1..20000; the infer
 *   operations 1..10000 characters. Offsets count code points.
 * - Exception names and HTTP statuses from the model: InvalidRequestException 400,
 *   InvalidEncodingException 400, TextSizeLimitExceededException 400, ValidationException 400,
 *   TooManyRequestsException 429, InternalServerException 500, ServiceUnavailableException 503.
 *
 * NOT verified against the real service (written from the documentation, not observed):
 * - which exception a length violation gets: here an empty or missing Text and an infer text over
 *   10,000 characters are ValidationException (as the JSON protocol's constraint check), a detect text
 *   of 20,000 bytes or more TextSizeLimitExceededException;
 * - the message texts (the InvalidEncodingException text here quotes the start of the text, as a
 *   service might: the client must never pass a service message on);
 * - ModelVersion values and the SNOMEDCTDetails edition/version.
 */

export const COMPREHEND_EMULATOR_CREDENTIALS = {
  accessKeyId: "AKIDCOMPREHENDEMU001",
  secretAccessKey: "ZZ-SECRET-MARKER-comprehend-emulator",
};

export interface ComprehendEmulatorOptions {
  /** Accepted credentials: access key id → secret (default: COMPREHEND_EMULATOR_CREDENTIALS). */
  credentials?: Record<string, string>;
  /** Access key ids whose signature is good but which may not call the service. */
  denied?: string[];
  region?: string;
  /** Asked for each request the fault queue does not answer: a fault to answer, or null (for fuzzing). */
  randomFault?: () => InjectedFault | null;
}

/** A fault answered instead of the next request(s). */
export interface InjectedFault {
  type: string;
  status: number;
  message?: string;
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TARGET_PREFIX = "ComprehendMedical_20181030.";
const OPERATIONS = new Set(["DetectEntitiesV2", "DetectPHI", "InferICD10CM", "InferRxNorm", "InferSNOMEDCT"]);
const INFER_MAX_CHARS = 10_000;
const DETECT_MAX_BYTES = 20_000;

export const THROTTLE_TEXT =
  "You have made too many requests within a short period of time. Wait for a short time and then try your request again.";

function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export class ComprehendMedicalEmulator {
  /** Every operation received after authentication, in order, with the length of its text. */
  readonly calls: Array<{ op: string; chars: number; bytes: number }> = [];
  /** Faults answered, in order, instead of the next requests. */
  readonly faults: InjectedFault[] = [];
  /** Delays the answer of each request (ms): for timeouts and concurrency. */
  delayMs = 0;
  /** Requests being answered now, and the most at once. */
  inFlight = 0;
  maxInFlight = 0;
  private server: Server | null = null;
  private readonly credentials: Record<string, string>;
  private readonly region: string;

  constructor(private readonly opts: ComprehendEmulatorOptions = {}) {
    this.credentials = opts.credentials ?? {
      [COMPREHEND_EMULATOR_CREDENTIALS.accessKeyId]: COMPREHEND_EMULATOR_CREDENTIALS.secretAccessKey,
    };
    this.region = opts.region ?? "us-east-1";
  }

  get endpoint(): string {
    const addr = this.server?.address() as AddressInfo | null;
    if (!addr) throw new Error("emulator not started");
    return `http://127.0.0.1:${addr.port}`;
  }

  /** The next `n` requests are throttled (TooManyRequestsException, HTTP 429). */
  throttle(n: number): void {
    for (let i = 0; i < n; i++)
      this.faults.push({ type: "TooManyRequestsException", status: 429, message: THROTTLE_TEXT });
  }

  /** The next request fails with `type` and `status` (e.g. InternalServerException 500). */
  fail(
    type: string,
    status: number,
    message = "An internal server error occurred. Retry your request.",
  ): void {
    this.faults.push({ type, status, message });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const reply = (status: number, body: unknown, type?: string): void => {
      if (res.destroyed) return;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/x-amz-json-1.1",
        "content-length": Buffer.byteLength(text),
        "x-amzn-requestid": `emu-${Date.now().toString(36)}`,
        ...(type ? { "x-amzn-errortype": type } : {}),
      });
      res.end(text);
    };
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (req.method !== "POST" || (req.url ?? "/") !== "/") {
        throw new ApiError("UnknownOperationException", 404, "Unknown operation");
      }
      await this.authenticate(req, raw);
      const target = String(req.headers["x-amz-target"] ?? "");
      const op = target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : "";
      if (!OPERATIONS.has(op)) throw new ApiError("UnknownOperationException", 400, "Unknown operation");
      if (!String(req.headers["content-type"] ?? "").startsWith("application/x-amz-json-1.1")) {
        throw new ApiError("SerializationException", 400, "Unexpected content type");
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
      } catch {
        throw new ApiError("SerializationException", 400, "The request body is not valid JSON");
      }
      const key = /Credential=([^/]+)/.exec(req.headers.authorization ?? "")?.[1] ?? "";
      if (this.opts.denied?.includes(key)) {
        throw new ApiError(
          "AccessDeniedException",
          400,
          `User: arn:aws:iam::111122223333:user/emulator is not authorized to perform: comprehendmedical:${op}`,
        );
      }
      const text = body.Text;
      this.calls.push({
        op,
        chars: typeof text === "string" ? codePointLength(text) : 0,
        bytes: typeof text === "string" ? Buffer.byteLength(text) : 0,
      });
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      const fault = this.faults.shift() ?? this.opts.randomFault?.() ?? undefined;
      if (fault) throw new ApiError(fault.type, fault.status, fault.message ?? fault.type);
      reply(200, this.answer(op, this.validate(op, text)));
    } catch (err) {
      if (err instanceof ApiError) reply(err.status, { __type: err.type, message: err.message }, err.type);
      else
        reply(
          500,
          { __type: "InternalServerException", message: "An internal server error occurred." },
          "InternalServerException",
        );
    } finally {
      this.inFlight--;
    }
  }

  /** The service's checks of Text, with its exception names. */
  private validate(op: string, text: unknown): string {
    if (typeof text !== "string") {
      throw new ApiError(
        "ValidationException",
        400,
        "1 validation error detected: Value null at 'text' failed to satisfy constraint: Member must not be null",
      );
    }
    if (text.length === 0) {
      throw new ApiError(
        "ValidationException",
        400,
        "1 validation error detected: Value at 'text' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    if (LONE_SURROGATE.test(text)) {
      // A service message that quotes the text: the client must not pass it on.
      throw new ApiError("InvalidEncodingException", 400, `Invalid UTF-8 near: ${text.slice(0, 40)}`);
    }
    if (op.startsWith("Infer") && codePointLength(text) > INFER_MAX_CHARS) {
      throw new ApiError(
        "ValidationException",
        400,
        `1 validation error detected: Value at 'text' failed to satisfy constraint: Member must have length less than or equal to ${INFER_MAX_CHARS}`,
      );
    }
    if (op.startsWith("Detect") && Buffer.byteLength(text, "utf8") >= DETECT_MAX_BYTES) {
      throw new ApiError(
        "TextSizeLimitExceededException",
        400,
        "The size of the text you submitted exceeds the size limit. Reduce the size of the text or use a smaller document and then retry your request.",
      );
    }
    return text;
  }

  private answer(op: string, text: string): Record<string, unknown> {
    let id = 0;
    const traitsOf = (t: FoundTerm): Array<{ Name: string; Score: number }> => [
      ...(t.term.trait ? [{ Name: t.term.trait, Score: 0.8 }] : []),
      ...(t.negated ? [{ Name: "NEGATION", Score: 0.95 }] : []),
    ];
    const termEntity = (t: FoundTerm, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      Id: id++,
      BeginOffset: t.begin,
      EndOffset: t.end,
      Score: 0.97,
      Text: t.text,
      Category: t.term.category,
      Type: t.term.type,
      Traits: traitsOf(t),
      ...(t.attributes.length > 0
        ? {
            Attributes: t.attributes.map((a) => ({
              Type: a.type,
              Score: 0.9,
              RelationshipScore: 0.99,
              RelationshipType: a.type,
              Id: id++,
              BeginOffset: a.begin,
              EndOffset: a.end,
              Text: a.text,
              Category: "MEDICATION",
              Traits: [],
            })),
          }
        : {}),
      ...extra,
    });
    const phi = (): Array<Record<string, unknown>> =>
      findPhi(text).map((p) => ({
        Id: id++,
        BeginOffset: p.begin,
        EndOffset: p.end,
        Score: 0.99,
        Text: p.text,
        Category: "PROTECTED_HEALTH_INFORMATION",
        Type: p.type,
        Traits: [],
      }));
    const terms = findTerms(text);
    const concept = (c: { code: string; description: string }): Record<string, unknown> => ({
      Code: c.code,
      Description: c.description,
      Score: 0.9,
    });
    switch (op) {
      case "DetectEntitiesV2":
        return {
          Entities: [...terms.map((t) => termEntity(t)), ...phi()].sort(
            (a, b) => (a.BeginOffset as number) - (b.BeginOffset as number),
          ),
          UnmappedAttributes: [],
          ModelVersion: "2.4.0",
        };
      case "DetectPHI":
        return { Entities: phi(), ModelVersion: "0.1.0" };
      case "InferICD10CM":
        return {
          Entities: terms
            .filter((t) => t.term.icd10cm)
            .map((t) =>
              termEntity(t, { ICD10CMConcepts: [concept(t.term.icd10cm ?? { code: "", description: "" })] }),
            ),
          ModelVersion: "0.1.0",
        };
      case "InferRxNorm":
        return {
          Entities: terms
            .filter((t) => t.term.rxnorm)
            .map((t) =>
              termEntity(t, { RxNormConcepts: [concept(t.term.rxnorm ?? { code: "", description: "" })] }),
            ),
          ModelVersion: "0.1.0",
        };
      default:
        return {
          Entities: terms
            .filter((t) => t.term.snomedct)
            .map((t) =>
              termEntity(t, {
                SNOMEDCTConcepts: [concept(t.term.snomedct ?? { code: "", description: "" })],
              }),
            ),
          SNOMEDCTDetails: { Edition: "US", Language: "en", VersionDate: "20230901" },
          Characters: { OriginalTextCharacters: codePointLength(text) },
          ModelVersion: "0.1.0",
        };
    }
  }

  /** SigV4: a known access key, the service's scope, and a signature that matches the request. */
  private async authenticate(req: IncomingMessage, body: Buffer): Promise<void> {
    const auth = parseAuthorization(req.headers.authorization);
    if (!auth) throw new ApiError("MissingAuthenticationTokenException", 400, "Missing Authentication Token");
    const secret = this.credentials[auth.accessKeyId];
    if (secret === undefined) {
      throw new ApiError(
        "UnrecognizedClientException",
        400,
        "The security token included in the request is invalid.",
      );
    }
    if (auth.service !== "comprehendmedical" || auth.region !== this.region) {
      throw new ApiError(
        "InvalidSignatureException",
        400,
        `Credential should be scoped to a valid region and to the correct service: 'comprehendmedical'.`,
      );
    }
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(String(req.headers["x-amz-date"] ?? ""));
    const headers: Record<string, string> = {};
    for (const name of auth.signedHeaders) {
      const v = req.headers[name];
      if (v !== undefined) headers[name] = Array.isArray(v) ? v.join(",") : v;
    }
    let ok = false;
    if (m) {
      const [, y, mo, d, h, mi, s] = m.map(Number);
      const date = new Date(Date.UTC(y ?? 0, (mo ?? 1) - 1, d ?? 1, h ?? 0, mi ?? 0, s ?? 0));
      const signer = new SignatureV4({
        service: auth.service,
        region: auth.region,
        credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
        sha256: Sha256,
      });
      const signed = await signer.sign(
        {
          method: req.method ?? "POST",
          protocol: "http:",
          hostname: String(req.headers.host ?? "").replace(/:\d+$/, ""),
          path: req.url ?? "/",
          query: {},
          headers,
          body,
        },
        { signingDate: date },
      );
      ok = parseAuthorization(String(signed.headers.authorization))?.signature === auth.signature;
    }
    if (!ok) {
      throw new ApiError(
        "InvalidSignatureException",
        400,
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
      );
    }
  }
}
