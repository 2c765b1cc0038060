/**
 * The flow the pipeline bench and the soak run: audio-in → transcriber → filter-final → confidence-gate,
 * for one provider, with junctions at the edges so audio enters and results leave through Node-RED's
 * own router: "src" (audio in), "out" (both gate outputs), "events" (the transcriber's session events)
 * and "errors" (a Catch node for the tab).
 */
import { ASSEMBLYAI_KEY, EMULATOR_CREDENTIALS, type Provider } from "./emulator-process";
import { AWS_REQUEST } from "./sdk-sessions";
import type { FlowNode } from "./node-red";
import { RATE } from "./tagged-audio";

export interface PipelineOptions {
  provider: Provider;
  /** The emulator's endpoint (AWS) or URL (AssemblyAI). */
  endpoint: string;
  /** Prefix for every id, so several pipelines fit in one deployment. */
  prefix?: string;
  /** Extra settings for the transcriber node (timings for fault runs). */
  transcriber?: Record<string, unknown>;
  /** Also wire audio-in's output to a second node (as a debug or recording tap would be). */
  audioTap?: boolean;
  /** Leave audio-in out: the source feeds the transcriber directly (to measure what audio-in costs). */
  withoutAudioIn?: boolean;
}

/** Ids of the edge nodes of a pipeline. */
export const edges = (prefix = ""): { src: string; out: string; events: string; errors: string } => ({
  src: `${prefix}src`,
  out: `${prefix}out`,
  events: `${prefix}events`,
  errors: `${prefix}errors`,
});

/** The transcriber and its config node; every setting not given keeps the node's default. */
function transcriberNodes(o: PipelineOptions, id: string, next: string, events: string): FlowNode[] {
  const p = o.prefix ?? "";
  // The benches run hundreds of sessions through one node: above the nodes' default session limits.
  const common = { id, wires: [[next], [events]], maxSessions: 1000, ...o.transcriber };
  if (o.provider === "aws") {
    const config = `${p}aws-config`;
    return [
      {
        id: config,
        type: "aws-transcribe-config",
        region: "us-east-1",
        endpoint: o.endpoint,
        credentials: { ...EMULATOR_CREDENTIALS },
      },
      {
        type: "transcribe-medical",
        aws: config,
        specialty: AWS_REQUEST.specialty,
        medicalType: AWS_REQUEST.type,
        sampleRate: RATE,
        mediaEncoding: "pcm",
        ...common,
      },
    ];
  }
  const config = `${p}aai-config`;
  return [
    {
      id: config,
      type: "assemblyai-config",
      region: "us",
      endpoint: o.endpoint,
      credentials: { apiKey: ASSEMBLYAI_KEY },
    },
    // Medical Mode, u3-rt-pro, 16 kHz s16le, 100 ms frames: the node's defaults.
    { type: "assemblyai-medical", config, ...common },
  ];
}

export function pipelineFlow(o: PipelineOptions): FlowNode[] {
  const p = o.prefix ?? "";
  const z = `${p}tab`;
  const e = edges(p);
  const ids = {
    audioIn: `${p}audio-in`,
    transcriber: `${p}transcriber`,
    filter: `${p}filter`,
    gate: `${p}gate`,
  };
  const junction = (id: string, wires: string[][]): FlowNode => ({
    id,
    type: "junction",
    z,
    x: 0,
    y: 0,
    wires,
  });
  const flowNodes: FlowNode[] = [
    junction(e.src, [[o.withoutAudioIn ? ids.transcriber : ids.audioIn]]),
    {
      id: ids.audioIn,
      type: "audio-in",
      sampleRate: String(RATE),
      channels: "mono",
      frameMs: 100,
      pace: "realtime",
      maxSessions: 100_000,
      rawRate: RATE,
      rawEncoding: "s16le",
      rawChannels: "1",
      wires: [o.audioTap ? [ids.transcriber, `${p}audio-tap`] : [ids.transcriber]],
    },
    ...(o.audioTap ? [junction(`${p}audio-tap`, [])] : []),
    ...transcriberNodes(o, ids.transcriber, ids.filter, e.events),
    {
      id: ids.filter,
      type: "filter-final",
      partials: "drop",
      partialIntervalMs: 250,
      dropEmpty: true,
      wires: [[ids.gate]],
    },
    {
      id: ids.gate,
      type: "confidence-gate",
      mode: "min",
      threshold: "0.85",
      thresholdType: "num",
      maxLowShare: "0.1",
      wires: [[e.out], [e.out]],
    },
    junction(e.out, []),
    junction(e.events, []),
    { id: `${p}catch`, type: "catch", name: "", scope: null, uncaught: false, wires: [[e.errors]] },
    junction(e.errors, []),
  ];
  return [
    { id: z, type: "tab", label: `${o.provider} pipeline` },
    // Flow nodes sit on the tab; config nodes (no position) stay global.
    ...flowNodes.map((n) => (n.type.endsWith("-config") ? n : { z, x: 0, y: 0, ...n })),
  ];
}
