import { strict as assert } from "node:assert";
import { tlsRefusal } from "../../../src/hospital/tls-options";

/** An error as Node's TLS socket raises it: OpenSSL's code and text. */
const opensslError = (code: string, text: string): Error => Object.assign(new Error(text), { code });

describe("TLS refusals, whatever OpenSSL names them", () => {
  it("knows a receiver's alert under OpenSSL 3.0 (Node 20, 22) and 3.5 (Node 24) names alike", () => {
    const alert40 =
      "error:0A000410:SSL routines:ssl3_read_bytes:%s alert handshake failure:rec_layer_s3.c:918:SSL alert number 40";
    const node20 = tlsRefusal(
      opensslError("ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", alert40.replace("%s", "sslv3")),
    );
    const node24 = tlsRefusal(
      opensslError("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE", alert40.replace("%s", "ssl/tls")),
    );
    assert.equal(node20?.reason, "tls-client-certificate");
    assert.deepEqual(node24, node20);
    assert.equal(node24?.code, "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE");
    const badCert = tlsRefusal(
      opensslError(
        "ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE",
        "ssl/tls alert bad certificate:SSL alert number 42",
      ),
    );
    assert.equal(badCert?.code, "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE");
  });

  it("leaves other failures to the connection-failure path", () => {
    assert.equal(tlsRefusal(opensslError("ECONNRESET", "read ECONNRESET")), undefined);
    assert.equal(
      tlsRefusal(
        opensslError("ERR_SSL_SSL/TLS_ALERT_DECODE_ERROR", "ssl/tls alert decode error:SSL alert number 50"),
      ),
      undefined,
    );
  });
});
