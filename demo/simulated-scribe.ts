// The demo's stand-in for AWS HealthScribe (`npm start -- --scribe` without AWS credentials): the
// HealthScribe streaming emulator from the tests, answering any audio with a scripted encounter between a
// clinician and a patient, and writing the clinical note to a local S3 (s3rver) that the scribe node reads.
import { scriptedFixture } from "../test/emulators/aws/fixture";
import { LocalS3, S3RVER_CREDENTIALS } from "../test/emulators/aws-batch/s3";
import { AwsScribeEmulator } from "../test/emulators/aws-scribe/emulator";

/** The encounter the simulated scribe hears, whatever is said: about 12 seconds. */
export const DEMO_ENCOUNTER = [
  { text: "What brings you in today?", channel: 0 as const },
  { text: "I have had chest pain for two days, worse when I climb stairs.", channel: 1 as const },
  { text: "Any shortness of breath?", channel: 0 as const },
  { text: "No, none.", channel: 1 as const },
  { text: "We will start metoprolol and see you again in two weeks.", channel: 0 as const },
];

/** Where the simulated service writes its notes, and the role it "assumes" to write them. */
export const DEMO_SCRIBE_BUCKET = "demo-scribe-notes";
export const DEMO_SCRIBE_ROLE = "arn:aws:iam::111122223333:role/DemoHealthScribeOutput";

export interface SimulatedScribe {
  endpoint: string;
  s3Endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  roleArn: string;
  close(): Promise<void>;
}

export async function startSimulatedScribe(): Promise<SimulatedScribe> {
  const s3 = await new LocalS3([DEMO_SCRIBE_BUCKET]).start();
  const scribe = await new AwsScribeEmulator({
    fixture: scriptedFixture(DEMO_ENCOUNTER),
    clock: "stream",
    analyticsDelayMs: 1500,
    s3: { endpoint: s3.endpoint, credentials: S3RVER_CREDENTIALS },
    credentials: { [S3RVER_CREDENTIALS.accessKeyId]: S3RVER_CREDENTIALS.secretAccessKey },
  }).start();
  return {
    endpoint: scribe.endpoint,
    s3Endpoint: s3.endpoint,
    ...S3RVER_CREDENTIALS,
    bucket: DEMO_SCRIBE_BUCKET,
    roleArn: DEMO_SCRIBE_ROLE,
    close: async () => {
      await scribe.stop();
      await s3.stop();
    },
  };
}
