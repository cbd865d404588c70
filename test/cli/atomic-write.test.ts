import assert from "node:assert/strict";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { OutputFileError, writeFileAtomic } from "../../cli/atomic-write.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const POLICY = Buffer.from('{"policy":1}');
const ROOT_CA = Buffer.from("root CA");

/** Writes an image and enroll's two input files; returns the image path. */
function image(dir: string): string {
  const path = join(dir, "migtd.bin");
  writeFileSync(path, buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files: [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }], seed: 3 }).image);
  writeFileSync(join(dir, "policy.json"), POLICY);
  writeFileSync(join(dir, "ca.der"), ROOT_CA);
  return path;
}

function enroll(input: string, output: string): string[] {
  const dir = dirname(input);
  return ["enroll", input, "--policy", join(dir, "policy.json"), "--root-ca", join(dir, "ca.der"), "-o", output];
}

test("writeFileAtomic: missing folder named", async () => {
  const dir = tempDir();
  const path = join(dir, "missing", "out.bin");

  await assert.rejects(writeFileAtomic(path, "x"), (error) => {
    assert.ok(error instanceof OutputFileError);
    assert.equal(error.kind, "invalid-input");
    assert.equal(error.message, `cannot write ${path}: folder ${join(dir, "missing")} does not exist`);
    return true;
  });
  assert.deepEqual(readdirSync(dir), []);
});

test("writeFileAtomic: folder target leaves no file", async () => {
  const parent = tempDir();
  const target = join(parent, "out");
  mkdirSync(target);

  await assert.rejects(writeFileAtomic(target, "x"), { message: `${target} is a folder; give a file path` });
  assert.deepEqual(readdirSync(parent), ["out"]);
  assert.deepEqual(readdirSync(target), []);
});

test("writeFileAtomic: parent that is a file", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "file"), "");
  const path = join(dir, "file", "out.bin");

  await assert.rejects(writeFileAtomic(path, "x"), { message: `cannot write ${path}: ${join(dir, "file")} is not a folder` });
});

test("cli output: missing folder exits 2", () => {
  const dir = tempDir();
  const input = image(dir);
  const missing = join(dir, "nonexistent", "dir");
  const cases = [
    ["hash", "--image", input, "-o", join(missing, "x")],
    ["hash", "--image", input, "--output-td-info", join(missing, "x")],
    enroll(input, join(missing, "x")),
    ["keygen", join(missing, "x")],
  ];

  for (const args of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`cannot write ${join(missing, "x")}: folder ${missing} does not exist\\n$`));
  }
  assert.deepEqual(readdirSync(dir).sort(), ["ca.der", "migtd.bin", "policy.json"]);
});

test("cli output: folder target exits 2", () => {
  const parent = tempDir();
  const input = image(parent);
  const target = join(parent, "out");
  mkdirSync(target);

  for (const args of [["hash", "--image", input, "-o", target], enroll(input, target)]) {
    const result = runCli(args);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr, `migtd-repro: ${target} is a folder; give a file path\n`);
  }
  assert.deepEqual(readdirSync(parent).sort(), ["ca.der", "migtd.bin", "out", "policy.json"]);
  assert.deepEqual(readdirSync(target), []);
});
