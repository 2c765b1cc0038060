/**
 * The package's own session layers, as the transcriber nodes run them per session, without Node-RED:
 * AWS (src/providers/aws/session.ts, one client per thread as one config node gives) and AssemblyAI
 * (src/providers/assemblyai/session.ts, Medical Mode defaults). bench/workers.ts runs them in the
 * measuring thread and, through ./session-pool.ts, in worker threads: the same code both ways.
 */
import { createTranscribeClient, createWebSocketTransport } from "../../src/providers/aws/client";
import { medicalService } from "../../src/providers/aws/service";
import { AwsStreamSession } from "../../src/providers/aws/session";
import { connectionUrl, MEDICAL_DEFAULTS } from "../../src/providers/assemblyai/params";
import { AssemblyAiSession } from "../../src/providers/assemblyai/session";
import type { TranscriptResult } from "../../src/transcript/result";
import { realScheduler } from "../../src/util/scheduler";
import { ASSEMBLYAI_KEY, EMULATOR_CREDENTIALS, type Provider } from "./emulator-process";
import { awsMedicalParams } from "./sdk-sessions";
import { RATE } from "./tagged-audio";

/** Where the emulator listens: structured-clonable, so a worker gets it as workerData. */
export interface LayerTarget {
  provider: Provider;
  url: string;
}

/** A final's session (1-based) and the start (ms) of each of its words. */
export type OnFinal = (session: number, wordStartsMs: number[]) => void;

export interface LayerSession {
  push(chunk: Buffer): void;
  /** Ends the session; resolves once it has ended (its last finals delivered). */
  end(): Promise<void>;
}

/** Opens sessions of one provider; `close` releases what the sessions shared (the AWS client). */
export interface LayerFactory {
  open(session: number, onFinal: OnFinal): LayerSession;
  close(): void;
}

const wordStarts = (r: TranscriptResult): number[] =>
  r.words.filter((w) => w.kind === "word").map((w) => Math.round(w.startTime * 1000));

export function layerFactory(target: LayerTarget): LayerFactory {
  if (target.provider === "aws") {
    const settings = {
      region: "us-east-1",
      endpoint: target.url,
      credentials: EMULATOR_CREDENTIALS,
      transport: "http2" as const,
      problems: [],
    };
    const client = createTranscribeClient(settings);
    const websocket = createWebSocketTransport(client, settings);
    const params = awsMedicalParams(RATE);
    return {
      open: (session, onFinal) => {
        const s = new AwsStreamSession({
          sessionId: `s${session}`,
          service: medicalService(client, params, websocket),
          scheduler: realScheduler,
          handlers: {
            result: (r) => void (r.isFinal && onFinal(session, wordStarts(r))),
            event: () => undefined,
          },
        });
        return { push: (c) => void s.push(c), end: () => s.end() };
      },
      close: () => client.destroy(),
    };
  }
  return {
    open: (session, onFinal) => {
      const s = new AssemblyAiSession(
        {
          sessionId: `s${session}`,
          url: connectionUrl(target.url, MEDICAL_DEFAULTS),
          apiKey: ASSEMBLYAI_KEY,
          params: MEDICAL_DEFAULTS,
        },
        {
          result: (r) => void (r.isFinal && onFinal(session, wordStarts(r))),
          event: () => undefined,
        },
      );
      s.start();
      return { push: (c) => void s.write(c), end: () => s.end() };
    },
    close: () => undefined,
  };
}
