import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { AttestationError } from "../../attest/attestation-error.js";
import {
  generateSigningKey,
  parsePrivateKey,
  parsePublicKeys,
  signData,
  verifyData,
} from "../../attest/keys.js";

const work = mkdtempSync(join(tmpdir(), "keys-test-"));
process.once("exit", () => rmSync(work, { recursive: true, force: true }));

/** Key ID as openssl computes it: SHA-256 of the DER SubjectPublicKeyInfo. */
function opensslKeyId(publicPem: string): string {
  const path = join(work, `pub-${Math.random().toString(16).slice(2)}.pem`);
  writeFileSync(path, publicPem);
  const der = execFileSync("openssl", ["pkey", "-pubin", "-in", path, "-outform", "DER"]);
  const digest = execFileSync("openssl", ["dgst", "-sha256", "-r"], { input: der }).toString();
  return digest.split(" ")[0]!;
}

function assertCode(code: string) {
  return (error: unknown) => error instanceof AttestationError && error.code === code;
}

for (const algorithm of ["ecdsa-p256", "ed25519"] as const) {
  test(`keys: ${algorithm} key id matches openssl`, () => {
    const pair = generateSigningKey(algorithm);
    const expected = opensslKeyId(pair.publicPem);

    assert.equal(pair.keyId, expected);
    assert.equal(parsePrivateKey(pair.privatePem, "k").keyId, expected);
    assert.equal(parsePublicKeys(pair.publicPem, "k.pub")[0]!.keyId, expected);
    assert.equal(parsePrivateKey(pair.privatePem, "k").algorithm, algorithm);
  });

  test(`keys: ${algorithm} signature round trip`, () => {
    const pair = generateSigningKey(algorithm);
    const key = parsePrivateKey(pair.privatePem, "k");
    const publicKey = parsePublicKeys(pair.publicPem, "k.pub")[0]!;
    const data = Buffer.from("signed bytes");
    const signature = signData(key, data);

    assert.equal(verifyData(publicKey, data, signature), true);
    assert.equal(verifyData(publicKey, Buffer.from("other bytes"), signature), false);
    assert.equal(verifyData(publicKey, data, Buffer.from("not a signature")), false);
  });
}

test("keys: SEC1 EC private key accepted", () => {
  const path = join(work, "sec1.pem");
  execFileSync("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", path]);
  const pem = execFileSync("cat", [path]).toString();

  assert.match(pem, /BEGIN EC PRIVATE KEY/);
  assert.equal(parsePrivateKey(pem, path).algorithm, "ecdsa-p256");
});

test("keys: RSA key rejected by type", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privatePem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const publicPem = publicKey.export({ format: "pem", type: "spki" }).toString();

  assert.throws(() => parsePrivateKey(privatePem, "rsa.pem"), assertCode("key-type-unsupported"));
  assert.throws(() => parsePublicKeys(publicPem, "rsa.pub"), /rsa\.pub has unsupported key type 'rsa'/);
});

test("keys: P-384 key rejected by curve", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const pem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();

  assert.throws(() => parsePrivateKey(pem, "p384.pem"), /unsupported key type 'ec, curve secp384r1'/);
});

test("keys: encrypted private key rejected", () => {
  const { privateKey } = generateKeyPairSync("ed25519");
  const pem = privateKey
    .export({ format: "pem", type: "pkcs8", cipher: "aes-256-cbc", passphrase: "secret" })
    .toString();

  assert.throws(() => parsePrivateKey(pem, "enc.pem"), assertCode("key-encrypted"));
});

test("keys: garbage private key message has no content", () => {
  const secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0IGtleSBtYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";

  assert.throws(
    () => parsePrivateKey(secret, "bad.pem"),
    (error: unknown) =>
      error instanceof AttestationError &&
      error.code === "key-invalid" &&
      !error.message.includes("c2VjcmV0"),
  );
});

test("keys: public key file with two keys", () => {
  const first = generateSigningKey("ecdsa-p256");
  const second = generateSigningKey("ed25519");
  const keys = parsePublicKeys(`${first.publicPem}\n${second.publicPem}`, "trusted.pem");

  assert.deepEqual(
    keys.map((key) => [key.keyId, key.algorithm, key.source]),
    [
      [first.keyId, "ecdsa-p256", "trusted.pem (key 1)"],
      [second.keyId, "ed25519", "trusted.pem (key 2)"],
    ],
  );
});

test("keys: private key as trusted key rejected", () => {
  const pair = generateSigningKey("ed25519");

  assert.throws(() => parsePublicKeys(pair.privatePem, "oops.pem"), /'PRIVATE KEY' PEM block; expected 'PUBLIC KEY'/);
  assert.throws(() => parsePublicKeys("no pem here", "empty.pem"), assertCode("key-invalid"));
});
