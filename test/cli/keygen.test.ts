import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, temporaryDir } from "./attestation-cli.js";

function opensslKeyId(publicKey: string): string {
  const der = execFileSync("openssl", ["pkey", "-pubin", "-in", publicKey, "-outform", "DER"]);
  return execFileSync("openssl", ["dgst", "-sha256", "-r"], { input: der }).toString().split(" ")[0]!;
}

for (const [algorithm, opensslType] of [["ecdsa-p256", "prime256v1"], ["ed25519", "ED25519"]] as const) {
  test(`keygen: ${algorithm} pair openssl reads`, () => {
    const dir = temporaryDir("keygen-");
    const key = join(dir, "signing.pem");
    const result = runCli(["keygen", key, "--algorithm", algorithm, "--json"]);
    const output = JSON.parse(result.stdout);

    assert.equal(result.status, 0);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.equal(output.publicKey, join(dir, "signing.pub.pem"));
    assert.equal(output.keyId, opensslKeyId(output.publicKey));
    assert.match(execFileSync("openssl", ["pkey", "-in", key, "-noout", "-text"]).toString(), new RegExp(opensslType));
    assert.doesNotMatch(result.stdout + result.stderr, /PRIVATE KEY/);
  });
}

test("keygen: existing key kept without --force", () => {
  const dir = temporaryDir("keygen-");
  const key = join(dir, "k.pem");
  runCli(["keygen", key]);
  const before = readFileSync(key, "utf8");

  const again = runCli(["keygen", key]);
  assert.equal(again.status, 2);
  assert.equal(again.stderr, `migtd-repro: keygen: ${key} exists; give --force to replace it\n`);
  assert.equal(readFileSync(key, "utf8"), before);

  const forced = runCli(["keygen", key, "--force"]);
  assert.equal(forced.status, 0);
  assert.notEqual(readFileSync(key, "utf8"), before);
  assert.equal(statSync(key).mode & 0o777, 0o600);
});

test("keygen: public key path options", () => {
  const dir = temporaryDir("keygen-");
  const plain = runCli(["keygen", join(dir, "ci-key"), "--json"]);
  const named = runCli(["keygen", join(dir, "a.pem"), "--public-key", join(dir, "trusted.pem"), "--json"]);

  assert.equal(JSON.parse(plain.stdout).publicKey, join(dir, "ci-key.pub"));
  assert.equal(JSON.parse(named.stdout).publicKey, join(dir, "trusted.pem"));
});

test("keygen: unknown algorithm exits 2", () => {
  const dir = temporaryDir("keygen-");
  const result = runCli(["keygen", join(dir, "k.pem"), "--algorithm", "rsa"]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: keygen: --algorithm 'rsa' is not supported; use ecdsa-p256 or ed25519\n");
});

test("keygen: missing path exits 2", () => {
  const result = runCli(["keygen"]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /give one private key path/);
});

test("keygen: public key path equal to private", () => {
  const dir = temporaryDir("keygen-");
  const key = join(dir, "k.pem");
  const result = runCli(["keygen", key, "--public-key", join(dir, ".", "k.pem"), "--force"]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /is the private key's path; give another file/);
  assert.throws(() => statSync(key), { code: "ENOENT" });
});

test("keygen: bad public key folder writes nothing", () => {
  const dir = temporaryDir("keygen-");
  const publicKey = join(dir, "missing", "k.pub.pem");
  const result = runCli(["keygen", join(dir, "k.pem"), "--public-key", publicKey]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, `migtd-repro: cannot write ${publicKey}: folder ${join(dir, "missing")} does not exist\n`);
  assert.deepEqual(readdirSync(dir), []);
});
