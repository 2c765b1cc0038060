// The run command (`npm start`): builds the package if needed, links it into a Node-RED user
// directory inside the project (.node-red-user/, never ~/.node-red), starts Node-RED 4 on
// 127.0.0.1 with the example flows, and deploys the live transcription demo with the transcriber
// the environment allows:
//   - AWS credentials (AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, or AWS_PROFILE): Amazon Transcribe Medical;
//   - ASSEMBLYAI_API_KEY: AssemblyAI Medical Mode;
//   - neither: a local emulator of AssemblyAI answering with a scripted dictation (simulated transcripts).
// With --scribe (or MEDSTREAM_DEMO_SCRIBE=1) it runs the ambient scribe (scribe-medical, AWS HealthScribe)
// instead: against AWS with credentials, HEALTHSCRIBE_ROLE_ARN and HEALTHSCRIBE_BUCKET, else against the
// local HealthScribe emulator (simulated notes); each recording's clinical note goes to the review page.
// Keys go into config-node credentials through Node-RED's admin API, never into the flow file.
//   PORT=1880 HOST=127.0.0.1 (defaults)   npm start -- --reset-demo   rewrites the example flows
// The user directory gets a settings.js of the demo's own (no welcome tour, no update-notification
// question). Node-RED starts in safe mode (flows loaded, not started) and the deploy of the demo starts
// them: once, not started, stopped and started again. SIGINT or SIGTERM to this process, or the end of
// the `npm start` that ran it, stops Node-RED within a few seconds (see stop()).
import { execFileSync, spawn } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import { clearInterval, setInterval } from "node:timers";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const userDir = process.env.NODE_RED_USER_DIR ?? join(root, ".node-red-user");
const port = process.env.PORT ?? "1880";
const host = process.env.HOST ?? "127.0.0.1";
const editor = `http://${host}:${port}`;

if (!existsSync(join(root, "dist/nodes")) || process.argv.includes("--build")) {
  execFileSync(process.execPath, [join(root, "scripts/build.mjs")], { stdio: "inherit" });
}

// Node-RED loads the nodes from <userDir>/node_modules, as it would after `npm install`.
const link = join(userDir, "node_modules", ...pkg.name.split("/"));
mkdirSync(dirname(link), { recursive: true });
if (existsSync(link) || isLink(link)) rmSync(link, { recursive: true, force: true });
symlinkSync(root, link, "dir");
if (!existsSync(join(userDir, "package.json"))) {
  const userPkg = { name: "node-red-project", private: true, dependencies: { [pkg.name]: `file:${root}` } };
  writeFileSync(join(userDir, "package.json"), JSON.stringify(userPkg, null, 2));
}
writeDemoSettings();
const flowFile = join(userDir, "flows.json");
if (!existsSync(flowFile) || process.argv.includes("--reset-demo")) {
  writeFileSync(flowFile, JSON.stringify(exampleFlows(), null, 2));
  console.log(`example flows written to ${flowFile}`);
}

const wantScribe = process.argv.includes("--scribe") || process.env.MEDSTREAM_DEMO_SCRIBE === "1";
const transcriber = wantScribe ? await chooseScribe() : await chooseTranscriber();
// The review page's demo clinician: a password drawn at each start, printed below, handed to Node-RED
// through its environment (never written to a file).
const REVIEW_USER = "demo-clinician";
const reviewPassword = randomBytes(12).toString("base64url");
const child = spawn(
  process.execPath,
  [
    join(dirname(require.resolve("node-red/package.json")), "red.js"),
    "--userDir",
    userDir,
    "--port",
    port,
    "-D",
    `uiHost=${host}`,
    // Flows loaded, not started: deployDemo() starts them, with the demo, in one go.
    "--safe",
    "flows.json",
  ],
  {
    stdio: ["inherit", "pipe", "inherit"],
    env: {
      ...process.env,
      DEMO_PROVIDER_LABEL: transcriber.label,
      DEMO_SIMULATED: String(transcriber.simulated),
      MEDSTREAM_DEMO_REVIEW_USER: REVIEW_USER,
      MEDSTREAM_DEMO_REVIEW_PASSWORD: reviewPassword,
    },
  },
);
// "safe" until the demo is deployed, "deploying" until its flows have started, then "running".
let phase = "safe";
child.stdout.on("data", (chunk) => {
  const lines = chunk.toString().split("\n");
  // Safe mode is how the flows start once. Its banner ("Flows stopped in safe mode. Deploy to start.")
  // and the deploy's "Stopping flows" / "Stopped flows" (nothing was running to stop) would only
  // puzzle a new user: they are left out, before the flows have started.
  const shown = lines.filter(
    (line) =>
      phase === "running" ||
      !/\[info\] (?:\*{20,}|Flows stopped in safe mode.*|Stopping flows|Stopped flows)$/.test(line),
  );
  if (shown.join("").trim() !== "" || phase === "running") process.stdout.write(shown.join("\n"));
  if (phase === "safe" && lines.some((l) => /Flows stopped in safe mode/.test(l))) {
    phase = "deploying";
    deployDemo(transcriber).catch((err) => {
      console.error(`could not deploy the live transcription demo: ${err.message}`);
      phase = "running";
    });
  } else if (phase === "deploying" && lines.some((l) => /\[info\] Started flows$/.test(l))) {
    phase = "running";
    console.log(`\n  Node-RED editor:        ${editor}/`);
    console.log(`  Live transcript page:   ${editor}/transcribe`);
    console.log(
      `  Review and sign-off:    ${editor}/review  (user ${REVIEW_USER}, password ${reviewPassword})`,
    );
    console.log(`  Transcriber:            ${transcriber.label}`);
    if (transcriber.simulated) {
      console.log(
        transcriber.demo === "scribe"
          ? "  (No AWS credentials with HEALTHSCRIBE_ROLE_ARN and HEALTHSCRIBE_BUCKET: the transcripts and notes are SIMULATED by a local emulator.)"
          : "  (No AWS or AssemblyAI credentials in the environment: the transcripts are SIMULATED by a local emulator.)",
      );
    }
    console.log("");
  }
});
// Stopping: Node-RED gets the signal and closes its nodes; if it has not exited within STOP_GRACE_MS
// it is killed. The emulators close after it (bounded too). A second signal kills at once.
const STOP_GRACE_MS = 8000;
let stopping = false;
const stop = (signal) => {
  if (stopping) {
    child.kill("SIGKILL");
    return;
  }
  stopping = true;
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS).unref();
};
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.on(signal, () => stop(signal === "SIGHUP" ? "SIGTERM" : signal));
watchLauncher(() => stop("SIGTERM"));
child.on("exit", async (code, signal) => {
  await Promise.race([transcriber.close?.(), new Promise((r) => setTimeout(r, 2000).unref())]);
  process.exit(stopping ? 0 : (code ?? (signal ? 1 : 0)));
});

/**
 * `npm start` runs this script under `sh -c`; a service manager that signals only npm's process (or a
 * terminal that closes) leaves this script's parents gone and this script running, with Node-RED. So
 * the launchers are watched: when npm or the shell between exits, Node-RED is stopped as on SIGTERM.
 */
function watchLauncher(onGone) {
  const parent = process.ppid;
  const watched = [parent];
  // The shell between npm and this script, if there is one: watch npm too.
  const shell = commandOf(parent);
  if (shell && /^(sh|dash|bash)$/.test(shell)) {
    const npm = parentOf(parent);
    if (npm && npm > 1) watched.push(npm);
  }
  const alive = (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return err.code === "EPERM";
    }
  };
  const timer = setInterval(() => {
    if (process.ppid !== parent || !watched.every(alive)) {
      clearInterval(timer);
      onGone();
    }
  }, 250);
  timer.unref();
}

function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return undefined;
  }
}

function parentOf(pid) {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/**
 * The demo's settings.js, in its own user directory only (never ~/.node-red): no welcome tour and no
 * question about update notifications covering the canvas on the first visit. A settings.js the user
 * wrote (without the first line below) is left alone.
 */
function writeDemoSettings() {
  const file = join(userDir, "settings.js");
  const mark = "// Written by npm start (scripts/start.mjs)";
  // Node-RED copies its stock settings.js into a user directory that has none: a demo directory made by
  // an earlier version of this script holds that copy, which is replaced too.
  const stock = join(dirname(require.resolve("node-red/package.json")), "settings.js");
  if (existsSync(file)) {
    const current = readFileSync(file, "utf8");
    if (!current.startsWith(mark) && current !== readFileSync(stock, "utf8")) return;
  }
  // The key of the credentials file: made once, readable by this user only, kept beside the flows.
  // (An earlier run's system-generated key is taken over, so its credentials still open.)
  const secretFile = join(userDir, ".demo-credential-secret");
  if (!existsSync(secretFile)) {
    let secret = randomBytes(32).toString("hex");
    try {
      const runtime = JSON.parse(readFileSync(join(userDir, ".config.runtime.json"), "utf8"));
      if (typeof runtime._credentialSecret === "string") secret = runtime._credentialSecret;
    } catch {
      // No earlier run.
    }
    writeFileSync(secretFile, secret, { mode: 0o600 });
  }
  writeFileSync(
    file,
    `${mark}; rewritten at each start while this line is here. Remove the line to keep your own.
// The settings of the demo's Node-RED, which serves only 127.0.0.1 (docs/production.md shows the
// settings that matter when Node-RED runs for real: credentialSecret, adminAuth, httpNodeAuth, https).
module.exports = {
  flowFile: "flows.json",
  credentialSecret: require("node:fs").readFileSync(__dirname + "/.demo-credential-secret", "utf8").trim(),
  // The editor's welcome tour and Node-RED's update-notification question stay closed.
  editorTheme: { tours: false },
  telemetry: { enabled: false, updateNotification: false },
  // The review page (and only it) asks for the demo clinician, whose password npm start draws and prints
  // at each start; the review-queue node reads the signer from req.user. The live page stays open.
  httpNodeMiddleware: function (req, res, next) {
    // Under a mounted route (review-queue's) Express strips the mount path from req.path: the full path.
    const path = (req.baseUrl || "") + req.path;
    if (path !== "/review" && !path.startsWith("/review/")) return next();
    const user = process.env.MEDSTREAM_DEMO_REVIEW_USER || "";
    const password = process.env.MEDSTREAM_DEMO_REVIEW_PASSWORD || "";
    const expected = Buffer.from("Basic " + Buffer.from(user + ":" + password).toString("base64"));
    const given = Buffer.from(String(req.headers.authorization || ""));
    const crypto = require("node:crypto");
    if (password !== "" && given.length === expected.length && crypto.timingSafeEqual(given, expected)) {
      req.user = { username: user };
      return next();
    }
    res.set("WWW-Authenticate", 'Basic realm="review (npm start prints the password)"');
    res.status(401).send("sign in as the demo clinician: npm start printed the password");
  },
};
`,
  );
}

function isLink(path) {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/** Every example flow of the package on one tab, for a first look at each node. */
function exampleFlows() {
  const tab = { id: "examples-tab", type: "tab", label: "examples", info: pkg.description };
  // The transcriber examples need credentials or an emulator; the live demo tab shows transcription.
  const names = ["audio-in", "filter-final", "confidence-gate"];
  let offset = 0;
  const nodes = [];
  for (const name of names) {
    const flow = JSON.parse(readFileSync(join(root, "examples", `${name}.json`), "utf8"));
    for (const n of flow) nodes.push(typeof n.x === "number" ? { ...n, z: tab.id, y: n.y + offset } : n);
    offset += 300;
  }
  return [tab, ...nodes];
}

async function chooseTranscriber() {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const aaiKey = process.env.ASSEMBLYAI_API_KEY;
  // Config nodes get no credentials for AWS: the default chain (environment, profile, role) supplies them.
  const awsConfig = { name: "AWS (default credential chain)", region, endpoint: "" };
  const aaiConfig = aaiKey ? { name: "AssemblyAI", region: "us", endpoint: "", apiKey: aaiKey } : undefined;
  if ((process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) || process.env.AWS_PROFILE) {
    // Entities from Amazon Comprehend Medical on the same account (billed per final: see docs/demo.md).
    return {
      demo: "aws",
      label: "Amazon Transcribe Medical",
      simulated: false,
      awsConfig,
      aaiConfig,
      entitiesConfig: "demo-aws-config",
    };
  }
  if (aaiConfig) return { demo: "assemblyai", label: "AssemblyAI Medical Mode", simulated: false, aaiConfig };
  // The emulators live with the tests, in TypeScript: load them through tsx.
  require("tsx/cjs");
  const { startSimulatedServices } = require(join(root, "demo/simulated-transcriber.ts"));
  const sim = await startSimulatedServices();
  return {
    demo: "assemblyai",
    label: "SIMULATED transcripts (local AssemblyAI emulator)",
    simulated: true,
    awsConfig: { name: "SIMULATED: local AWS emulator", region, endpoint: sim.aws.endpoint, ...sim.aws },
    comprehendConfig: {
      name: "SIMULATED: local Comprehend Medical emulator",
      region,
      endpoint: sim.comprehend.endpoint,
      ...sim.comprehend,
    },
    entitiesConfig: "demo-comprehend-config",
    aaiConfig: {
      name: "SIMULATED: local AssemblyAI emulator",
      region: "us",
      endpoint: sim.assemblyai.url,
      apiKey: sim.assemblyai.apiKey,
    },
    close: sim.close,
  };
}

/**
 * The ambient scribe (--scribe): AWS HealthScribe with credentials, a role and a bucket in the
 * environment; otherwise the local HealthScribe emulator, which writes its notes to a local S3.
 */
async function chooseScribe() {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const roleArn = process.env.HEALTHSCRIBE_ROLE_ARN;
  const bucket = process.env.HEALTHSCRIBE_BUCKET;
  const aws = (process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) || process.env.AWS_PROFILE;
  if (aws && roleArn && bucket) {
    return {
      demo: "scribe",
      label: "AWS HealthScribe",
      simulated: false,
      awsConfig: { name: "AWS (default credential chain)", region, endpoint: "" },
      scribe: { roleArn, bucket, s3Endpoint: "" },
    };
  }
  if (aws) {
    console.log(
      "--scribe: AWS HealthScribe needs HEALTHSCRIBE_ROLE_ARN and HEALTHSCRIBE_BUCKET too; using the local emulator.",
    );
  }
  require("tsx/cjs");
  const { startSimulatedScribe } = require(join(root, "demo/simulated-scribe.ts"));
  const sim = await startSimulatedScribe();
  return {
    demo: "scribe",
    label: "SIMULATED notes (local HealthScribe emulator)",
    simulated: true,
    awsConfig: {
      name: "SIMULATED: local HealthScribe emulator",
      region: "us-east-1",
      endpoint: sim.endpoint,
      accessKeyId: sim.accessKeyId,
      secretAccessKey: sim.secretAccessKey,
    },
    scribe: { roleArn: sim.roleArn, bucket: sim.bucket, s3Endpoint: sim.s3Endpoint },
    close: sim.close,
  };
}

/** The transcriber of the demo, and the config nodes the environment allows (examples can use them too). */
function transcriberNodes(t) {
  const nodes = [];
  if (t.awsConfig) {
    const { name, region, endpoint, accessKeyId, secretAccessKey } = t.awsConfig;
    nodes.push({
      id: "demo-aws-config",
      type: "aws-transcribe-config",
      name,
      region,
      endpoint,
      // Sent through the admin API, so Node-RED stores them encrypted beside the flows, not in them.
      ...(accessKeyId ? { credentials: { accessKeyId, secretAccessKey } } : {}),
    });
  }
  if (t.comprehendConfig) {
    const { name, region, endpoint, accessKeyId, secretAccessKey } = t.comprehendConfig;
    nodes.push({
      id: "demo-comprehend-config",
      type: "aws-transcribe-config",
      name,
      region,
      endpoint,
      credentials: { accessKeyId, secretAccessKey },
    });
  }
  if (t.aaiConfig) {
    const { name, region, endpoint, apiKey } = t.aaiConfig;
    nodes.push({
      id: "demo-aai-config",
      type: "assemblyai-config",
      name,
      region,
      endpoint,
      credentials: { apiKey },
    });
  }
  const common = {
    id: "demo-transcriber",
    name: t.simulated ? "SIMULATED transcriber" : "",
    x: 860,
    y: 240,
    // Its session events also end the session's document for the review page.
    wires: [["demo-filter"], ["demo-events", "demo-document"]],
  };
  if (t.demo === "scribe") {
    // Output 1: live results, as a transcriber's; output 2: the clinical note's document at the end.
    // The editor's defaults of every setting (built beside the node), and the demo's own.
    const { DEFAULTS } = require(join(root, "dist/nodes/scribe-medical/defaults.js"));
    nodes.push({
      ...DEFAULTS,
      ...common,
      name: t.simulated ? "SIMULATED scribe" : "",
      type: "scribe-medical",
      aws: "demo-aws-config",
      outputBucket: t.scribe.bucket,
      roleArn: t.scribe.roleArn,
      s3Endpoint: t.scribe.s3Endpoint,
    });
  } else if (t.demo === "aws") {
    nodes.push({
      ...common,
      type: "transcribe-medical",
      aws: "demo-aws-config",
      specialty: "PRIMARYCARE",
      medicalType: "DICTATION",
      sampleRate: 16000,
      mediaEncoding: "pcm",
      showSpeakerLabel: false,
      channelIdentification: false,
      contentIdentification: "PHI",
      vocabularyName: "",
      keepRaw: false,
      idleTimeoutS: 30,
    });
  } else {
    nodes.push({
      ...common,
      type: "assemblyai-medical",
      config: "demo-aai-config",
      speechModel: "u3-rt-pro",
      medicalDomain: true,
      sampleRate: 16000,
      encoding: "pcm_s16le",
      keyterms: "metoprolol\nlisinopril",
      speakerLabels: false,
      maxSpeakers: "",
      minTurnSilence: 800,
      maxTurnSilence: 3600,
      inactivityTimeout: "",
      formatTurns: false,
      prompt: "",
      keepRaw: false,
      idleTimeout: 30,
      frameMs: 100,
      connectTimeout: 10,
      terminationTimeout: 5,
      maxRetries: 5,
      retryDelayMs: 250,
    });
  }
  return nodes;
}

/**
 * Puts the live demo tab and its (global) config nodes in place, replacing an earlier demo and
 * leaving every other flow as it is.
 */
async function deployDemo(t) {
  const { demoFlow } = require(join(root, "demo/demo-flow.cjs"));
  const demo = demoFlow({ transcriber: transcriberNodes(t), baseUrl: editor, entities: t.entitiesConfig });
  const ids = new Set(demo.map((n) => n.id));
  const current = await (
    await fetch(`${editor}/flows`, { headers: { "Node-RED-API-Version": "v2" } })
  ).json();
  const kept = current.flows.filter((n) => !ids.has(n.id) && !ids.has(n.z));
  const res = await fetch(`${editor}/flows`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "Node-RED-API-Version": "v2",
      "Node-RED-Deployment-Type": "full",
    },
    body: JSON.stringify({ rev: current.rev, flows: [...kept, ...demo] }),
  });
  if (!res.ok) throw new Error(`Node-RED refused the demo flow: HTTP ${res.status} ${await res.text()}`);
}
