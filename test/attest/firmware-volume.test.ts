import assert from "node:assert/strict";
import { test } from "node:test";
import { readCfvFiles } from "../../attest/firmware-volume.js";
import { MeasureError } from "../../attest/measure-error.js";
import { parseTdMetadata } from "../../attest/td-metadata.js";
import { ovmfFixture } from "../helpers/fixtures.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const POLICY = Buffer.from("{}");
const CA = Buffer.from("0123456789abcdef0"); // 17 bytes: the next file needs padding

function image() {
  return buildMigtdImage({
    size: 0x40000,
    cfvSize: 0x8000,
    files: [
      { guid: POLICY_GUID, data: POLICY },
      { guid: ROOT_CA_GUID, data: CA },
      { guid: "11111111-2222-3333-4444-555555555555", data: Buffer.from("other"), type: 0x02 },
    ],
  }).image;
}

function cfvErrorCode(bytes: Buffer): string | undefined {
  try {
    readCfvFiles(bytes, parseTdMetadata(bytes));
    return undefined;
  } catch (error) {
    assert.ok(error instanceof MeasureError);
    return error.code;
  }
}

test("readCfvFiles: lists files with names", () => {
  const bytes = image();
  const files = readCfvFiles(bytes, parseTdMetadata(bytes));

  assert.deepEqual(files.map((f) => f.guid), [POLICY_GUID, ROOT_CA_GUID, "11111111-2222-3333-4444-555555555555"]);
  assert.equal(files[0]!.knownName, "MigTD migration policy");
  assert.equal(files[0]!.offset, 0x48);
  assert.equal(files[1]!.offset, 0x48 + 24 + 8); // policy file rounded up to 8 bytes
  assert.equal(files[1]!.size, 17);
  assert.equal(Buffer.from(files[1]!.data).toString(), CA.toString());
  assert.equal(files[2]!.knownName, null);
  assert.equal(files[2]!.type, 0x02);
});

test("readCfvFiles: stops at a bad header checksum", () => {
  const bytes = image();
  const second = 0x48 + 32;
  bytes.writeUInt8(bytes.readUInt8(second + 16) ^ 0xff, second + 16);

  const files = readCfvFiles(bytes, parseTdMetadata(bytes));

  assert.deepEqual(files.map((f) => f.guid), [POLICY_GUID]);
});

test("readCfvFiles: invalid volume headers", () => {
  const cases: [string, (bytes: Buffer) => void][] = [
    ["zero vector", (bytes) => bytes.writeUInt8(1, 3)],
    ["signature", (bytes) => bytes.write("XFVH", 40, "latin1")],
    ["revision", (bytes) => bytes.writeUInt8(1, 55)],
    ["length", (bytes) => bytes.writeBigUInt64LE(0x9000n, 32)],
    ["checksum", (bytes) => bytes.writeUInt16LE(bytes.readUInt16LE(50) ^ 1, 50)],
    ["header length", (bytes) => bytes.writeUInt16LE(0x10, 48)],
  ];
  for (const [name, mutate] of cases) {
    const bytes = image();
    mutate(bytes);
    assert.equal(cfvErrorCode(bytes), "cfv-invalid", name);
  }
});

test("readCfvFiles: OVMF variable store has no files", () => {
  const bytes = ovmfFixture();

  assert.deepEqual(readCfvFiles(bytes, parseTdMetadata(bytes)), []);
});
