import assert from "node:assert/strict";
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, extend, guidBytes, ISSUER_CHAIN_GUID, POLICY_GUID } from "../helpers/tdshim-image.js";

const CFV_SIZE = 0x4000;

function setup() {
  const dir = tempDir();
  const image = buildMigtdImage({ size: 0x40000, cfvSize: CFV_SIZE, files: [], seed: 4 }).image;
  const files = {
    image: join(dir, "migtd.bin"),
    policy: join(dir, "policy.json"),
    rootCa: join(dir, "root.cer"),
    chain: join(dir, "chain.pem"),
    output: join(dir, "enrolled.bin"),
  };
  writeFileSync(files.image, image);
  writeFileSync(files.policy, '{"policy":"enroll test"}\n');
  writeFileSync(files.rootCa, "DER bytes of a root CA");
  writeFileSync(files.chain, "PEM issuer chain");
  return { dir, image, files };
}

test("enroll: policy v1 then hash", () => {
  const { image, files } = setup();
  const rtmr2 = extend(extend(Buffer.alloc(48), readFileSync(files.policy)), readFileSync(files.rootCa));

  const enroll = runCli(["enroll", files.image, "--policy", files.policy, "--root-ca", files.rootCa, "-o", files.output]);
  const output = readFileSync(files.output);
  const hash = runCli(["hash", "--image", files.output, "--output-td-info", join(files.output + ".json")]);

  assert.equal(enroll.status, 0, enroll.stderr);
  assert.equal(output.length, image.length);
  assert.equal(output.subarray(0x78, 0x88).toString("hex"), guidBytes(POLICY_GUID).toString("hex"));
  assert.equal(output.subarray(CFV_SIZE).toString("hex"), image.subarray(CFV_SIZE).toString("hex"));
  assert.equal(hash.status, 0, hash.stderr);
  const tdInfo = JSON.parse(readFileSync(files.output + ".json", "utf8")) as { rtmr2: string };
  assert.equal(tdInfo.rtmr2, rtmr2.toString("hex"));
});

test("enroll: policy v2 then hash", () => {
  const { files } = setup();
  const separator = extend(Buffer.alloc(48), Buffer.alloc(4));
  const rtmr1 = extend(separator, readFileSync(files.chain));

  const enroll = runCli(["enroll", files.image, "--policy", files.policy, "--policy-v2", "--policy-issuer-chain", files.chain, "-o", files.output]);
  const hash = runCli(["hash", "--image", files.output, "--policy-v2", "--output-td-info", files.output + ".json"]);

  assert.equal(enroll.status, 0, enroll.stderr);
  assert.equal(hash.status, 0, hash.stderr);
  const output = readFileSync(files.output);
  const policyFileSize = Math.ceil((24 + readFileSync(files.policy).length) / 8) * 8;
  assert.equal(output.subarray(0x78 + policyFileSize, 0x78 + policyFileSize + 16).toString("hex"), guidBytes(ISSUER_CHAIN_GUID).toString("hex"));
  const tdInfo = JSON.parse(readFileSync(files.output + ".json", "utf8")) as { rtmr1: string };
  assert.equal(tdInfo.rtmr1, rtmr1.toString("hex"));
});

test("enroll: rejects bad input, writes nothing", () => {
  const { dir, files } = setup();
  const notJson = join(dir, "policy.txt");
  writeFileSync(notJson, "policy: yes");
  const large = join(dir, "large.cer");
  writeFileSync(large, Buffer.alloc(CFV_SIZE));

  const cases: [string[], RegExp][] = [
    [["--policy", notJson, "--root-ca", files.rootCa], /migration policy is not valid JSON/],
    [["--policy", files.policy, "--root-ca", large], /enrolled files need \d+ bytes with headers, but the CFV at 0x0 holds 16384/],
    [["--policy", files.policy, "--policy-v2", "--root-ca", files.rootCa], /--policy-v2 takes --policy-issuer-chain and no --root-ca/],
    [["--policy", files.policy, "--policy-issuer-chain", files.chain], /policy v1 takes --root-ca/],
    [["--root-ca", files.rootCa], /--policy is required/],
  ];
  for (const [options, pattern] of cases) {
    const result = runCli(["enroll", files.image, ...options, "-o", files.output]);
    assert.equal(result.status, 2, options.join(" "));
    assert.match(result.stderr, pattern);
    assert.equal(existsSync(files.output), false);
  }
});
