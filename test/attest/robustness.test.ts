import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { ReproError } from "../../attest/errors.js";
import { hashImage } from "../../attest/hash-image.js";
import { inspectImage } from "../../attest/image-report.js";
import { UPSTREAM_DEFAULT_SERVTD_INFO } from "../../attest/servtd-info.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

// Every input must produce a result or a typed error within a second of CPU
// time per call: no RangeError, no runaway loop, no huge allocation. The
// test counts CPU time, not wall time, so other processes on the machine
// cannot make it fail. inspectImage computes MRTD twice, so it is the
// slowest call at the measurement limits.
const TIME_LIMIT_MS = 1000;

function cpuMilliseconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

function measureAll(image: Uint8Array): void {
  for (const run of [
    () => inspectImage(image),
    () => hashImage(image, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO }),
    () => hashImage(image, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO, policyV2: true, pageOrder: "two-pass" }),
  ]) {
    const started = cpuMilliseconds();
    try {
      run();
    } catch (error) {
      if (!(error instanceof ReproError)) throw error;
      assert.doesNotMatch(error.message, /\n/);
    }
    const elapsed = cpuMilliseconds() - started;
    assert.ok(elapsed < TIME_LIMIT_MS, `took ${elapsed.toFixed(0)} ms of CPU time`);
  }
}

const BASE = buildMigtdImage({
  size: 0x20000,
  cfvSize: 0x4000,
  files: [
    { guid: POLICY_GUID, data: Buffer.from("{}") },
    { guid: ROOT_CA_GUID, data: Buffer.from("ca") },
  ],
}).image;
const DESCRIPTOR = 0x20000 - 0x400 + 16;

test("measurement: random bytes never crash", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (bytes) => measureAll(bytes)),
    { numRuns: 300 },
  );
});

test("measurement: mutated images never crash", () => {
  // Mutations aim at the structures a parser reads: the metadata, the
  // locator and the CFV headers; values include boundary integers.
  const offset = fc.oneof(
    fc.integer({ min: DESCRIPTOR - 16, max: DESCRIPTOR + 16 + 4 * 32 - 1 }),
    fc.integer({ min: 0x20000 - 0x30, max: 0x20000 - 1 }),
    fc.integer({ min: 0, max: 0x100 }),
    fc.integer({ min: 0, max: 0x20000 - 1 }),
  );
  const value = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0, 0xff, 0x80, 0x7f, 0x10, 0x01));
  const mutation = fc.array(fc.tuple(offset, value), { minLength: 1, maxLength: 8 });

  fc.assert(
    fc.property(mutation, (changes) => {
      const image = Buffer.from(BASE);
      for (const [at, byte] of changes) image[at] = byte;
      measureAll(image);
    }),
    { numRuns: 500 },
  );
});

test("measurement: section sizes at the limits", () => {
  // Sizes near and past the measurement limits, in each section entry.
  const size = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((n) => n & ~0xfffn),
    fc.constantFrom(0x4000000n, 0x4001000n, 0x40000000n, 0x40001000n, 0xfffffffffffff000n),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3 }), size, fc.integer({ min: 0, max: 3 }), (section, memorySize, attributes) => {
      const image = Buffer.from(BASE);
      const entry = DESCRIPTOR + 16 + section * 32;
      image.writeBigUInt64LE(memorySize, entry + 16);
      image.writeUInt32LE(attributes, entry + 28);
      measureAll(image);
    }),
    { numRuns: 40 },
  );
});

test("measurement: largest allowed section within a second", () => {
  // The BFV claims the whole MR.EXTEND limit, mostly zero-filled memory.
  const image = Buffer.from(BASE);
  image.writeBigUInt64LE(0x4000000n, DESCRIPTOR + 16 + 3 * 32 + 16);

  measureAll(image);
});
