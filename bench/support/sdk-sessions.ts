/**
 * The baselines every transcriber bench compares with: the least a script can do with each provider's
 * own SDK for one session. The session-layer benches and the pipeline bench use the same code.
 */
import {
  StartMedicalStreamTranscriptionCommand,
  type AudioStream,
  type MedicalResult,
  type TranscribeStreamingClient,
} from "@aws-sdk/client-transcribe-streaming";
import { StreamingTranscriber, type TurnEvent } from "assemblyai";
import { MEDICAL_DEFAULTS } from "../../src/providers/assemblyai/params";
import { checkMedicalParams, type MedicalParams } from "../../src/providers/aws/params";

/** What every AWS bench asks for, the node's session layer and the SDK script alike. */
export const AWS_REQUEST = { specialty: "PRIMARYCARE", type: "CONVERSATION" } as const;

/** The node's parameters for that request, 16-bit PCM at `sampleRate`. */
export function awsMedicalParams(sampleRate: number): MedicalParams {
  const c = checkMedicalParams({ ...AWS_REQUEST, sampleRate, mediaEncoding: "pcm" });
  if (!c.ok) throw c.error;
  return c.value;
}

/** One client session under test: ready once it can stream; chunks in, results out through callbacks. */
export interface Runner {
  ready: Promise<void>;
  push(chunk: Buffer): void;
  end(): Promise<void>;
}

/** AWS: a queue feeding the SDK's audio iterable, and a loop over the results. */
export function awsSdkSession(
  client: TranscribeStreamingClient,
  sampleRate: number,
  onResult: (r: MedicalResult) => void,
): Runner {
  const queue: Buffer[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  async function* audio(): AsyncGenerator<AudioStream> {
    for (;;) {
      const c = queue.shift();
      if (c) yield { AudioEvent: { AudioChunk: c } };
      else if (ended) return;
      else await new Promise<void>((r) => (wake = r));
    }
  }
  const done = (async () => {
    const res = await client.send(
      new StartMedicalStreamTranscriptionCommand({
        LanguageCode: "en-US",
        MediaSampleRateHertz: sampleRate,
        MediaEncoding: "pcm",
        Specialty: AWS_REQUEST.specialty,
        Type: AWS_REQUEST.type,
        AudioStream: audio(),
      }),
    );
    for await (const ev of res.TranscriptResultStream ?? []) {
      for (const r of ev.TranscriptEvent?.Transcript?.Results ?? []) onResult(r);
    }
  })();
  return {
    ready: Promise.resolve(),
    push: (c) => {
      queue.push(c);
      wake?.();
    },
    end: () => {
      ended = true;
      wake?.();
      return done;
    },
  };
}

/**
 * AssemblyAI: the official SDK's StreamingTranscriber with the Medical Mode defaults: connect,
 * sendAudio each chunk (held until the connection is open, as the SDK refuses audio before), close.
 */
export function assemblyAiSdkSession(
  url: string,
  apiKey: string,
  onTurn: (turn: TurnEvent) => void,
  onError: (err: Error) => void,
): Runner {
  const t = new StreamingTranscriber({
    websocketBaseUrl: url,
    apiKey,
    sampleRate: MEDICAL_DEFAULTS.sample_rate,
    encoding: "pcm_s16le",
    speechModel: "u3-rt-pro",
    domain: "medical-v1",
    minTurnSilence: MEDICAL_DEFAULTS.min_turn_silence,
    maxTurnSilence: MEDICAL_DEFAULTS.max_turn_silence,
    // The SDK's 1 s default is too short for hundreds of TLS handshakes at once; the node waits 10 s.
    connectTimeout: 10000,
  });
  t.on("turn", onTurn);
  t.on("error", onError);
  let open = false;
  const held: Buffer[] = [];
  // The SDK takes an ArrayBuffer. A chunk made with Buffer.alloc owns its ArrayBuffer: no copy needed.
  const send = (c: Buffer): void =>
    t.sendAudio(
      c.byteLength === c.buffer.byteLength ? c.buffer : c.buffer.slice(c.byteOffset, c.byteOffset + c.length),
    );
  const ready = t.connect().then(() => {
    open = true;
    for (const c of held.splice(0)) send(c);
  });
  return {
    ready,
    push: (c) => (open ? send(c) : void held.push(c)),
    end: async () => {
      await ready;
      await t.close();
    },
  };
}
