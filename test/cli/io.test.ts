import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { InputFileError, MAX_TEXT_FILE_SIZE, openInputFile, readInputFile, readJsonFile } from "../../cli/io.js";
import { CLI } from "./attestation-cli.js";
import { tempDir } from "../helpers/cli.js";
import { buildMigtdImage, POLICY_GUID, ROOT_CA_GUID } from "../helpers/tdshim-image.js";

/** Runs the CLI with a time limit, so that a read that never ends fails the test instead of hanging it. */
function runCliWithTimeout(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000 });
}

function image(dir: string): string {
  const path = join(dir, "migtd.bin");
  const files = [{ guid: POLICY_GUID, data: Buffer.from("{}") }, { guid: ROOT_CA_GUID, data: Buffer.from("ca") }];
  writeFileSync(path, buildMigtdImage({ size: 0x80000, cfvSize: 0x10000, files, seed: 5 }).image);
  return path;
}

function fifo(dir: string): string {
  const path = join(dir, "pipe");
  execFileSync("mkfifo", [path]);
  return path;
}

test("readInputFile: character device rejected", () => {
  assert.throws(() => readInputFile("/dev/zero", "image"), {
    name: "InputFileError",
    message: "image /dev/zero is a character device, not a regular file; give a file",
  });
});

test("readInputFile: FIFO rejected without blocking", () => {
  const path = fifo(tempDir());

  assert.throws(() => readInputFile(path, "build record"), {
    message: `build record ${path} is a FIFO, not a regular file; give a file`,
  });
});

test("readInputFile: folder rejected", () => {
  const dir = tempDir();

  assert.throws(() => readInputFile(dir, "image"), { message: `image ${dir} is a folder, not a regular file; give a file` });
});

test("readJsonFile: file over 16 MiB rejected", () => {
  const path = join(tempDir(), "big.json");
  writeFileSync(path, "");
  truncateSync(path, 16 * 1024 * 1024 + 1);

  assert.equal(MAX_TEXT_FILE_SIZE, 16 * 1024 * 1024);
  assert.throws(() => readJsonFile(path, "servtd_info file"), (error) => {
    assert.ok(error instanceof InputFileError);
    assert.equal(error.message, `servtd_info file ${path} is 16777217 bytes, larger than the limit of 16 MiB`);
    return true;
  });
});

test("cli input: devices and FIFOs exit 2", () => {
  const dir = tempDir();
  const input = image(dir);
  const pipe = fifo(dir);
  const cases: [string[], string][] = [
    [["hash", "--image", input, "--servtd-info", "/dev/zero"], "servtd_info file /dev/zero is a character device"],
    [["hash", "--image", input, "--update-tcb-mapping", "/dev/zero"], "tcb mapping file /dev/zero is a character device"],
    [["attest", input, "--build-record", "/dev/zero"], "build record /dev/zero is a character device"],
    [["hash", "--image", input, "--servtd-info", pipe], `servtd_info file ${pipe} is a FIFO`],
    [["verify", input, "--attestation", pipe, "--key", input], `attestation ${pipe} is a FIFO`],
  ];

  for (const [args, message] of cases) {
    const result = runCliWithTimeout(args);
    assert.equal(result.error, undefined, `${args.join(" ")} did not finish`);
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.equal(result.stderr, `migtd-repro: ${message}, not a regular file; give a file\n`);
  }
});

test("openInputFile: a file that shrinks while it is read is an input error", () => {
  const path = image(tempDir());
  const file = openInputFile(path, "image");
  try {
    truncateSync(path, 0x1000);
    assert.throws(() => file.readInto(Buffer.alloc(0x2000), 0), {
      name: "InputFileError",
      message: `image ${path} changed while it was read; read it again when nothing writes to it`,
    });
  } finally {
    file.close();
  }
});

test("openInputFile: checkUnchanged sees a rewritten file", () => {
  const path = image(tempDir());
  const file = openInputFile(path, "image");
  try {
    file.checkUnchanged();
    writeFileSync(path, "rewritten");
    assert.throws(() => file.checkUnchanged(), /changed while it was read/);
  } finally {
    file.close();
  }
});
