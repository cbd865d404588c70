import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { MeasureError } from "../../attest/measure-error.js";
import { decodeWellFormed, parseServtdInfo, parseWithSchema, servtdInfoToJson } from "../../attest/servtd-info.js";
import { packagePath } from "../../config/package-root.js";

const VALID = {
  attributes: "0000000000000000",
  xfam: "e71a060000000000",
  mrconfigid: "00".repeat(48),
  mrowner: "ab".repeat(48),
  mrownerconfig: "CD".repeat(48),
};

function rejection(json: unknown): string {
  try {
    parseServtdInfo(json, "servtd_info.json");
  } catch (error) {
    assert.ok(error instanceof MeasureError);
    assert.equal(error.code, "servtd-info-invalid");
    return error.message;
  }
  assert.fail("expected a rejection");
}

test("parseServtdInfo: shipped default file", () => {
  const json = JSON.parse(readFileSync(packagePath("config", "servtd_info.json"), "utf8")) as unknown;
  const info = parseServtdInfo(json, "config/servtd_info.json");

  assert.equal(info.xfam.toString("hex"), "e71a060000000000");
  assert.equal(info.mrowner.length, 48);
});

test("parseServtdInfo: accepts either hex case", () => {
  const info = parseServtdInfo(VALID, "x");

  assert.equal(info.mrownerconfig.toString("hex"), "cd".repeat(48));
  assert.deepEqual(servtdInfoToJson(info), { ...VALID, mrownerconfig: "cd".repeat(48) });
});

test("parseServtdInfo: missing field is named", () => {
  const { xfam: _, ...rest } = VALID;

  assert.equal(rejection(rest), "servtd_info.json: field 'xfam' is missing; it must be a string of 16 hex digits (8 bytes)");
});

test("parseServtdInfo: wrong length names expectation", () => {
  assert.equal(
    rejection({ ...VALID, mrowner: "00".repeat(47) }),
    "servtd_info.json: field 'mrowner' must be 96 hex digits (48 bytes), got 94",
  );
});

test("parseServtdInfo: non-hex digits rejected", () => {
  assert.match(rejection({ ...VALID, attributes: "000000000000000g" }), /field 'attributes' must contain only hex digits.*\(8 bytes\)/);
});

test("parseServtdInfo: non-object rejected", () => {
  assert.match(rejection([1, 2]), /servtd_info.json: content must be a JSON object/);
  assert.match(rejection(null), /content must be a JSON object/);
});

test("parseServtdInfo: fast path agrees with zod", () => {
  const hexText = (length: number) =>
    fc.oneof(
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEF"), minLength: length, maxLength: length }),
      fc.string({ unit: fc.constantFrom(..."0123456789abcdefxyz G"), minLength: length - 2, maxLength: length + 2 }),
      fc.anything(),
    );
  const record = fc.record(
    { attributes: hexText(16), xfam: hexText(16), mrconfigid: hexText(96), mrowner: hexText(96), mrownerconfig: hexText(96) },
    { requiredKeys: [] },
  );

  fc.assert(
    fc.property(fc.oneof(record, fc.anything()), (json) => {
      const fast = decodeWellFormed(json);
      let schema: unknown = null;
      try {
        schema = parseWithSchema(json, "x");
      } catch (error) {
        assert.ok(error instanceof MeasureError);
      }
      assert.deepEqual(fast, schema);
    }),
    { numRuns: 2000 },
  );
});

test("parseServtdInfo: array field is an input error", () => {
  // zod runs the length check on an array too, and String() of an element
  // without a usable toString used to throw a TypeError.
  const fields = { attributes: "00".repeat(8), xfam: "00".repeat(8), mrconfigid: "00".repeat(48), mrowner: "00".repeat(48) };

  assert.throws(() => parseServtdInfo({ ...fields, mrownerconfig: [{ toString: "" }] }, "x.json"), {
    name: "MeasureError",
    message: "x.json: field 'mrownerconfig' must be a string of 96 hex digits (48 bytes)",
  });
});
