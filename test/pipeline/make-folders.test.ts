import assert from "node:assert/strict";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { makeFolders } from "../../pipeline/make-folders.js";
import { tempDir } from "../helpers/cli.js";

test("makeFolders: creates missing parents", async () => {
  const root = tempDir();
  const path = join(root, "a", "b", "c");

  await makeFolders(path, 0o700);
  await makeFolders(path);

  assert.ok(statSync(path).isDirectory());
  assert.equal(statSync(join(root, "a")).mode & 0o777, 0o700);
});

test("makeFolders: a file in the path is an error", async () => {
  const root = tempDir();
  writeFileSync(join(root, "file"), "");

  await assert.rejects(makeFolders(join(root, "file", "sub")), { code: "ENOTDIR" });
});

test("makeFolders: ENOENT below /proc is an error", async () => {
  await assert.rejects(makeFolders("/proc/migtd-repro-test/sub"), { code: "ENOENT" });
});
