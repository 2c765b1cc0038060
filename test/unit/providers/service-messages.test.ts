import { strict as assert } from "node:assert";
import { knownServiceText } from "../../../src/providers/assemblyai/service-messages";
import { knownServiceMessage } from "../../../src/providers/aws/service-messages";
import { MESSAGES } from "../../emulators/aws/emulator";
import { FAULT_MESSAGES } from "../../emulators/assemblyai/server";

// A service's text reaches a log or a Catch error only when it is one the service is known to send:
// anything else may repeat what it was sent (an encounter number in a vocabulary name, a prompt).
describe("service texts fit for logs", () => {
  it("knows Amazon Transcribe's own messages, and nothing that merely starts like one", () => {
    for (const m of Object.values(MESSAGES)) {
      if (m === MESSAGES.speakerAndChannel) continue; // not captured from the service
      assert.equal(knownServiceMessage(m), m, m);
    }
    const expired =
      "Signature expired: 20261205T101010Z is now earlier than 20261205T101510Z (20261205T102010Z - 5 min.)";
    assert.equal(knownServiceMessage(expired), expired);
    for (const echo of [
      "Your stream is too big. Encounter 4711",
      "The requested vocabulary ENC-4711 does not exist",
      `${MESSAGES.idle} patient 4711`,
    ]) {
      assert.equal(knownServiceMessage(echo), undefined, echo);
    }
  });

  it("knows AssemblyAI's own error and warning texts, and not a validation text that repeats a value", () => {
    for (const m of Object.values(FAULT_MESSAGES)) assert.equal(knownServiceText(m), m, m);
    assert.ok(
      knownServiceText(
        "Input Duration Error: Audio Transmission Rate Exceeded: Received 314.9 sec. audio in 1.312326 sec",
      ),
    );
    assert.ok(knownServiceText("Session terminated due to inactivity: No messages received for 5 seconds"));
    assert.equal(
      knownServiceText("User Input Validation Error: Invalid 'keyterms_prompt': MRN 4711"),
      undefined,
    );
    assert.equal(knownServiceText("Too many concurrent sessions for patient 4711"), undefined);
  });
});
