import { strict as assert } from "node:assert";
import { deliveryChecks, type NodeConfig } from "../../../src/review/delivery-checks";

/** A flow as RED.nodes.eachNode gives it, looked up by id. */
const flow = (nodes: NodeConfig[]): ((id: string) => NodeConfig | undefined) => {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return (id) => byId.get(id);
};

const reached = (targets: string[], nodes: NodeConfig[]): string[] =>
  deliveryChecks(targets, flow(nodes))
    .map((c) => `${c.type} ${c.node}`)
    .sort();

describe("review-queue intake: which delivery nodes' checks apply", () => {
  const mdm = (id: string, extra: Record<string, unknown> = {}): NodeConfig => ({
    id,
    type: "hl7-mdm",
    ...extra,
  });
  const fhir = (id: string): NodeConfig => ({ id, type: "fhir-document" });

  it("checks a delivery node wired straight to the output", () => {
    assert.deepEqual(reached(["m"], [mdm("m"), fhir("f")]), ["hl7-mdm m"]);
  });

  it("follows junctions and link out → link in, which pass the message on unchanged", () => {
    const nodes: NodeConfig[] = [
      { id: "j", type: "junction", wires: [["lo", "f"]] },
      { id: "lo", type: "link out", mode: "link", links: ["li1", "li2"] },
      { id: "li1", type: "link in", wires: [["m"]] },
      { id: "li2", type: "link in", wires: [["j2"]] },
      { id: "j2", type: "junction", wires: [["m2"]] },
      mdm("m"),
      mdm("m2"),
      fhir("f"),
    ];
    assert.deepEqual(reached(["j"], nodes), ["fhir-document f", "hl7-mdm m", "hl7-mdm m2"]);
  });

  it("stops at any other node, a link out that returns, a disabled node, and ends on loops", () => {
    const nodes: NodeConfig[] = [
      { id: "change", type: "change", wires: [["m"]] },
      { id: "ret", type: "link out", mode: "return", links: ["li"] },
      { id: "li", type: "link in", wires: [["m"]] },
      { id: "off", type: "junction", d: true, wires: [["m"]] },
      { id: "loop1", type: "junction", wires: [["loop2"]] },
      { id: "loop2", type: "junction", wires: [["loop1", "f"]] },
      mdm("m"),
      mdm("m-off", { d: true }),
      fhir("f"),
    ];
    assert.deepEqual(reached(["change", "ret", "off", "m-off"], nodes), []);
    assert.deepEqual(reached(["loop1"], nodes), ["fhir-document f"]);
  });

  it("does not check a node on a disabled flow tab, nor follow a link into one", () => {
    const nodes: NodeConfig[] = [
      { id: "off-tab", type: "tab", disabled: true },
      { id: "on-tab", type: "tab", disabled: false },
      { id: "lo", type: "link out", mode: "link", links: ["li-off", "li-on"], z: "on-tab" },
      { id: "li-off", type: "link in", wires: [["m-on-off-tab"]], z: "off-tab" },
      { id: "li-on", type: "link in", wires: [["m"]], z: "on-tab" },
      mdm("m-on-off-tab", { z: "off-tab" }),
      mdm("m", { z: "on-tab" }),
      mdm("m2", { z: "off-tab" }),
    ];
    assert.deepEqual(reached(["lo", "m2"], nodes), ["hl7-mdm m"]);
  });

  it("is linear in the flow: a chain of 100,000 junctions is walked once", () => {
    const nodes: NodeConfig[] = [];
    for (let i = 0; i < 100_000; i++)
      nodes.push({ id: `j${i}`, type: "junction", wires: [[`j${i + 1}`, "m"]] });
    nodes.push(mdm("m"));
    assert.deepEqual(reached(["j0"], nodes), ["hl7-mdm m"]);
  });

  it("does not check a node reading the patient from anywhere but msg", () => {
    assert.deepEqual(reached(["m"], [mdm("m", { patientType: "flow", patient: "p" })]), []);
  });
});
