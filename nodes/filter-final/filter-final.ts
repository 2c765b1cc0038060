import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import {
  FilterOptionError,
  FinalFilter,
  filterOptions,
  MAX_PARTIAL_INTERVAL_MS,
  type FinalFilterOptions,
} from "../../src/routing/final-filter";
import { checkTranscriptResult } from "../../src/transcript/validate";
import { nodeScheduler, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { intake } from "../shared/intake";

interface FilterFinalDef extends NodeDef {
  partials: "drop" | "throttle";
  partialIntervalMs: string | number;
  dropEmpty: boolean;
}

export = function register(RED: NodeAPI): void {
  function FilterFinalNode(this: Node, def: FilterFinalDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = settingsOrRefuse(node, "filter-final", def, DEFAULTS);
    if (!config) return;
    let options: FinalFilterOptions;
    try {
      options = filterOptions(config.partials, config.partialIntervalMs, config.dropEmpty);
    } catch (err) {
      const key =
        err instanceof FilterOptionError && err.setting === "partials" ? "badPartials" : "badInterval";
      const error = new Error(RED._(`filter-final.errors.${key}`, { max: MAX_PARTIAL_INTERVAL_MS }));
      refuseEveryInput(node, "filter-final", error);
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
    // A held partial leaves later, outside any input handler, so it goes out through node.send, on a
    // timer whose errors reach Catch nodes.
    const filter = new FinalFilter<NodeMessage>(
      options,
      (msg) => pass(msg, (m) => node.send(m)),
      nodeScheduler(node, "filter-final"),
    );
    node.status({});

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload"];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "filter-final", msg, nodeRedDone, fieldsRead);
      if (!done) return;
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
