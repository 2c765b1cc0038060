/**
 * A pool of worker threads that run the package's session layers (./layer-sessions.ts): each session
 * lives in one worker (session n in worker n mod K) with its provider connection, signing, framing,
 * socket work and result parsing; the thread that owns the pool only hands audio over and gets
 * finals back. This is the adapter issue #23 asks to measure (bench/workers.ts), kept in bench/: it did
 * not pay on the development machine (docs/performance.md, "Worker threads").
 *
 * Messages, batched per turn of the event loop (one postMessage per worker and turn, each way):
 * - to a worker: sessions to open, audio as [session, ArrayBuffer] with the buffers transferred (no
 *   copy when a chunk owns its ArrayBuffer, as a new Buffer.alloc chunk does), sessions to end;
 * - from a worker: finals as [session, word starts ms], and the sessions that have ended.
 *
 * Loading: the worker runs this same .ts file. A worker inherits the parent's execArgv, so a process
 * started with `node --require tsx/cjs` (as the benches fork their measured processes) loads it; under
 * `npx tsx` (tsx's ESM loader) a worker fails with "Unknown file extension .ts". A production pool would
 * run the compiled dist/ file instead.
 */
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { layerFactory, type LayerSession, type LayerTarget, type OnFinal } from "./layer-sessions";

interface ToWorker {
  open: number[];
  audio: Array<[number, ArrayBuffer]>;
  end: number[];
}

interface FromWorker {
  /** Sent once, when the worker has loaded the session layer and is ready for sessions. */
  ready?: true;
  finals: Array<[number, number[]]>;
  ended: number[];
  errors: string[];
}

interface PoolWorkerData {
  sessionPoolTarget: LayerTarget;
}

const emptyBatch = (): ToWorker => ({ open: [], audio: [], end: [] });

/** The ArrayBuffer to transfer for a chunk: its own when it has one to itself, else a copy. */
function transferable(chunk: Buffer): ArrayBuffer {
  const ab = chunk.buffer as ArrayBuffer;
  return chunk.byteOffset === 0 && chunk.byteLength === ab.byteLength
    ? ab
    : ab.slice(chunk.byteOffset, chunk.byteOffset + chunk.byteLength);
}

export class SessionPool {
  private readonly workers: Array<{ worker: Worker; batch: ToWorker; transfer: ArrayBuffer[] }>;
  private readonly waiting = new Map<number, () => void>();
  private flushing = false;
  readonly errors: string[] = [];
  /**
   * Resolves once every worker has loaded its modules: a pool would start with the flow, not with a
   * session, so the bench starts measuring after this (the first run without it had seconds of lag).
   */
  readonly ready: Promise<void>;

  constructor(target: LayerTarget, size: number, onFinal: OnFinal) {
    const started: Array<Promise<void>> = [];
    this.workers = Array.from({ length: size }, () => {
      const worker = new Worker(__filename, {
        workerData: { sessionPoolTarget: target } satisfies PoolWorkerData,
        execArgv: ["--require", "tsx/cjs"],
      });
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.once("message", () => resolve());
          worker.once("error", reject);
        }),
      );
      worker.on("message", (m: FromWorker) => {
        for (const [session, words] of m.finals) onFinal(session, words);
        for (const session of m.ended) this.settle(session);
        this.errors.push(...m.errors);
      });
      // A worker that dies ends its sessions here with an error; the bench reports it.
      worker.on("error", (err) => this.errors.push(`worker: ${err.message}`));
      return { worker, batch: emptyBatch(), transfer: [] };
    });
    this.ready = Promise.all(started).then(() => undefined);
  }

  open(session: number): LayerSession {
    const w = this.workers[session % this.workers.length];
    this.queue(w).open.push(session);
    return {
      push: (chunk) => {
        const ab = transferable(chunk);
        this.queue(w).audio.push([session, ab]);
        w.transfer.push(ab);
      },
      end: () =>
        new Promise<void>((resolve) => {
          this.waiting.set(session, resolve);
          this.queue(w).end.push(session);
        }),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  private settle(session: number): void {
    this.waiting.get(session)?.();
    this.waiting.delete(session);
  }

  /** The worker's batch for this turn, and a flush at the end of the turn. */
  private queue(w: (typeof this.workers)[number]): ToWorker {
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return w.batch;
  }

  private flush(): void {
    this.flushing = false;
    for (const w of this.workers) {
      const { batch, transfer } = w;
      if (batch.open.length + batch.audio.length + batch.end.length === 0) continue;
      w.batch = emptyBatch();
      w.transfer = [];
      w.worker.postMessage(batch, transfer);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// The worker.

function serveWorker(target: LayerTarget): void {
  const port = parentPort;
  if (!port) return;
  const factory = layerFactory(target);
  const sessions = new Map<number, LayerSession>();
  let out: FromWorker = { finals: [], ended: [], errors: [] };
  let flushing = false;
  const queue = (): FromWorker => {
    if (!flushing) {
      flushing = true;
      setImmediate(() => {
        flushing = false;
        const batch = out;
        out = { finals: [], ended: [], errors: [] };
        port.postMessage(batch);
      });
    }
    return out;
  };
  const onFinal: OnFinal = (session, words) => void queue().finals.push([session, words]);
  port.postMessage({ ready: true, finals: [], ended: [], errors: [] } satisfies FromWorker);
  port.on("message", (m: ToWorker) => {
    for (const session of m.open) sessions.set(session, factory.open(session, onFinal));
    for (const [session, ab] of m.audio) sessions.get(session)?.push(Buffer.from(ab));
    for (const session of m.end) {
      const s = sessions.get(session);
      sessions.delete(session);
      void (s?.end() ?? Promise.resolve()).then(
        () => void queue().ended.push(session),
        (err: Error) => {
          queue().errors.push(`session ${session}: ${err.message}`);
          queue().ended.push(session);
        },
      );
    }
  });
}

if (!isMainThread) {
  const data = workerData as Partial<PoolWorkerData> | undefined;
  if (data?.sessionPoolTarget) serveWorker(data.sessionPoolTarget);
}
