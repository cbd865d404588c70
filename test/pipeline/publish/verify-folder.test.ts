import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parsePublicKeys } from "../../../attest/keys.js";
import { collectLocalRelease } from "../../../pipeline/publish/local-assets.js";
import { attestationVerifier } from "../../../pipeline/publish/verify-folder.js";
import { makeSignedFolder, type BuildFolder } from "../../cli/attestation-cli.js";
import { publishErrorOf } from "./publish-error.js";

/** Runs the pre-publish verification on a folder with the folder's own public key trusted. */
async function verifyFolder(folder: BuildFolder): Promise<void> {
  const keys = parsePublicKeys(readFileSync(folder.publicKey, "utf8"), folder.publicKey);
  await attestationVerifier({ keys })(await collectLocalRelease(folder.dir));
}

test("verify folder: signed folder passes", async () => {
  await assert.doesNotReject(verifyFolder(makeSignedFolder()));
});

test("verify folder: raw 48-byte hash accepted", async () => {
  const folder = makeSignedFolder();
  const hashFile = join(folder.dir, "release.servtd_info_hash");
  writeFileSync(hashFile, Buffer.from(readFileSync(hashFile, "utf8").trim(), "hex"));
  rmSync(join(folder.dir, "SHA256SUMS"));
  rmSync(join(folder.dir, "SHA384SUMS"));

  await assert.doesNotReject(verifyFolder(folder));
});

test("verify folder: wrong SERVTD_INFO_HASH fails", async () => {
  const folder = makeSignedFolder();
  writeFileSync(join(folder.dir, "release.servtd_info_hash"), `${"00".repeat(48)}\n`);
  rmSync(join(folder.dir, "SHA256SUMS"));
  rmSync(join(folder.dir, "SHA384SUMS"));

  const failure = await publishErrorOf(verifyFolder(folder));

  assert.equal(failure.code, "folder-unverified");
  assert.equal(failure.kind, "check-failed");
  assert.match(failure.message, /expected-servtd-info-hash: /);
});

test("verify folder: unlisted asset fails", async () => {
  const folder = makeSignedFolder();
  writeFileSync(join(folder.dir, "release.build.log"), "written after attest\n");

  const failure = await publishErrorOf(verifyFolder(folder));

  assert.match(failure.message, /SHA256SUMS does not list release\.build\.log/);
  assert.match(failure.message, /SHA384SUMS does not list release\.build\.log/);
});

test("verify folder: edited build record fails", async () => {
  const folder = makeSignedFolder();
  const record = JSON.parse(readFileSync(folder.record, "utf8"));
  record.buildId = "edited";
  writeFileSync(folder.record, JSON.stringify(record));

  const failure = await publishErrorOf(verifyFolder(folder));

  assert.match(failure.message, /SHA256SUMS gives release\.build\.json digest [0-9a-f]{64}, but the file has [0-9a-f]{64}/);
  assert.match(failure.message, /SHA384SUMS gives release\.build\.json digest [0-9a-f]{96}, but the file has [0-9a-f]{96}/);
});

test("verify folder: malformed checksum line", async () => {
  const folder = makeSignedFolder();
  writeFileSync(join(folder.dir, "SHA256SUMS"), `${readFileSync(join(folder.dir, "SHA256SUMS"), "utf8")}not a checksum line\n`);

  const failure = await publishErrorOf(verifyFolder(folder));

  assert.match(failure.message, /SHA256SUMS has a line that is not 'HEX {2}NAME': "not a checksum line"/);
});
