import type { Node, NodeAPI, NodeDef, NodeMessage } from "node-red";
import {
  evaluateGate,
  GATE_MODES,
  parseUnitInterval,
  type GateMode,
} from "../../src/routing/confidence-gate";
import type { TranscriptResult } from "../../src/transcript/result";
import { checkTranscriptResult } from "../../src/transcript/validate";
import { asError, evaluateTypedProperty, StatusReporter } from "../shared/node-red";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";
import { refuseEveryInput } from "../shared/repeated-reports";
import { copyMessage, intake, msgRoot, outgoing } from "../shared/intake";

interface ConfidenceGateDef extends NodeDef {
  mode: GateMode;
  threshold: string;
  thresholdType: string;
  maxLowShare: string | number;
}

export = function register(RED: NodeAPI): void {
  function ConfidenceGateNode(this: Node, def: ConfidenceGateDef): void {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = settingsOrRefuse(node, "confidence-gate", def, DEFAULTS);
    if (!config) return;

    let maxLowShare: number;
    let fixedThreshold: number | undefined;
    try {
      if (!GATE_MODES.includes(config.mode)) {
        throw new Error(RED._("confidence-gate.errors.badMode", { modes: GATE_MODES.join(", ") }));
      }
      maxLowShare = parseUnitInterval(config.maxLowShare, RED._("confidence-gate.label.maxLowShare"));
      // A constant threshold is checked once at deploy; a message-dependent one on every message.
      if (config.thresholdType === "num") {
        fixedThreshold = parseUnitInterval(config.threshold, RED._("confidence-gate.label.threshold"));
      }
    } catch (err) {
      const error = asError(err);
      refuseEveryInput(node, "confidence-gate", error);
      return;
    }

    const counts = { pass: 0, review: 0 };
    const status = new StatusReporter(node, () => ({
      fill: counts.review > 0 ? "yellow" : "green",
      shape: "dot",
      text: RED._("confidence-gate.status.counts", counts),
    }));
    node.status({});

    const route = (
      msg: NodeMessage,
      result: TranscriptResult,
      threshold: number,
    ): Array<NodeMessage | null> => {
      const { route: output, ...decision } = evaluateGate(result, {
        mode: config.mode,
        threshold,
        maxLowShare,
      });
      const out = outgoing((m) => RED.util.cloneMessage(m), msg);
      out.confidenceGate = { ...decision, passed: output === "pass" };
      counts[output]++;
      status.update();
      return output === "pass" ? [out, null] : [null, out];
    };

    // The message fields this node reads, checked once at intake (nodes/shared/intake.ts).
    const fieldsRead = ["topic", "payload", ...msgRoot(config.thresholdType, config.threshold)];
    node.on("input", (msg, send, nodeRedDone) => {
      const done = intake(node, "confidence-gate", msg, nodeRedDone, fieldsRead);
      if (!done) return;
      const checked = checkTranscriptResult(msg.payload);
      if (!checked.ok) {
        done(checked.error);
        return;
      }
      if (checked.value.withdrawn === true) {
        // A withdrawal removes a partial wherever it went: partials without confidences go to review,
        // others may pass, so it leaves on both outputs, undecided and uncounted.
        // Two sends: Node-RED deep-copies every message after the first of one send, and its copy of a
        // message holding an array of 2^32-1 holes (in a field this node never reads) runs out of memory.
        send([msg, null]);
        send([null, copyMessage((m) => RED.util.cloneMessage(m), msg)]);
        done();
        return;
      }
      // A constant threshold keeps the node synchronous, so results leave in the order they came.
      if (fixedThreshold !== undefined) {
        send(route(msg, checked.value, fixedThreshold));
        done();
        return;
      }
      evaluateTypedProperty(RED, node, config.threshold, config.thresholdType, msg)
        .then((value) => {
          const threshold = parseUnitInterval(
            value,
            RED._("confidence-gate.label.thresholdFrom", { source: config.thresholdType }),
            { echo: false },
          );
          send(route(msg, checked.value, threshold));
          done();
        })
        .catch((err: unknown) => done(asError(err)));
    });

    node.on("close", (_removed: boolean, done: () => void) => {
      status.close();
      done();
    });
  }

  RED.nodes.registerType("confidence-gate", ConfidenceGateNode);
};
