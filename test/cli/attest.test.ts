import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { makeFixture } from "../attest/attestation-fixture.js";
import { makeBuildFolder, runCli, temporaryDir } from "./attestation-cli.js";

const TYPE = "application/vnd.in-toto+json";

function pae(payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${TYPE.length} ${TYPE} ${payload.length} `), payload]);
}

test("attest: writes attestation files", () => {
  const folder = makeBuildFolder();
  const result = runCli(["attest", folder.image, "--key", folder.privateKey]);

  assert.equal(result.status, 0, result.stderr);
  assert.deepEqual(readdirSync(folder.dir).sort(), [
    "SHA256SUMS",
    "SHA384SUMS",
    "release.bin",
    "release.build.json",
    "release.intoto.jsonl",
    "release.servtd_info_hash",
  ]);
  assert.equal(readFileSync(join(folder.dir, "release.servtd_info_hash"), "utf8"), `${folder.fixture.measurement.servtdInfoHash}\n`);
  assert.equal(readFileSync(join(folder.dir, "release.intoto.jsonl"), "utf8").trimEnd().split("\n").length, 3);
});

test("attest: sha256sum and sha384sum accept the lists", () => {
  const folder = makeBuildFolder();
  writeFileSync(join(folder.dir, "stray-key.pem"), folder.key.privatePem);
  runCli(["attest", folder.image, "--key", folder.privateKey]);

  for (const [tool, list] of [["sha256sum", "SHA256SUMS"], ["sha384sum", "SHA384SUMS"]]) {
    const output = execFileSync(tool!, ["-c", list!], { cwd: folder.dir }).toString();
    assert.match(output, /^release.bin: OK$/m);
    assert.match(output, /^release.intoto.jsonl: OK$/m);
    assert.doesNotMatch(readFileSync(join(folder.dir, list!), "utf8"), /stray-key/);
  }
});

for (const algorithm of ["ecdsa-p256", "ed25519"] as const) {
  test(`attest: openssl verifies every ${algorithm} line`, () => {
    const folder = makeBuildFolder(algorithm);
    runCli(["attest", folder.image, "--key", folder.privateKey]);
    const lines = readFileSync(join(folder.dir, "release.intoto.jsonl"), "utf8").trimEnd().split("\n");

    lines.forEach((line, index) => {
      const envelope = JSON.parse(line);
      const paePath = join(folder.dir, `.pae-${index}`);
      const sigPath = join(folder.dir, `.sig-${index}`);
      writeFileSync(paePath, pae(Buffer.from(envelope.payload, "base64")));
      writeFileSync(sigPath, Buffer.from(envelope.signatures[0].sig, "base64"));
      const args =
        algorithm === "ed25519"
          ? ["pkeyutl", "-verify", "-pubin", "-inkey", folder.publicKey, "-rawin", "-in", paePath, "-sigfile", sigPath]
          : ["dgst", "-sha256", "-verify", folder.publicKey, "-signature", sigPath, paePath];

      assert.equal(envelope.payloadType, TYPE);
      assert.match(execFileSync("openssl", args).toString(), /Verified OK|Signature Verified Successfully/);
    });
  });
}

test("attest: key from environment, never printed", () => {
  const folder = makeBuildFolder("ed25519");
  const result = runCli(["attest", folder.image], { env: { MIGTD_REPRO_SIGNING_KEY: folder.key.privatePem } });
  const body = folder.key.privatePem.split("\n")[1]!;

  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`signed 3 statements with key ${folder.key.signingKey.keyId}`));
  assert.equal((result.stdout + result.stderr).includes(body), false);
});

test("attest: no key exits 2", () => {
  const folder = makeBuildFolder();
  const result = runCli(["attest", folder.image]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: no signing key: give --key FILE or set MIGTD_REPRO_SIGNING_KEY\n");
});

test("attest: RSA key exits 2", () => {
  const folder = makeBuildFolder();
  const rsa = join(folder.dir, "..", "rsa.pem");
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(rsa, privateKey.export({ format: "pem", type: "pkcs8" }));
  const result = runCli(["attest", folder.image, "--key", rsa]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /has unsupported key type 'rsa'; only ECDSA P-256 and Ed25519/);
});

test("attest: record of another image exits 2", () => {
  const folder = makeBuildFolder();
  writeFileSync(folder.image, makeFixture(1024 * 1024, 99).image);
  const result = runCli(["attest", folder.image, "--key", folder.privateKey]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /the build record's image 'release.bin' has sha384/);
  assert.deepEqual(readdirSync(folder.dir).sort(), ["release.bin", "release.build.json"]);
});

test("attest: record with other measurement exits 2", () => {
  const folder = makeBuildFolder();
  const record = JSON.parse(readFileSync(folder.record, "utf8"));
  record.measurement.rtmr2 = "00".repeat(48);
  writeFileSync(folder.record, JSON.stringify(record));
  const result = runCli(["attest", folder.image, "--key", folder.privateKey]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, new RegExp(`does not describe release.bin: RTMR2 recorded ${"00".repeat(48)}, image gives ${folder.fixture.measurement.rtmr2}`));
});

test("attest: invalid build record exits 2", () => {
  const folder = makeBuildFolder();
  writeFileSync(folder.record, JSON.stringify({ schema: "other" }));
  const result = runCli(["attest", folder.image, "--key", folder.privateKey]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /release.build.json is not a migtd-repro build record: field schema/);
});

test("attest: builder id must be a URI", () => {
  const folder = makeBuildFolder();
  const result = runCli(["attest", folder.image, "--key", folder.privateKey, "--builder-id", "my laptop"]);

  assert.equal(result.status, 2);
  assert.equal(result.stderr, "migtd-repro: attest: --builder-id 'my laptop' is not a URI\n");
});

test("attest: demo key created once", async () => {
  const { demoSigningKey } = await import("../../cli/attestation-files.js");
  const config = temporaryDir("demo-key-");
  const first = await demoSigningKey({ XDG_CONFIG_HOME: config });
  const second = await demoSigningKey({ XDG_CONFIG_HOME: config });

  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.key.keyId, first.key.keyId);
  assert.equal(first.privateKeyPath, join(config, "migtd-repro", "demo-signing.pem"));
  assert.equal(statSync(first.privateKeyPath).mode & 0o777, 0o600);
  assert.match(readFileSync(first.publicKeyPath, "utf8"), /BEGIN PUBLIC KEY/);
});
