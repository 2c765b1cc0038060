import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import { FinalFilter } from "../../src/routing/final-filter";
import { checkTranscriptResult } from "../../src/transcript/validate";
import { StatusReporter } from "../shared/node-red";

interface FilterFinalDef extends NodeDef {
  partials: "drop" | "throttle";
  partialIntervalMs: string | number;
  dropEmpty: boolean;
}

export = function register(RED: NodeAPI): void {
  function FilterFinalNode(this: Node, config: FilterFinalDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const interval = Number(config.partialIntervalMs);
    if (config.partials === "throttle" && !(Number.isFinite(interval) && interval >= 0)) {
      node.error(RED._("filter-final.errors.badInterval"));
      node.status({ fill: "red", shape: "ring", text: "filter-final.status.misconfigured" });
      node.on("input", (_msg, _send, done) => done(new Error(RED._("filter-final.errors.badInterval"))));
      return;
    }

    const counts = { passed: 0, dropped: 0 };
    const status = new StatusReporter(node, () => ({
      fill: "green",
      shape: "dot",
      text: RED._("filter-final.status.counts", counts),
    }));
    const pass = (msg: NodeMessage, send: (msg: NodeMessage) => void): void => {
      counts.passed++;
      status.update();
      send(msg);
    };
    // A held partial leaves later, outside any input handler, so it goes out through node.send.
    const filter = new FinalFilter<NodeMessage>(
      {
        partialIntervalMs: config.partials === "throttle" ? interval : null,
        dropEmpty: config.dropEmpty !== false,
      },
      (msg) => pass(msg, (m) => node.send(m)),
    );
    node.status({});

    node.on("input", (msg, send, done) => {
      const checked = checkTranscriptResult(msg.payload);
      if (!checked.ok) {
        done(checked.error);
        return;
      }
      const outcome = filter.accept(checked.value, msg);
      if (outcome === "passed") pass(msg, send);
      else if (outcome === "dropped-partial" || outcome === "dropped-empty") {
        counts.dropped++;
        status.update();
      }
      done();
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      filter.close();
      status.close();
      done();
    });
  }

  RED.nodes.registerType("filter-final", FilterFinalNode);
};
