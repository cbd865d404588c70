import assert from "node:assert/strict";
import { test } from "node:test";
import { hashImage } from "../../attest/hash-image.js";
import { ImageBytes, type ImageFile } from "../../attest/image-bytes.js";
import { computeMrtd } from "../../attest/mrtd.js";
import { UPSTREAM_DEFAULT_SERVTD_INFO } from "../../attest/servtd-info.js";
import { parseTdMetadata } from "../../attest/td-metadata.js";
import { OVMF_MRTD_SINGLE_PASS, ovmfFixture } from "../helpers/fixtures.js";
import { buildMigtdImage, expectedMrtd, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

/** Returns an ImageFile over bytes in memory that records every read. */
function recordingFile(bytes: Uint8Array) {
  const reads: { offset: number; length: number }[] = [];
  const file: ImageFile = {
    size: bytes.length,
    readInto(target, offset) {
      reads.push({ offset, length: target.length });
      target.set(bytes.subarray(offset, offset + target.length));
    },
  };
  return { file, reads };
}

const MIB = 1024 * 1024;

test("ImageBytes: a file image gives the OVMF fixture's MRTD", () => {
  const { file } = recordingFile(ovmfFixture());
  const image = ImageBytes.fromFile(file);

  assert.equal(computeMrtd(image, parseTdMetadata(image), "single-pass").toString("hex"), OVMF_MRTD_SINGLE_PASS);
});

test("ImageBytes: a 16 MiB file is read once, a part at a time", () => {
  const files = [
    { guid: POLICY_GUID, data: Buffer.from('{"policy":"v1"}') },
    { guid: ROOT_CA_GUID, data: Buffer.alloc(1400, 0x30) },
  ];
  const { image: bytes, sections } = buildMigtdImage({ size: 16 * MIB, cfvSize: 0x40000, files, seed: 5 });
  const { file, reads } = recordingFile(bytes);

  const hashes = hashImage(ImageBytes.fromFile(file), { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO });

  assert.equal(hashes.mrtd.toString("hex"), expectedMrtd(bytes, sections, "single-pass").toString("hex"));
  const total = reads.reduce((sum, read) => sum + read.length, 0);
  const largest = Math.max(...reads.map((read) => read.length));
  // Every measured byte once, plus the metadata and CFV blocks.
  assert.ok(total <= 16 * MIB + MIB, `read ${total} bytes`);
  assert.ok(largest <= 512 * 1024, `largest read ${largest} bytes`);
});

test("ImageBytes: only the blocks a parser touches are loaded", () => {
  const bytes = Buffer.alloc(1 * MIB);
  bytes.write("tail", MIB - 4, "latin1");
  const { file, reads } = recordingFile(bytes);
  const image = ImageBytes.fromFile(file);

  assert.equal(Buffer.from(image.view(MIB - 4, 4)).toString("latin1"), "tail");
  image.load(MIB - 100, 50);
  image.load(-10, 5);
  image.load(MIB, 10);

  assert.deepEqual(reads, [{ offset: MIB - 64 * 1024, length: 64 * 1024 }]);
});

test("ImageBytes: an error from the file reaches the caller", () => {
  const image = ImageBytes.fromFile({
    size: 4 * MIB,
    readInto() {
      throw new Error("image.bin changed while it was read");
    },
  });

  assert.throws(() => parseTdMetadata(image), /image\.bin changed while it was read/);
});
