// Builds the live transcription demo flow: the page and its AudioWorklet served by Node-RED's http
// nodes, browser audio over a websocket into audio-in, a transcriber, filter-final and the
// confidence gate, and the results back to the browser that spoke them. Used by `npm start` and to
// write examples/live-transcription-demo.json.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const PATH = "/transcribe";

/** Uploads larger than this are refused by the demo (audio-in itself takes up to 256 MiB per message). */
const MAX_UPLOAD_BYTES = 32 * 2 ** 20;

/**
 * The function node that talks to the page. Text frames are control messages, binary frames audio.
 * Every recording (a microphone session, an uploaded file) is its own audio-in session, id
 * "<websocket session>/<recording number>", so that each gets its own block on the page. The
 * microphone's frames are raw PCM and are declared as such (msg.audio); an uploaded file declares
 * nothing: audio-in recognises it by its first bytes, or refuses it.
 */
const CONTROL = `const MAX_UPLOAD_BYTES = ${MAX_UPLOAD_BYTES};
const ws = msg._session && msg._session.id;
if (!ws) return null;
// What each browser is sending now: { id, kind: "microphone" | "file", bytes }. A Map in memory
// context, bounded by the pages connected (an entry goes when its page says goodbye or reconnects).
let pages = context.get("pages");
if (!pages) { pages = new Map(); context.set("pages", pages); }
const toPage = (body) => ({ _session: msg._session, payload: JSON.stringify(body) });
if (Buffer.isBuffer(msg.payload)) {
    const current = pages.get(ws);
    if (!current) return [toPage({ type: "error", message: "audio arrived before the page said what it is; reload the page" }), null];
    const audio = { sessionId: ws + "/" + current.id };
    if (current.kind === "microphone") {
        // The microphone path declares its format: 16 kHz 16-bit mono PCM from pcm-worklet.js.
        Object.assign(audio, { sampleRate: 16000, channels: 1, encoding: "pcm_s16le" });
    } else {
        pages.delete(ws);
        if (msg.payload.length > MAX_UPLOAD_BYTES) {
            return [toPage({ type: "error", id: current.id, message: tooLong(msg.payload.length) }), null];
        }
    }
    return [null, { _session: msg._session, topic: audio.sessionId, payload: msg.payload, audio }];
}
let control;
try { control = JSON.parse(msg.payload); } catch (e) { return null; }
if (!control || typeof control !== "object") return null;
const id = Number.isSafeInteger(control.id) && control.id > 0 ? control.id : undefined;
if (control.type === "hello") {
    pages.delete(ws);
    return [toPage({
        type: "info",
        provider: env.get("DEMO_PROVIDER_LABEL") || "transcriber",
        simulated: env.get("DEMO_SIMULATED") === "true",
        maxUploadBytes: MAX_UPLOAD_BYTES,
    }), null];
}
if (control.type === "microphone" && id) {
    pages.set(ws, { id, kind: "microphone" });
    return null;
}
if (control.type === "file" && id) {
    if (typeof control.bytes === "number" && control.bytes > MAX_UPLOAD_BYTES) {
        return [toPage({ type: "error", id, message: tooLong(control.bytes) }), null];
    }
    pages.set(ws, { id, kind: "file" });
    return null;
}
if (control.type === "stop" && id) {
    pages.delete(ws);
    return [null, { _session: msg._session, topic: ws + "/" + id, control: "stop" }];
}
if (control.type === "bye") pages.delete(ws);
return null;

function tooLong(bytes) {
    const mb = (n) => (n / 2 ** 20).toFixed(1) + " MB";
    return "the file is too long for this demo (" + mb(bytes) + "); it takes recordings up to " + mb(MAX_UPLOAD_BYTES) +
        " (a flow can send longer ones to audio-in as a file path)";
}`;

/** The browser a session belongs to, and the recording number on its page, from the session id. */
const ADDRESS = `function address(sessionId) {
    const at = typeof sessionId === "string" ? sessionId.lastIndexOf("/") : -1;
    if (at <= 0) return undefined;
    return { ws: sessionId.slice(0, at), id: Number(sessionId.slice(at + 1)) };
}`;

/** Shapes a transcript result for the page, and addresses it to the browser it came from. */
const TO_PAGE = `${ADDRESS}
const to = address(msg.topic);
if (!to) return null;
const p = msg.payload;
const gate = msg.confidenceGate;
return {
    _session: { type: "websocket", id: to.ws },
    payload: JSON.stringify({
        type: "result",
        id: to.id,
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
 * The medical entities of a final (medical-entities node), for the page to highlight by category: the
 * words they cover (timing.firstWord..lastWord index the final's words) and their first code. Entity
 * text is PHI: it goes only to the browser that sent the audio, never to a log.
 */
const ENTITIES_TO_PAGE = `${ADDRESS}
const to = address(msg.topic);
if (!to || !Array.isArray(msg.entities)) return null;
const entities = msg.entities
    .filter((e) => e && e.timing)
    .map((e) => ({
        category: e.category,
        type: e.type,
        firstWord: e.timing.firstWord,
        lastWord: e.timing.lastWord,
        negated: (e.traits || []).some((t) => t.name === "NEGATION"),
        code: e.codes && e.codes[0] ? e.codes[0].system + " " + e.codes[0].code : undefined,
    }));
return {
    _session: { type: "websocket", id: to.ws },
    payload: JSON.stringify({ type: "entities", id: to.id, segmentId: msg.payload.segmentId, entities }),
};`;

/**
 * Progress of a recording as audio-in sends it to the transcriber (at the pace of speech): the
 * seconds sent, at most twice a second per recording, and always the last.
 */
const PROGRESS = `${ADDRESS}
const a = msg.audio;
const to = a && address(a.sessionId);
if (!to) return null;
let last = context.get("last");
if (!last) { last = new Map(); context.set("last", last); }
const now = Date.now();
if (!a.end && now - (last.get(a.sessionId) || 0) < 500) return null;
if (a.end) last.delete(a.sessionId); else last.set(a.sessionId, now);
return {
    _session: { type: "websocket", id: to.ws },
    payload: JSON.stringify({ type: "progress", id: to.id, seconds: (a.offsetMs + a.durationMs) / 1000, end: a.end === true }),
};`;

/** The transcriber's session events: the end of a session is "done" on the page. */
const EVENTS = `${ADDRESS}
const e = msg.payload;
const to = address(msg.topic);
// The scribe (scribe-medical) sends no session events: its clinical note's document ends the session.
if (to && e && e.note) {
    return { _session: { type: "websocket", id: to.ws }, payload: JSON.stringify({ type: "done", id: to.id, seconds: e.durationSeconds }) };
}
if (!to || !e || (e.event !== "ended" && e.event !== "termination")) return null;
const account = e.account || {};
return {
    _session: { type: "websocket", id: to.ws },
    payload: JSON.stringify({ type: "done", id: to.id, seconds: account.receivedSeconds, lostSeconds: account.lostSeconds }),
};`;

/** Every error on the tab, in words, to the page whose recording it concerns. */
const ERRORS = `${ADDRESS}
const to = address(msg.topic) || address(msg.audio && msg.audio.sessionId) ||
    (msg._session && msg._session.type === "websocket" ? { ws: msg._session.id } : undefined);
// An error that names no recording (a node's own fault) stays in the Node-RED log.
if (!to) return null;
const source = msg.error && msg.error.source ? msg.error.source.type : "";
const message = String(msg.error ? msg.error.message : "error").replace(/^[A-Za-z]*Error: /, "");
// A headline a person reads at a glance; the node's own text, which says what is accepted, under it.
const found = /is (?:a Buffer of )?(text|an? [A-Za-z ]+?(?:image|document|archive[^,;]*)|gzip-compressed data|a RIFF file that is not WAVE|unrecognised binary data)[,; ]/.exec(message);
let headline;
if (found) headline = "Not audio: the file is " + found[1].replace(/ with no format information$/, "");
else if (/too long|more than .* the limit|FILE_TOO_LARGE/.test(message)) headline = "File too long";
else if (/could not be decoded|not a supported encoding|corrupt|truncated|unsupported/i.test(message)) headline = "Unsupported or damaged audio format";
else if (/^(transcribe-|assemblyai-)/.test(source)) headline = "The transcription service refused or failed";
else headline = "Error";
return {
    _session: { type: "websocket", id: to.ws },
    payload: JSON.stringify({ type: "error", id: to.id, source, headline, message }),
};`;

/**
 * @param {{ transcriber: object[], baseUrl?: string, tab?: string, label?: string, x?: number }} options
 *   transcriber: the transcriber node (id "demo-transcriber", wired to "demo-filter", and to "demo-events"
 *   and "demo-document" for its session events)
 *   and its config node; baseUrl: where Node-RED serves its http nodes (default http://127.0.0.1:1880);
 *   entities: the id of the aws-transcribe-config node for Amazon Comprehend Medical (or its emulator),
 *   when there is one: each final's medical entities are then highlighted on the page
 */
function demoFlow(options) {
  const z = options.tab || "demo-live-tab";
  // The page's real address (npm start passes it): the tab and its comment name it as it is.
  const pageUrl = (options.baseUrl || "http://127.0.0.1:1880") + PATH;
  const page = readFileSync(join(__dirname, "page.html"), "utf8");
  const worklet = readFileSync(join(__dirname, "pcm-worklet.js"), "utf8");
  const n = (node) => ({ z, ...node });
  // A function node with the editor's defaults for what the demo does not set.
  const fnNode = (node) =>
    n({
      type: "function",
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: "",
      finalize: "",
      libs: [],
      ...node,
    });
  return [
    {
      id: z,
      type: "tab",
      label: options.label || "live transcription demo",
      info: "The live transcript page: " + pageUrl,
    },
    n({
      id: "demo-comment",
      type: "comment",
      name: "Live transcription page: " + pageUrl,
      info:
        "Open " +
        pageUrl +
        "\n\n" +
        "A clinician presses Record: the browser streams its microphone (an AudioWorklet, 16 kHz 16-bit PCM, declared as such in msg.audio) over the websocket to audio-in, then to the transcriber. " +
        "Partial text appears as it is spoken and is replaced by the final; words the recogniser was unsure of are highlighted, and segments the confidence gate sends to review are listed apart. " +
        "A recording chosen with the file button goes the same way, with no format declared: audio-in recognises it by its first bytes or refuses it.\n\n" +
        "Each recording is its own session (id: the browser's websocket session and the recording's number), shown as its own block with its progress and its end. " +
        "A catch node sends every error on this tab, in words, to the page it concerns.",
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
      wires: [["demo-control"]],
    }),
    fnNode({
      id: "demo-control",
      name: "page protocol",
      func: CONTROL,
      outputs: 2,
      x: 300,
      y: 240,
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
      // No raw PCM default: the microphone declares its format, and an upload must be recognisable.
      rawRate: "",
      rawEncoding: "s16le",
      rawChannels: "1",
      x: 660,
      y: 240,
      // The review page plays each recording's audio (review-queue keeps it per session, bounded).
      wires: [["demo-transcriber", "demo-progress", "demo-review"]],
    }),
    fnNode({
      id: "demo-progress",
      name: "progress",
      func: PROGRESS,
      x: 860,
      y: 360,
      wires: [["demo-ws-out"]],
    }),
    fnNode({
      id: "demo-events",
      name: "session ended",
      func: EVENTS,
      x: 1060,
      y: 360,
      wires: [["demo-ws-out"]],
    }),
    n({
      id: "demo-catch",
      type: "catch",
      name: "every error on this tab",
      scope: null,
      uncaught: false,
      x: 1370,
      y: 420,
      wires: [["demo-errors"]],
    }),
    fnNode({
      id: "demo-errors",
      name: "error to the page",
      func: ERRORS,
      x: 1570,
      y: 420,
      wires: [["demo-ws-out"]],
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
      // Entities beside the gate, not before it: a final reaches the page and the document even if
      // Comprehend Medical fails (its error goes to the page through the catch node).
      wires: [options.entities ? ["demo-gate", "demo-entities"] : ["demo-gate"], ["demo-to-page"]],
    }),
    ...(options.entities
      ? [
          n({
            id: "demo-entities",
            type: "medical-entities",
            name: "",
            aws: options.entities,
            opEntities: true,
            opIcd10cm: true,
            opRxnorm: true,
            opSnomedct: false,
            deidentify: false,
            concurrency: "2",
            queueLimit: "100",
            timeoutS: "20",
            x: 1390,
            y: 160,
            wires: [["demo-entities-to-page"]],
          }),
          fnNode({
            id: "demo-entities-to-page",
            name: "entities to the page",
            func: ENTITIES_TO_PAGE,
            x: 1590,
            y: 160,
            wires: [["demo-ws-out"]],
          }),
        ]
      : []),
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
      wires: [
        ["demo-to-page", "demo-document"],
        ["demo-to-page", "demo-document"],
      ],
    }),
    // Review and sign-off: each finished session's finals become one preliminary document, listed on the
    // review page (/review) for the demo clinician that npm start prints; a signed document goes to a
    // debug node here (examples/review-queue.json sends it on as HL7 and FHIR).
    n({
      id: "demo-document",
      type: "transcript-document",
      name: "document",
      x: 1570,
      y: 380,
      wires: [["demo-review"]],
    }),
    n({
      id: "demo-review",
      type: "review-queue",
      name: "review and sign-off",
      path: "/review",
      identity: "node-red",
      reviewers: "demo-clinician",
      signers: "demo-clinician",
      x: 1760,
      y: 380,
      wires: [["demo-signed"], []],
    }),
    n({
      id: "demo-signed",
      type: "debug",
      name: "signed document",
      active: true,
      tosidebar: true,
      console: false,
      complete: "true",
      targetType: "full",
      x: 1960,
      y: 380,
      wires: [],
    }),
    fnNode({
      id: "demo-to-page",
      name: "to the page",
      func: TO_PAGE,
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

module.exports = { demoFlow, PATH, MAX_UPLOAD_BYTES };
