/**
 * Runs the AWS emulator in its own process (for benchmarks: its CPU must not count as the
 * client's). Started with fork(); it sends {port}, answers "report" with what each stream
 * received and sent (times only, no audio), and exits on "stop".
 */
import { AwsTranscribeEmulator } from "./emulator";
import { scriptedFixture } from "./fixture";

interface StreamTimes {
  /** [first two samples of the chunk, arrival time] per audio event. */
  audio: Array<[number, number, number]>;
  /** [ResultId, IsPartial, transcript, time] per non-empty event. */
  results: Array<[string, boolean, string, number]>;
}

interface EventBody {
  Transcript?: {
    Results?: Array<{
      ResultId?: string;
      IsPartial?: boolean;
      Alternatives?: Array<{ Transcript?: string }>;
    }>;
  };
}

async function main(): Promise<void> {
  const emu = await new AwsTranscribeEmulator({
    fixture: scriptedFixture([
      { text: "Patient denies chest pain." },
      { text: "No known drug allergies." },
      { text: "Blood pressure is normal." },
      { text: "Follow up in two weeks." },
    ]),
    maxConcurrentStreams: 10_000,
  }).start();
  process.send?.({ port: emu.port });
  process.on("message", (msg: unknown) => {
    if (msg === "report") {
      const streams: StreamTimes[] = emu.streams.map((s) => ({
        audio: s.audio.map((a, i) => [
          a.length >= 4 ? a.readInt16LE(0) : 0,
          a.length >= 4 ? a.readInt16LE(2) : 0,
          s.audioAt[i] ?? 0,
        ]),
        results: s.events.flatMap((e, i) =>
          ((e as EventBody).Transcript?.Results ?? []).map((r): [string, boolean, string, number] => [
            r.ResultId ?? "",
            r.IsPartial === true,
            r.Alternatives?.[0]?.Transcript ?? "",
            s.eventsAt[i] ?? 0,
          ]),
        ),
      }));
      emu.streams.length = 0;
      process.send?.({ streams });
    } else if (msg === "stop") {
      void emu.stop().then(() => process.exit(0));
    }
  });
}

void main();
