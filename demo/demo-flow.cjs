// Builds the live transcription demo flow: the page and its AudioWorklet served by Node-RED's http
// nodes, browser audio over a websocket into audio-in, a transcriber, filter-final and the
// confidence gate, and the results back to the browser that spoke them. Used by `npm start` and to
// write examples/live-transcription-demo.json.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const PATH = "/transcribe";

/** The function node that talks to the page: hello → info, stop → end of the session. */
const CONTROL = `// Text frames from the page are control messages; binary frames are audio.
let control;
try { control = JSON.parse(msg.payload); } catch (e) { return null; }
if (control.type === "hello") {
    return [{ _session: msg._session, payload: JSON.stringify({
        type: "info",
        provider: env.get("DEMO_PROVIDER_LABEL") || "transcriber",
        simulated: env.get("DEMO_SIMULATED") === "true",
    }) }, null];
}
if (control.type === "stop") return [null, { _session: msg._session, control: "stop" }];
return null;`;

/** Shapes a transcript result for the page, and addresses it to the browser it came from. */
const TO_PAGE = `// The session id is the browser's websocket session (audio-in keys browser audio by it).
const p = msg.payload;
const gate = msg.confidenceGate;
return {
    _session: { type: "websocket", id: msg.topic },
    payload: JSON.stringify({
        type: "result",
        segmentId: p.segmentId,
        isFinal: p.isFinal,
        withdrawn: p.withdrawn === true,
        text: p.text,
        words: p.words,
        lowConfidenceWords: gate ? gate.lowConfidenceWords : [],
        review: gate ? !gate.passed : false,
        reason: gate ? gate.reason : undefined,
    }),
};`;

/**
 * @param {{ transcriber: object[], tab?: string, label?: string, x?: number }} options
 *   transcriber: the transcriber node (id "demo-transcriber", wired to "demo-filter") and its config node
 */
function demoFlow(options) {
  const z = options.tab || "demo-live-tab";
  const page = readFileSync(join(__dirname, "page.html"), "utf8");
  const worklet = readFileSync(join(__dirname, "pcm-worklet.js"), "utf8");
  const n = (node) => ({ z, ...node });
  return [
    {
      id: z,
      type: "tab",
      label: options.label || "live transcription demo",
      info: "The live transcript page: http://127.0.0.1:1880" + PATH,
    },
    n({
      id: "demo-comment",
      type: "comment",
      name: "Live transcription page: open " + PATH + " on this Node-RED",
      info:
        "A clinician presses Record: the browser streams its microphone (an AudioWorklet, 16 kHz 16-bit PCM) over the websocket to audio-in, then to the transcriber. " +
        "Partial text appears as it is spoken and is replaced by the final; words the recogniser was unsure of are highlighted, and segments the confidence gate sends to review are listed apart. " +
        "A WAV or MP3 chosen with the file button goes the same way.\n\nResults return to the browser that spoke them: their session id is its websocket session.",
      x: 260,
      y: 40,
      wires: [],
    }),
    n({
      id: "demo-http-page",
      type: "http in",
      name: "page",
      url: PATH,
      method: "get",
      upload: false,
      swaggerDoc: "",
      x: 110,
      y: 100,
      wires: [["demo-page"]],
    }),
    n({
      id: "demo-page",
      type: "template",
      name: "page.html",
      field: "payload",
      fieldType: "msg",
      format: "html",
      syntax: "plain",
      template: page,
      output: "str",
      x: 290,
      y: 100,
      wires: [["demo-http-html"]],
    }),
    n({
      id: "demo-http-html",
      type: "http response",
      name: "",
      statusCode: "",
      headers: { "content-type": "text/html; charset=utf-8" },
      x: 470,
      y: 100,
      wires: [],
    }),
    n({
      id: "demo-http-worklet",
      type: "http in",
      name: "worklet",
      url: PATH + "/pcm-worklet.js",
      method: "get",
      upload: false,
      swaggerDoc: "",
      x: 130,
      y: 150,
      wires: [["demo-worklet"]],
    }),
    n({
      id: "demo-worklet",
      type: "template",
      name: "pcm-worklet.js",
      field: "payload",
      fieldType: "msg",
      format: "javascript",
      syntax: "plain",
      template: worklet,
      output: "str",
      x: 310,
      y: 150,
      wires: [["demo-http-js"]],
    }),
    n({
      id: "demo-http-js",
      type: "http response",
      name: "",
      statusCode: "",
      headers: { "content-type": "application/javascript" },
      x: 490,
      y: 150,
      wires: [],
    }),
    { id: "demo-ws-listener", type: "websocket-listener", path: PATH + "/ws", wholemsg: "false" },
    n({
      id: "demo-ws-in",
      type: "websocket in",
      name: "browser",
      server: "demo-ws-listener",
      client: "",
      x: 110,
      y: 240,
      wires: [["demo-split"]],
    }),
    n({
      id: "demo-split",
      type: "switch",
      name: "audio or control?",
      property: "payload",
      propertyType: "msg",
      rules: [{ t: "istype", v: "buffer", vt: "buffer" }, { t: "else" }],
      checkall: "false",
      repair: false,
      outputs: 2,
      x: 280,
      y: 240,
      wires: [["demo-audio-in"], ["demo-control"]],
    }),
    n({
      id: "demo-control",
      type: "function",
      name: "hello / stop",
      func: CONTROL,
      outputs: 2,
      timeout: 0,
      noerr: 0,
      initialize: "",
      finalize: "",
      libs: [],
      x: 470,
      y: 300,
      wires: [["demo-ws-out"], ["demo-audio-in"]],
    }),
    n({
      id: "demo-audio-in",
      type: "audio-in",
      name: "",
      sampleRate: "16000",
      channels: "mono",
      frameMs: 100,
      pace: "realtime",
      endAfterRecording: true,
      compressed: "files",
      idleTimeout: 30,
      maxSessions: 100,
      rawRate: 16000,
      rawEncoding: "s16le",
      rawChannels: "1",
      x: 660,
      y: 240,
      wires: [["demo-transcriber"]],
    }),
    // Flow nodes go on the tab; config nodes (no position) stay global.
    ...options.transcriber.map((node) => ("x" in node ? n(node) : node)),
    n({
      id: "demo-filter",
      type: "filter-final",
      name: "",
      partials: "throttle",
      partialIntervalMs: 250,
      dropEmpty: true,
      x: 1060,
      y: 240,
      wires: [["demo-final?"]],
    }),
    n({
      id: "demo-final?",
      type: "switch",
      name: "final?",
      property: "payload.isFinal",
      propertyType: "msg",
      rules: [{ t: "true" }, { t: "else" }],
      checkall: "true",
      repair: false,
      outputs: 2,
      x: 1220,
      y: 240,
      wires: [["demo-gate"], ["demo-to-page"]],
    }),
    n({
      id: "demo-gate",
      type: "confidence-gate",
      name: "",
      mode: "min",
      threshold: "0.85",
      thresholdType: "num",
      maxLowShare: "0.1",
      x: 1390,
      y: 220,
      wires: [["demo-to-page"], ["demo-to-page"]],
    }),
    n({
      id: "demo-to-page",
      type: "function",
      name: "to the page",
      func: TO_PAGE,
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: "",
      finalize: "",
      libs: [],
      x: 1570,
      y: 260,
      wires: [["demo-ws-out"]],
    }),
    n({
      id: "demo-ws-out",
      type: "websocket out",
      name: "browser",
      server: "demo-ws-listener",
      client: "",
      x: 1740,
      y: 300,
      wires: [],
    }),
  ];
}

module.exports = { demoFlow, PATH };
