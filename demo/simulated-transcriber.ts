// The demo's stand-in for the cloud: the local emulators from the tests (AssemblyAI v3 and Amazon
// Transcribe Medical), answering any audio (a microphone, an uploaded recording) with a scripted
// dictation at the pace the audio arrives. Used by `npm start` when no credentials are given.
import { randomBytes } from "node:crypto";
import { turn, type Fixture } from "../test/emulators/assemblyai/fixture";
import { AssemblyAiEmulator } from "../test/emulators/assemblyai/server";
import { AwsTranscribeEmulator, EMULATOR_CREDENTIALS } from "../test/emulators/aws/emulator";
import {
  COMPREHEND_EMULATOR_CREDENTIALS,
  ComprehendMedicalEmulator,
} from "../test/emulators/comprehend/emulator";
import { scriptedFixture } from "../test/emulators/aws/fixture";

export const DEMO_SENTENCES = [
  "Patient reports chest pain radiating to the left arm.",
  "Start metoprolol twenty five milligrams twice daily.",
  "Follow up in two weeks.",
];

/** The dictation, timed like espeak-ng speaking it; one drug name is heard with low confidence. */
export const DEMO_SCRIPT: Fixture = {
  turns: [
    turn(200, DEMO_SENTENCES[0] ?? "", { wordMs: 280, gapMs: 40 }),
    {
      words: turn(3400, DEMO_SENTENCES[1] ?? "", { wordMs: 290, gapMs: 40 }).words.map((w) =>
        w.text === "metoprolol" ? { ...w, confidence: 0.41 } : w,
      ),
    },
    turn(6600, DEMO_SENTENCES[2] ?? "", { wordMs: 240, gapMs: 40 }),
  ],
};

export interface SimulatedServices {
  assemblyai: { url: string; apiKey: string };
  aws: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  /** Amazon Comprehend Medical (entities and codes from a small lexicon), for the medical-entities node. */
  comprehend: { endpoint: string; accessKeyId: string; secretAccessKey: string };
  close(): Promise<void>;
}

export async function startSimulatedServices(): Promise<SimulatedServices> {
  // A throwaway key: the emulator checks it as the real service would.
  const apiKey = `demo-${randomBytes(12).toString("hex")}`;
  const assemblyai = await AssemblyAiEmulator.start({
    fixture: DEMO_SCRIPT,
    apiKeys: [apiKey],
    taggedAudio: false,
    terminationDelayMs: 300,
  });
  const aws = await new AwsTranscribeEmulator({
    fixture: scriptedFixture(DEMO_SENTENCES.map((text) => ({ text }))),
    clock: "stream",
  }).start();
  const comprehend = await new ComprehendMedicalEmulator().start();
  return {
    assemblyai: { url: assemblyai.url, apiKey },
    aws: { endpoint: aws.endpoint, ...EMULATOR_CREDENTIALS },
    comprehend: { endpoint: comprehend.endpoint, ...COMPREHEND_EMULATOR_CREDENTIALS },
    close: async () => {
      await assemblyai.close();
      await aws.stop();
      await comprehend.stop();
    },
  };
}
