import assert from "node:assert/strict";
import { test } from "node:test";
import { MeasureError } from "../../attest/measure-error.js";
import { parseTdMetadata } from "../../attest/td-metadata.js";
import { ovmfCodeFixture, ovmfFixture } from "../helpers/fixtures.js";
import { buildImage, guidBytes, type ImageSpec, type SectionSpec } from "../helpers/tdshim-image.js";

const SECTIONS: SectionSpec[] = [
  { type: 0, attributes: 1, gpa: 0xfffe0000n, memorySize: 0x2000n, dataOffset: 0x1000, rawSize: 0x2000 },
  { type: 2, attributes: 0, gpa: 0x800000n, memorySize: 0x1000n, dataOffset: 0, rawSize: 0 },
];

function spec(layout: ImageSpec["layout"]): ImageSpec {
  return { size: 0x8000, layout, sections: SECTIONS, metadataOffset: 0x6000 };
}

const DESCRIPTOR = 0x6010;
const SECTION0 = DESCRIPTOR + 16;

function rejects(image: Buffer, code: string, pattern: RegExp) {
  assert.throws(
    () => parseTdMetadata(image),
    (error: unknown) => {
      assert.ok(error instanceof MeasureError, `expected MeasureError, got ${String(error)}`);
      assert.equal(error.code, code);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    },
  );
}

test("parseTdMetadata: OVMF fixture sections", () => {
  const metadata = parseTdMetadata(ovmfFixture());

  assert.equal(metadata.layout, "ovmf-guid-table");
  assert.equal(metadata.descriptorOffset, 0x1ff7c0);
  assert.deepEqual(
    metadata.sections.map((s) => s.typeName),
    ["BFV", "CFV", "TempMem", "TempMem", "TD_HOB", "TempMem"],
  );
  assert.equal(metadata.sections[0]!.dataOffset, 0x20000);
  assert.equal(metadata.sections[0]!.rawDataSize, 0x1e0000);
  assert.equal(metadata.sections[0]!.memoryAddress, 0xffe20000n);
  assert.equal(metadata.sections[0]!.attributes, 1);
});

test("parseTdMetadata: hand-built td-shim layout", () => {
  const metadata = parseTdMetadata(buildImage(spec("td-shim")));

  assert.equal(metadata.layout, "td-shim");
  assert.equal(metadata.locatorOffset, 0x8000 - 0x20);
  assert.equal(metadata.descriptorOffset, DESCRIPTOR);
  assert.equal(metadata.sections.length, 2);
  assert.equal(metadata.sections[1]!.memoryAddress, 0x800000n);
  assert.equal(metadata.sections[1]!.typeName, "TD_HOB");
});

test("parseTdMetadata: hand-built OVMF layout", () => {
  const metadata = parseTdMetadata(buildImage(spec("ovmf")));

  assert.equal(metadata.layout, "ovmf-guid-table");
  assert.equal(metadata.descriptorOffset, DESCRIPTOR);
  assert.equal(metadata.sections[0]!.rawDataSize, 0x2000);
});

test("parseTdMetadata: both locators agree", () => {
  const image = buildImage(spec("ovmf"));
  image.writeUInt32LE(DESCRIPTOR, image.length - 0x20);

  const metadata = parseTdMetadata(image);

  assert.equal(metadata.layout, "ovmf-guid-table");
  assert.equal(metadata.descriptorOffset, DESCRIPTOR);
});

test("parseTdMetadata: locators naming two descriptors", () => {
  // A second, valid descriptor at 0x4000 that only the td-shim pointer names.
  const image = buildImage(spec("ovmf"));
  const second = buildImage({ ...spec("td-shim"), metadataOffset: 0x4000 });
  second.copy(image, 0x4000, 0x4000, 0x4000 + 16 + 16 + 32 * SECTIONS.length);
  image.writeUInt32LE(0x4010, image.length - 0x20);

  rejects(image, "metadata-ambiguous", /descriptor at 0x6010, but the td-shim metadata pointer at 0x7fe0 places another one at 0x4010/);
});

test("parseTdMetadata: empty and truncated files", () => {
  rejects(Buffer.alloc(0), "image-truncated", /image is 0 bytes/);
  rejects(Buffer.alloc(0x2f), "image-truncated", /image is 47 bytes/);
});

test("parseTdMetadata: no metadata in either layout", () => {
  const image = Buffer.alloc(0x8000);
  image.writeUInt32LE(0x100, 0x8000 - 0x20);

  rejects(image, "no-metadata", /no OVMF GUID table footer at 0x7fd0.*td-shim metadata pointer at 0x7fe0 \(0x100\).*GUID 00000000-0000-0000-0000-000000000000/);
});

test("parseTdMetadata: locator pointing outside the file", () => {
  const shim = buildImage(spec("td-shim"));
  shim.writeUInt32LE(0x9000, 0x8000 - 0x20);
  rejects(shim, "no-metadata", /pointer at 0x7fe0 is 0x9000, outside the 0x8000-byte image/);

  const ovmf = buildImage(spec("ovmf"));
  const tdxOffsetValue = 0x8000 - 0x30 - 2 - 22;
  ovmf.writeUInt32LE(0x9000, tdxOffsetValue);
  rejects(ovmf, "locator-out-of-range", /OVMF TDX metadata offset 0x9000 at 0x7fb8/);
});

test("parseTdMetadata: OVMF table entry overruns the table", () => {
  const ovmf = buildImage(spec("ovmf"));
  ovmf.writeUInt16LE(0x400, 0x8000 - 0x30 - 2 - 18);

  rejects(ovmf, "locator-out-of-range", /entry e47a6535-984a-4798-865e-4685a7bf8ec2 has length 0x400/);
});

test("parseTdMetadata: wrong metadata GUID", () => {
  const image = buildImage(spec("ovmf"));
  guidBytes("11111111-2222-3333-4444-555555555555").copy(image, 0x6000);

  rejects(image, "metadata-guid", /TDX metadata GUID at 0x6000 is 11111111-2222-3333-4444-555555555555/);
});

test("parseTdMetadata: bad descriptor fields", () => {
  const cases: [string, (image: Buffer) => void, RegExp][] = [
    ["signature", (image) => image.write("TDVX", DESCRIPTOR, "latin1"), /Signature at 0x6010 is "TDVX", expected "TDVF"/],
    ["version", (image) => image.writeUInt32LE(2, DESCRIPTOR + 8), /Version at 0x6018 is 2, expected 1/],
    ["length", (image) => image.writeUInt32LE(0x60, DESCRIPTOR + 4), /Length at 0x6014 is 0x60, expected 0x50/],
    ["count", (image) => image.writeUInt32LE(0, DESCRIPTOR + 12), /NumberOfSectionEntry at 0x601c is 0/],
  ];
  for (const [, mutate, pattern] of cases) {
    const image = buildImage(spec("td-shim"));
    mutate(image);
    rejects(image, "metadata-descriptor", pattern);
  }
});

test("parseTdMetadata: section table past the end", () => {
  const image = buildImage(spec("td-shim"));
  image.writeUInt32LE(0x1000, DESCRIPTOR + 12);
  image.writeUInt32LE(16 + 32 * 0x1000, DESCRIPTOR + 4);

  rejects(image, "image-truncated", /TDVF section table \(4096 sections\) at 0x6010 needs 131088 bytes but the image ends at 0x8000/);
});

test("parseTdMetadata: invalid section fields", () => {
  const cases: [string, (image: Buffer) => void, RegExp][] = [
    ["raw range", (image) => image.writeUInt32LE(0x7000, SECTION0), /section 0 \(BFV\) RawDataSize 0x2000 at DataOffset 0x7000 runs past the end of the image \(0x8000\)/],
    ["GPA", (image) => image.writeBigUInt64LE(0xfffe0800n, SECTION0 + 8), /section 0 \(BFV\) MemoryAddress 0xfffe0800 at 0x6028 is not 4 KiB aligned/],
    ["size", (image) => image.writeBigUInt64LE(0x2100n, SECTION0 + 16), /section 0 \(BFV\) MemoryDataSize 0x2100 at 0x6030 is not a multiple of 4 KiB/],
    ["memory below raw", (image) => image.writeBigUInt64LE(0x1000n, SECTION0 + 16), /section 0 \(BFV\) MemoryDataSize 0x1000 at 0x6030 is smaller than its RawDataSize 0x2000/],
    ["type", (image) => image.writeUInt32LE(9, SECTION0 + 24), /section 0 Type 9 at 0x6038 is not a known section type/],
    ["address space", (image) => image.writeBigUInt64LE(0xfffffffffffff000n, SECTION0 + 8), /passes the end of the 64-bit address space/],
  ];
  for (const [name, mutate, pattern] of cases) {
    const image = buildImage(spec("td-shim"));
    mutate(image);
    const code = name === "raw range" ? "section-out-of-range" : "section-invalid";
    rejects(image, code, pattern);
  }
});

test("parseTdMetadata: TdInfo may load less than raw", () => {
  const sections: SectionSpec[] = [
    ...SECTIONS,
    { type: 7, attributes: 0, gpa: 0n, memorySize: 0n, dataOffset: 0x3000, rawSize: 0x200 },
  ];
  const metadata = parseTdMetadata(buildImage({ ...spec("td-shim"), sections }));

  assert.equal(metadata.sections[2]!.typeName, "TdInfo");
});

test("parseTdMetadata: split OVMF_CODE.fd is explained", () => {
  rejects(ovmfCodeFixture(), "split-firmware", /code half of a split firmware.*measure the combined image/);
});
