import assert from "node:assert/strict";
import { test } from "node:test";
import { MeasureError } from "../../attest/measure-error.js";
import { computeMrtd, mrtdInputSize } from "../../attest/mrtd.js";
import { parseTdMetadata } from "../../attest/td-metadata.js";
import { OVMF_MRTD_SINGLE_PASS, ovmfFixture } from "../helpers/fixtures.js";
import { buildImage, expectedMrtd, type ImageSpec, type SectionSpec } from "../helpers/tdshim-image.js";

// Sections that exercise every branch of the block stream:
// - MR.EXTEND with raw data ending mid-chunk and a zero-filled tail;
// - PAGE.ADD only, PAGE.AUG (skipped), PAGE.AUG with MR.EXTEND (extend only);
// - a GPA above 4 GiB whose pages cross a 4 GiB boundary;
// - a TdInfo section that loads less than its raw data.
const SECTIONS: SectionSpec[] = [
  { type: 0, attributes: 1, gpa: 0xfffe0000n, memorySize: 0x3000n, dataOffset: 0x1000, rawSize: 0x1a30 },
  { type: 3, attributes: 0, gpa: 0x800000n, memorySize: 0x2000n, dataOffset: 0, rawSize: 0 },
  { type: 4, attributes: 2, gpa: 0x900000n, memorySize: 0x4000n, dataOffset: 0, rawSize: 0 },
  { type: 5, attributes: 3, gpa: 0xa00000n, memorySize: 0x1000n, dataOffset: 0x3000, rawSize: 0x1000 },
  { type: 5, attributes: 1, gpa: 0x1_ffff_f000n, memorySize: 0x2000n, dataOffset: 0x4000, rawSize: 0x2000 },
  { type: 7, attributes: 1, gpa: 0n, memorySize: 0n, dataOffset: 0x6000, rawSize: 0x100 },
];

function image(): { bytes: Buffer; spec: ImageSpec } {
  const spec: ImageSpec = { size: 0x10000, layout: "td-shim", sections: SECTIONS, metadataOffset: 0xe000, seed: 7 };
  return { bytes: buildImage(spec), spec };
}

test("computeMrtd: OVMF fixture matches its README", () => {
  const bytes = ovmfFixture();

  assert.equal(computeMrtd(bytes, parseTdMetadata(bytes), "single-pass").toString("hex"), OVMF_MRTD_SINGLE_PASS);
});

test("computeMrtd: single-pass matches hand-built blocks", () => {
  const { bytes, spec } = image();
  const expected = expectedMrtd(bytes, spec.sections, "single-pass");

  assert.equal(computeMrtd(bytes, parseTdMetadata(bytes), "single-pass").toString("hex"), expected.toString("hex"));
});

test("computeMrtd: two-pass matches hand-built blocks", () => {
  const { bytes, spec } = image();
  const expected = expectedMrtd(bytes, spec.sections, "two-pass");

  assert.equal(computeMrtd(bytes, parseTdMetadata(bytes), "two-pass").toString("hex"), expected.toString("hex"));
});

test("computeMrtd: page orders give different values", () => {
  const { bytes } = image();
  const metadata = parseTdMetadata(bytes);

  assert.notEqual(
    computeMrtd(bytes, metadata, "single-pass").toString("hex"),
    computeMrtd(bytes, metadata, "two-pass").toString("hex"),
  );
});

test("computeMrtd: zero tail beyond raw data", () => {
  // Bytes after RawDataSize are not measured: changing them keeps MRTD.
  const { bytes } = image();
  const before = computeMrtd(bytes, parseTdMetadata(bytes));
  bytes.fill(0x5a, 0x1000 + 0x1a30, 0x3000);

  assert.equal(computeMrtd(bytes, parseTdMetadata(bytes)).toString("hex"), before.toString("hex"));
});

test("computeMrtd: measured byte changes MRTD", () => {
  const { bytes } = image();
  const before = computeMrtd(bytes, parseTdMetadata(bytes));
  bytes.writeUInt8(bytes.readUInt8(0x1000 + 0x1a2f) ^ 1, 0x1000 + 0x1a2f);

  assert.notEqual(computeMrtd(bytes, parseTdMetadata(bytes)).toString("hex"), before.toString("hex"));
});

test("mrtdInputSize: counts blocks and chunks", () => {
  const { bytes } = image();
  // Pages added: 3 + 2 + 0 + 0 + 2 = 7 blocks of 128 bytes; extended pages
  // 3 + 1 + 2 = 6, each 16 chunks of 128 + 256 bytes.
  assert.equal(mrtdInputSize(parseTdMetadata(bytes)), 7 * 128 + 6 * 16 * 384);
});

test("computeMrtd: terabyte section is rejected fast", () => {
  const sections: SectionSpec[] = [
    { type: 0, attributes: 1, gpa: 0n, memorySize: 0x100_0000_0000n, dataOffset: 0x1000, rawSize: 0x1000 },
  ];
  const bytes = buildImage({ size: 0x4000, layout: "td-shim", sections, metadataOffset: 0x2000 });
  const started = performance.now();

  assert.throws(
    () => computeMrtd(bytes, parseTdMetadata(bytes)),
    (error: unknown) =>
      error instanceof MeasureError &&
      error.code === "measure-limit" &&
      /section 0 \(BFV\) MemoryDataSize 0x10000000000 at 0x2030.*above the limit of 0x4000000 \(64 MiB\)/.test(error.message),
  );
  assert.ok(performance.now() - started < 100);
});

test("computeMrtd: page count limit for PAGE.ADD", () => {
  const sections: SectionSpec[] = [
    { type: 3, attributes: 0, gpa: 0n, memorySize: 0x40001000n, dataOffset: 0, rawSize: 0 },
  ];
  const bytes = buildImage({ size: 0x4000, layout: "td-shim", sections, metadataOffset: 0x2000 });

  assert.throws(
    () => computeMrtd(bytes, parseTdMetadata(bytes)),
    (error: unknown) => error instanceof MeasureError && /pages added to MRTD to 262145, above the limit of 262144 pages/.test(error.message),
  );
});

test("computeMrtd: huge PAGE.AUG section is skipped", () => {
  // PAGE.AUG memory is accepted later, so even an exabyte of it adds no
  // blocks: MRTD equals that of the table without the section.
  const aug: SectionSpec = { type: 4, attributes: 2, gpa: 0x1000_0000_0000n, memorySize: 0xf000_0000_0000_0000n, dataOffset: 0, rawSize: 0 };
  const bfv: SectionSpec = { type: 0, attributes: 1, gpa: 0xffff0000n, memorySize: 0x1000n, dataOffset: 0x1000, rawSize: 0x1000 };
  const bytes = buildImage({ size: 0x4000, layout: "td-shim", sections: [bfv, aug], metadataOffset: 0x2000 });
  const started = performance.now();

  const mrtd = computeMrtd(bytes, parseTdMetadata(bytes));

  assert.equal(mrtd.toString("hex"), expectedMrtd(bytes, [bfv], "single-pass").toString("hex"));
  assert.ok(performance.now() - started < 100);
});

test("computeMrtd: DataOffset ignored without raw data", () => {
  // TempMem sections have RawDataSize 0, and their DataOffset means nothing.
  const tempMem: SectionSpec = { type: 3, attributes: 0, gpa: 0x800000n, memorySize: 0x1000n, dataOffset: 0x7fff0000, rawSize: 0 };
  const bytes = buildImage({ size: 0x4000, layout: "td-shim", sections: [tempMem], metadataOffset: 0x2000 });

  assert.equal(computeMrtd(bytes, parseTdMetadata(bytes)).toString("hex"), expectedMrtd(bytes, [tempMem], "single-pass").toString("hex"));
});
