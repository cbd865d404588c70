import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { hashImage, type HashOptions } from "../../attest/hash-image.js";
import { MeasureError } from "../../attest/measure-error.js";
import { UPSTREAM_DEFAULT_SERVTD_INFO } from "../../attest/servtd-info.js";
import {
  buildMigtdImage,
  expectedMrtd,
  extend,
  ISSUER_CHAIN_GUID,
  POLICY_GUID,
  ROOT_CA_GUID,
} from "../helpers/tdshim-image.js";

// RTMR0 of MigTD (extend of zero with SHA384(u32 0)), as upstream ships it in
// its policy v2 template tcb_mapping.json.
const RTMR0_CHECK =
  "518923b0f955d08da077c96aaba522b9decede61c599cea6c41889cfbea4ae4d50529d96fe4d1afdafb65e7f95bf23c4";

const POLICY = Buffer.from('{"policy":"v1 test"}');
const ROOT_CA = Buffer.from("root CA certificate bytes");
const CHAIN = Buffer.from("policy issuer chain bytes, longer than the others");
const ZERO = Buffer.alloc(48);
const SEPARATOR = extend(ZERO, Buffer.alloc(4));

function migtd(files: { guid: string; data: Buffer }[]) {
  return buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files, seed: 3 });
}

const OPTIONS: HashOptions = { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO };

/** TD_INFO from the TDX ABI: ten fields in order, then 112 zero bytes. */
function tdInfo(fields: Buffer[]): Buffer {
  return Buffer.concat([...fields, Buffer.alloc(112)]);
}

function defaultFields(mrtd: Buffer, rtmr1: Buffer, rtmr2: Buffer): Buffer[] {
  return [
    Buffer.alloc(8),
    Buffer.from("e71a060000000000", "hex"),
    mrtd,
    ZERO,
    ZERO,
    ZERO,
    SEPARATOR,
    rtmr1,
    rtmr2,
    ZERO,
  ];
}

test("hashImage: RTMR0 check value", () => {
  const { image } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);
  const hashes = hashImage(image, OPTIONS);

  assert.equal(SEPARATOR.toString("hex"), RTMR0_CHECK);
  assert.equal(hashes.rtmr[0].toString("hex"), RTMR0_CHECK);
  assert.equal(hashes.rtmr[1].toString("hex"), RTMR0_CHECK);
});

test("hashImage: policy v1 from hand-built image", () => {
  const { image, sections } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);
  const mrtd = expectedMrtd(image, sections, "single-pass");
  const rtmr2 = extend(extend(ZERO, POLICY), ROOT_CA);
  const info = tdInfo(defaultFields(mrtd, SEPARATOR, rtmr2));

  const hashes = hashImage(image, OPTIONS);

  assert.equal(hashes.mrtd.toString("hex"), mrtd.toString("hex"));
  assert.equal(hashes.rtmr[2].toString("hex"), rtmr2.toString("hex"));
  assert.equal(hashes.rtmr[3].toString("hex"), ZERO.toString("hex"));
  assert.equal(hashes.tdInfo.toString("hex"), info.toString("hex"));
  assert.equal(hashes.servtdInfoHash.toString("hex"), createHash("sha384").update(info).digest("hex"));
});

test("hashImage: policy v2 extends RTMR1", () => {
  const { image, sections } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ISSUER_CHAIN_GUID, data: CHAIN }]);
  const mrtd = expectedMrtd(image, sections, "single-pass");
  const rtmr1 = extend(SEPARATOR, CHAIN);
  const rtmr2 = extend(ZERO, POLICY);
  const info = tdInfo(defaultFields(mrtd, rtmr1, rtmr2));

  const hashes = hashImage(image, { ...OPTIONS, policyV2: true });

  assert.equal(hashes.rtmr[1].toString("hex"), rtmr1.toString("hex"));
  assert.equal(hashes.rtmr[2].toString("hex"), rtmr2.toString("hex"));
  assert.equal(hashes.servtdInfoHash.toString("hex"), createHash("sha384").update(info).digest("hex"));
});

test("hashImage: RA disabled ignores the CFV", () => {
  // Upstream reads no CFV file for this build, so even a zeroed CFV works.
  const { image, sections } = migtd([]);
  image.fill(0, 0, 0x10000);
  const mrtd = expectedMrtd(image, sections, "single-pass");
  const rtmr2 = extend(ZERO, Buffer.from("test_disable_ra_and_accept_all"));
  const info = tdInfo(defaultFields(mrtd, SEPARATOR, rtmr2));

  const hashes = hashImage(image, { ...OPTIONS, testDisableRaAndAcceptAll: true });

  assert.equal(hashes.rtmr[2].toString("hex"), rtmr2.toString("hex"));
  assert.equal(hashes.servtdInfoHash.toString("hex"), createHash("sha384").update(info).digest("hex"));
});

test("hashImage: two-pass page order", () => {
  const { image, sections } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);

  const hashes = hashImage(image, { ...OPTIONS, pageOrder: "two-pass" });

  assert.equal(hashes.mrtd.toString("hex"), expectedMrtd(image, sections, "two-pass").toString("hex"));
});

test("hashImage: each SERVTD_ATTR bit zeroes its field", () => {
  const { image, sections } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);
  const servtdInfo = {
    attributes: Buffer.from("0102030405060708", "hex"),
    xfam: Buffer.from("e71a060000000000", "hex"),
    mrconfigid: Buffer.alloc(48, 0x11),
    mrowner: Buffer.alloc(48, 0x22),
    mrownerconfig: Buffer.alloc(48, 0x33),
  };
  const mrtd = expectedMrtd(image, sections, "single-pass");
  const rtmr2 = extend(extend(ZERO, POLICY), ROOT_CA);
  const fields = [servtdInfo.attributes, servtdInfo.xfam, mrtd, servtdInfo.mrconfigid, servtdInfo.mrowner, servtdInfo.mrownerconfig, SEPARATOR, SEPARATOR, rtmr2, ZERO];

  for (let bit = 0; bit < 10; bit++) {
    const servtdAttr = 1n << BigInt(32 + bit);
    const masked = fields.map((field, index) => (index === bit ? Buffer.alloc(field.length) : field));
    const info = tdInfo(masked);
    const infoHash = createHash("sha384").update(info).digest();
    const suffix = Buffer.alloc(10);
    suffix.writeBigUInt64LE(servtdAttr, 2);

    const hashes = hashImage(image, { servtdInfo, servtdAttr });

    assert.equal(hashes.tdInfo.toString("hex"), info.toString("hex"), `bit ${32 + bit}`);
    assert.equal(hashes.servtdHash.toString("hex"), createHash("sha384").update(Buffer.concat([infoHash, suffix])).digest("hex"), `bit ${32 + bit}`);
  }
});

test("hashImage: SERVTD_HASH with attr 0", () => {
  const { image } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);
  const hashes = hashImage(image, OPTIONS);
  const expected = createHash("sha384").update(Buffer.concat([hashes.servtdInfoHash, Buffer.alloc(10)])).digest();

  assert.equal(hashes.servtdHash.toString("hex"), expected.toString("hex"));
});

test("hashImage: missing root CA is named", () => {
  const { image } = migtd([{ guid: POLICY_GUID, data: POLICY }]);

  assert.throws(
    () => hashImage(image, OPTIONS),
    (error: unknown) =>
      error instanceof MeasureError &&
      error.code === "cfv-file-missing" &&
      error.message.includes(ROOT_CA_GUID) &&
      error.message.includes(POLICY_GUID),
  );
});

test("hashImage: invalid CFV is rejected", () => {
  const { image } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);
  image.write("_FVX", 40, "latin1");

  assert.throws(
    () => hashImage(image, OPTIONS),
    (error: unknown) => error instanceof MeasureError && error.code === "cfv-invalid" && /signature at 0x28 is 0x5856465f/.test(error.message),
  );
});

test("hashImage: SERVTD_ATTR above 64 bits", () => {
  const { image } = migtd([{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]);

  assert.throws(() => hashImage(image, { ...OPTIONS, servtdAttr: 1n << 64n }), MeasureError);
});
