import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CLIENT_MODULES, runCli, runCliBinary, runCliRecordingModules, tempDir } from "../helpers/cli.js";
import { buildMigtdImage, expectedMrtd, extend, ISSUER_CHAIN_GUID, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

const POLICY = Buffer.from('{"policy":1}');
const ROOT_CA = Buffer.from("root CA");
const CHAIN = Buffer.from("issuer chain");
const ZERO = Buffer.alloc(48);
const SEPARATOR = extend(ZERO, Buffer.alloc(4));
const XFAM = Buffer.from("e71a060000000000", "hex");

function setup(files = [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }]) {
  const dir = tempDir();
  const { image, sections } = buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files, seed: 11 });
  const path = join(dir, "migtd.bin");
  writeFileSync(path, image);
  return { dir, path, image, mrtd: expectedMrtd(image, sections, "single-pass") };
}

/** SERVTD_INFO_HASH from upstream's default servtd_info.json and the TD_INFO layout. */
function expectedInfoHash(mrtd: Buffer, rtmr1: Buffer, rtmr2: Buffer): Buffer {
  const tdInfo = Buffer.concat([Buffer.alloc(8), XFAM, mrtd, ZERO, ZERO, ZERO, SEPARATOR, rtmr1, rtmr2, ZERO, Buffer.alloc(112)]);
  return createHash("sha384").update(tdInfo).digest();
}

test("hash: prints lowercase hex and newline", () => {
  const { path, mrtd } = setup();
  const expected = expectedInfoHash(mrtd, SEPARATOR, extend(extend(ZERO, POLICY), ROOT_CA));

  const result = runCli(["hash", "--image", path]);

  assert.equal(result.stderr, "");
  assert.equal(result.status, 0);
  assert.equal(result.stdout, `${expected.toString("hex")}\n`);
});

test("hash: --json prints pretty JSON", () => {
  const { path, mrtd } = setup();
  const expected = expectedInfoHash(mrtd, SEPARATOR, extend(extend(ZERO, POLICY), ROOT_CA)).toString("hex");

  const result = runCli(["hash", "--image", path, "--json"]);

  assert.equal(result.stdout, `{\n  "servtdInfoHash": "${expected}"\n}\n`);
});

test("hash: -o writes 48 raw bytes", () => {
  const { dir, path, mrtd } = setup();
  const output = join(dir, "hash.bin");

  const result = runCliBinary(["hash", "--image", path, "-o", output]);

  assert.equal(result.status, 0);
  assert.equal(result.stdout.length, 0);
  assert.deepEqual(readFileSync(output), expectedInfoHash(mrtd, SEPARATOR, extend(extend(ZERO, POLICY), ROOT_CA)));
});

test("hash: -o with --json is compact", () => {
  const { dir, path, mrtd } = setup();
  const output = join(dir, "hash.json");
  const info = expectedInfoHash(mrtd, SEPARATOR, extend(extend(ZERO, POLICY), ROOT_CA));
  const attr = Buffer.alloc(10);
  attr.writeBigUInt64LE(0x100000000n, 2);

  const result = runCli(["hash", "--image", path, "--output-file", output, "--json", "-c", "--servtd-attr", "0x100000000"]);

  assert.equal(result.status, 0);
  // Bit 32 zeroes TD_INFO attributes, which are zero already here.
  const servtdHash = createHash("sha384").update(Buffer.concat([info, attr])).digest("hex");
  assert.equal(readFileSync(output, "utf8"), `{"servtdHash":"${servtdHash}"}`);
});

test("hash: --policy-v2 with --manifest alias", () => {
  const { dir, path, mrtd } = setup([{ guid: POLICY_GUID, data: POLICY }, { guid: ISSUER_CHAIN_GUID, data: CHAIN }]);
  const manifest = join(dir, "servtd_info.json");
  writeFileSync(manifest, JSON.stringify({ attributes: "00".repeat(8), xfam: "e71a060000000000", mrconfigid: "00".repeat(48), mrowner: "00".repeat(48), mrownerconfig: "00".repeat(48) }));
  const expected = expectedInfoHash(mrtd, extend(SEPARATOR, CHAIN), extend(ZERO, POLICY));

  const result = runCli(["hash", "-i", path, "-m", manifest, "--policy-v2"]);

  assert.equal(result.stdout, `${expected.toString("hex")}\n`);
});

test("hash: --output-td-info writes registers", () => {
  const { dir, path, mrtd } = setup();
  const output = join(dir, "td_info.json");
  const rtmr2 = extend(extend(ZERO, POLICY), ROOT_CA);

  const result = runCli(["hash", "--image", path, "--output-td-info", output]);

  assert.equal(result.status, 0);
  assert.equal(
    readFileSync(output, "utf8"),
    `{"mrtd":"${mrtd.toString("hex")}","rtmr0":"${SEPARATOR.toString("hex")}","rtmr1":"${SEPARATOR.toString("hex")}","rtmr2":"${rtmr2.toString("hex")}","rtmr3":"${ZERO.toString("hex")}"}`,
  );
});

test("hash: --update-tcb-mapping rewrites file", () => {
  const { dir, path, mrtd } = setup([{ guid: POLICY_GUID, data: POLICY }, { guid: ISSUER_CHAIN_GUID, data: CHAIN }]);
  const mapping = join(dir, "tcb_mapping.json");
  writeFileSync(mapping, '{"id":"X","version":1,"svnMappings":[{"tdMeasurements":{"mrtd":"00","rtmr0":"00"},"isvsvn":1}]}\n');
  const rtmr1 = extend(SEPARATOR, CHAIN).toString("hex").toUpperCase();

  const result = runCli(["hash", "--image", path, "--policy-v2", "--update-tcb-mapping", mapping]);

  assert.equal(result.status, 0);
  assert.equal(result.stderr, "Warning: 'rtmr1' not found in tdMeasurements, adding it.\n");
  assert.match(result.stdout, new RegExp(`^Updated ${mapping} successfully\\.\\n[0-9a-f]{96}\\n$`));
  // serde_json without preserve_order: keys sorted, compact, no newline.
  assert.equal(
    readFileSync(mapping, "utf8"),
    `{"id":"X","svnMappings":[{"isvsvn":1,"tdMeasurements":{"mrtd":"${mrtd.toString("hex").toUpperCase()}","rtmr0":"${SEPARATOR.toString("hex").toUpperCase()}","rtmr1":"${rtmr1}"}}],"version":1}`,
  );
});

test("hash: two-pass page order option", () => {
  const dir = tempDir();
  const { image, sections } = buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files: [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }], seed: 11 });
  writeFileSync(join(dir, "m.bin"), image);
  const expected = expectedInfoHash(expectedMrtd(image, sections, "two-pass"), SEPARATOR, extend(extend(ZERO, POLICY), ROOT_CA));

  const result = runCli(["hash", "--image", join(dir, "m.bin"), "--page-order", "two-pass"]);

  assert.equal(result.stdout, `${expected.toString("hex")}\n`);
});

test("hash: bad input exits 2 with one line", () => {
  const { dir, path } = setup();
  const badInfo = join(dir, "bad.json");
  writeFileSync(badInfo, JSON.stringify({ attributes: "00", xfam: "e71a060000000000", mrconfigid: "00".repeat(48), mrowner: "00".repeat(48), mrownerconfig: "00".repeat(48) }));
  const empty = join(dir, "empty.bin");
  writeFileSync(empty, "");
  const igvm = join(dir, "migtd.igvm");
  writeFileSync(igvm, Buffer.concat([Buffer.from("IGVM"), Buffer.alloc(0x1000)]));

  const cases: [string[], RegExp][] = [
    [["hash"], /--image is required/],
    [["hash", "--image", join(dir, "missing.bin")], /cannot read image .*missing\.bin: no such file/],
    [["hash", "--image", empty], /image is 0 bytes/],
    [["hash", "--image", igvm], /migtd\.igvm is an IGVM file; migtd-repro measures the raw TDVF image/],
    [["hash", "--image", path, "--servtd-info", badInfo], /bad\.json: field 'attributes' must be 16 hex digits \(8 bytes\), got 2/],
    [["hash", "--image", path, "--servtd-attr=-1"], /--servtd-attr "-1" is not a 64-bit number/],
    [["hash", "--image", path, "--servtd-attr", "0x10000000000000000"], /is not a 64-bit number/],
    [["hash", "--image", path, "--page-order", "three-pass"], /--page-order "three-pass" is not one of single-pass, two-pass/],
    [["hash", "--image", path, "--policy-v2"], /CFV has no raw file 3f2fb27a-9596-431c-a68d-d3eab39f8aeb/],
    [["hash", "--image", path, "--manifest", badInfo, "--servtd-info", badInfo], /--servtd-info and --manifest are the same option/],
  ];
  for (const [args, pattern] of cases) {
    const result = runCli(args);
    assert.equal(result.status, 2, args.join(" "));
    assert.match(result.stderr, pattern);
    assert.equal(result.stderr.split("\n").length, 2, `one line for ${args.join(" ")}`);
  }
});

test("hash: loads no Docker or GitHub modules", () => {
  const { path } = setup();

  // The hooks see the Docker client where a command does load it: build
  // loads the pipeline before it reads the (missing) recipe.
  const control = runCliRecordingModules(["build", "--recipe", join(tempDir(), "missing")]);
  assert.equal(control.status, 2, control.stderr);
  assert.ok(control.modules.some((module) => CLIENT_MODULES.test(module)), "the hooks saw build load the Docker client");

  for (const command of [["hash", "--image", path], ["measure", path]]) {
    const result = runCliRecordingModules(command);

    assert.equal(result.status, 0, result.stderr);
    assert.ok(result.modules.some((module) => module.endsWith("/dist/bin/migtd-repro.cjs")), "the hooks saw the CLI load");
    assert.deepEqual(result.modules.filter((module) => CLIENT_MODULES.test(module)), [], command[0]);
  }
});

test("hash: image rewritten during the read", () => {
  const dir = tempDir();
  const files = [{ guid: POLICY_GUID, data: POLICY }, { guid: ROOT_CA_GUID, data: ROOT_CA }];
  const path = join(dir, "race.bin");
  writeFileSync(path, buildMigtdImage({ size: 16 * 1024 * 1024, cfvSize: 0x40000, files, seed: 11 }).image);
  // A separate process flips one measured byte back and forth, so that the
  // parts hash reads may come from two different images.
  const writer = spawn(process.execPath, [
    "-e",
    `const fs = require("node:fs"); const fd = fs.openSync(${JSON.stringify(path)}, "r+");
     for (let i = 0; ; i++) fs.writeSync(fd, Buffer.from([i & 1]), 0, 1, 0x800000);`,
  ]);
  try {
    const results = [];
    for (let run = 0; run < 5; run++) results.push(runCli(["hash", "--image", path]));

    for (const result of results) assert.ok(result.status === 0 || result.status === 2, result.stderr);
    const changed = results.filter((result) => result.status === 2);
    assert.ok(changed.length > 0, "no run saw the rewrite");
    for (const result of changed) {
      assert.equal(result.stderr, `migtd-repro: image ${path} changed while it was read; read it again when nothing writes to it\n`);
    }
  } finally {
    writer.kill();
  }
});
