/**
 * The scripts the emulators "recognise" in the pipeline and soak runs: ordinary dictation sentences,
 * laid out to cover `seconds` of session audio, so any session length hears a steady stream of turns.
 */
import { turn, type Fixture } from "../../test/emulators/assemblyai/fixture";
import { scriptedFixture, type TranscriptFixture } from "../../test/emulators/aws/fixture";

const SENTENCES = [
  "Patient denies chest pain today.",
  "No known drug allergies reported.",
  "Blood pressure is within normal limits.",
  "Continue lisinopril ten milligrams daily.",
  "Lungs are clear to auscultation bilaterally.",
  "Follow up in two weeks.",
  "Heart rate regular without murmurs.",
  "Abdomen soft and non tender.",
];

/** AWS: one segment every 2.5 s on average (0.3 s per word, 0.4 s between segments). */
export function awsFixture(seconds: number): TranscriptFixture {
  const sentences: Array<{ text: string }> = [];
  let length = 0.2;
  for (let i = 0; length < seconds; i++) {
    const text = SENTENCES[i % SENTENCES.length];
    sentences.push({ text });
    length += text.split(/\s+/).length * 0.3 + 0.4;
  }
  return scriptedFixture(sentences);
}

/** AssemblyAI: one turn every 2.5 s, each followed by more than the medical min_turn_silence (800 ms). */
export function assemblyAiFixture(seconds: number): Fixture {
  const turns = [];
  for (let i = 0, at = 200; at + 2500 <= seconds * 1000; i++, at += 2500) {
    turns.push(turn(at, SENTENCES[i % SENTENCES.length]));
  }
  return { turns };
}
