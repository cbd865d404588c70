import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import Docker from "dockerode";
import { execa } from "execa";
import {
  enrollCfv,
  hashImage,
  parseTdMetadata,
  readCfvFiles,
  UPSTREAM_DEFAULT_SERVTD_INFO,
} from "../../attest/index.js";
import type { Recipe } from "../../pipeline/recipe-schema.js";
import {
  bootUntilBanner,
  buildMinitd,
  defaultInputs,
  loadMinitdRecipe,
  prepareBuilder,
  type MinitdInputs,
} from "./minitd-harness.js";

const MIB_16 = 0x1000000;
const BOOT_TIMEOUT_MS = 20_000;
const BANNER = "minitd 0.1.0\r\n";
const DEBUG_BANNER = "minitd 0.1.0 debug\r\n";

// MigTD's config/metadata.json (intel/MigTD, commit 3e55dac), in its order.
const MIGTD_SECTIONS = [
  { dataOffset: 0xfa6000, rawDataSize: 0x5a000, gpa: 0xfffa6000n, memorySize: 0x5a000n, type: 0, attributes: 1 },
  { dataOffset: 0xfa6000, rawDataSize: 0x1000, gpa: 0n, memorySize: 0n, type: 7, attributes: 0 },
  { dataOffset: 0xc1000, rawDataSize: 0xee5000, gpa: 0xff0c1000n, memorySize: 0xee5000n, type: 5, attributes: 1 },
  { dataOffset: 0, rawDataSize: 0xa0000, gpa: 0xff000000n, memorySize: 0xa0000n, type: 1, attributes: 0 },
  { dataOffset: 0, rawDataSize: 0, gpa: 0xff0a1000n, memorySize: 0x10000n, type: 3, attributes: 0 },
  { dataOffset: 0, rawDataSize: 0, gpa: 0xff0b1000n, memorySize: 0x10000n, type: 3, attributes: 0 },
  { dataOffset: 0, rawDataSize: 0, gpa: 0n, memorySize: 0x2000000n, type: 4, attributes: 2 },
  { dataOffset: 0, rawDataSize: 0, gpa: 0xff0a0000n, memorySize: 0x1000n, type: 3, attributes: 0 },
];

// GUIDs in their stored (mixed-endian) byte order.
const TDX_METADATA_GUID_BYTES = "f3f9eae98e16d544a8eb7f4d8738f6ae";
const FILE_SYSTEM3_GUID_BYTES = "7ac07354cb3dca4dbd6f1e9689e7349a";
const POLICY_GUID_BYTES = "c32de90b2162984c87c18eeffd70de5a";
const ROOT_CA_GUID_BYTES = "327843ca514c2243b13da21bd0c8fff6";
const CFV_SIZE = 0xa0000;

// MigTD's hash tool: RTMR0 = RTMR1 = extend(zero, u32 LE 0).
const RTMR0_MIGTD =
  "518923b0f955d08da077c96aaba522b9decede61c599cea6c41889cfbea4ae4d50529d96fe4d1afdafb65e7f95bf23c4";

let docker: Docker;
let recipe: Recipe;
let defaults: MinitdInputs;
let image: Buffer;
let work: string;

before(async () => {
  docker = new Docker();
  recipe = await loadMinitdRecipe();
  await prepareBuilder(docker, recipe);
  defaults = await defaultInputs(recipe);
  image = await buildMinitd(docker, recipe, defaults);
  work = await mkdtemp(join(tmpdir(), "minitd-test-"));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test("minitd: image has MigTD's section table", () => {
  assert.equal(image.length, MIB_16);

  const descriptor = image.readUInt32LE(MIB_16 - 0x20);
  assert.equal(descriptor, 0xfa7010);
  assert.equal(image.subarray(descriptor - 16, descriptor).toString("hex"), TDX_METADATA_GUID_BYTES);
  assert.equal(image.toString("latin1", descriptor, descriptor + 4), "TDVF");
  assert.equal(image.readUInt32LE(descriptor + 4), 16 + 32 * 8);
  assert.equal(image.readUInt32LE(descriptor + 8), 1);
  assert.equal(image.readUInt32LE(descriptor + 12), 8);

  MIGTD_SECTIONS.forEach((expected, index) => {
    const entry = descriptor + 16 + 32 * index;
    const actual = {
      dataOffset: image.readUInt32LE(entry),
      rawDataSize: image.readUInt32LE(entry + 4),
      gpa: image.readBigUInt64LE(entry + 8),
      memorySize: image.readBigUInt64LE(entry + 16),
      type: image.readUInt32LE(entry + 24),
      attributes: image.readUInt32LE(entry + 28),
    };
    assert.deepEqual(actual, expected, `section ${index}`);
  });

  const metadata = parseTdMetadata(image);
  assert.equal(metadata.descriptorOffset, descriptor);
  assert.equal(metadata.sections.length, 8);
});

test("minitd: OVMF GUID table points at descriptor", () => {
  // OVMF table footer GUID 96b582de-1fb2-45f7-baea-a366c55a082d at end - 0x30.
  assert.equal(image.subarray(MIB_16 - 0x30, MIB_16 - 0x20).toString("hex"), "de82b596b21ff745baeaa366c55a082d");
  assert.equal(image.readUInt16LE(MIB_16 - 0x32), 18 + 22);
  // TDX metadata entry e47a6535-984a-4798-865e-4685a7bf8ec2: data, u16 length, GUID.
  assert.equal(image.subarray(MIB_16 - 0x42, MIB_16 - 0x32).toString("hex"), "35657ae44a989847865e4685a7bf8ec2");
  assert.equal(image.readUInt16LE(MIB_16 - 0x44), 22);
  assert.equal(MIB_16 - image.readUInt32LE(MIB_16 - 0x48), 0xfa7010);
});

test("minitd: CFV is laid out like td-shim-enroll's", () => {
  const expected = Buffer.concat([
    expectedVolumeHeader(),
    expectedRawFile(POLICY_GUID_BYTES, defaults.policy),
    expectedRawFile(ROOT_CA_GUID_BYTES, defaults.rootCa),
  ]);
  assert.equal(image.subarray(0, expected.length).toString("hex"), expected.toString("hex"));
  assert.ok(image.subarray(expected.length, CFV_SIZE).every((byte) => byte === 0), "CFV tail is zero");

  const files = readCfvFiles(image, parseTdMetadata(image));
  assert.equal(files.length, 2);
  assert.deepEqual(Buffer.from(files[0]!.data), defaults.policy);
  assert.deepEqual(Buffer.from(files[1]!.data), defaults.rootCa);

  const reenrolled = enrollCfv(image, files.map(({ guid, data }) => ({ guid, data })));
  assert.ok(reenrolled.equals(image), "enrolling the same files again changes nothing");
});

test("minitd: two builds give identical bytes", async () => {
  const again = await buildMinitd(docker, recipe, defaults);

  assert.equal(sha256(again), sha256(image));
});

test("minitd: each input changes image and hash", async () => {
  const policy = Buffer.from(
    defaults.policy.toString("utf8").replace(/"id":\s*"[^"]+"/, '"id": "00000000-0000-4000-8000-000000000001"'),
  );
  assert.notDeepEqual(policy, defaults.policy);
  const rootCa = await makeTestRootCa(work);

  const variants = {
    default: image,
    policy: await buildMinitd(docker, recipe, { ...defaults, policy }),
    rootCa: await buildMinitd(docker, recipe, { ...defaults, rootCa }),
    debug: await buildMinitd(docker, recipe, { ...defaults, debug: true }),
  };
  const hashes = Object.fromEntries(
    Object.entries(variants).map(([name, bytes]) => [
      name,
      hashImage(bytes, { servtdInfo: UPSTREAM_DEFAULT_SERVTD_INFO }),
    ]),
  );

  const digests = Object.values(variants).map(sha256);
  assert.equal(new Set(digests).size, 4, "four different images");
  const servtdHashes = Object.values(hashes).map((h) => h.servtdInfoHash.toString("hex"));
  assert.equal(new Set(servtdHashes).size, 4, "four different SERVTD_INFO_HASH values");

  // The CFV is not extended into MRTD: only the payload (debug) changes it.
  assert.deepEqual(hashes.policy!.mrtd, hashes.default!.mrtd);
  assert.deepEqual(hashes.rootCa!.mrtd, hashes.default!.mrtd);
  assert.notDeepEqual(hashes.debug!.mrtd, hashes.default!.mrtd);

  assert.equal(hashes.default!.rtmr[0].toString("hex"), RTMR0_MIGTD);
  assert.equal(hashes.default!.rtmr[2].toString("hex"), expectedRtmr2(defaults.policy, defaults.rootCa));
  assert.equal(hashes.policy!.rtmr[2].toString("hex"), expectedRtmr2(policy, defaults.rootCa));
  assert.equal(hashes.rootCa!.rtmr[2].toString("hex"), expectedRtmr2(defaults.policy, rootCa));
  assert.equal(hashes.debug!.rtmr[2].toString("hex"), expectedRtmr2(defaults.policy, defaults.rootCa));
});

test("minitd: oversized policy is rejected", async () => {
  // 640 KiB of JSON cannot fit in the 0xA0000-byte CFV next to the root CA.
  const policy = Buffer.from(JSON.stringify({ padding: "x".repeat(640 * 1024) }));

  await assert.rejects(
    buildMinitd(docker, recipe, { ...defaults, policy }),
    /exited with 2: .*more than its 655360 bytes/s,
  );
});

test("minitd: boots and writes its banner", async () => {
  const path = join(work, "minitd.bin");
  await writeFile(path, image);

  const boot = await bootUntilBanner(path, BANNER, BOOT_TIMEOUT_MS);

  assert.ok(boot.sawBanner, `serial console: ${JSON.stringify(boot.serial)}`);
  assert.equal(boot.exitedEarly, false);
  assert.ok(!boot.serial.includes("debug"));
});

test("minitd: debug build writes debug banner", async () => {
  const path = join(work, "minitd-debug.bin");
  await writeFile(path, await buildMinitd(docker, recipe, { ...defaults, debug: true }));

  const boot = await bootUntilBanner(path, DEBUG_BANNER, BOOT_TIMEOUT_MS);

  assert.ok(boot.sawBanner, `serial console: ${JSON.stringify(boot.serial)}`);
});

test("minitd: broken reset vector writes nothing", async () => {
  const broken = Buffer.from(image);
  const farJump = findFarJump(broken);
  // A null code selector makes the far jump fault. With no IDT the
  // processor then triple-faults, and -no-reboot stops QEMU.
  broken.writeUInt16LE(0, farJump + 6);
  const path = join(work, "minitd-broken.bin");
  await writeFile(path, broken);

  const boot = await bootUntilBanner(path, BANNER, 5_000);

  assert.equal(boot.sawBanner, false);
  assert.equal(boot.serial, "");
  assert.equal(boot.exitedEarly, true, "QEMU stops on the triple fault");
});

/**
 * Follows the reset vector at end - 0x10 (nop, nop, jmp rel16 in real mode,
 * where CS base is 0xFFFF0000) and returns the file offset of the first
 * `o32 jmp far` (66 EA) after its target.
 */
function findFarJump(bytes: Buffer): number {
  const resetVector = MIB_16 - 0x10;
  assert.equal(bytes[resetVector + 2], 0xe9, "jmp rel16 at the reset vector");
  const next = 0xfff0 + 5;
  const target = (next + bytes.readInt16LE(resetVector + 3)) & 0xffff;
  const start = MIB_16 - 0x10000 + target;
  for (let offset = start; offset < start + 64; offset += 1) {
    if (bytes[offset] === 0x66 && bytes[offset + 1] === 0xea) return offset;
  }
  assert.fail(`no o32 far jump within 64 bytes of offset 0x${start.toString(16)}`);
}

/** Builds the 120-byte block td-shim-enroll writes, field by field. */
function expectedVolumeHeader(): Buffer {
  const header = Buffer.alloc(0x78);
  Buffer.from(FILE_SYSTEM3_GUID_BYTES, "hex").copy(header, 0x10);
  header.writeBigUInt64LE(BigInt(CFV_SIZE), 0x20);
  header.write("_FVH", 0x28, "latin1");
  header.writeUInt32LE(0x0004f6ff, 0x2c);
  header.writeUInt16LE(0x78, 0x30);
  header.writeUInt16LE(0x60, 0x34);
  header[0x37] = 2;
  let sum = 0;
  for (let offset = 0; offset < 56; offset += 2) sum += header.readUInt16LE(offset);
  header.writeUInt16LE((0x10000 - (sum & 0xffff)) & 0xffff, 0x32);

  header.writeUInt32LE(CFV_SIZE / 4096, 0x38);
  header.writeUInt32LE(4096, 0x3c);
  header[0x5a] = 0xf0;
  header[0x5c] = 0x2c;
  header[0x5f] = 0x07;
  header.writeUInt32LE(0x14, 0x70);
  return header;
}

/** Builds a raw FFS file: a 24-byte header whose 8-bit sum is 0xB1, the data, zero padding. */
function expectedRawFile(guidHex: string, data: Buffer): Buffer {
  const header = Buffer.alloc(24);
  Buffer.from(guidHex, "hex").copy(header, 0);
  header[0x11] = 0xaa;
  header[0x12] = 0x01;
  header.writeUIntLE(24 + data.length, 0x14, 3);
  header[0x17] = 0x07;
  const sum = header.reduce((total, byte) => total + byte, 0);
  header[0x10] = (0xb1 - sum) & 0xff;
  const padding = Buffer.alloc((8 - ((24 + data.length) % 8)) % 8);
  return Buffer.concat([header, data, padding]);
}

function expectedRtmr2(policy: Buffer, rootCa: Buffer): string {
  const extend = (register: Buffer, data: Buffer) =>
    createHash("sha384").update(register).update(createHash("sha384").update(data).digest()).digest();
  return extend(extend(Buffer.alloc(48), policy), rootCa).toString("hex");
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

async function makeTestRootCa(dir: string): Promise<Buffer> {
  const key = join(dir, "other-ca.key");
  const cert = join(dir, "other-ca.der");
  await execa("openssl", ["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key]);
  await execa("openssl", [
    "req", "-x509", "-new", "-key", key, "-sha256", "-days", "1",
    "-subj", "/CN=minitd test: another root CA", "-outform", "DER", "-out", cert,
  ]);
  return readFile(cert);
}
