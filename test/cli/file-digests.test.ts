import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { prestartDigestWorker, startFileDigests } from "../../cli/file-digests.js";
import { openInputFile } from "../../cli/io.js";
import { tempDir } from "../helpers/cli.js";

/** A 3 MiB file of random bytes and its digests from coreutils' sha256sum and sha384sum. */
function randomFile() {
  const path = join(tempDir(), "image.bin");
  writeFileSync(path, randomBytes(3 * 1024 * 1024 + 5));
  const sum = (tool: string) => execFileSync(tool, [path], { encoding: "utf8" }).split(" ")[0];
  return { path, sha256: sum("sha256sum"), sha384: sum("sha384sum") };
}

test("startFileDigests: this thread takes sha256 when it asks first", async () => {
  const expected = randomFile();
  const file = openInputFile(expected.path, "image");
  const job = startFileDigests(file, "image");
  try {
    assert.deepEqual(await job.result(), { sha256: expected.sha256, sha384: expected.sha384 });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: the worker takes sha256 when it is done first", async () => {
  const expected = randomFile();
  const file = openInputFile(expected.path, "image");
  const job = startFileDigests(file, "image");
  try {
    // Hashing 3 MiB takes the worker a few milliseconds once it runs.
    await sleep(1500);
    assert.deepEqual(await job.result(), { sha256: expected.sha256, sha384: expected.sha384 });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: a file that shrinks fails with its name", async () => {
  const { path } = randomFile();
  const file = openInputFile(path, "image");
  truncateSync(path, 1000);
  const job = startFileDigests(file, `image ${path}`);
  try {
    await assert.rejects(job.result(), (error: Error) => {
      assert.equal(error.name, "InputFileError");
      assert.match(error.message, /^(cannot read image .*image\.bin: the file ended at 1000 bytes|image .*image\.bin changed while it was read)/);
      return true;
    });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: this thread hashes when the worker fails", async () => {
  const expected = randomFile();
  const file = openInputFile(expected.path, "image");
  const job = startFileDigests(file, "image", "./no-such-worker.cjs");
  try {
    assert.deepEqual(await job.result(), { sha256: expected.sha256, sha384: expected.sha384 });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: a prestarted worker that failed is replaced", async () => {
  const expected = randomFile();
  prestartDigestWorker("./no-such-worker.cjs");
  // Long enough for the worker's start to fail.
  await sleep(1000);
  const file = openInputFile(expected.path, "image");
  const job = startFileDigests(file, "image");
  try {
    assert.deepEqual(await job.result(), { sha256: expected.sha256, sha384: expected.sha384 });
  } finally {
    await job.stop();
    file.close();
  }
});

test("startFileDigests: a prestarted worker that fails later", async () => {
  const expected = randomFile();
  prestartDigestWorker("./no-such-worker.cjs");
  const file = openInputFile(expected.path, "image");
  const job = startFileDigests(file, "image");
  try {
    assert.deepEqual(await job.result(), { sha256: expected.sha256, sha384: expected.sha384 });
  } finally {
    await job.stop();
    file.close();
  }
});
