import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

function write(dir: string, name: string, policy: string): string {
  const { image } = buildMigtdImage({
    size: 0x40000,
    cfvSize: 0x4000,
    files: [{ guid: POLICY_GUID, data: Buffer.from(policy) }, { guid: ROOT_CA_GUID, data: Buffer.from("CA") }],
    seed: 6,
  });
  const path = join(dir, name);
  writeFileSync(path, image);
  return path;
}

test("diff: identical images exit 0", () => {
  const dir = tempDir();
  const result = runCli(["diff", write(dir, "a.bin", "{}"), write(dir, "b.bin", "{}")]);

  assert.equal(result.status, 0);
  assert.match(result.stdout, /^Identical\.$/m);
});

test("diff: policy change is explained", () => {
  const dir = tempDir();
  const result = runCli(["diff", write(dir, "a.bin", '{"x":1}'), write(dir, "b.bin", '{"x":2}')]);

  assert.equal(result.status, 1);
  assert.match(result.stdout, /^1 byte differs in 1 range /m);
  assert.match(result.stdout, /^MRTD: same \([0-9a-f]{96}\)$/m);
  assert.match(result.stdout, /^SERVTD_INFO_HASH: differs$/m);
  // Policy data starts at 0x48 + 24 = 0x60; the digit is its sixth byte.
  assert.match(result.stdout, /^0x65-0x66 \(1 byte\): TDVF section 0 \(CFV\) \+0x65, GPA 0xff000065; CFV file 0be92dc3-6221-4c98-87c1-8eeffd70de5a \(MigTD migration policy\) data \+0x5$/m);
});

test("diff: --json report", () => {
  const dir = tempDir();
  const result = runCli(["diff", write(dir, "a.bin", '{"x":1}'), write(dir, "b.bin", '{"x":2}'), "--json"]);
  const report = JSON.parse(result.stdout) as { identical: boolean; ranges: { start: number; locations: { kind: string; memoryAddress?: string }[] }[] };

  assert.equal(result.status, 1);
  assert.equal(report.identical, false);
  assert.equal(report.ranges[0]!.start, 0x65);
  assert.equal(report.ranges[0]!.locations[0]!.memoryAddress, "0xff000065");
});

test("diff: unreadable or non-TD input exits 2", () => {
  const dir = tempDir();
  const a = write(dir, "a.bin", "{}");
  const junk = join(dir, "junk.bin");
  writeFileSync(junk, "not firmware");

  assert.equal(runCli(["diff", a, join(dir, "missing.bin")]).status, 2);
  assert.equal(runCli(["diff", a]).status, 2);
  const neither = runCli(["diff", junk, junk]);
  assert.equal(neither.status, 2);
  assert.match(neither.stderr, /neither .*junk\.bin nor .*junk\.bin has valid TD metadata/);
});
