import type {
  AudioStream,
  MedicalScribeInputStream,
  MedicalScribeResultStream,
} from "@aws-sdk/client-transcribe-streaming";
import { strict as assert } from "node:assert";
import { checkScribeParams, type ScribeParams } from "../../../../src/providers/aws-scribe/params";
import { asResultEvents, scribeInput } from "../../../../src/providers/aws-scribe/service";
import type { StreamService } from "../../../../src/providers/aws/service";
import { AwsStreamSession, type SessionEvent } from "../../../../src/providers/aws/session";
import type { TranscriptResult } from "../../../../src/transcript/result";
import { realScheduler } from "../../../../src/util/scheduler";
import { assertTranscriptResult } from "../../../support/contract";

// The streaming session driving HealthScribe's input and result streams through the scribe adapter,
// against an in-memory service that answers one final per second of audio it hears (named by the
// sample value the test wrote into that second) and can drop a stream mid-way.

const RATE = 16000;
const BYTES_PER_SECOND = RATE * 2;

function params(): ScribeParams {
  const c = checkScribeParams({
    template: "HISTORY_AND_PHYSICAL",
    channelLayout: "diarize",
    outputBucket: "notes-bucket",
    roleArn: "arn:aws:iam::111122223333:role/HealthScribe",
    sampleRate: RATE,
    mediaEncoding: "pcm",
  });
  assert.ok(c.ok);
  return c.value;
}

/** 100 ms of audio of session second `second`: every sample holds the second's number. */
function chunk(second: number): Buffer {
  const b = Buffer.alloc(BYTES_PER_SECOND / 10);
  for (let i = 0; i < b.length; i += 2) b.writeInt16LE(second + 1, i);
  return b;
}

interface StreamRecord {
  sessionId: string;
  events: MedicalScribeInputStream[];
}

/** An async queue of result events. */
class Results implements AsyncIterable<MedicalScribeResultStream> {
  private items: Array<MedicalScribeResultStream | Error | null> = [];
  private waiting: (() => void) | undefined;
  push(item: MedicalScribeResultStream | Error | null): void {
    this.items.push(item);
    this.waiting?.();
  }
  async *[Symbol.asyncIterator](): AsyncIterator<MedicalScribeResultStream> {
    for (;;) {
      const item = this.items.shift();
      if (item === undefined) {
        await new Promise<void>((r) => (this.waiting = r));
        continue;
      }
      if (item === null) return;
      if (item instanceof Error) throw item;
      yield item;
    }
  }
}

/** The in-memory service: `dropAfterSeconds[n]` cuts stream n after that much of its audio. */
function fakeService(
  p: ScribeParams,
  streams: StreamRecord[],
  dropAfterSeconds: number[],
  dropError: () => Error,
): StreamService {
  return {
    format: p,
    mapping: { provider: "aws-healthscribe", language: "en-US", entityCategory: "PHI" },
    resumesSession: true,
    open: (audio: AsyncIterable<AudioStream>, awsSessionId, _signal, endsSession) => {
      const record: StreamRecord = { sessionId: awsSessionId, events: [] };
      const n = streams.push(record) - 1;
      const results = new Results();
      const drop = dropAfterSeconds[n];
      void (async () => {
        let heard = Buffer.alloc(0);
        let said = 0;
        const say = (upTo: number): void => {
          while (said < upTo) {
            const label = heard.readInt16LE(said * BYTES_PER_SECOND) - 1;
            results.push({
              TranscriptEvent: {
                TranscriptSegment: {
                  SegmentId: `seg-${n}-${said}`,
                  BeginAudioTime: said * 1000,
                  EndAudioTime: said * 1000 + 1000,
                  Content: `second ${label}`,
                  IsPartial: false,
                  Items: [
                    {
                      Type: "pronunciation",
                      Content: `s${label}`,
                      BeginAudioTime: said * 1000,
                      EndAudioTime: said * 1000 + 1000,
                      Confidence: 0.9,
                    },
                  ],
                },
              },
            });
            said++;
          }
        };
        for await (const event of scribeInput(p, audio, endsSession)) {
          record.events.push(event);
          const bytes = event.AudioEvent?.AudioChunk;
          if (!bytes) continue;
          heard = Buffer.concat([heard, Buffer.from(bytes)]);
          const seconds = Math.floor(heard.length / BYTES_PER_SECOND);
          if (drop !== undefined && seconds >= drop) {
            results.push(dropError());
            return;
          }
          say(seconds);
        }
        say(Math.floor(heard.length / BYTES_PER_SECOND));
        results.push(null);
      })();
      return Promise.resolve(asResultEvents(results, p.channelRoles));
    },
  };
}

const reset = (): Error => new Error("socket hang up ECONNRESET");

function run(
  dropAfterSeconds: number[],
  dropError = reset,
): {
  session: AwsStreamSession;
  streams: StreamRecord[];
  results: TranscriptResult[];
  events: SessionEvent[];
} {
  const p = params();
  const streams: StreamRecord[] = [];
  const results: TranscriptResult[] = [];
  const events: SessionEvent[] = [];
  const session = new AwsStreamSession({
    sessionId: "encounter-1",
    service: fakeService(p, streams, dropAfterSeconds, dropError),
    scheduler: realScheduler,
    tuning: {
      backoffBaseMs: 10,
      backoffMaxMs: 20,
      replaySpeed: 10,
      replayBurstSeconds: 30,
      speechStallMs: 0,
    },
    handlers: { result: (r) => results.push(r), event: (e) => events.push(e) },
  });
  return { session, streams, results, events };
}

const kinds = (r: StreamRecord): string[] =>
  r.events.map((e) => (e.ConfigurationEvent ? "config" : e.SessionControlEvent ? "end" : "audio"));

describe("scribe-medical session: resume by the same session id", () => {
  it("a session without faults: configuration event first, END_OF_SESSION last, one stream", async () => {
    const r = run([]);
    for (let s = 0; s < 3; s++) for (let k = 0; k < 10; k++) r.session.push(chunk(s));
    await r.session.end();
    assert.equal(r.streams.length, 1);
    const k = kinds(r.streams[0]);
    assert.equal(k[0], "config");
    assert.equal(k.at(-1), "end");
    assert.equal(k.filter((x) => x === "config").length, 1);
    assert.deepEqual(
      r.results.filter((x) => x.isFinal).map((x) => x.text),
      ["second 0", "second 1", "second 2"],
    );
    for (const x of r.results) assertTranscriptResult(x);
  });

  it("a dropped stream is resumed under the same id, configuration first, every final once at session times", async () => {
    const r = run([2]);
    for (let s = 0; s < 5; s++) for (let k = 0; k < 10; k++) r.session.push(chunk(s));
    await r.session.end();
    assert.equal(r.streams.length, 2);
    assert.equal(r.streams[1].sessionId, r.streams[0].sessionId);
    assert.equal(r.streams[1].sessionId, r.session.providerSessionId);
    for (const s of r.streams) assert.equal(kinds(s)[0], "config");
    // The dropped stream did not end the HealthScribe session (it is paused); the last one did.
    assert.ok(!kinds(r.streams[0]).includes("end"));
    assert.equal(kinds(r.streams[1]).at(-1), "end");
    const finals = r.results.filter((x) => x.isFinal);
    assert.deepEqual(
      finals.map((x) => x.text),
      ["second 0", "second 1", "second 2", "second 3", "second 4"],
    );
    // Session-relative: the resumed stream's first second is the session's third.
    assert.deepEqual(
      finals.map((x) => x.startTime),
      [0, 1, 2, 3, 4],
    );
    assert.ok(r.events.some((e) => e.event === "reconnecting"));
    assert.ok(!r.events.some((e) => e.event === "error"));
  });

  it("a ConflictException (the dropped stream still counted as active) is retried under the same id", async () => {
    const conflict = (): Error =>
      Object.assign(new Error("session in use"), { name: "ConflictException", $fault: "client" });
    const r = run([1], conflict);
    for (let s = 0; s < 3; s++) for (let k = 0; k < 10; k++) r.session.push(chunk(s));
    await r.session.end();
    assert.equal(r.streams.length, 2);
    assert.equal(r.streams[1].sessionId, r.streams[0].sessionId);
    assert.deepEqual(
      r.results.filter((x) => x.isFinal).map((x) => x.text),
      ["second 0", "second 1", "second 2"],
    );
  });

  it("a paused session (end(true)) ends its stream without END_OF_SESSION", async () => {
    const r = run([]);
    for (let k = 0; k < 10; k++) r.session.push(chunk(0));
    await r.session.end(true);
    assert.equal(r.streams.length, 1);
    assert.ok(!kinds(r.streams[0]).includes("end"));
    assert.equal(r.results.filter((x) => x.isFinal).length, 1);
  });
});
