import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeMessage } from "node-red";
import { EMULATOR_CREDENTIALS } from "../emulators/aws/emulator";
import {
  builtNode,
  collect,
  flowWithCatch,
  helper,
  nextMessage,
  runtimeLabel,
  until,
  type FlowNode,
} from "../support/node-red";
import { result } from "../support/results";

/**
 * Every node that takes a session id from a message refuses one over the shared bound (256
 * characters, src/util/session-id.ts) with an error to Catch that names the field and the limit and
 * never echoes the id; the node goes on working. A 1 MiB id stands for the 100 MB one a flow could
 * send (the check reads only its length).
 */
const HUGE = "M".repeat(1 << 20);
const JUST_OVER = "M".repeat(257);
const LIMIT_TEXT = /over the limit of 256/;

// Nothing listens on port 9: a node that tried to connect with a refused id would fail differently.
const NOWHERE_HTTP = "http://127.0.0.1:9";
const NOWHERE_WS = "ws://127.0.0.1:9";

const chunk = (sessionId: string, topic?: string): NodeMessage => ({
  topic,
  payload: Buffer.alloc(3200),
  audio: { sessionId, sampleRate: 16000, channels: 1, encoding: "pcm_s16le", seq: 0, offsetMs: 0 },
});

/** Sends `msg` to node `id` and returns the error text Catch received for it. */
async function refusal(id: string, msg: NodeMessage): Promise<string> {
  const caught = nextMessage("caught");
  helper.getNode(id).receive(msg);
  const got = (await caught) as NodeMessage & { error?: { message?: string } };
  const text = got.error?.message ?? "";
  assert.ok(!text.includes("MMMM"), "the id is not echoed");
  return text;
}

async function assertRefused(id: string, msgs: NodeMessage[], field: RegExp): Promise<void> {
  for (const msg of msgs) {
    const text = await refusal(id, msg);
    assert.match(text, LIMIT_TEXT);
    assert.match(text, field);
  }
}

describe(`session ids over the shared bound, node by node (${runtimeLabel})`, function () {
  this.timeout(15000);
  afterEach(() => helper.unload());

  it("audio-in refuses them in msg.audio.sessionId and msg.topic, and goes on framing other sessions", async () => {
    const flow = flowWithCatch([{ id: "ai", type: "audio-in", pace: "fast", wires: [["out"]] }], ["out"]);
    await helper.load(builtNode("audio-in"), flow);
    const out = collect("out");
    await assertRefused(
      "ai",
      [
        chunk(HUGE),
        { topic: JUST_OVER, payload: Buffer.alloc(3200), audio: { sampleRate: 16000, channels: 1 } },
        { ...chunk(JUST_OVER), audio: { sessionId: JUST_OVER, end: true } },
      ],
      /audio-in: the session id in msg\.(audio\.sessionId|topic)/,
    );
    assert.equal(out.length, 0, "nothing framed for a refused id");
    const last = chunk("bed-7");
    last.audio = { sessionId: "bed-7", sampleRate: 16000, channels: 1, encoding: "pcm_s16le", end: true };
    helper.getNode("ai").receive(last);
    await until(() => out.some((m) => (m as { audio?: { end?: boolean } }).audio?.end === true));
    assert.ok(out.every((m) => m.topic === "bed-7"));
  });

  for (const type of ["transcribe-medical", "transcribe-standard", "scribe-medical"] as const) {
    it(`${type} refuses them in msg.audio.sessionId and msg.topic`, async () => {
      const config: FlowNode = { id: "t", type, aws: "awscfg", wires: [["out"], ["events"]] };
      if (type === "scribe-medical") {
        Object.assign(config, {
          outputBucket: "scribe-out",
          roleArn: "arn:aws:iam::111122223333:role/HealthScribeOutput",
          s3Endpoint: NOWHERE_HTTP,
        });
      }
      const flow = flowWithCatch(
        [
          { id: "awscfg", type: "aws-transcribe-config", region: "us-east-1", endpoint: NOWHERE_HTTP },
          config,
        ],
        ["out", "events"],
      );
      await helper.load([builtNode("aws-transcribe-config"), builtNode(type)], flow, {
        awscfg: { ...EMULATOR_CREDENTIALS },
      });
      await assertRefused(
        "t",
        [chunk(HUGE), chunk(JUST_OVER), chunk("", HUGE)],
        /msg\.(audio\.sessionId|topic) is \d+ characters long/,
      );
    });
  }

  it("assemblyai-medical refuses them in audio and in a control message's topic", async () => {
    const flow = flowWithCatch(
      [
        { id: "cfg", type: "assemblyai-config", region: "us", endpoint: NOWHERE_WS },
        { id: "aai", type: "assemblyai-medical", config: "cfg", wires: [["out"], ["events"]] },
      ],
      ["out", "events"],
    );
    await helper.load([builtNode("assemblyai-config"), builtNode("assemblyai-medical")], flow, {
      cfg: { apiKey: "test-api-key" },
    });
    await assertRefused(
      "aai",
      [chunk(HUGE), chunk("", JUST_OVER), { topic: HUGE, control: { type: "ForceEndpoint" } }],
      /msg\.(audio\.sessionId|topic) is \d+ characters long/,
    );
  });

  for (const type of ["filter-final", "confidence-gate"] as const) {
    it(`${type} refuses a result whose payload.sessionId is over the bound, and passes the next`, async () => {
      const flow = flowWithCatch([{ id: "n", type, wires: [["out"], ["review"]] }], ["out", "review"]);
      await helper.load(builtNode(type), flow);
      await assertRefused(
        "n",
        [
          { topic: "s", payload: result({ sessionId: HUGE }) },
          { topic: "s", payload: result({ sessionId: JUST_OVER }) },
        ],
        /payload\.sessionId is \d+ characters long/,
      );
      const next = Promise.race([nextMessage("out"), nextMessage("review")]);
      helper.getNode("n").receive({ topic: "session-1", payload: result() });
      assert.equal((await next).topic, "session-1");
    });
  }

  it("transcript-document refuses them in a result, a session event, a flush and a note document", async () => {
    const flow = flowWithCatch([{ id: "td", type: "transcript-document", wires: [["out"]] }], ["out"]);
    await helper.load(builtNode("transcript-document"), flow);
    const document = {
      documentId: "3f1c2a9e-5b7d-4e21-9a0c-7d2f4b6e8a11",
      sessionId: HUGE,
      provider: "aws-healthscribe",
      language: "en-US",
      startedAt: "2026-01-15T14:30:00.000Z",
      completedAt: "2026-01-15T14:40:00.000Z",
      text: "",
      note: {},
    };
    await assertRefused(
      "td",
      [
        { topic: "s", payload: result({ sessionId: HUGE }) },
        { payload: { event: "ended", sessionId: HUGE } },
        { topic: JUST_OVER, control: "flush" },
        { topic: "s", payload: document },
      ],
      /(payload\.sessionId|msg\.topic of a flush|msg\.payload\.sessionId of a session event) /,
    );
    const out = nextMessage("out");
    helper.getNode("td").receive({ topic: "session-1", payload: result() });
    helper.getNode("td").receive({ topic: "session-1", control: "flush" });
    assert.equal(((await out).payload as { sessionId: string }).sessionId, "session-1");
  });

  describe("review-queue", () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "review-session-id-"));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("refuses them in msg.audio.sessionId and msg.topic", async () => {
      const flow = flowWithCatch(
        [{ id: "rq", type: "review-queue", path: "/review-sid", storeDir: dir, wires: [[], ["events"]] }],
        ["events"],
      );
      await helper.load(builtNode("review-queue"), flow);
      await assertRefused(
        "rq",
        [chunk(HUGE), { topic: JUST_OVER, payload: result() }],
        /review-queue: msg\.audio\.sessionId \(or msg\.topic\) is \d+ characters long/,
      );
    });
  });
});
