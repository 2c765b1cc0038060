import type { Node, NodeAPI } from "node-red";
import { standardService } from "../../src/providers/aws/service";
import { checkStandardParams } from "../../src/providers/aws/standard-params";
import { runAwsStreamingNode, type AwsStreamingDef } from "../shared/aws-streaming";
import { DEFAULTS } from "./defaults";
import { settingsOrRefuse } from "../shared/settings";

interface TranscribeStandardDef extends AwsStreamingDef {
  languageMode: string;
  languageCode: string;
  languageOptions: string;
  preferredLanguage: string;
  sampleRate: string | number;
  mediaEncoding: string;
  stability: string;
  showSpeakerLabel: boolean;
  channelIdentification: boolean;
  vocabularyNames: string;
  vocabularyFilterNames: string;
  vocabularyFilterMethod: string;
  pii: string;
  piiEntityTypes: string;
  languageModelName: string;
}

export = function register(RED: NodeAPI): void {
  function TranscribeStandardNode(this: Node, def: TranscribeStandardDef): void {
    RED.nodes.createNode(this, def);
    // A flow may hold only id, type, z, wires and aws: the editor's defaults for the rest.
    const config = settingsOrRefuse(this, "transcribe-standard", def, DEFAULTS);
    if (!config) return;
    runAwsStreamingNode(
      RED,
      this,
      config,
      "transcribe-standard",
      () =>
        checkStandardParams({
          languageMode: config.languageMode,
          languageCode: config.languageCode,
          languageOptions: config.languageOptions,
          preferredLanguage: config.preferredLanguage,
          sampleRate: config.sampleRate,
          mediaEncoding: config.mediaEncoding,
          stability: config.stability,
          showSpeakerLabel: config.showSpeakerLabel,
          channelIdentification: config.channelIdentification,
          vocabularyNames: config.vocabularyNames,
          vocabularyFilterNames: config.vocabularyFilterNames,
          vocabularyFilterMethod: config.vocabularyFilterMethod,
          pii: config.pii,
          piiEntityTypes: config.piiEntityTypes,
          languageModelName: config.languageModelName,
        }),
      standardService,
    );
  }

  RED.nodes.registerType("transcribe-standard", TranscribeStandardNode);
};
