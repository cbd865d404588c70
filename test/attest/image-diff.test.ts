import assert from "node:assert/strict";
import { test } from "node:test";
import { diffImages } from "../../attest/image-diff.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const FILES = [
  { guid: POLICY_GUID, data: Buffer.from('{"a":1}') },
  { guid: ROOT_CA_GUID, data: Buffer.from("CA") },
];

function image(files = FILES) {
  return buildMigtdImage({ size: 0x40000, cfvSize: 0x4000, files, seed: 5 }).image;
}

test("diffImages: identical images", () => {
  const diff = diffImages(image(), image());

  assert.equal(diff.identical, true);
  assert.equal(diff.ranges.length, 0);
  assert.equal(diff.mrtd.differs, false);
  assert.equal(diff.servtdInfoHash.differs, false);
});

test("diffImages: payload byte maps to BFV offset", () => {
  const a = image();
  const b = image();
  // The BFV starts at file offset 0x4000 with GPA 0xfffc4000 (4 GiB minus
  // the image size plus the CFV size).
  b.writeUInt8(b.readUInt8(0x5123) ^ 0xff, 0x5123);

  const diff = diffImages(a, b);

  assert.equal(diff.identical, false);
  assert.equal(diff.differingBytes, 1);
  assert.deepEqual(diff.ranges, [
    {
      start: 0x5123,
      end: 0x5124,
      locations: [{ kind: "section", label: "TDVF section 3 (BFV)", offset: 0x1123, memoryAddress: 0xfffc5123n }],
    },
  ]);
  assert.equal(diff.mrtd.differs, true);
  assert.equal(diff.servtdInfoHash.differs, true);
});

test("diffImages: policy change maps to CFV file", () => {
  const a = image();
  const b = image([{ guid: POLICY_GUID, data: Buffer.from('{"a":2}') }, FILES[1]!]);
  // The policy's data starts after the 0x48-byte volume header and its
  // 24-byte file header; the changed digit is its sixth byte.
  const diff = diffImages(a, b);
  const data = diff.ranges.find((range) => range.locations.some((l) => l.kind === "cfv-file-data"));

  assert.ok(data !== undefined);
  assert.equal(data.start, 0x48 + 24 + 5);
  const location = data.locations.find((l) => l.kind === "cfv-file-data")!;
  assert.equal(location.label, `CFV file ${POLICY_GUID} (MigTD migration policy) data`);
  assert.equal(location.offset, 5);
  assert.equal(diff.mrtd.differs, false);
  assert.equal(diff.servtdInfoHash.differs, true);
});

test("diffImages: size difference is a range", () => {
  const a = image();
  const b = Buffer.concat([a, Buffer.alloc(16, 1)]);

  const diff = diffImages(a, b);

  assert.equal(diff.sizeB - diff.sizeA, 16);
  assert.deepEqual(diff.ranges.at(-1)!.onlyIn, "b");
  assert.equal(diff.mrtd.b, null);
  assert.match(diff.mrtd.errorB!, /no TDX metadata found/);
});

test("diffImages: not TD images still compared", () => {
  const diff = diffImages(Buffer.from("abc"), Buffer.from("abd"));

  assert.equal(diff.layoutFrom, null);
  assert.deepEqual(diff.ranges, [{ start: 2, end: 3, locations: [] }]);
  assert.match(diff.mrtd.errorA!, /image is 3 bytes/);
});
