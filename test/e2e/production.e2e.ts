import { strict as assert } from "node:assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createDecipheriv, createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { dirname, join } from "node:path";
import { freePort } from "../support/node-red-process";
import { tempDir } from "../support/temp-dir";

const root = join(__dirname, "../..");
const doc = readFileSync(join(root, "docs/production.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string };
const tls = join(root, "test/fixtures/tls");

/** The first fenced block of a language in docs/production.md. */
function block(lang: string): string {
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(doc);
  assert.ok(m?.[1], `docs/production.md has a ${lang} block`);
  return m[1];
}

interface Answer {
  status: number;
  body: string;
}

function fetchTls(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method: options.method ?? "GET",
        headers: options.headers,
        ca: readFileSync(join(tls, "receiver-cert.pem")),
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

function plainHttp(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = httpRequest(url, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
    req.setTimeout(3000, () => req.destroy());
  });
}

/**
 * docs/production.md as an operator follows it: the systemd unit's ExecStart command line (paths of
 * this machine put in), the settings.js shown, the secrets in the environment, the package installed in
 * the user directory. Checks what each setting is there for.
 */
describe("docs/production.md: the systemd unit's command line and the settings that matter, in a real Node-RED", function () {
  this.timeout(90000);
  const work = tempDir("nr-production-");
  const userDir = join(work, "var-lib-node-red");
  const secrets = {
    NODE_RED_CREDENTIAL_SECRET: "a credential secret of the test",
    admin: "admin password of the test",
    http: "http node password of the test",
  };
  let child: ChildProcess;
  let output = "";
  let base = "";
  let token = "";

  before(async () => {
    // Node-RED's own bcrypt, as `node-red admin hash-pw` uses it.
    const bcrypt = (await import("bcryptjs")) as unknown as { hashSync(s: string, rounds: number): string };
    mkdirSync(join(userDir, "node_modules", ...pkg.name.split("/").slice(0, -1)), { recursive: true });
    // `npm install @medstream/node-red-medical-transcription` in the user directory: here, a link.
    symlinkSync(root, join(userDir, "node_modules", ...pkg.name.split("/")), "dir");
    writeFileSync(join(userDir, "package.json"), JSON.stringify({ name: "node-red-project", private: true }));
    writeFileSync(join(userDir, "settings.js"), block("js"));
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    const unit = block("ini");
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
    const redJs = join(dirname(require.resolve("node-red/package.json")), "red.js");
    const args = execStart
      .split(" ")
      .map((a) =>
        a === "/usr/bin/node"
          ? process.execPath
          : a === "/usr/lib/node_modules/node-red/red.js"
            ? redJs
            : a.replace("/var/lib/node-red", userDir).replace(/^1880$/, String(port)),
      );
    assert.deepEqual(args.slice(2), [
      "--userDir",
      userDir,
      "--port",
      String(port),
      "--settings",
      join(userDir, "settings.js"),
    ]);
    child = spawn(args[0] ?? "", args.slice(1), {
      cwd: userDir,
      env: {
        ...process.env,
        NODE_RED_CREDENTIAL_SECRET: secrets.NODE_RED_CREDENTIAL_SECRET,
        NODE_RED_ADMIN_HASH: bcrypt.hashSync(secrets.admin, 8),
        NODE_RED_HTTP_NODE_HASH: bcrypt.hashSync(secrets.http, 8),
        NODE_RED_TLS_KEY: join(tls, "receiver-key.pem"),
        NODE_RED_TLS_CERT: join(tls, "receiver-cert.pem"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60000;
    while (!/Started flows|Flows stopped/.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`Node-RED did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  after(async () => {
    if (child?.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  });

  it("the unit file is valid for systemd (systemd-analyze verify), and a broken one is not", function () {
    if (!existsSync("/usr/bin/systemd-analyze")) this.skip();
    const verify = (text: string) => {
      const file = join(work, "node-red.service");
      writeFileSync(file, text);
      return spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", timeout: 30000 });
    };
    const good = verify(block("ini"));
    assert.equal(good.status, 0, good.stderr);
    const bad = verify(block("ini").replace("KillSignal=SIGINT", "KillSignal=SIGNOTHING"));
    assert.match(bad.stderr, /node-red\.service:\d+: Failed to parse signal name/);
  });

  it("loads the package's nodes from the user directory", async () => {
    assert.match(output, /Settings file\s+:.*settings\.js/);
    assert.doesNotMatch(output, /\[error\]|system-generated key/);
    const res = await fetchTls(`${base}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_id: "node-red-admin",
        grant_type: "password",
        scope: "*",
        username: "admin",
        password: secrets.admin,
      }),
    });
    assert.equal(res.status, 200, res.body);
    token = (JSON.parse(res.body) as { access_token: string }).access_token;
    const nodes = await fetchTls(`${base}/nodes`, {
      headers: { accept: "application/json", authorization: `Bearer ${token}` },
    });
    assert.equal(nodes.status, 200);
    assert.match(nodes.body, new RegExp(`"module":"${pkg.name}"`));
  });

  it("serves only HTTPS: plain HTTP gets no answer", async () => {
    const plain = await plainHttp(base.replace("https:", "http:") + "/");
    assert.doesNotMatch(plain, /^HTTP 200/);
  });

  it("adminAuth: the admin API refuses a request without a login, and a wrong password", async () => {
    assert.equal((await fetchTls(`${base}/flows`)).status, 401);
    const wrong = await fetchTls(`${base}/auth/token`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        client_id: "node-red-admin",
        grant_type: "password",
        scope: "*",
        username: "admin",
        password: "guess",
      }),
    });
    assert.equal(wrong.status, 403);
  });

  it("credentialSecret: a config node's credential is stored encrypted with it, and only with it", async () => {
    const apiKey = "assemblyai-key-of-the-production-test";
    const flows = [
      { id: "tab", type: "tab", label: "production" },
      {
        id: "aai",
        type: "assemblyai-config",
        name: "AssemblyAI",
        region: "us",
        endpoint: "",
        credentials: { apiKey },
      },
      {
        id: "ping",
        type: "http in",
        z: "tab",
        url: "/ping",
        method: "get",
        upload: false,
        x: 100,
        y: 100,
        wires: [["pong"]],
      },
      {
        id: "pong",
        type: "http response",
        z: "tab",
        statusCode: "200",
        headers: {},
        x: 300,
        y: 100,
        wires: [],
      },
    ];
    const res = await fetchTls(`${base}/flows`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        "Node-RED-Deployment-Type": "full",
      },
      body: JSON.stringify(flows),
    });
    assert.equal(res.status, 204, res.body);
    const deadline = Date.now() + 10000;
    while (!existsSync(join(userDir, "flows_cred.json")) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const stored = readFileSync(join(userDir, "flows_cred.json"), "utf8");
    assert.ok(!stored.includes(apiKey), "not in clear");
    const sealed = (JSON.parse(stored) as { $: string }).$;
    const key = createHash("sha256").update(secrets.NODE_RED_CREDENTIAL_SECRET).digest();
    const decipher = createDecipheriv("aes-256-ctr", key, Buffer.from(sealed.slice(0, 32), "hex"));
    const opened = decipher.update(sealed.slice(32), "base64", "utf8") + decipher.final("utf8");
    assert.deepEqual(JSON.parse(opened), { aai: { apiKey } });
  });

  it("httpNodeAuth: the flows' HTTP endpoints need their own login", async () => {
    assert.equal((await fetchTls(`${base}/ping`)).status, 401);
    const basic = Buffer.from(`transcribe:${secrets.http}`).toString("base64");
    const ping = () => fetchTls(`${base}/ping`, { headers: { authorization: `Basic ${basic}` } });
    let answer = await ping();
    // The deploy's flows may still be starting.
    for (let i = 0; i < 50 && answer.status === 404; i++) {
      await new Promise((r) => setTimeout(r, 100));
      answer = await ping();
    }
    assert.equal(answer.status, 200, output);
    const wrong = Buffer.from("transcribe:guess").toString("base64");
    assert.equal(
      (await fetchTls(`${base}/ping`, { headers: { authorization: `Basic ${wrong}` } })).status,
      401,
    );
  });

  it("stops within the unit's TimeoutStopSec on its KillSignal", async () => {
    const unit = block("ini");
    const signal = /^KillSignal=(\S+)$/m.exec(unit)?.[1] as NodeJS.Signals;
    const timeoutS = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    const started = Date.now();
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await Promise.race([exited, new Promise((r) => setTimeout(r, timeoutS * 1000))]);
    assert.notEqual(child.exitCode, null, `still running ${timeoutS} s after ${signal}`);
    assert.ok(Date.now() - started < timeoutS * 1000);
  });
});
