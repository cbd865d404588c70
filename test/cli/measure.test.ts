import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { packagePath } from "../../config/package-root.js";
import { OVMF_MRTD_SINGLE_PASS, ovmfCodeFixture } from "../helpers/fixtures.js";
import { runCli, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, expectedMrtd, extend, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const OVMF = packagePath("test", "fixtures", "ovmf-debian-bookworm", "OVMF.fd");
const POLICY = Buffer.from("{}");
const ROOT_CA = Buffer.from("CA");

function migtdFile() {
  const { image, sections } = buildMigtdImage({
    size: 0x40000,
    cfvSize: 0x4000,
    files: [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }],
    seed: 2,
  });
  const path = join(tempDir(), "migtd.bin");
  writeFileSync(path, image);
  return { path, image, sections };
}

test("measure: OVMF fixture text report", () => {
  const result = runCli(["measure", OVMF]);

  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /^sha256: +7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773$/m);
  assert.match(result.stdout, /^Metadata: +OVMF GUID table at 0x[0-9a-f]+, TDVF descriptor at 0x1ff7c0, 6 sections$/m);
  assert.match(result.stdout, /^0 +BFV +0x20000-0x200000 +0xffe20000-0x100000000 +MR\.EXTEND$/m);
  assert.match(result.stdout, /^4 +TD_HOB +- +0x809000-0x80b000 +none \(PAGE\.ADD only\)$/m);
  assert.match(result.stdout, new RegExp(`^MRTD single-pass: ${OVMF_MRTD_SINGLE_PASS}$`, "m"));
  assert.doesNotMatch(result.stdout, /MigTD RTMRs/);
});

test("measure: MigTD image JSON report", () => {
  const { path, image, sections } = migtdFile();
  const zero = Buffer.alloc(48);

  const result = runCli(["measure", path, "--json"]);
  const report = JSON.parse(result.stdout) as {
    metadata: { layout: string; sections: { typeName: string; memoryAddress: string }[] };
    mrtd: { singlePass: string; twoPass: string };
    cfv: { files: { guid: string; knownName: string; size: number }[] };
    migtdRtmrs: { policyVersion: number; rtmr: string[] };
  };

  assert.equal(result.status, 0);
  assert.equal(report.metadata.layout, "td-shim");
  assert.equal(report.metadata.sections[3]!.memoryAddress, "0xfffc4000");
  assert.equal(report.mrtd.singlePass, expectedMrtd(image, sections, "single-pass").toString("hex"));
  assert.equal(report.mrtd.twoPass, expectedMrtd(image, sections, "two-pass").toString("hex"));
  assert.deepEqual(report.cfv.files.map((f) => [f.guid, f.knownName, f.size]), [
    [POLICY_GUID, "MigTD migration policy", 2],
    [ROOT_CA_GUID, "MigTD attestation root CA", 2],
  ]);
  assert.equal(report.migtdRtmrs.policyVersion, 1);
  assert.equal(report.migtdRtmrs.rtmr[2], extend(extend(zero, POLICY), ROOT_CA).toString("hex"));
});

test("measure: --expect-mrtd names the page order", () => {
  const { path, image, sections } = migtdFile();
  const twoPass = expectedMrtd(image, sections, "two-pass").toString("hex");

  const result = runCli(["measure", path, "--expect-mrtd", twoPass.toUpperCase()]);

  assert.equal(result.status, 0);
  assert.match(result.stdout, /^Expected MRTD: matches two-pass \(/m);
});

test("measure: --expect-mrtd with no match exits 1", () => {
  const result = runCli(["measure", OVMF, "--expect-mrtd", "00".repeat(48)]);

  assert.equal(result.status, 1);
  assert.match(result.stdout, /^Expected MRTD: reproduced by no page order/m);
});

test("measure: split OVMF_CODE.fd exits 2", () => {
  const path = join(tempDir(), "OVMF_CODE.fd");
  writeFileSync(path, ovmfCodeFixture());

  const result = runCli(["measure", path]);

  assert.equal(result.status, 2);
  assert.match(result.stderr, /^migtd-repro: TDVF section 0 \(BFV\) ends at 0x200000, 0x20000 bytes past the end of this 0x1e0000-byte file: this is the code half of a split firmware/);
  assert.equal(result.stderr.split("\n").length, 2);
});

test("measure: usage errors exit 2", () => {
  assert.equal(runCli(["measure"]).status, 2);
  assert.equal(runCli(["measure", OVMF, OVMF]).status, 2);
  assert.match(runCli(["measure", OVMF, "--expect-mrtd", "abc"]).stderr, /--expect-mrtd must be 96 hex digits \(48 bytes\), got 3 characters/);
});
