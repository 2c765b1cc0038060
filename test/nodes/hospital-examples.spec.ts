import { strict as assert } from "node:assert";
import { Hl7Message } from "@medplum/core";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import type { NodeInitializer, NodeMessage } from "node-red";
import type { AuditEvent } from "../../src/hospital/audit";
import { unescapeHl7 } from "../../src/hospital/hl7/escape";
import type { TranscriptDocument } from "../../src/transcript/document";
import type { DocumentReference } from "@medplum/fhirtypes";
import { medplumFhirPeer, type FhirPeer } from "../support/fhir-peers";
import { medplumPeer, type MedplumPeer } from "../support/hl7-peers";
import { type FlowNode, builtNodes, collect, delay, helper, runtimeLabel } from "../support/node-red";
import { tempDir } from "../support/temp-dir";

// The hospital example flows run as shipped with the core nodes they use; debug nodes become test
// sinks, and the MLLP endpoint is pointed at an independent receiver on 127.0.0.1.
const coreDir = join(
  dirname(
    require.resolve("@node-red/nodes/package.json", {
      paths: [
        dirname(
          require.resolve("node-red/package.json", { paths: [process.env.NODE_RED_DIR ?? process.cwd()] }),
        ),
      ],
    }),
  ),
  "core",
);
// eslint-disable-next-line @typescript-eslint/no-require-imports -- Node-RED's own core node, by path
const core = (file: string): NodeInitializer => require(join(coreDir, file)) as NodeInitializer;

const modules = [
  ...builtNodes([
    "confidence-gate",
    "transcript-document",
    "hl7-mdm",
    "mllp-out",
    "mllp-endpoint",
    "fhir-document",
    "fhir-server",
  ]),
  core("common/20-inject.js"),
  core("common/90-comment.js"),
];

function example(name: string, patch: (n: FlowNode) => FlowNode = (n) => n): FlowNode[] {
  const flow = JSON.parse(
    readFileSync(join(__dirname, "../../examples", `${name}.json`), "utf8"),
  ) as FlowNode[];
  return [
    { id: "tab", type: "tab" },
    ...flow.map((n) => patch({ ...n, z: "tab", ...(n.type === "debug" ? { type: "helper" } : {}) })),
  ];
}

describe(`hospital example flows (${runtimeLabel})`, () => {
  let peer: MedplumPeer | undefined;
  let fhirPeer: FhirPeer | undefined;
  // Node-RED always has a user directory: the examples' durable delivery queues live below it.
  const userDir = tempDir("hospital-examples-");
  before(() => helper.settings({ userDir }));
  after(() => rmSync(userDir, { recursive: true, force: true }));
  afterEach(async () => {
    await helper.unload();
    await peer?.close();
    await fhirPeer?.close();
    peer = undefined;
    fhirPeer = undefined;
    rmSync(join(userDir, "medstream-queue"), { recursive: true, force: true });
  });

  it("transcript-document-hl7-mllp.json: the visit reaches the receiver as MDM^T02, AA, with the weak segment in review", async () => {
    peer = await medplumPeer("AA");
    const port = String(peer.port);
    await helper.load(
      modules,
      example("transcript-document-hl7-mllp", (n) => (n.type === "mllp-endpoint" ? { ...n, port } : n)),
    );
    const accepted = collect("hm-debug-accepted");
    const rejected = collect("hm-debug-rejected");
    const audit = collect("hm-debug-audit");
    const review = collect("hm-debug-doc");
    for (const id of ["hm-r1", "hm-r2", "hm-r3"]) helper.getNode(id).receive({});
    await delay(50);
    helper.getNode("hm-flush").receive({});
    const deadline = Date.now() + 3000;
    while (accepted.length === 0 && Date.now() < deadline) await delay(20);
    assert.equal(rejected.length, 0);
    assert.equal((accepted[0] as NodeMessage & { delivery: { status: string } }).delivery.status, "accepted");
    assert.deepEqual(
      (review[0]?.payload as TranscriptDocument | undefined)?.review.map((r) => r.segmentId),
      ["seg-3"],
    );
    const received = peer.parsed[0];
    assert.ok(received);
    assert.equal(received.getSegment("MSH")?.getField(9).toString(), "MDM^T02^MDM_T02");
    assert.equal(received.getSegment("PID")?.getComponent(3, 1), "TEST-0001");
    assert.equal(received.getSegment("TXA")?.getField(17).toString(), "DO");
    assert.deepEqual(
      received.getAllSegments("OBX").map((s) => unescapeHl7(s.getField(5).toString())),
      [
        "spk_0: What brings you in today?",
        "spk_1: Chest tightness | worse on stairs.",
        "spk_0: Start metoprolol twenty five milligrams daily.",
      ],
    );
    assert.ok(audit.some((m) => (m.payload as AuditEvent).event === "delivered"));
    assert.ok(received instanceof Hl7Message);
  });

  it("transcript-document-fhir.json with its demo server selected: @medplum/fhir-router stores the document", async () => {
    const fhir = await medplumFhirPeer();
    fhirPeer = fhir;
    await helper.load(
      modules,
      example("transcript-document-fhir", (n) =>
        n.id === "fd-fhir"
          ? { ...n, server: "fd-server" }
          : n.id === "fd-server"
            ? { ...n, baseUrl: fhir.baseUrl }
            : n,
      ),
    );
    const delivered = collect("fd-debug-bundle");
    for (const id of ["fd-r1", "fd-r2"]) helper.getNode(id).receive({});
    await delay(50);
    helper.getNode("fd-flush").receive({});
    const deadline = Date.now() + 5000;
    while (delivered.length === 0 && Date.now() < deadline) await delay(20);
    assert.equal((delivered[0] as NodeMessage & { fhir: { status: string } }).fhir.status, "delivered");
    const docs = await fhir.repo.searchResources<DocumentReference>({ resourceType: "DocumentReference" });
    assert.equal(
      Buffer.from(docs[0]?.content[0]?.attachment.data ?? "", "base64").toString("utf8"),
      "spk_0: What brings you in today?\nspk_1: Chest tightness | worse on stairs.",
    );
  });

  it("transcript-document-fhir.json: the visit becomes a transaction Bundle ready to POST", async () => {
    await helper.load(modules, example("transcript-document-fhir"));
    const bundles = collect("fd-debug-bundle");
    const failed = collect("fd-debug-failed");
    for (const id of ["fd-r1", "fd-r2"]) helper.getNode(id).receive({});
    await delay(50);
    helper.getNode("fd-flush").receive({});
    await delay(200);
    assert.equal(failed.length, 0);
    assert.equal(bundles.length, 1);
    const msg = bundles[0] as NodeMessage & {
      method: string;
      fhir: { ifNoneExist: string; documentId: string };
    };
    assert.equal(msg.method, "POST");
    assert.match(msg.fhir.ifNoneExist, new RegExp(`urn%3Auuid%3A${msg.fhir.documentId}$`));
    const bundle = msg.payload as {
      type: string;
      entry: Array<{ resource: { resourceType: string; docStatus?: string } }>;
    };
    assert.equal(bundle.type, "transaction");
    assert.deepEqual(
      bundle.entry.map((e) => e.resource.resourceType),
      ["DocumentReference", "Provenance"],
    );
    assert.equal(bundle.entry[0]?.resource.docStatus, "preliminary");
  });
});
