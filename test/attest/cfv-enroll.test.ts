import assert from "node:assert/strict";
import { test } from "node:test";
import { enrollCfv, enrollMigtdFiles } from "../../attest/cfv-enroll.js";
import { hashImage } from "../../attest/hash-image.js";
import { MeasureError } from "../../attest/measure-error.js";
import { UPSTREAM_DEFAULT_SERVTD_INFO } from "../../attest/servtd-info.js";
import { buildMigtdImage, extend, guidBytes, ISSUER_CHAIN_GUID, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const CFV_SIZE = 0x4000;
const POLICY = Buffer.from('{"id":"test-policy"}'); // 20 bytes
const ROOT_CA = Buffer.from("certificate!"); // 12 bytes

function blankImage() {
  return buildMigtdImage({ size: 0x40000, cfvSize: CFV_SIZE, files: [], seed: 9 }).image;
}

/**
 * td-shim-enroll's output for one file, written out from td-shim's
 * FvHeader and FirmwareRawFile layout field by field.
 */
function expectedCfvStart(files: { guid: string; data: Buffer }[]): Buffer {
  const header = Buffer.alloc(0x78);
  guidBytes("5473c07a-3dcb-4dca-bd6f-1e9689e7349a").copy(header, 16); // EFI_FIRMWARE_FILE_SYSTEM3_GUID
  header.writeBigUInt64LE(BigInt(CFV_SIZE), 32);
  header.write("_FVH", 40, "latin1");
  header.writeUInt32LE(0x0004f6ff, 44);
  header.writeUInt16LE(0x78, 48);
  header.writeUInt16LE(0x60, 52);
  header.writeUInt8(2, 55);
  let sum = 0;
  for (let i = 0; i < 56; i += 2) sum += header.readUInt16LE(i);
  header.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, 50);
  header.writeUInt32LE(CFV_SIZE / 0x1000, 0x38); // block map: 4 blocks
  header.writeUInt32LE(0x1000, 0x3c); // of 4 KiB, then a zero entry
  header.writeUInt8(0xf0, 0x48 + 18); // pad file type, zero name and checksums
  header.writeUIntLE(0x2c, 0x48 + 20, 3);
  header.writeUInt8(0x07, 0x48 + 23);
  header.writeUInt32LE(0x14, 0x70); // extension header size

  const parts = [header];
  for (const file of files) {
    const size = 24 + file.data.length;
    const encoded = Buffer.alloc(Math.ceil(size / 8) * 8);
    guidBytes(file.guid).copy(encoded);
    encoded[18] = 0x01;
    encoded.writeUIntLE(size, 20, 3);
    file.data.copy(encoded, 24);
    let headerSum = 0;
    for (let i = 0; i < 24; i++) headerSum += encoded[i]!;
    encoded[16] = (0x100 - (headerSum & 0xff)) & 0xff;
    encoded[17] = 0xaa;
    encoded[23] = 0x07;
    parts.push(encoded);
  }
  return Buffer.concat(parts);
}

test("enrollCfv: bytes match td-shim-enroll layout", () => {
  const input = blankImage();
  const files = [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }];
  const expected = expectedCfvStart(files);

  const output = enrollCfv(input, files);

  assert.equal(output.subarray(0, expected.length).toString("hex"), expected.toString("hex"));
  assert.equal(output.subarray(expected.length).toString("hex"), input.subarray(expected.length).toString("hex"));
  assert.equal(output.length, input.length);
});

test("enrollCfv: input image is not modified", () => {
  const input = blankImage();
  const copy = Buffer.from(input);

  enrollCfv(input, [{ guid: POLICY_GUID, data: POLICY }]);

  assert.ok(copy.equals(input));
});

test("enrollMigtdFiles: hash sees new RTMR2", () => {
  const output = enrollMigtdFiles(blankImage(), { policy: POLICY, rootCa: ROOT_CA });
  const rtmr2 = extend(extend(Buffer.alloc(48), POLICY), ROOT_CA);

  const hashes = hashImage(output, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO });

  assert.equal(hashes.rtmr[2].toString("hex"), rtmr2.toString("hex"));
});

test("enrollMigtdFiles: policy v2 sees new RTMR1", () => {
  const chain = Buffer.from("issuer chain");
  const output = enrollMigtdFiles(blankImage(), { policy: POLICY, policyIssuerChain: chain });
  const rtmr1 = extend(extend(Buffer.alloc(48), Buffer.alloc(4)), chain);

  const hashes = hashImage(output, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO, policyV2: true });

  assert.equal(hashes.rtmr[1].toString("hex"), rtmr1.toString("hex"));
  assert.equal(hashes.rtmr[2].toString("hex"), extend(Buffer.alloc(48), POLICY).toString("hex"));
  assert.equal(output.subarray(0x78, 0x78 + 16).toString("hex"), guidBytes(POLICY_GUID).toString("hex"));
  assert.equal(output.subarray(0x78 + 48, 0x78 + 64).toString("hex"), guidBytes(ISSUER_CHAIN_GUID).toString("hex"));
});

test("enrollMigtdFiles: rejects invalid input", () => {
  const cases: [string, () => unknown, RegExp][] = [
    ["policy not JSON", () => enrollMigtdFiles(blankImage(), { policy: Buffer.from("{"), rootCa: ROOT_CA }), /migration policy is not valid JSON/],
    ["both certificates", () => enrollMigtdFiles(blankImage(), { policy: POLICY, rootCa: ROOT_CA, policyIssuerChain: ROOT_CA }), /exactly one of a root CA/],
    ["too large", () => enrollMigtdFiles(blankImage(), { policy: POLICY, rootCa: Buffer.alloc(CFV_SIZE) }), /need 16576 bytes with headers, but the CFV at 0x0 holds 16384/],
    ["empty file", () => enrollCfv(blankImage(), [{ guid: POLICY_GUID, data: Buffer.alloc(0) }]), /is 0 bytes; td-shim-enroll accepts 1 to 1048576 bytes/],
  ];
  for (const [name, call, pattern] of cases) {
    assert.throws(call, (error: unknown) => error instanceof MeasureError && error.code === "enroll-invalid" && pattern.test(error.message), name);
  }
});
