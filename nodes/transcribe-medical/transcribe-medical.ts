import type { Node, NodeAPI } from "node-red";
import { checkMedicalParams } from "../../src/providers/aws/params";
import { medicalService } from "../../src/providers/aws/service";
import { runAwsStreamingNode, type AwsStreamingDef } from "../shared/aws-streaming";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";

interface TranscribeMedicalDef extends AwsStreamingDef {
  specialty: string;
  medicalType: string;
  sampleRate: string | number;
  mediaEncoding: string;
  showSpeakerLabel: boolean;
  channelIdentification: boolean;
  contentIdentification: string;
  vocabularyName: string;
}

export = function register(RED: NodeAPI): void {
  function TranscribeMedicalNode(this: Node, def: TranscribeMedicalDef): void {
    RED.nodes.createNode(this, def);
    // A flow may hold only id, type, z, wires and aws: the editor's defaults for the rest.
    const config = settingsOrRefuse(this, "transcribe-medical", def, DEFAULTS);
    if (!config) return;
    runAwsStreamingNode(
      RED,
      this,
      config,
      "transcribe-medical",
      () =>
        checkMedicalParams({
          specialty: config.specialty,
          type: config.medicalType,
          sampleRate: config.sampleRate,
          mediaEncoding: config.mediaEncoding,
          showSpeakerLabel: config.showSpeakerLabel,
          channelIdentification: config.channelIdentification,
          contentIdentification: config.contentIdentification,
          vocabularyName: config.vocabularyName,
        }),
      medicalService,
    );
  }

  RED.nodes.registerType("transcribe-medical", TranscribeMedicalNode);
};
