import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { crypto as sigstoreCrypto, dsse as sigstoreDsse } from "@sigstore/core";
import { AttestationError } from "../../attest/attestation-error.js";
import {
  parseEnvelope,
  preAuthEncoding,
  signEnvelope,
  verifyEnvelopeSignatures,
} from "../../attest/dsse.js";
import { makeKeyPair, publicKeyOf } from "./attestation-fixture.js";

const work = mkdtempSync(join(tmpdir(), "dsse-test-"));
process.once("exit", () => rmSync(work, { recursive: true, force: true }));
const TYPE = "application/vnd.in-toto+json";
const PAYLOAD = Buffer.from('{"_type":"https://in-toto.io/Statement/v1","note":"\u00e9"}');

/** PAE written out by hand from the DSSE protocol, not with preAuthEncoding. */
function handPae(type: string, body: Buffer): Buffer {
  const typeBytes = Buffer.from(type, "utf8");
  return Buffer.concat([
    Buffer.from("DSSEv1 "),
    Buffer.from(String(typeBytes.length)),
    Buffer.from(" "),
    typeBytes,
    Buffer.from(" "),
    Buffer.from(String(body.length)),
    Buffer.from(" "),
    body,
  ]);
}

function file(name: string, data: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, data);
  return path;
}

test("dsse: PAE of the protocol's example", () => {
  const pae = preAuthEncoding("http://example.com/HelloWorld", Buffer.from("hello world"));

  assert.equal(pae.toString(), "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
});

test("dsse: PAE counts bytes, not characters", () => {
  assert.deepEqual(preAuthEncoding(TYPE, PAYLOAD), handPae(TYPE, PAYLOAD));
  assert.equal(preAuthEncoding("t\u00e9", Buffer.alloc(0)).toString(), "DSSEv1 3 t\u00e9 0 ");
});

test("dsse: openssl verifies ECDSA P-256 signature", () => {
  const pair = makeKeyPair("ecdsa-p256");
  const envelope = signEnvelope(PAYLOAD, TYPE, [pair.signingKey]);
  const pae = file("p256.pae", handPae(envelope.payloadType, Buffer.from(envelope.payload, "base64")));
  const signature = file("p256.sig", Buffer.from(envelope.signatures[0]!.sig, "base64"));
  const publicKey = file("p256.pub.pem", pair.publicPem);

  const output = execFileSync("openssl", ["dgst", "-sha256", "-verify", publicKey, "-signature", signature, pae]);
  assert.equal(output.toString().trim(), "Verified OK");
  assert.equal(envelope.signatures[0]!.keyid, pair.signingKey.keyId);
});

test("dsse: openssl verifies Ed25519 signature", () => {
  const pair = makeKeyPair("ed25519");
  const envelope = signEnvelope(PAYLOAD, TYPE, [pair.signingKey]);
  const pae = file("ed.pae", handPae(envelope.payloadType, Buffer.from(envelope.payload, "base64")));
  const signature = file("ed.sig", Buffer.from(envelope.signatures[0]!.sig, "base64"));
  const publicKey = file("ed.pub.pem", pair.publicPem);

  const output = execFileSync("openssl", [
    "pkeyutl", "-verify", "-pubin", "-inkey", publicKey, "-rawin", "-in", pae, "-sigfile", signature,
  ]);
  assert.equal(output.toString().trim(), "Signature Verified Successfully");
});

test("dsse: openssl rejects a changed payload", () => {
  const pair = makeKeyPair("ecdsa-p256");
  const envelope = signEnvelope(PAYLOAD, TYPE, [pair.signingKey]);
  const changed = Buffer.from(envelope.payload, "base64");
  changed[0] = changed[0]! ^ 1;
  const pae = file("changed.pae", handPae(TYPE, changed));
  const signature = file("changed.sig", Buffer.from(envelope.signatures[0]!.sig, "base64"));
  const publicKey = file("changed.pub.pem", pair.publicPem);

  assert.throws(() =>
    execFileSync("openssl", ["dgst", "-sha256", "-verify", publicKey, "-signature", signature, pae], { stdio: "pipe" }),
  );
});

for (const [algorithm, digest] of [["ecdsa-p256", "sha256"], ["ed25519", undefined]] as const) {
  test(`dsse: sigstore-js verifies ${algorithm} envelope`, () => {
    const pair = makeKeyPair(algorithm);
    const envelope = signEnvelope(PAYLOAD, TYPE, [pair.signingKey]);
    const pae = sigstoreDsse.preAuthEncoding(envelope.payloadType, Buffer.from(envelope.payload, "base64"));
    const key = sigstoreCrypto.createPublicKey(pair.publicPem);
    const signature = Buffer.from(envelope.signatures[0]!.sig, "base64");

    assert.equal(sigstoreCrypto.verify(pae, key, signature, digest), true);
    assert.equal(sigstoreCrypto.verify(Buffer.concat([pae, Buffer.from(" ")]), key, signature, digest), false);
  });
}

test("dsse: envelope has the DSSE field names", () => {
  const pair = makeKeyPair("ed25519");
  const envelope = JSON.parse(JSON.stringify(signEnvelope(PAYLOAD, TYPE, [pair.signingKey])));

  assert.deepEqual(Object.keys(envelope).sort(), ["payload", "payloadType", "signatures"]);
  assert.deepEqual(Object.keys(envelope.signatures[0]).sort(), ["keyid", "sig"]);
  assert.deepEqual(Buffer.from(envelope.payload, "base64"), PAYLOAD);
});

test("dsse: signature statuses by key", () => {
  const signer = makeKeyPair("ecdsa-p256", "signer");
  const other = makeKeyPair("ed25519", "other");
  const envelope = parseEnvelope(JSON.stringify(signEnvelope(PAYLOAD, TYPE, [signer.signingKey, other.signingKey])), "e");

  const statuses = verifyEnvelopeSignatures(envelope, [publicKeyOf(signer)]);
  assert.deepEqual(statuses.map((status) => status.status), ["verified", "untrusted"]);

  envelope.payload[0] = envelope.payload[0]! ^ 1;
  const changed = verifyEnvelopeSignatures(envelope, [publicKeyOf(signer)]);
  assert.deepEqual(changed.map((status) => status.status), ["invalid", "untrusted"]);
});

test("dsse: signature without keyid still verifies", () => {
  const signer = makeKeyPair("ed25519");
  const serialized = signEnvelope(PAYLOAD, TYPE, [signer.signingKey]);
  serialized.signatures[0]!.keyid = "";
  const envelope = parseEnvelope(JSON.stringify(serialized), "e");

  assert.equal(verifyEnvelopeSignatures(envelope, [publicKeyOf(signer)])[0]!.status, "verified");
});

test("dsse: URL-safe unpadded base64 accepted", () => {
  const payload = Buffer.from([0xfb, 0xff, 0xfe, 0x01]);
  const text = JSON.stringify({
    payload: payload.toString("base64url"),
    payloadType: TYPE,
    signatures: [{ keyid: "k", sig: "AQID" }],
  });

  assert.deepEqual(parseEnvelope(text, "e").payload, payload);
});

const BAD_ENVELOPES: [string, string, RegExp][] = [
  ["truncated line", '{"payload":"e30=","payloadType":"app', /^line 1 is not valid JSON \(.*\); the line may be truncated$/],
  ["JSON array", "[]", /^line 1 is not a JSON object; expected a DSSE envelope$/],
  ["missing payloadType", '{"payload":"e30=","signatures":[]}', /^line 1 has no string 'payloadType'/],
  ["missing payload", `{"payloadType":"${TYPE}","signatures":[]}`, /^line 1 has no string 'payload'/],
  ["missing signatures", `{"payload":"e30=","payloadType":"${TYPE}"}`, /^line 1 has no 'signatures' array/],
  ["invalid base64 payload", `{"payload":"e30*","payloadType":"${TYPE}","signatures":[]}`, /^line 1 payload is not valid base64 \(character '\*' at offset 3\)$/],
  ["bad base64 length", `{"payload":"e30=e","payloadType":"${TYPE}","signatures":[]}`, /^line 1 payload is not valid base64/],
  ["invalid base64 sig", `{"payload":"e30=","payloadType":"${TYPE}","signatures":[{"keyid":"k","sig":"!!"}]}`, /^line 1 signature 1 'sig' is not valid base64/],
  ["signature without sig", `{"payload":"e30=","payloadType":"${TYPE}","signatures":[{"keyid":"k"}]}`, /^line 1 signature 1 has no string 'sig'$/],
  ["empty sig", `{"payload":"e30=","payloadType":"${TYPE}","signatures":[{"keyid":"k","sig":""}]}`, /^line 1 signature 1 has an empty 'sig'$/],
];

for (const [name, text, message] of BAD_ENVELOPES) {
  test(`dsse: ${name} rejected`, () => {
    assert.throws(
      () => parseEnvelope(text, "line 1"),
      (error: unknown) =>
        error instanceof AttestationError && error.code === "envelope-invalid" && message.test(error.message),
    );
  });
}

test("dsse: envelope without signatures parses", () => {
  const envelope = parseEnvelope(`{"payload":"e30=","payloadType":"${TYPE}","signatures":[]}`, "e");

  assert.equal(envelope.signatures.length, 0);
  assert.deepEqual(verifyEnvelopeSignatures(envelope, [publicKeyOf(makeKeyPair("ed25519"))]), []);
});
