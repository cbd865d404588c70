import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { execa } from "execa";
import { BuildError } from "../../pipeline/errors.js";
import { INPUT_LIMIT_BYTES, readInputFile } from "../../pipeline/read-input.js";

const MIB = 1024 * 1024;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "migtd-repro-read-input-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function expectInvalid(path: string, message: RegExp): Promise<void> {
  await assert.rejects(readInputFile("input 'policy'", path), (error: unknown) => {
    assert.ok(error instanceof BuildError, String(error));
    assert.equal(error.code, "input-invalid");
    assert.equal(error.kind, "invalid-input");
    assert.match(error.message, message);
    return true;
  });
}

test("readInputFile: limit is one MiB", () => {
  assert.equal(INPUT_LIMIT_BYTES, MIB);
});

test("readInputFile: reads a regular file", async () => {
  const path = join(dir, "policy.json");
  await writeFile(path, '{"a":1}');

  assert.equal((await readInputFile("input 'policy'", path)).toString("utf8"), '{"a":1}');
});

test("readInputFile: file at the limit read whole", async () => {
  const path = join(dir, "exact.bin");
  await writeFile(path, "");
  await truncate(path, MIB);

  assert.equal((await readInputFile("input 'policy'", path)).length, MIB);
});

test("readInputFile: one byte over limit rejected", async () => {
  const path = join(dir, "big.der");
  await writeFile(path, "");
  await truncate(path, MIB + 1);

  await expectInvalid(path, new RegExp(`^input 'policy' ${path} is 1048577 bytes, larger than the 1 MiB limit$`));
});

test("readInputFile: character device rejected", async () => {
  await expectInvalid("/dev/zero", /^input 'policy' \/dev\/zero is a character device, not a regular file; give a file$/);
});

test("readInputFile: FIFO rejected without blocking", async () => {
  const path = join(dir, "fifo");
  await execa("mkfifo", [path]);

  await expectInvalid(path, /is a FIFO, not a regular file/);
});

test("readInputFile: directory rejected", async () => {
  const path = join(dir, "folder");
  await mkdir(path);

  await expectInvalid(path, /is a folder, not a regular file/);
});

test("readInputFile: missing file passes ENOENT", async () => {
  await assert.rejects(readInputFile("input 'policy'", join(dir, "absent")), { code: "ENOENT" });
});
